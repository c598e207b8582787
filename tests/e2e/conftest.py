"""Every test of this folder is end to end (subprocesses, servers, Meltano, PostgreSQL):
marked `e2e`, so that `pytest -m "not e2e"` is the unit layer wherever it is run from."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.e2e)
