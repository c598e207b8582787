"""End to end as users run it: `meltano run` from the emulator into a real PostgreSQL."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tap_hubspot_associations.emulator import Account, Emulator, RateLimit
from tests.conftest import CAPTURED_OUTPUT, TOKEN, assert_no_secrets, clean_env, seeded_account
from tests.pipelines import Postgres, meltano, postgres_cluster

PAIRS = {("contacts", "companies"): 150, ("deals", "contacts"): 60}
PIPELINE = ("run", "tap-hubspot-associations", "target-postgres")


@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres]:
    with postgres_cluster() as cluster:
        yield cluster


@pytest.fixture(scope="module")
def meltano_installed(tmp_path_factory: pytest.TempPathFactory) -> None:
    database = tmp_path_factory.mktemp("meltano") / "meltano.db"
    result = meltano(
        "install", env={**clean_env(), "MELTANO_DATABASE_URI": f"sqlite:///{database}"}
    )
    assert result.returncode == 0, result.stderr


def pipeline_env(
    emulator: Emulator, pairs: dict, postgres: Postgres, tmp_path: Path, **settings: str
) -> dict[str, str]:
    """Settings as Meltano takes them from the environment; state in a database of its own."""
    associations = [
        {"from": f, "to": t, "ids": [str(i) for i in ids]} for (f, t), ids in pairs.items()
    ]
    return {
        **clean_env(),
        "MELTANO_DATABASE_URI": f"sqlite:///{tmp_path / 'meltano.db'}",
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        "TAP_HUBSPOT_ASSOCIATIONS_ACCESS_TOKEN": TOKEN,
        "TAP_HUBSPOT_ASSOCIATIONS_API_URL": emulator.url,
        "TAP_HUBSPOT_ASSOCIATIONS_ASSOCIATIONS": json.dumps(associations),
        "TAP_HUBSPOT_ASSOCIATIONS_BATCH_SIZE": "20",
        "TAP_HUBSPOT_ASSOCIATIONS_MAX_REQUESTS_PER_10S": "1000",
        "TARGET_POSTGRES_HOST": postgres.host,
        "TARGET_POSTGRES_PORT": str(postgres.port),
        "TARGET_POSTGRES_USER": postgres.user,
        "TARGET_POSTGRES_PASSWORD": "unused",
        "TARGET_POSTGRES_DATABASE": postgres.database,
        "TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA": f"hubspot_{uuid.uuid4().hex[:8]}",
        **settings,
    }


def loaded(postgres: Postgres, env: dict[str, str], account: Account, pairs: dict) -> None:
    """Each table holds exactly the emulator's truth for its pair, each row once."""
    schema = env["TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA"]
    for (from_type, to_type), ids in pairs.items():
        rows = postgres.query(
            "select from_object_type, from_id, to_object_type, to_id, category, type_id::text, "
            f"coalesce(label, '<null>') from {schema}.{from_type}_to_{to_type}"
        )
        truth = {
            (*r[:5], str(r[5]), "<null>" if r[6] is None else r[6])
            for r in account.truth(from_type, to_type, ids)
        }
        assert max(Counter(rows).values()) == 1, "a row is in the table twice"
        assert set(rows) == truth


def run_pipeline(env: dict[str, str], *, succeed: bool = True) -> subprocess.CompletedProcess[str]:
    """`meltano run` the pipeline; its output joins the suite-wide secret scan."""
    result = meltano(*PIPELINE, env=env)
    CAPTURED_OUTPUT.extend((result.stdout, result.stderr))
    assert_no_secrets(result.stdout, result.stderr)
    if succeed:
        assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_meltano_run_into_postgres_twice_gives_each_row_once(
    meltano_installed: None, postgres: Postgres, start_emulator, tmp_path: Path
) -> None:
    account, pairs = seeded_account(PAIRS)
    emulator = start_emulator(account, page_size=4)
    env = pipeline_env(emulator, pairs, postgres, tmp_path)
    run_pipeline(env)
    loaded(postgres, env, account, pairs)
    run_pipeline(env)
    loaded(postgres, env, account, pairs)


def test_a_deleted_association_disappears_after_the_next_full_pass(
    meltano_installed: None, postgres: Postgres, start_emulator, tmp_path: Path
) -> None:
    account, pairs = seeded_account(PAIRS)
    emulator = start_emulator(account, page_size=4)
    env = pipeline_env(
        emulator,
        pairs,
        postgres,
        tmp_path,
        TAP_HUBSPOT_ASSOCIATIONS_EMIT_ACTIVATE_VERSION_MESSAGES="true",
        TARGET_POSTGRES_ACTIVATE_VERSION="true",
        TARGET_POSTGRES_HARD_DELETE="true",
        TARGET_POSTGRES_ADD_RECORD_METADATA="true",
    )
    run_pipeline(env)
    loaded(postgres, env, account, pairs)

    ids = pairs[("contacts", "companies")]
    emptied = next(i for i in ids if account.targets("contacts", "companies", i))
    trimmed = next(i for i in ids if len(account.targets("contacts", "companies", i)) > 2)
    account.associate("contacts", "companies", emptied, [])
    account.associate(
        "contacts", "companies", trimmed, account.targets("contacts", "companies", trimmed)[1:]
    )
    run_pipeline(env)
    loaded(postgres, env, account, pairs)


def test_meltano_keeps_the_state_of_an_interrupted_run_and_resumes(
    meltano_installed: None, postgres: Postgres, start_emulator, tmp_path: Path
) -> None:
    account, pairs = seeded_account(PAIRS)
    emulator = start_emulator(
        account, page_size=4, rate_limit=RateLimit(max_requests=1000, daily=12)
    )
    env = pipeline_env(
        emulator, pairs, postgres, tmp_path, TAP_HUBSPOT_ASSOCIATIONS_MAX_CONCURRENCY="1"
    )
    failed = run_pipeline(env, succeed=False)
    assert failed.returncode != 0
    assert "daily request limit" in failed.stderr
    saved = meltano("state", "get", "dev:tap-hubspot-associations-to-target-postgres", env=env)
    assert '"progress"' in saved.stdout, saved.stdout + saved.stderr
    first_reads = len(emulator.stats.batches)

    emulator.rate_limit.daily = None
    log = run_pipeline(env).stderr
    assert "Resuming contacts_to_companies after" in log
    resumed = [i for b in emulator.stats.batches[first_reads:] for i, after in b if after is None]
    assert len(resumed) < sum(len(ids) for ids in pairs.values())
    loaded(postgres, env, account, pairs)
