"""The wheel and the sdist hold the tap alone; every install command of the README and
docs/meltano.md works as written, in a copy of this checkout; and the README's recipes
(trying the tap on the emulator, a fresh Meltano project) produce the emulator's truth."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import venv
import zipfile
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
import yaml

from hubspot_emulator import demo_account
from tests.helpers import (
    CAPTURED_OUTPUT,
    ROOT,
    TOKEN,
    as_truth,
    assert_no_secrets,
    association_records,
    clean_env,
    config_for,
    parse_messages,
    seeded_account,
    truth_of,
)
from tests.pipelines import MELTANO

VERSION = version("tap-hubspot-associations")
TAP = "tap-hubspot-associations"
UV = MELTANO.parent / "uv"
"""uv comes with Meltano, which installs plugins with it."""


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    return out


def test_the_wheel_holds_the_tap_and_nothing_else(dist) -> None:
    """The emulator, the tests and the benchmarks are for development, not for users."""
    (wheel,) = dist.glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    dist_info = f"tap_hubspot_associations-{VERSION}.dist-info/"
    strays = [
        name for name in names if not name.startswith(("tap_hubspot_associations/", dist_info))
    ]
    assert not strays, f"the wheel holds more than the tap: {strays}"
    assert "tap_hubspot_associations/py.typed" in names
    assert "tap_hubspot_associations/__main__.py" in names


def test_the_sdist_holds_the_tap_and_its_documents_only(dist) -> None:
    (sdist,) = dist.glob("*.tar.gz")
    top = f"tap_hubspot_associations-{VERSION}/"
    with tarfile.open(sdist) as archive:
        names = [name.removeprefix(top) for name in archive.getnames()]
    # Hatchling always adds PKG-INFO, and .gitignore, which it reads again when it
    # builds a wheel from the sdist.
    documents = {"README.md", "LICENSE", "CHANGELOG.md", "pyproject.toml", "PKG-INFO", ".gitignore"}
    strays = [
        name
        for name in names
        if name not in documents and not name.startswith("tap_hubspot_associations/")
    ]
    assert not strays, f"the sdist holds more than the tap: {strays}"
    assert documents - {".gitignore"} <= set(names)
    assert not any(name.startswith("hubspot_emulator") for name in names)


def test_the_sdist_installs_and_runs(dist, tmp_path, start_emulator) -> None:
    (sdist,) = dist.glob("*.tar.gz")
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    subprocess.run(
        [str(env_dir / "bin" / "python"), "-m", "pip", "install", "--quiet", str(sdist)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    tap = env_dir / "bin" / "tap-hubspot-associations"
    assert about_version(tap, clean_env()) == VERSION
    account, pairs = seeded_account({("contacts", "companies"): 20})
    emulator = start_emulator(account, page_size=4)
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(config_for(emulator, pairs)))
    run = checked_run([str(tap), "--config", str(config_path)], env=clean_env())
    assert set(association_records(parse_messages(run.stdout))) == truth_of(account, pairs)


def about_version(tap: Path, env: dict[str, str]) -> str:
    about = subprocess.run(
        [str(tap), "--about", "--format=json"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=120,
    )
    found: str = json.loads(about.stdout)["version"]
    return found


def checked_run(
    command: list[str] | str, *, env: dict[str, str], cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a command (a string: with bash, as a user types it) that must succeed; its
    output joins the suite-wide secret scan."""
    result = subprocess.run(
        ["bash", "-c", command] if isinstance(command, str) else command,
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        timeout=600,
        check=False,
    )
    CAPTURED_OUTPUT.extend((result.stdout, result.stderr))
    assert_no_secrets(result.stdout, result.stderr)
    assert result.returncode == 0, f"{command}:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    return result


# -- the commands of the README and docs/meltano.md, as written ----------------------------


def shell_blocks(document: str, heading: str) -> list[str]:
    """The `sh` blocks of one section (`## heading`) of a document of this repository."""
    text = (ROOT / document).read_text()
    section = text.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)```", section, flags=re.DOTALL)


def commands(document: str, heading: str) -> list[str]:
    return [line for block in shell_blocks(document, heading) for line in block.splitlines()]


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of this checkout's files as git sees them (committed or new, not ignored),
    in a folder named as the README's recipe expects its checkout."""
    folder = tmp_path_factory.mktemp("work") / "tap-hubspot-associations"
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout
    for name in filter(None, listed.decode().split("\0")):
        source = ROOT / name
        if source.is_file():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, folder / name)
    return folder


def user_path(*first: Path) -> str:
    """A PATH as a user's shell has it: `first`, then the system's, without this
    checkout's own virtualenvs (where the tap is already installed)."""
    system = [p for p in os.environ["PATH"].split(os.pathsep) if not p.startswith(str(ROOT))]
    return os.pathsep.join([*map(str, first), *system])


def test_every_install_command_of_the_docs_works_as_written(
    checkout: Path, tmp_path: Path, start_emulator
) -> None:
    """Each `pip install` in a virtualenv of its own, `uv tool install` in a tool folder of
    its own; after each, the tap it installed answers `--about` with this version."""
    lines = commands("README.md", "Install") + commands("docs/meltano.md", "Installing")
    installs = [line for line in lines if line.startswith(("pip install", "uv tool install"))]
    assert "make dist" in lines and lines.index("make dist") < lines.index(installs[0])
    assert {line.split()[0] for line in installs} == {"pip", "uv"}
    assert "pip install ." in installs, "a checkout installs as well as its wheel"
    checked_run("make dist", env={**clean_env(), "PATH": user_path()}, cwd=checkout)
    (wheel,) = (checkout / "dist").glob("*.whl")
    written = yaml.safe_load((checkout / "dist" / "tap-hubspot-associations.yml").read_text())
    shipped = yaml.safe_load((checkout / "tap-hubspot-associations.yml").read_text())
    assert written == {**shipped, "pip_url": str(wheel)}, "the definition, naming the wheel"
    uv_tools = tmp_path / "uv"
    (uv_tools / "bin").mkdir(parents=True)
    (uv_tools / "bin" / "uv").symlink_to(MELTANO.parent / "uv")
    installed: list[Path] = []
    for number, line in enumerate(sorted(set(installs))):
        if line.startswith("pip"):
            env_dir = tmp_path / f"venv-{number}"
            venv.create(env_dir, with_pip=True)
            env = {**clean_env(), "PATH": user_path(env_dir / "bin")}
            tap = env_dir / "bin" / TAP
        else:
            env = {
                **clean_env(),
                "PATH": user_path(uv_tools / "bin", tmp_path / "tools-bin"),
                "UV_TOOL_DIR": str(tmp_path / "tools"),
                "UV_TOOL_BIN_DIR": str(tmp_path / "tools-bin"),
            }
            tap = tmp_path / "tools-bin" / TAP
        checked_run(line, env=env, cwd=checkout)
        assert about_version(tap, env) == VERSION, line
        if "tap-hubspot-associations --about" in lines:
            assert VERSION in checked_run(f"{TAP} --about", env=env, cwd=checkout).stdout
        installed.append(tap)

    account, pairs = seeded_account({("contacts", "companies"): 20})
    emulator = start_emulator(account, page_size=4)
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(config_for(emulator, pairs)))
    run = checked_run([str(installed[0]), "--config", str(config_path)], env=clean_env())
    assert set(association_records(parse_messages(run.stdout))) == truth_of(account, pairs)


def test_the_readme_meltano_recipe_gives_rows_in_a_fresh_project(
    checkout: Path, start_emulator
) -> None:
    """The README's Meltano block, run word for word by bash from the checkout (only the
    token is the emulator's, and the API URL comes from the environment)."""
    (block,) = shell_blocks("README.md", "With Meltano")
    assert "pat-na1-..." in block
    account, pairs = seeded_account({("contacts", "companies"): 20})
    emulator = start_emulator(account, page_size=4)
    env = {
        **clean_env(),
        "PATH": user_path(MELTANO.parent),
        "TAP_HUBSPOT_ASSOCIATIONS_API_URL": emulator.url,
    }
    checked_run("set -e\n" + block.replace("pat-na1-...", TOKEN), env=env, cwd=checkout)
    output = checkout.parent / "hubspot-project" / "output"
    (associations,) = output.glob("contacts_to_companies-*.jsonl")
    lines = associations.read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert {as_truth(record) for record in records} == truth_of(account, pairs)
    assert len(records) == len(truth_of(account, pairs))
    (labels_file,) = output.glob("association_labels-*.jsonl")
    labels = labels_file.read_text().splitlines()
    assert len(labels) == len(account.labels("contacts", "companies"))


def test_trying_it_locally_as_the_readme_says(checkout: Path) -> None:
    """The emulator started as the README's first block says (on any free port), then the
    tap as its second says; the messages hold the demo account's every association."""
    first, second = shell_blocks("README.md", "Try it locally")
    env = {**clean_env(), "PATH": user_path(Path(sys.executable).parent)}
    with subprocess.Popen(
        ["bash", "-c", f"exec {first.strip()} --port 0"],
        cwd=checkout,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as server:
        try:
            assert server.stdout is not None
            announced = server.stdout.readline()
            assert "HubSpot emulator at http://127.0.0.1:" in announced, announced
            checked_run(second.strip(), env=env, cwd=checkout)
        finally:
            server.terminate()
            server.communicate(timeout=30)
    messages = [json.loads(line) for line in (checkout / "messages.jsonl").read_text().splitlines()]
    account, pairs = demo_account()
    expected: set[Any] = set()
    for (from_type, to_type), ids in pairs.items():
        expected |= account.truth(from_type, to_type, ids)
    assert set(association_records(messages)) == expected
