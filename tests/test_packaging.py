"""The wheel and the sdist hold the tap alone, install into clean venvs, and the tap runs;
and each way of installing without a clone that the README gives works."""

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
    CAPTURED_OUTPUT,
    ROOT,
    assert_no_secrets,
    association_records,
    clean_env,
    config_for,
    parse_messages,
    seeded_account,
    truth_of,
)
from tests.pipelines import MELTANO, definition_copy, new_project

pytestmark = pytest.mark.e2e

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
    CAPTURED_OUTPUT.extend((run.stdout, run.stderr))
    assert_no_secrets(run.stdout, run.stderr)
    assert run.returncode == 0, run.stderr
    assert set(association_records(parse_messages(run.stdout))) == truth_of(account, pairs)


# -- installs without a clone, as the README and docs/meltano.md give them -----------------


def test_uv_tool_install_of_the_wheel_runs(dist, tmp_path, start_emulator) -> None:
    """`uv tool install <wheel>`: the tap in a virtualenv of its own, on the PATH."""
    (wheel,) = dist.glob("*.whl")
    env = {
        **clean_env(),
        "UV_TOOL_DIR": str(tmp_path / "tools"),
        "UV_TOOL_BIN_DIR": str(tmp_path / "bin"),
    }
    installed = subprocess.run(
        [str(UV), "tool", "install", str(wheel)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert installed.returncode == 0, installed.stderr
    tap = tmp_path / "bin" / "tap-hubspot-associations"
    about = subprocess.run(
        [str(tap), "--about", "--format=json"], capture_output=True, text=True, env=env, check=True
    )
    assert json.loads(about.stdout)["version"] == VERSION


def test_meltano_adds_the_plugin_from_the_definition_and_installs_it(
    dist, tmp_path, start_emulator
) -> None:
    """`meltano add --from-ref` of the shipped definition, in a fresh project: only its
    pip_url is changed, to the wheel, since the tagged git URL is out of reach here."""
    (wheel,) = dist.glob("*.whl")
    project = new_project(tmp_path)
    definition = definition_copy(tmp_path, pip_url=str(wheel))
    project.ok("add", "--plugin-type", "extractor", "--from-ref", str(definition), TAP)
    about = json.loads(project.ok("invoke", TAP, "--about", "--format=json"))
    assert (about["name"], about["version"]) == (TAP, VERSION)

    account, pairs = seeded_account({("contacts", "companies"): 20})
    emulator = start_emulator(account, page_size=4)
    config = config_for(emulator, pairs)
    result = project.run(
        "invoke",
        TAP,
        TAP_HUBSPOT_ASSOCIATIONS_ACCESS_TOKEN=config["access_token"],
        TAP_HUBSPOT_ASSOCIATIONS_API_URL=config["api_url"],
        TAP_HUBSPOT_ASSOCIATIONS_ASSOCIATIONS=json.dumps(config["associations"]),
        TAP_HUBSPOT_ASSOCIATIONS__SELECT='["contacts_to_companies.*"]',
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert set(association_records(parse_messages(result.stdout))) == truth_of(account, pairs)


def test_meltano_add_custom_takes_a_pip_url(tmp_path) -> None:
    """`meltano add --custom` asks for the plugin's fields; docs/meltano.md gives the answers."""
    project = new_project(tmp_path)
    answers = "\n".join(
        [
            "tap_hubspot_associations",
            "tap-hubspot-associations==0.1.0",
            "tap-hubspot-associations",
            "about,catalog,discover,state,activate-version,stream-maps,schema-flattening",
            "access_token:password,associations:array",
            "",
        ]
    )
    added = project.run(
        "add", "--custom", "--plugin-type", "extractor", "--no-install", TAP, stdin=answers
    )
    assert added.returncode == 0, added.stderr[-3000:]
    (extractor,) = project.config["plugins"]["extractors"]
    assert extractor["pip_url"] == "tap-hubspot-associations==0.1.0"
    assert extractor["executable"] == TAP
    assert "discover" in extractor["capabilities"]
    assert {s["name"] for s in extractor["settings"]} == {"access_token", "associations"}
