"""The package's shape, read from its source: imports go one way (no cycle, not even for
type checking), the layers do not deepen, the README's module map lists exactly the
modules there are, and docs/architecture.md draws each in its layer."""

from __future__ import annotations

import ast
import re
from functools import cache

from tests.helpers import ROOT

PACKAGE = ROOT / "tap_hubspot_associations"
MAX_LAYERS = 7
"""The depth of the import graph allowed (`__main__` on top): lower it if the layers
flatten further; never raise it."""


@cache
def imports() -> dict[str, set[str]]:
    """Each module of the package and the package modules it imports, type-checking
    imports included."""
    graph: dict[str, set[str]] = {}
    modules = {path.stem for path in PACKAGE.glob("*.py")}
    for path in PACKAGE.glob("*.py"):
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    parts = alias.name.split(".")
                    if parts[0] == PACKAGE.name:
                        found.update(parts[1:2])
            elif isinstance(node, ast.ImportFrom):
                parts = (
                    (node.module or "").split(".")
                    if node.level == 0
                    else [
                        PACKAGE.name,
                        *(node.module or "").split("."),
                    ]
                )
                if parts[0] == PACKAGE.name:
                    names = [p for p in parts[1:2] if p] or [alias.name for alias in node.names]
                    found.update(name for name in names if name in modules)
        graph[path.stem] = found - {path.stem}
    return graph


def layer(module: str, path: tuple[str, ...] = ()) -> int:
    """1 for a module importing none of the package, else one more than its deepest
    import; a cycle fails with its path."""
    assert module not in path, f"import cycle: {' -> '.join((*path, module))}"
    graph = imports()
    return 1 + max((layer(d, (*path, module)) for d in graph[module]), default=0)


def test_no_module_imports_one_that_imports_it_back() -> None:
    for module in imports():
        layer(module)


def test_the_layers_do_not_deepen() -> None:
    assert max(layer(module) for module in imports()) <= MAX_LAYERS


def test_the_readme_module_map_lists_every_module_and_no_other() -> None:
    readme = (ROOT / "README.md").read_text()
    block = readme.split("tap_hubspot_associations/  the shipped package\n", 1)[1]
    block = block.split("\nhubspot_emulator/", 1)[0]
    listed = set(re.findall(r"^  (\w+)\.py", block, flags=re.MULTILINE))
    assert listed == set(imports()) - {"__init__"}


def test_the_architecture_page_draws_each_module_in_its_layer() -> None:
    page = (ROOT / "docs" / "architecture.md").read_text()
    drawn: dict[str, int] = {}
    for number, modules in re.findall(r"^\| (\d+) \| ([^|]+) \|", page, flags=re.MULTILINE):
        for module in re.findall(r"`(\w+)`", modules):
            drawn[module] = int(number)
    assert drawn == {m: layer(m) for m in imports() if m != "__init__"}
