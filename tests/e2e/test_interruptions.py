"""Runs cut short and resumed: a STATE after each batch, kill -9 at any point, signals,
closed outputs, and saved state that no longer fits. A resume loses nothing and reads
again at most what docs/state.md bounds."""

from __future__ import annotations

import array
import fcntl
import json
import os
import random
import signal
import subprocess
import termios
import time
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from hubspot_emulator import Account, Faults
from tests.helpers import (
    CAPTURED_OUTPUT,
    RUN_TIMEOUT,
    TOKEN,
    TapRun,
    assert_one_clear_error,
    association_records,
    batch_reads,
    config_for,
    last_state,
    offline_config,
    parse_messages,
    run_and_kill,
    run_and_kill_when,
    run_tap_command,
    seeded_account,
    start_tap,
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

    resumed = run_tap_command(tap_command(config_path, state_path))
    assert resumed.returncode == 0, resumed.stderr
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


def after_states(count: int | None) -> Callable[[dict], bool]:
    seen = 0

    def kill_when(message: dict) -> bool:
        nonlocal seen
        seen += message["type"] == "STATE"
        return count is not None and seen >= count

    return kill_when


def test_killed_at_random_points_and_resumed_each_time(start_emulator, tmp_path: Path) -> None:
    account, pairs = seeded_account(
        {
            ("contacts", "companies"): 100,
            ("calls", "contacts"): 150,
            ("deals", "contacts"): 60,
            ("p4242_cars", "0-1"): 40,
        }
    )
    emulator = start_emulator(account, page_size=3, faults=Faults(latency_seconds=0.02))
    batch, concurrency = 10, 4
    config_path = tmp_path / "config.json"
    config = config_for(emulator, pairs, batch_size=batch, max_concurrency=concurrency)
    del config["associations"][1]["ids"]  # calls: every id, listed from HubSpot
    config_path.write_text(json.dumps(config))
    rng = random.Random(7)
    records: list[tuple] = []
    state: dict | None = None
    kills = mid_paging = mid_listing = 0
    streams_killed = set()
    for _ in range(12):
        state_path = None
        if state is not None:
            state_path = tmp_path / "state.json"
            state_path.write_text(json.dumps(state))
        kill_after = rng.randint(8, 20) if kills < 6 else None
        messages, killed = run_and_kill(
            tap_command(config_path, state_path), after_states(kill_after)
        )
        records += association_records(messages)
        states = [m["value"] for m in messages if m["type"] == "STATE"]
        state = states[-1] if states else state
        if not killed:
            break
        kills += 1
        progress = (
            {name: b["progress"] for name, b in state["bookmarks"].items() if "progress" in b}
            if state
            else {}
        )
        streams_killed |= set(progress)
        mid_paging += any(a for p in progress.values() for a in p["pending"].values())
        mid_listing += bool(progress.get("calls_to_contacts", {}).get("source", {}).get("ranges"))
    assert kills >= 5 and not killed
    assert len(streams_killed) >= 2, "the kills did not spread over several streams"
    assert mid_paging >= 1, "no kill came while an id was being paged through"
    assert mid_listing >= 1, "no kill came while calls were being listed"
    assert set(records) == truth_of(account, pairs)
    first_reads = [i for b in emulator.stats.batches for i, after in b if after is None]
    redone = len(first_reads) - len(set(first_reads))
    # docs/state.md: what a resume reads again is at most 2 x max_concurrency batches
    assert redone <= kills * 2 * concurrency * batch


STREAM = "contacts_to_companies"


def test_an_id_given_up_on_is_read_again_by_the_resumed_pass(start_emulator, run_tap, tmp_path):
    account, pairs = seeded_account({("contacts", "companies"): 200}, max_targets=3)
    ids = pairs[("contacts", "companies")]
    failing = next(i for i in ids[:20] if account.truth("contacts", "companies", [i]))
    emulator = start_emulator(
        account, faults=Faults(failing_ids=frozenset({failing}), latency_seconds=0.05)
    )
    config = config_for(
        emulator,
        pairs,
        batch_size=10,
        max_concurrency=1,
        max_retries=1,
        emit_activate_version_messages=True,
    )
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(config))

    def gave_up(message: dict[str, Any]) -> bool:
        progress = message.get("value", {}).get("bookmarks", {}).get(STREAM, {}).get("progress")
        return message["type"] == "STATE" and str(failing) in (progress or {}).get("failed", [])

    first, killed = run_and_kill(tap_command(config_path), gave_up)
    assert killed
    emulator.faults.failing_ids = frozenset()
    resumed = run_tap(config, state=last_state(first))
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    activated = [m["version"] for m in resumed.messages if m["type"] == "ACTIVATE_VERSION"]
    version = last_state(first)["bookmarks"][STREAM]["progress"]["version"]
    assert version in activated
    in_version = {
        record
        for run in (first, resumed.messages)
        for record, message in zip(
            association_records(run),
            [m for m in run if m["type"] == "RECORD" and m["stream"] == STREAM],
            strict=True,
        )
        if message.get("version") == version
    }
    assert in_version == truth_of(account, pairs)


def test_a_listing_resume_finds_its_place_by_id_when_records_were_archived(start_emulator, run_tap):
    """The saved page is found again, and in it the last id the bookmark covers; records
    archived meanwhile in that page must not make the resume skip unread ids."""
    account = Account()
    ids = list(range(1, 301))
    account.seed("contacts", "companies", ids, seed=3)
    emulator = start_emulator(account)
    config = {
        **config_for(emulator, {}),
        "associations": [{"from": "contacts", "to": "companies"}],
        "batch_size": 10,
        "max_concurrency": 1,
    }
    first = run_tap(config)
    assert first.returncode == 0, first.stderr[-2000:]
    saved = next(
        state
        for state in first.states()
        if state["bookmarks"].get(STREAM, {}).get("progress", {}).get("position", 0) >= 140
    )
    position = saved["bookmarks"][STREAM]["progress"]["position"]
    account.archive("contacts", range(110, 120))
    resumed = run_tap(config, state=saved)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    read = {r["from_id"] for r in resumed.records(STREAM)}
    unread = [i for i in ids[position:] if account.targets("contacts", "companies", i)]
    assert {str(i) for i in unread} <= read


# Saved state that no longer fits ------------------------------------------------------


def fingerprint_of(run) -> str:
    """The id list's fingerprint as the tap wrote it in a STATE of a real run."""
    return next(
        b["progress"]["ids"]
        for s in run.states()
        for b in s["bookmarks"].values()
        if "progress" in b
    )


def test_a_cursor_hubspot_rejects_is_read_again_from_the_start(start_emulator, run_tap) -> None:
    account, pairs = seeded_account({("contacts", "companies"): 40})
    ids = pairs[("contacts", "companies")]
    paged = next(i for i in ids if len(account.targets("contacts", "companies", i)) > 4)
    emulator = start_emulator(account, page_size=4)
    earlier = run_tap(config_for(emulator, pairs, batch_size=10), emulator=emulator)
    assert earlier.returncode == 0, earlier.stderr
    progress = {
        "format": 1,
        "ids": fingerprint_of(earlier),
        "position": 10,
        "pending": {str(paged): "bm90LWEtY3Vyc29y"},
    }
    state = {"bookmarks": {"contacts_to_companies": {"progress": progress}}}
    run = run_tap(config_for(emulator, pairs, batch_size=10), state=state, emulator=emulator)
    assert run.returncode == 0, run.stderr
    assert "rejected a request holding 1 paging cursors from the saved state" in run.stderr
    expected = account.truth("contacts", "companies", [*ids[10:], paged])
    assert run.record_set() == expected


def test_progress_of_another_id_list_is_not_applied(start_emulator, run_tap) -> None:
    account, pairs = seeded_account({("contacts", "companies"): 40})
    emulator = start_emulator(account, page_size=4)
    progress = {"format": 1, "ids": "another-id-list", "position": 30, "pending": {}}
    state = {
        "bookmarks": {
            "contacts_to_companies": {"progress": progress},
            "deals_to_tickets": {"progress": {"format": 1, "position": 5, "pending": {}}},
        }
    }
    run = run_tap(config_for(emulator, pairs, batch_size=10), state=state, emulator=emulator)
    assert run.returncode == 0, run.stderr
    assert "The ids of contacts_to_companies changed since its saved progress" in run.stderr
    assert run.record_set() == truth_of(account, pairs)


@pytest.mark.parametrize("position", [True, 10**9])
def test_a_saved_position_that_is_not_a_position_reads_from_the_start(
    start_emulator, run_tap, position
):
    account, pairs = seeded_account({("contacts", "companies"): 30})
    emulator = start_emulator(account)
    config = config_for(emulator, pairs, batch_size=10, max_concurrency=1)
    first = run_tap(config)
    saved = next(
        s["bookmarks"][STREAM]["progress"]
        for s in first.states()
        if "progress" in s["bookmarks"].get(STREAM, {})
    )
    state = {"bookmarks": {STREAM: {"progress": {**saved, "position": position, "pending": {}}}}}
    run = run_tap(config, state=state)
    assert run.returncode == 0
    assert run.record_set() == truth_of(account, pairs)


# Signals and closed outputs -----------------------------------------------------------


def emitted_positions(stdout: Path) -> list[int]:
    """The positions of the STATE messages written so far (complete lines)."""
    lines = [line for line in stdout.read_text().splitlines(keepends=True) if line.endswith("\n")]
    states = [m["value"] for m in map(json.loads, lines) if m["type"] == "STATE"]
    progress = [s["bookmarks"].get(STREAM, {}).get("progress", {}) for s in states]
    return [p.get("position", 0) for p in progress]


@pytest.mark.parametrize(("sent", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_stops_the_run_at_once_with_its_state(start_emulator, tmp_path, sent, code):
    """The first batch is emitted and the second stalls for 60 s when the signal comes:
    the run ends at once, its last message the STATE of what it emitted."""
    account, pairs = seeded_account({("contacts", "companies"): 50})
    emulator = start_emulator(account, faults=Faults(script=("none", "stall"), stall_seconds=60))
    config = config_for(emulator, pairs, batch_size=10, max_concurrency=1)
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(config))
    stdout_path = tmp_path / "stdout"
    with (
        stdout_path.open("w") as stdout_file,
        start_tap(
            tap_command(config_path), stdout=stdout_file, stderr=subprocess.PIPE, text=True
        ) as process,
    ):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (
            batch_reads(emulator) >= 2 and 10 in emitted_positions(stdout_path)
        ):
            time.sleep(0.05)
        assert batch_reads(emulator) >= 2, "the stalled request never came"
        assert 10 in emitted_positions(stdout_path), "the first batch was never emitted"
        process.send_signal(sent)
        _, stderr = process.communicate(timeout=15)  # the stalled request waits 60 s
    stdout = stdout_path.read_text()
    CAPTURED_OUTPUT.extend((stdout, stderr))
    assert process.returncode == code
    messages = parse_messages(stdout)
    assert messages[-1]["type"] == "STATE"
    assert [m for m in messages if m["type"] == "RECORD"], "the first batch's records"
    progress = messages[-1]["value"]["bookmarks"][STREAM]["progress"]
    assert progress["position"] == 10
    assert f"Stopped by {sent.name}" in stderr
    assert "Traceback" not in stderr


def pipe_is_full(reader: int) -> bool:
    """Less than a page free: a writer of whole lines now waits for the reader."""
    waiting = array.array("i", [0])
    fcntl.ioctl(reader, termios.FIONREAD, waiting)
    return waiting[0] > fcntl.fcntl(reader, fcntl.F_GETPIPE_SZ) - 4096


def test_a_signal_during_a_blocked_write_cuts_no_line_in_two(start_emulator, tmp_path):
    """The target stops reading, stdout's pipe fills, SIGTERM comes while a write is
    blocked: every whole line written is one message, the cut one ends the output."""
    account, pairs = seeded_account({("contacts", "companies"): 3000})
    emulator = start_emulator(account)
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(config_for(emulator, pairs, batch_size=100)))
    reader, writer = os.pipe()
    stderr_path = tmp_path / "stderr"
    with (
        stderr_path.open("wb") as stderr_file,
        start_tap(tap_command(config_path), stdout=writer, stderr=stderr_file) as process,
    ):
        os.close(writer)
        deadline = time.monotonic() + 30
        while not pipe_is_full(reader) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert pipe_is_full(reader), "the tap never filled the pipe"
        process.send_signal(signal.SIGTERM)
        # The tap ends while the target still reads nothing: it writes nothing more.
        assert process.wait(timeout=30) == 143
    output = b""
    while chunk := os.read(reader, 1 << 16):
        output += chunk
    os.close(reader)
    stderr = stderr_path.read_text()
    CAPTURED_OUTPUT.append(stderr)
    lines = output.split(b"\n")
    for line in lines[:-1]:
        assert isinstance(json.loads(line), dict)  # a line cut and continued would not parse


def test_a_closed_stdout_is_named(start_emulator, tmp_path):
    account, pairs = seeded_account({("contacts", "companies"): 2000})
    emulator = start_emulator(account)
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(config_for(emulator, pairs, batch_size=100)))
    with start_tap(
        tap_command(config_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as process:
        assert process.stdout is not None and process.stderr is not None
        process.stdout.read(1000)
        process.stdout.close()
        stderr = process.stderr.read().decode()
        process.wait(timeout=RUN_TIMEOUT)
    CAPTURED_OUTPUT.append(stderr)
    assert process.returncode == 1
    assert "the output pipe closed" in stderr
    assert "Traceback" not in stderr
    assert "An unhandled error occurred" not in stderr


def test_a_closed_stdout_from_the_start_is_one_line(tmp_path):
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(offline_config()))
    with start_tap(
        tap_command(config_path),
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: os.close(1),
    ) as process:
        _, stderr = process.communicate(timeout=RUN_TIMEOUT)
    CAPTURED_OUTPUT.append(stderr)
    assert_one_clear_error(TapRun(process.returncode, "", stderr), "output pipe")


def test_discovery_into_a_closed_pipe_is_one_line(start_emulator):
    account, _ = seeded_account({("contacts", "companies"): 3})
    emulator = start_emulator(account)
    config = json.dumps({"access_token": TOKEN, "api_url": emulator.url})
    with start_tap(
        [*tap_command("/dev/stdin"), "--discover"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as process:
        assert process.stdin and process.stdout and process.stderr
        process.stdin.write(config.encode())
        process.stdin.close()
        process.stdout.read(10)
        process.stdout.close()
        stderr = process.stderr.read().decode()
        code = process.wait(timeout=RUN_TIMEOUT)
    CAPTURED_OUTPUT.append(stderr)
    assert_one_clear_error(TapRun(code, "", stderr), "output pipe closed")
