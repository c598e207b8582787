"""Ids from several chains at once: the id space cut into ranges, split as chains finish.

End to end: exactness against the emulator's truth with ids spread unevenly, a kill
while chains are mid-range, and incremental passes by ranges (in process:
tests/unit/test_chains.py).
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Any

import requests

from hubspot_emulator import Account, Emulator, Faults, RateLimit
from tests.fakes import LIST, SEARCH, uneven_ids
from tests.helpers import (
    ARRIVAL_GRACE,
    DAY_MS,
    FAST_RATE,
    TOKEN,
    association_records,
    config_for,
    iso_utc,
    last_state,
    run_and_kill,
    tap_command,
)

PAIR = ("contacts", "companies")


# End to end --------------------------------------------------------------------------


def uneven_account(seed: int) -> tuple[Account, list[int]]:
    """Contacts with companies, ids spread unevenly (runs, gaps, strays), half of them
    without associations."""
    account = Account()
    ids = uneven_ids(seed)
    with_companies = ids[::2]
    account.seed(*PAIR, with_companies, seed=seed, max_targets=6)
    account.add_objects("contacts", ids[1::2])
    return account, ids


def chains_config(emulator: Emulator, **settings: Any) -> dict[str, Any]:
    config = config_for(emulator, {}, batch_size=200, **settings)
    config["associations"] = [{"from": "contacts", "to": "companies"}]
    return config


def test_a_full_pass_by_ranges_gives_the_exact_truth(start_emulator, run_tap) -> None:
    account, ids = uneven_account(7)
    emulator = start_emulator(
        account,
        page_size=4,
        faults=Faults(latency_seconds=0.03),
        search_lag_seconds=0,
        rate_limit=RateLimit(max_requests=FAST_RATE, arrival_grace=ARRIVAL_GRACE),
    )
    run = run_tap(chains_config(emulator), emulator=emulator)
    assert run.returncode == 0, run.stderr
    assert run.record_set() == account.truth(*PAIR, ids)
    first_reads = [i for b in emulator.stats.batches for i, after in b if after is None]
    assert sorted(first_reads) == sorted(map(str, ids)), "an id read twice or never"
    assert emulator.stats.requests[LIST] > 0
    assert any(s.get("after") for s in emulator.stats.searches), "no range was split"
    assert emulator.stats.statuses[400] == 0 and emulator.stats.statuses[429] == 0


def test_a_kill_while_chains_are_mid_range_resumes_them(start_emulator, tmp_path: Path) -> None:
    account, ids = uneven_account(8)
    emulator = start_emulator(
        account, page_size=4, faults=Faults(latency_seconds=0.02), search_lag_seconds=0
    )
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(chains_config(emulator, max_concurrency=2)))

    def mid_ranges(message: dict) -> bool:
        saved = message.get("value", {}).get("bookmarks", {}).get("contacts_to_companies", {})
        progress = saved.get("progress", {})
        return progress.get("position", 0) >= 1500 and len(progress["source"]["ranges"]) >= 3

    first, killed = run_and_kill(tap_command(config_path), mid_ranges)
    assert killed
    saved = last_state(first)["bookmarks"]["contacts_to_companies"]["progress"]
    emulator.wait_idle()
    listed, read_before = emulator.stats.requests[LIST], len(emulator.stats.batches)
    searches_before = len(emulator.stats.searches)
    state_path = tmp_path / "state.json"
    state_path.write_text(json.dumps(last_state(first)))
    second, killed = run_and_kill(tap_command(config_path, state_path), lambda m: False)
    assert not killed
    records = set(association_records(first)) | set(association_records(second))
    assert records == account.truth(*PAIR, ids)
    assert emulator.stats.requests[LIST] == listed, "the resumed pass listed from the start"
    read_again = [i for b in emulator.stats.batches[read_before:] for i, after in b if not after]
    assert len(read_again) <= len(ids) - saved["position"]
    # The resumed pass searched the saved ranges, each from its safe point.
    starts = {
        (f["value"])
        for s in emulator.stats.searches[searches_before:]
        for f in s["filterGroups"][0]["filters"]
        if f["operator"] == "GT"
    }
    assert {low for low, _ in saved["source"]["ranges"]} <= starts


def test_an_incremental_pass_by_ranges_gives_the_exact_truth(start_emulator, run_tap) -> None:
    account, ids = uneven_account(9)
    now = int(time.time() * 1000)
    rng = random.Random(9)
    changed = sorted(rng.sample(ids, len(ids) // 3))
    account.modify("contacts", changed, at=now - DAY_MS)
    emulator = start_emulator(
        account, page_size=4, faults=Faults(latency_seconds=0.03), search_lag_seconds=0
    )
    config = chains_config(emulator, start_date=iso_utc(now - 2 * DAY_MS), full_pass_every_days=0)
    run = run_tap(config, emulator=emulator)
    assert run.returncode == 0, run.stderr
    assert run.record_set() == account.truth(*PAIR, changed)
    assert emulator.stats.requests[LIST] == 0
    assert any(s.get("after") for s in emulator.stats.searches), "no range was split"
    for search in emulator.stats.searches:
        (group,) = search["filterGroups"]
        names = [f["propertyName"] for f in group["filters"]]
        assert names.count("lastmodifieddate") == 2, search
    first_reads = [i for b in emulator.stats.batches for i, after in b if after is None]
    assert sorted(first_reads) == sorted(map(str, changed))


def test_the_emulator_searches_ids_both_ways_within_bounds(start_emulator) -> None:
    account = Account()
    account.add_objects("contacts", [*range(100, 130), 10**15])
    emulator = start_emulator(account, search_lag_seconds=0)

    def search(low: tuple[str, int], high: tuple[str, int], direction: str, **extra: Any):
        filters = [
            {"propertyName": "hs_object_id", "operator": operator, "value": str(value)}
            for operator, value in (low, high)
        ]
        body = {
            "filterGroups": [{"filters": filters}],
            "sorts": [{"propertyName": "hs_object_id", "direction": direction}],
            "limit": 3,
            **extra,
        }
        answer = requests.post(
            emulator.url + SEARCH, json=body, headers={"Authorization": f"Bearer {TOKEN}"}
        )
        assert answer.status_code == 200, answer.text
        found = answer.json()
        return [int(r["id"]) for r in found["results"]], found["total"]

    assert search(("GT", 104), ("LTE", 120), "DESCENDING", after="2") == ([118, 117, 116], 16)
    assert search(("GTE", 104), ("LT", 106), "ASCENDING") == ([104, 105], 2)
    assert search(("GT", 128), ("LTE", 10**15), "ASCENDING") == ([129, 10**15], 2)
    assert search(("GTE", 0), ("LT", 100), "DESCENDING") == ([], 0)
