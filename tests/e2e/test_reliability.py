"""Reliability: a soak under every fault at once, repeated crashes, stale state, hostile input."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path

import pytest

from hubspot_emulator import Faults, RateLimit
from tests.helpers import (
    ARRIVAL_GRACE,
    CLIENT_ID,
    CLIENT_SECRET,
    REFRESH_TOKEN,
    assert_no_secrets,
    association_records,
    batch_reads,
    config_for,
    oauth_config,
    run_and_kill,
    seeded_account,
    tap_command,
    truth_of,
)

THREE_PAIRS = {
    ("contacts", "companies"): 250,
    ("deals", "contacts"): 120,
    ("p4242_cars", "0-1"): 60,
}


def test_soak_every_fault_at_once_gives_the_exact_truth(start_emulator, run_tap) -> None:
    """25 requests a second make the run's hundred-odd requests last over 3 s, so the
    first 3-second token is renewed at least once (the tap renews it at 2.4 s, four
    fifths of its life)."""
    account, pairs = seeded_account(THREE_PAIRS)
    faults = Faults(
        script=("html_502", "locked"),  # then at random, these among the rest
        server_error=0.05,
        locked=0.05,
        html_502=0.02,
        truncated_body=0.02,
        id_error=0.02,
        latency_seconds=0.03,
        latency_spread=0.9,
    )
    emulator = start_emulator(
        account,
        page_size=4,
        faults=faults,
        rate_limit=RateLimit(max_requests=25, interval_ms=1000, arrival_grace=ARRIVAL_GRACE),
        oauth_clients={CLIENT_ID: (CLIENT_SECRET, REFRESH_TOKEN)},
        token_ttl=3,
    )
    config = oauth_config(emulator, pairs, batch_size=20, max_retries=8)
    run = run_tap(config, emulator=emulator)
    assert run.returncode == 0, run.stderr
    assert run.record_set() == truth_of(account, pairs)
    statuses = emulator.stats.statuses
    assert statuses[423] and statuses[502] and emulator.stats.tokens_issued >= 2
    assert statuses[429] <= 0.05 * sum(emulator.stats.requests.values())


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


def after_states(count: int | None) -> Callable[[dict], bool]:
    seen = 0

    def kill_when(message: dict) -> bool:
        nonlocal seen
        seen += message["type"] == "STATE"
        return count is not None and seen >= count

    return kill_when


# Stale state ------------------------------------------------------------------------------


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


# Hostile input ----------------------------------------------------------------------------


def written(content: bytes):
    def make(path: Path) -> Path:
        path.write_bytes(content)
        return path

    return make


def directory(path: Path) -> Path:
    path.mkdir()
    return path


BAD_FILES = {
    "a directory": (directory, "is a directory"),
    "binary": (written(b"\x00\x01\x02\xff\xfe"), "not UTF-8 text"),
    "latin-1": (written(b"101\n10\xe92\n"), "not UTF-8 text"),
    "a 1 MB line": (written(b"1" * 1_000_000 + b"\n"), "line 1: longer than 1024 bytes"),
    "an id too long": (written(b"101\n" + b"9" * 21 + b"\n"), "line 2"),
}


@pytest.mark.parametrize("case", BAD_FILES, ids=list(BAD_FILES))
def test_hostile_ids_files_are_named(case: str, tmp_path: Path, run_tap) -> None:
    make, expected = BAD_FILES[case]
    path = make(tmp_path / "ids.txt")
    config = {
        "access_token": "pat-na1-test-0000-secret-token",
        "api_url": "http://127.0.0.1:9",
        "associations": [{"from": "contacts", "to": "companies", "ids_file": str(path)}],
    }
    run = run_tap(config)
    assert run.returncode == 1
    last = run.error_lines()[-1]
    assert f"ids_file {path}" in last and expected in last
    assert len(last) < 300
    assert "Traceback" not in run.stderr


def test_an_empty_ids_file_reads_nothing_with_a_warning(tmp_path: Path, start_emulator, run_tap):
    account, _ = seeded_account({("contacts", "companies"): 5})
    emulator = start_emulator(account)
    path = tmp_path / "ids.txt"
    path.write_text("\n  \n")
    config = config_for(emulator, {})
    config["associations"] = [{"from": "contacts", "to": "companies", "ids_file": str(path)}]
    run = run_tap(config, emulator=emulator)
    assert run.returncode == 0, run.stderr
    assert "associations[0] lists no ids" in run.stderr
    assert not run.records() and not emulator.stats.batches


BAD_JSON_FILES = {
    "--state not JSON": ("--state", '{"bookm', "not valid JSON (line 1"),
    "--state a list": ("--state", "[]", "must hold a JSON object"),
    "--state bookmarks not an object": ("--state", '{"bookmarks": 5}', "`bookmarks` must map"),
    "--catalog not JSON": ("--catalog", "{", "not valid JSON"),
    "--config not JSON": ("--config", "{'access_token': 1}", "not valid JSON"),
}


@pytest.mark.parametrize("case", BAD_JSON_FILES, ids=list(BAD_JSON_FILES))
def test_broken_input_files_are_named(case: str, tmp_path: Path, run_tap) -> None:
    flag, content, expected = BAD_JSON_FILES[case]
    path = tmp_path / "input.json"
    path.write_text(content)
    config = {"access_token": "pat-na1-test-0000-secret-token", "associations": []}
    run = run_tap(None if flag == "--config" else config, args=[flag, str(path)])
    assert run.returncode == 1
    last = run.error_lines()[-1]
    assert f"| ERROR    | tap-hubspot-associations       | {flag} {path}: " in last
    assert expected in last
    assert "Traceback" not in run.stderr


MANGLED = {
    "results missing": ("missing_results", "not the expected JSON", True),
    "a 200 HTML page": ("html_200", "not the expected JSON", True),
    "to is null": ("null_to", "", True),
    "a result for an id not asked for": ("extra_id", "not requested", False),
}


@pytest.mark.parametrize("case", MANGLED, ids=list(MANGLED))
def test_mangled_answers_are_survived(case: str, start_emulator, run_tap) -> None:
    fault, logged, sent_again = MANGLED[case]
    account, pairs = seeded_account({("contacts", "companies"): 30})
    emulator = start_emulator(account, page_size=4, faults=Faults(script=(fault,) * 2))
    config = config_for(emulator, pairs, batch_size=10, max_concurrency=1)
    run = run_tap(config, emulator=emulator)
    assert run.returncode == 0, run.stderr
    assert run.record_set() == truth_of(account, pairs)
    assert logged in run.stderr
    first_pages = [i for batch in emulator.stats.batches for i, after in batch if after is None]
    assert (len(first_pages) > len(set(first_pages))) is sent_again


def test_endless_broken_answers_end_in_a_clear_error(start_emulator, run_tap) -> None:
    account, pairs = seeded_account({("contacts", "companies"): 10})
    emulator = start_emulator(account, faults=Faults(script=("truncated",) * 100))
    run = run_tap(config_for(emulator, pairs, max_retries=3), emulator=emulator)
    assert run.returncode == 1
    assert (
        "still failing after 3 retries: 207 response is not the expected JSON"
        in (run.error_lines()[-1])
    )
    assert batch_reads(emulator) == 4


def test_a_server_that_never_answers_ends_in_a_clear_error(start_emulator, run_tap) -> None:
    account, pairs = seeded_account({("contacts", "companies"): 10})
    emulator = start_emulator(account, faults=Faults(stall=1.0, stall_seconds=30))
    run = run_tap(config_for(emulator, pairs, max_retries=1, request_timeout=1), emulator=emulator)
    assert run.returncode == 1
    assert "still failing after 1 retries: timed out" in run.error_lines()[-1]


def test_no_secret_at_debug_level_even_when_requests_fail(start_emulator, run_tap) -> None:
    account, pairs = seeded_account({("contacts", "companies"): 10})
    emulator = start_emulator(
        account,
        faults=Faults(script=("server_error", "html_502")),
        oauth_clients={CLIENT_ID: (CLIENT_SECRET, REFRESH_TOKEN)},
    )
    config = oauth_config(emulator, pairs)
    env = {"TAP_HUBSPOT_ASSOCIATIONS_LOGLEVEL": "DEBUG"}
    run = run_tap(config, env=env, emulator=emulator)
    assert run.returncode == 0, run.stderr
    assert "DEBUG" in run.stderr
    assert_no_secrets(run.stdout, run.stderr, extra=tuple(emulator.issued_tokens()))
