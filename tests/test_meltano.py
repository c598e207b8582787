"""End to end as users run it: `meltano run` from the emulator into a real PostgreSQL."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from hubspot_emulator import Account, Emulator, RateLimit, TruthRecord
from tap_hubspot_associations.state import DAY_MS, iso
from tests.helpers import CAPTURED_OUTPUT, TOKEN, assert_no_secrets, clean_env, seeded_account
from tests.pipelines import Postgres, meltano, postgres_cluster

pytestmark = pytest.mark.e2e

PAIRS = {("contacts", "companies"): 150, ("deals", "contacts"): 60}
PIPELINE = ("run", "tap-hubspot-associations", "target-postgres")
DELETIONS = {
    "TAP_HUBSPOT_ASSOCIATIONS_EMIT_ACTIVATE_VERSION_MESSAGES": "true",
    "TARGET_POSTGRES_ACTIVATE_VERSION": "true",
    "TARGET_POSTGRES_HARD_DELETE": "true",
    "TARGET_POSTGRES_ADD_RECORD_METADATA": "true",
}
"""Settings under which a complete full pass removes what HubSpot no longer has."""


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
    for (from_type, to_type), ids in pairs.items():
        holds(postgres, env, (from_type, to_type), account.truth(from_type, to_type, ids))


def holds(
    postgres: Postgres, env: dict[str, str], pair: tuple[str, str], expected: set[TruthRecord]
) -> None:
    """The pair's table holds exactly `expected`, each row once."""
    schema = env["TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA"]
    rows = postgres.query(
        "select from_object_type, from_id, to_object_type, to_id, category, type_id::text, "
        f"coalesce(label, '<null>') from {schema}.{pair[0]}_to_{pair[1]}"
    )
    assert max(Counter(rows).values()) == 1, "a row is in the table twice"
    assert set(rows) == {(*r[:5], str(r[5]), "<null>" if r[6] is None else r[6]) for r in expected}


def run_pipeline(
    env: dict[str, str], *options: str, succeed: bool = True
) -> subprocess.CompletedProcess[str]:
    """`meltano run` the pipeline; its output joins the suite-wide secret scan."""
    result = meltano(*PIPELINE, *options, env=env)
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
        **DELETIONS,
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


def test_incremental_passes_then_a_full_one_leave_exactly_the_live_associations(
    meltano_installed: None, postgres: Postgres, start_emulator, tmp_path: Path
) -> None:
    pair = ("contacts", "companies")
    account, pairs = seeded_account({pair: 150})
    ids = pairs[pair]
    emulator = start_emulator(account, page_size=4, search_lag_seconds=0)
    env = pipeline_env(
        emulator,
        {},
        postgres,
        tmp_path,
        TAP_HUBSPOT_ASSOCIATIONS_ASSOCIATIONS=json.dumps([{"from": pair[0], "to": pair[1]}]),
        TAP_HUBSPOT_ASSOCIATIONS_START_DATE=iso(int(time.time() * 1000) - DAY_MS),
        **DELETIONS,
    )
    run_pipeline(env)
    before = account.truth(*pair, ids)
    holds(postgres, env, pair, before)

    changed = [i for i in ids[:40] if len(account.targets(*pair, i)) > 1]
    for id_ in changed:
        account.associate(*pair, id_, account.targets(*pair, id_)[1:])
    account.modify("contacts", changed)
    account.archive("contacts", ids[100:105])
    time.sleep(0.01)
    log = run_pipeline(env).stderr
    assert "incremental pass" in log, log[-6000:]
    holds(postgres, env, pair, before | account.truth(*pair, changed))

    log = run_pipeline(env, "--full-refresh").stderr
    assert "full pass" in log
    holds(postgres, env, pair, account.truth(*pair, account.objects["0-1"]))
