"""The wheel and the sdist hold the tap alone, install into clean venvs, and the tap runs."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
import venv
import zipfile
from importlib.metadata import version
from pathlib import Path

import pytest

from tests.helpers import (
    ROOT,
    association_records,
    clean_env,
    config_for,
    parse_messages,
    seeded_account,
    truth_of,
)

pytestmark = pytest.mark.e2e

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
