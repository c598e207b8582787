"""The wheel and the sdist install into clean venvs, and the installed tap runs."""

from __future__ import annotations

import json
import subprocess
import sys
import venv
from importlib.metadata import version
from pathlib import Path

import pytest

from tests.conftest import (
    association_records,
    clean_env,
    config_for,
    parse_messages,
    seeded_account,
    truth_of,
)
from tests.pipelines import ROOT

VERSION = version("tap-hubspot-associations")


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


@pytest.mark.parametrize("kind", ["whl", "tar.gz"])
def test_built_package_installs_and_runs(kind, dist, tmp_path, start_emulator) -> None:
    (artifact,) = dist.glob(f"*.{kind}")
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    subprocess.run(
        [str(env_dir / "bin" / "python"), "-m", "pip", "install", "--quiet", str(artifact)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    tap = str(env_dir / "bin" / "tap-hubspot-associations")
    about = subprocess.run(
        [tap, "--about", "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
        env=clean_env(),
    )
    info = json.loads(about.stdout)
    assert (info["name"], info["version"]) == ("tap-hubspot-associations", VERSION)

    account, pairs = seeded_account({("contacts", "companies"): 20})
    emulator = start_emulator(account, page_size=4)
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(config_for(emulator, pairs)))
    run = subprocess.run(
        [tap, "--config", str(config_path)],
        capture_output=True,
        text=True,
        check=False,
        env=clean_env(),
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert set(association_records(parse_messages(run.stdout))) == truth_of(account, pairs)
