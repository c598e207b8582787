"""Every pair of an account without id lists: each `from` type is enumerated once a run
and serves every pair from it; each pair's bookmark stays its own and resumable."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hubspot_emulator import Account, Emulator
from tests.helpers import (
    DAY_MS,
    TapRun,
    association_records,
    config_for,
    iso_utc,
    last_state,
    run_and_kill,
    tap_command,
)

PAIRS = [
    ("contacts", "companies"),
    ("contacts", "deals"),
    ("contacts", "tickets"),
    ("deals", "companies"),
]


def account_of(contacts: int = 2_400, deals: int = 600) -> tuple[Account, dict[str, list[int]]]:
    """Contacts and deals, each pair's associations on a different part of them."""
    account = Account()
    ids = {
        "contacts": list(range(10**11, 10**11 + contacts)),
        "deals": list(range(2 * 10**11, 2 * 10**11 + deals)),
    }
    account.add_objects("contacts", ids["contacts"])
    account.add_objects("deals", ids["deals"])
    for index, (from_type, to_type) in enumerate(PAIRS):
        account.seed(from_type, to_type, ids[from_type][index % 3 :: 3], seed=index, max_targets=5)
    return account, ids


def every_pair_config(emulator: Emulator, **settings: Any) -> dict[str, Any]:
    config = config_for(emulator, {}, batch_size=200, **settings)
    config["associations"] = [{"from": f, "to": t} for f, t in PAIRS]
    return config


def truth(account: Account, ids: dict[str, list[int]]) -> set[tuple[Any, ...]]:
    return set().union(*(account.truth(f, t, ids[f]) for f, t in PAIRS))


def enumerations(emulator: Emulator, *, windowed: bool = False) -> int:
    """Enumerations started: each asks search first for the highest id of its type (in
    its window, for an incremental pass)."""
    count = 0
    for body in emulator.stats.searches:
        filters = [f["propertyName"] for g in body["filterGroups"] for f in g["filters"]]
        first = body["limit"] == 1 and body["sorts"][0]["direction"] == "DESCENDING"
        if first and "hs_object_id" not in filters and bool(filters) == windowed:
            count += 1
    return count


def test_each_type_is_enumerated_once_for_every_pair_from_it(start_emulator, run_tap) -> None:
    account, ids = account_of()
    emulator = start_emulator(account)
    run: TapRun = run_tap(every_pair_config(emulator), emulator=emulator)
    assert run.returncode == 0, run.stderr
    assert run.record_set() == truth(account, ids)
    assert enumerations(emulator) == 2, "contacts and deals, once each"
    shared = [
        line for line in run.stderr.splitlines() if "as enumerated earlier in this run" in line
    ]
    assert len(shared) == 2, "contacts_to_deals and contacts_to_tickets"
    for from_type, to_type in PAIRS:
        labels = f"/crm/associations/2026-03/{from_type}/{to_type}/labels"
        assert emulator.stats.requests[labels] == 1, labels
    first_reads = [i for b in emulator.stats.batches for i, after in b if after is None]
    assert len(first_reads) == 3 * len(ids["contacts"]) + len(ids["deals"]), "each id once a pair"


def test_incremental_windows_of_one_type_are_searched_once(start_emulator, run_tap) -> None:
    account, ids = account_of(contacts=900)
    now = account.clock.time_ms()
    changed = ids["contacts"][::4]
    account.modify("contacts", changed, at=now - 3_600_000)
    emulator = start_emulator(account, search_lag_seconds=0)
    since = iso_utc(now - DAY_MS)
    config = every_pair_config(emulator, start_date=since, full_pass_every_days=0)
    state = {"bookmarks": {f"{f}_to_{t}": {"since": since} for f, t in PAIRS}}
    run = run_tap(config, state=state, emulator=emulator)
    assert run.returncode == 0, run.stderr
    expected = set().union(
        *(account.truth(f, t, changed) for f, t in PAIRS if f == "contacts"),
    )
    assert {r for r in run.record_set() if r[0] == "contacts"} == expected
    assert enumerations(emulator, windowed=True) == 2


def test_a_pair_reading_spooled_ids_resumes_from_its_own_bookmark(
    start_emulator, tmp_path: Path
) -> None:
    account, ids = account_of(contacts=4_000, deals=100)
    emulator = start_emulator(account)
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(every_pair_config(emulator, max_concurrency=2)))

    def mid_second_pair(message: dict[str, Any]) -> bool:
        saved = message.get("value", {}).get("bookmarks", {}).get("contacts_to_deals", {})
        return saved.get("progress", {}).get("position", 0) >= 1_500

    first, killed = run_and_kill(tap_command(config_path), mid_second_pair)
    assert killed
    state = last_state(first)
    saved = state["bookmarks"]["contacts_to_deals"]["progress"]
    assert saved["source"]["ranges"], "the spooled pass saved its ranges"
    emulator.wait_idle()
    deals_reads = "/crm/associations/2026-03/contacts/deals/batch/read"
    before = emulator.stats.requests[deals_reads]
    state_path = tmp_path / "state.json"
    state_path.write_text(json.dumps(state))
    second, killed = run_and_kill(tap_command(config_path, state_path), lambda m: False)
    assert not killed
    records = set(association_records(first)) | set(association_records(second))
    assert records == truth(account, ids)
    # Batches of 200; at most 2 x max_concurrency batches past the bookmark are redone.
    left = len(ids["contacts"]) - saved["position"]
    assert emulator.stats.requests[deals_reads] - before <= -(-left // 200) + 2 * 2 + 1, (
        "contacts_to_deals went on from its bookmark"
    )
