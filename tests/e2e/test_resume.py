"""State: a STATE after each batch, small, and an exact resume after kill -9."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path

import pytest

from hubspot_emulator import Faults
from tests.helpers import (
    CAPTURED_OUTPUT,
    RUN_TIMEOUT,
    assert_no_secrets,
    association_records,
    clean_env,
    config_for,
    last_state,
    run_and_kill,
    run_and_kill_when,
    seeded_account,
    tap_command,
    truth_of,
)

PAIRS = {("contacts", "companies"): 300, ("deals", "contacts"): 100}
CONCURRENCY = 4
BATCH = 25


@pytest.mark.parametrize("concurrency", [1, 8])
def test_a_state_follows_the_batches_and_stays_small(start_emulator, run_tap, concurrency):
    account, pairs = seeded_account({("contacts", "companies"): 1500})
    emulator = start_emulator(account, page_size=4)
    config = config_for(emulator, pairs, batch_size=20, max_concurrency=concurrency)
    run = run_tap(config, emulator=emulator)
    assert run.returncode == 0, run.stderr
    states = run.states()
    with_progress = [s for s in states if any("progress" in b for b in s["bookmarks"].values())]
    batches = len(emulator.stats.batches)
    if concurrency == 1:
        assert len(with_progress) == batches
    else:  # the SDK leaves out a STATE equal to the last, as after an out-of-order batch
        assert batches / 2 <= len(with_progress) <= batches
    progress = [s["bookmarks"]["contacts_to_companies"]["progress"] for s in with_progress]
    assert all(a != b for a, b in pairwise(progress))
    for state in with_progress:
        for bookmark in state["bookmarks"].values():
            if "progress" in bookmark:
                # docs/state.md: pending is bounded by 2 x max_concurrency batches
                assert len(bookmark["progress"]["pending"]) <= 2 * concurrency * 20
    assert any(
        after is not None
        for s in with_progress
        for b in s["bookmarks"].values()
        for after in b.get("progress", {}).get("pending", {}).values()
    ), "no state ever held a paging cursor"


def test_a_completed_stream_clears_its_progress(start_emulator, run_tap) -> None:
    account, pairs = seeded_account(PAIRS)
    emulator = start_emulator(account, page_size=4)
    config = config_for(emulator, pairs, batch_size=50)
    first = run_tap(config, emulator=emulator)
    assert first.returncode == 0, first.stderr
    final = first.states()[-1]
    assert all("progress" not in b for b in final["bookmarks"].values())
    requests_before = len(emulator.stats.batches)
    second = run_tap(config, state=final, emulator=emulator)
    assert second.returncode == 0, second.stderr
    assert second.record_set() == truth_of(account, pairs)
    first_pages = [i for b in emulator.stats.batches[requests_before:] for i, a in b if a is None]
    assert sorted(first_pages) == sorted(str(i) for ids in pairs.values() for i in ids)


def killed_mid_paging(states_before_kill: int) -> Callable[[dict], bool]:
    """Kill once enough STATEs were written and the last holds a paging cursor."""
    seen = 0

    def kill_when(message: dict) -> bool:
        nonlocal seen
        if message["type"] != "STATE":
            return False
        seen += 1
        progress = [b.get("progress") for b in message["value"]["bookmarks"].values()]
        mid_paging = any(p and any(a is not None for a in p["pending"].values()) for p in progress)
        return seen >= states_before_kill and mid_paging

    return kill_when


def test_kill_9_then_resume_from_the_last_state_loses_nothing(start_emulator, tmp_path: Path):
    account, pairs = seeded_account(PAIRS)
    emulator = start_emulator(account, page_size=3, faults=Faults(latency_seconds=0.02))
    config_path = tmp_path / "config.json"
    config = config_for(emulator, pairs, batch_size=BATCH, max_concurrency=CONCURRENCY)
    config_path.write_text(json.dumps(config))

    first, killed = run_and_kill(tap_command(config_path), killed_mid_paging(12))
    assert killed, "the tap finished before it could be killed"
    saved = last_state(first)
    state_path = tmp_path / "state.json"
    state_path.write_text(json.dumps(saved))
    emulator.wait_idle()
    batches_before = len(emulator.stats.batches)

    resumed = subprocess.run(
        tap_command(config_path, state_path),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        env=clean_env(),
        check=False,
    )
    assert resumed.returncode == 0, resumed.stderr
    CAPTURED_OUTPUT.extend((resumed.stdout, resumed.stderr))
    assert_no_secrets(resumed.stdout, resumed.stderr)
    assert "Resuming contacts_to_companies" in resumed.stderr
    second = [json.loads(line) for line in resumed.stdout.splitlines()]

    records_first = association_records(first)
    records_second = association_records(second)
    truth = truth_of(account, pairs)
    assert set(records_first) | set(records_second) == truth
    assert set(records_first) != truth, "the first run was not interrupted"

    # Read again: only ids of batches the last STATE did not cover, the ones in flight and
    # those completed out of order, at most 2 x max_concurrency batches (docs/state.md).
    def first_reads(batches: list) -> set[str]:
        return {id_ for batch in batches for id_, after in batch if after is None}

    read_twice = first_reads(emulator.stats.batches[:batches_before]) & first_reads(
        emulator.stats.batches[batches_before:]
    )
    assert len(read_twice) <= 2 * CONCURRENCY * BATCH
    part_read = {
        id_ for b in saved["bookmarks"].values() for id_ in b.get("progress", {}).get("pending", {})
    }
    overlap = set(records_first) & set(records_second)
    assert {r[1] for r in overlap} <= read_twice | part_read
    assert len(records_second) == len(set(records_second))
    assert len(emulator.stats.batches) > batches_before
    final = last_state(second)
    assert all("progress" not in b for b in final["bookmarks"].values())


def test_an_unreadable_bookmark_restarts_the_stream_with_a_warning(start_emulator, run_tap):
    account, pairs = seeded_account({("contacts", "companies"): 40})
    emulator = start_emulator(account, page_size=4)
    state = {"bookmarks": {"contacts_to_companies": {"progress": {"position": "x"}}}}
    run = run_tap(config_for(emulator, pairs, batch_size=10), state=state, emulator=emulator)
    assert run.returncode == 0, run.stderr
    assert "reading it from the start" in run.stderr
    assert run.record_set() == truth_of(account, pairs)


def test_a_resumed_run_skips_streams_the_interrupted_run_completed(start_emulator, tmp_path):
    account, pairs = seeded_account(PAIRS)
    emulator = start_emulator(account, page_size=4, faults=Faults(latency_seconds=0.01))
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(config_for(emulator, pairs, batch_size=BATCH)))

    def in_second_stream(message: dict) -> bool:
        bookmarks = message.get("value", {}).get("bookmarks", {})
        return "progress" in bookmarks.get("deals_to_contacts", {})

    first, killed = run_and_kill(tap_command(config_path), in_second_stream)
    assert killed
    state_path = tmp_path / "state.json"
    state_path.write_text(json.dumps(last_state(first)))
    before = dict(emulator.stats.requests)
    second, killed = run_and_kill(tap_command(config_path, state_path), lambda m: False)
    assert not killed
    contacts = "/crm/associations/2026-03/contacts/companies/batch/read"
    assert emulator.stats.requests[contacts] == before[contacts], "a completed stream was re-read"
    records = set(association_records(first)) | set(association_records(second))
    assert records == truth_of(account, pairs)
    final = last_state(second)
    assert all(not b for name, b in final["bookmarks"].items() if name != "association_labels")


def first_reads(batches: list[list[tuple[str, str | None]]]) -> set[str]:
    return {id_ for batch in batches for id_, after in batch if after is None}


def test_one_slow_batch_bounds_what_a_resume_reads_again(start_emulator, tmp_path: Path):
    """One batch hangs while the others finish: the bookmark cannot pass it, so the tap
    stops starting batches once 2 x max_concurrency are outstanding (docs/state.md), and
    a resume after a kill reads at most that many batches again."""
    account, pairs = seeded_account({("contacts", "companies"): 200})
    ids = pairs[("contacts", "companies")]
    slow = ids[2 * BATCH + 5]  # in the third batch
    emulator = start_emulator(account, faults=Faults(slow_ids=frozenset({slow})))
    config_path = tmp_path / "config.json"
    config = config_for(emulator, pairs, batch_size=BATCH, max_concurrency=2)
    config_path.write_text(json.dumps(config))
    seen = {"batches": 0, "since": time.monotonic()}

    def blocked_on_the_slow_batch() -> bool:
        """The two batches before the slow one and 2 x 2 from it on arrived, and no batch
        for a second since: the tap waits at its bound (a tap without one reads on)."""
        batches = emulator.stats.batches
        if len(batches) != seen["batches"]:
            seen.update(batches=len(batches), since=time.monotonic())
            return False
        arrived = any(id_ == str(slow) for batch in batches for id_, _ in batch)
        at_bound = len(batches) >= 2 + 2 * 2
        return arrived and at_bound and time.monotonic() - seen["since"] >= 1.0

    first, killed = run_and_kill_when(tap_command(config_path), blocked_on_the_slow_batch)
    assert killed, "the tap finished before it could be killed"
    emulator.release_stalls()
    emulator.wait_idle()
    before = list(emulator.stats.batches)
    state_path = tmp_path / "state.json"
    state_path.write_text(json.dumps(last_state(first)))
    second, killed = run_and_kill(tap_command(config_path, state_path), lambda m: False)
    assert not killed
    read_twice = first_reads(before) & first_reads(emulator.stats.batches[len(before) :])
    assert str(slow) in read_twice
    assert len(read_twice) <= 2 * 2 * BATCH, f"{len(read_twice)} ids read again"
    records = set(association_records(first)) | set(association_records(second))
    assert records == truth_of(account, pairs)
