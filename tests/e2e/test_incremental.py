"""Incremental passes: only the records modified since the last pass, found by CRM search,
with full passes on the user's schedule to catch what they cannot see."""

from __future__ import annotations

import json
import random
import re
import time
from pathlib import Path
from typing import Any

from hubspot_emulator import Account, Emulator, Faults, RateLimit
from tests.helpers import (
    ARRIVAL_GRACE,
    DAY_MS,
    FAST_RATE,
    HOUR_MS,
    LABELS_STREAM,
    association_records,
    config_for,
    iso_utc,
    last_state,
    ms_of,
    run_and_kill,
    seeded_account,
    tap_command,
    truth_of,
)

CONTACTS = ("contacts", "companies")
COMPANIES = ("companies", "contacts")
SEARCH = "/crm/objects/2026-03/{}/search"
LIST = "/crm/objects/2026-03/{}"


def now_ms() -> int:
    return int(time.time() * 1000)


def account_modified_over(days: int, counts: dict[tuple[str, str], int]) -> Account:
    """Records last modified at random times over the last `days` days."""
    account, pairs = seeded_account(counts)
    rng, now = random.Random(11), now_ms()
    for (from_type, _), ids in pairs.items():
        for id_ in ids:
            account.modify(from_type, [id_], at=now - rng.randint(60_000, days * DAY_MS))
    return account


def listing_config(emulator: Emulator, *pairs: tuple[str, str], **settings: Any) -> dict:
    config = config_for(emulator, {}, **{"batch_size": 100, **settings})
    config["associations"] = [{"from": f, "to": t} for f, t in pairs]
    return config


def truth_modified(
    account: Account, pair: tuple[str, str], since: int, until: int
) -> set[tuple[Any, ...]]:
    return account.truth(*pair, account.modified_between(pair[0], since, until))


def bookmark(run_or_state: Any, stream: str = "contacts_to_companies") -> dict:
    state = run_or_state if isinstance(run_or_state, dict) else run_or_state.states()[-1]
    return state["bookmarks"][stream]


def activations(messages: list[dict]) -> list[dict]:
    """ACTIVATE_VERSION messages of association streams (labels are always full)."""
    return [m for m in messages if m["type"] == "ACTIVATE_VERSION" and m["stream"] != LABELS_STREAM]


def test_an_incremental_pass_reads_exactly_the_records_modified_since_start_date(
    start_emulator, run_tap
) -> None:
    account = account_modified_over(30, {CONTACTS: 600, COMPANIES: 300})
    emulator = start_emulator(account, page_size=4, search_lag_seconds=0)
    start_date = now_ms() - 10 * DAY_MS
    config = listing_config(
        emulator,
        CONTACTS,
        COMPANIES,
        start_date=iso_utc(start_date),
        full_pass_every_days=0,
        emit_activate_version_messages=True,
    )
    before = now_ms()
    run = run_tap(config, emulator=emulator)
    after = now_ms()
    assert run.returncode == 0, run.stderr
    expected = truth_modified(account, CONTACTS, start_date, before) | truth_modified(
        account, COMPANIES, start_date, before
    )
    assert 0 < len(expected) < len(account.truth(*CONTACTS, account.objects["0-1"]))
    assert run.record_set() == expected
    for object_type in ("contacts", "companies"):
        assert emulator.stats.requests[SEARCH.format(object_type)] > 0
        assert emulator.stats.requests[LIST.format(object_type)] == 0
    assert emulator.stats.statuses[400] == 0
    assert activations(run.messages) == []
    records = [m for m in run.messages if m["type"] == "RECORD" and m["stream"] != LABELS_STREAM]
    assert records and all(m.get("version") is None for m in records), "a table version"
    saved = bookmark(run)
    # HubSpot's time, from its `Date` header: whole seconds.
    assert before // 1000 * 1000 <= ms_of(saved["since"]) <= after
    assert "last_full" not in saved and "progress" not in saved and "pass" not in saved


def test_legacy_paths_search_through_crm_v3(start_emulator, run_tap) -> None:
    account = account_modified_over(30, {CONTACTS: 300})
    emulator = start_emulator(account, page_size=4, search_lag_seconds=0)
    start_date = now_ms() - 10 * DAY_MS
    config = listing_config(
        emulator, CONTACTS, api_version="v4", start_date=iso_utc(start_date), full_pass_every_days=0
    )
    run = run_tap(config, emulator=emulator)
    assert run.returncode == 0, run.stderr
    assert run.record_set() == truth_modified(account, CONTACTS, start_date, now_ms())
    assert emulator.stats.requests["/crm/v3/objects/contacts/search"] > 0


def test_full_passes_on_schedule_catch_what_incremental_passes_cannot(
    start_emulator, run_tap
) -> None:
    account, pairs = seeded_account({CONTACTS: 400})
    ids = pairs[CONTACTS]
    emulator = start_emulator(account, page_size=4, search_lag_seconds=0)
    config = listing_config(
        emulator,
        CONTACTS,
        start_date=iso_utc(now_ms() - DAY_MS),
        full_pass_every_days=7,
        emit_activate_version_messages=True,
    )

    first = run_tap(config, emulator=emulator)
    assert first.returncode == 0, first.stderr
    assert first.record_set() == account.truth(*CONTACTS, ids)
    assert emulator.stats.requests[LIST.format("contacts")] > 0
    assert all(bound == {} for bound in search_bounds(emulator)), "a full pass searched by time"
    assert len(activations(first.messages)) == 1
    assert bookmark(first)["last_full"] == bookmark(first)["since"]

    changed, unmodified, deleted = ids[:30], ids[200], ids[300:305]
    account.seed(*CONTACTS, changed, seed=99)
    account.modify("contacts", changed)
    added = (10**13, (("HUBSPOT_DEFINED", 1, None),))
    account.associate(*CONTACTS, unmodified, [*account.targets(*CONTACTS, unmodified), added])
    account.archive("contacts", deleted)
    # HubSpot's `Date` has whole seconds: a pass started in the second of a change may
    # leave it to the next window. Let HubSpot's clock pass that second.
    emulator.clock.advance(1.5)

    second = run_tap(config, state=first.states()[-1], emulator=emulator)
    assert second.returncode == 0, second.stderr
    assert second.record_set() == account.truth(*CONTACTS, changed)
    assert re.search(r"^contacts_to_companies +incremental +30 ", second.stderr, re.MULTILINE)
    assert activations(second.messages) == []
    assert emulator.stats.requests[SEARCH.format("contacts")] > 0
    missed = ("contacts", str(unmodified), "companies", str(added[0]), "HUBSPOT_DEFINED", 1, None)
    assert missed not in first.record_set() | second.record_set()

    state = second.states()[-1]
    saved = bookmark(state)
    assert saved["last_full"] == bookmark(first)["last_full"]
    saved["last_full"] = iso_utc(ms_of(saved["last_full"]) - 8 * DAY_MS)
    listed_before = emulator.stats.requests[LIST.format("contacts")]
    third = run_tap(config, state=state, emulator=emulator)
    assert third.returncode == 0, third.stderr
    live = sorted(set(ids) - set(deleted))
    assert third.record_set() == account.truth(*CONTACTS, live)
    assert missed in third.record_set()
    assert re.search(rf"^contacts_to_companies +full +{len(live)} ", third.stderr, re.MULTILINE)
    assert emulator.stats.requests[LIST.format("contacts")] > listed_before
    stream = [m for m in third.messages if m.get("stream") == "contacts_to_companies"]
    versions = activations(stream)
    assert len(versions) == 1
    assert stream.index(versions[0]) > max(i for i, m in enumerate(stream) if m["type"] == "RECORD")
    assert {m["version"] for m in stream if m["type"] == "RECORD"} == {versions[0]["version"]}


def test_more_changed_records_than_one_search_answers(start_emulator, run_tap) -> None:
    """A bulk update stamps 1,250 records with one time; this emulator's searches answer
    at most 1,000 results a query (HubSpot's cap is 10,000)."""
    account, pairs = seeded_account({CONTACTS: 1_250})
    stamp = now_ms() - 3_600_000
    account.modify("contacts", pairs[CONTACTS], at=stamp)
    emulator = start_emulator(
        account,
        page_size=4,
        search_cap=1_000,
        search_lag_seconds=0,
        rate_limit=RateLimit(max_requests=FAST_RATE, arrival_grace=ARRIVAL_GRACE),
    )
    config = listing_config(
        emulator, CONTACTS, start_date=iso_utc(stamp - 1), full_pass_every_days=0, batch_size=1000
    )
    run = run_tap(config, emulator=emulator)
    assert run.returncode == 0, run.stderr
    assert run.record_set() == account.truth(*CONTACTS, pairs[CONTACTS])
    # Every query restarts its filter: none pages on towards the cap.
    assert emulator.stats.searches
    assert all(int(s.get("after") or 0) + s["limit"] <= 1_000 for s in emulator.stats.searches)
    assert emulator.stats.statuses[400] == 0
    assert emulator.stats.statuses[429] == 0, "search's own 5/s limit was exceeded"


def test_a_search_limit_lower_than_expected_is_waited_out(start_emulator, run_tap) -> None:
    account, pairs = seeded_account({CONTACTS: 1_400})
    stamp = now_ms() - 3_600_000
    account.modify("contacts", pairs[CONTACTS], at=stamp)
    emulator = start_emulator(account, page_size=4, search_per_second=2, search_lag_seconds=0)
    config = listing_config(emulator, CONTACTS, start_date=iso_utc(stamp), full_pass_every_days=0)
    run = run_tap(config, emulator=emulator)
    assert run.returncode == 0, run.stderr
    assert emulator.stats.statuses[429] > 0
    assert run.record_set() == account.truth(*CONTACTS, pairs[CONTACTS])


def test_the_lookback_catches_changes_the_search_index_had_not_yet_seen(
    start_emulator, run_tap
) -> None:
    """Changes made 4.5 minutes before a pass started, which the index did not show it
    (it lags an hour), are read by the next pass, whose window starts 5 minutes before
    this one's start: a lookback 30 s shorter misses them. The emulator's clock is
    moved on between the runs: no run races the lag."""
    account, pairs = seeded_account({CONTACTS: 200})
    emulator = start_emulator(account, page_size=4, search_lag_seconds=3600)
    config = listing_config(emulator, CONTACTS, start_date=iso_utc(now_ms() - DAY_MS))
    an_hour_ago = iso_utc(now_ms() - 3_600_000)
    state = {
        "bookmarks": {"contacts_to_companies": {"since": an_hour_ago, "last_full": an_hour_ago}}
    }
    late = pairs[CONTACTS][:5]
    account.modify("contacts", late, at=now_ms() - 270_000)

    first = run_tap(config, state=state, emulator=emulator)
    assert first.returncode == 0, first.stderr
    assert first.record_set() == set(), "the index should not have shown the late changes yet"
    started = ms_of(first.states()[-1]["bookmarks"]["contacts_to_companies"]["since"])
    account.modify("contacts", late, at=started - 270_000)  # exactly, whenever it started
    emulator.clock.advance(3600)
    second = run_tap(config, state=first.states()[-1], emulator=emulator)
    assert second.returncode == 0, second.stderr
    assert second.record_set() == account.truth(*CONTACTS, late)


def test_an_interrupted_incremental_pass_resumes_its_window(start_emulator, tmp_path: Path) -> None:
    account, pairs = seeded_account({CONTACTS: 3_000}, max_targets=6)
    ids = pairs[CONTACTS]
    rng = random.Random(3)
    for id_ in ids:
        account.modify("contacts", [id_], at=now_ms() - rng.randint(60_000, 4 * DAY_MS))
    emulator = start_emulator(account, page_size=4, search_lag_seconds=0)
    start_date = now_ms() - 2 * DAY_MS
    config = listing_config(
        emulator,
        CONTACTS,
        start_date=iso_utc(start_date),
        full_pass_every_days=0,
        max_concurrency=2,
    )
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(config))
    before = now_ms()

    def mid_search(message: dict) -> bool:
        saved = message.get("value", {}).get("bookmarks", {}).get("contacts_to_companies", {})
        return saved.get("progress", {}).get("position", 0) >= 500

    first, killed = run_and_kill(tap_command(config_path), mid_search)
    assert killed
    state = last_state(first)
    saved = bookmark(state)
    assert saved["pass"]["mode"] == "incremental" and "since" not in saved
    assert saved["progress"]["source"]["ranges"]
    emulator.wait_idle()
    read_before = len(emulator.stats.batches)
    account.modify("contacts", ids[-10:])

    state_path = tmp_path / "state.json"
    state_path.write_text(json.dumps(state))
    second, killed = run_and_kill(tap_command(config_path, state_path), lambda m: False)
    assert not killed
    records = set(association_records(first)) | set(association_records(second))
    window_end = ms_of(saved["pass"]["until"])
    assert before // 1000 * 1000 <= window_end  # HubSpot's `Date`: whole seconds
    assert records == truth_modified(account, CONTACTS, start_date, window_end)
    # Only what the saved ranges hold is read again: the ids past the saved position.
    read_again = [i for b in emulator.stats.batches[read_before:] for i, after in b if not after]
    in_window = len(account.modified_between("contacts", start_date, window_end))
    assert len(read_again) <= in_window - saved["progress"]["position"]
    final = bookmark(last_state(second))
    assert final["since"] == saved["pass"]["until"] and "pass" not in final


def test_unreadable_saved_times_are_ignored_and_more_is_read(start_emulator, run_tap) -> None:
    account = account_modified_over(30, {CONTACTS: 300})
    emulator = start_emulator(account, page_size=4, search_lag_seconds=0)
    start_date = now_ms() - 10 * DAY_MS
    config = listing_config(
        emulator, CONTACTS, start_date=iso_utc(start_date), full_pass_every_days=0
    )
    saved = {"since": "yesterday", "last_full": 42, "pass": {"mode": "sideways"}}
    run = run_tap(config, state={"bookmarks": {"contacts_to_companies": saved}}, emulator=emulator)
    assert run.returncode == 0, run.stderr
    for key in saved:
        assert f"The saved '{key}' of contacts_to_companies is not one this version wrote" in (
            run.stderr
        )
    assert run.record_set() == truth_modified(account, CONTACTS, start_date, now_ms())
    assert ms_of(bookmark(run)["since"]) <= now_ms()


def test_an_incremental_pass_under_every_fault_gives_the_exact_truth(
    start_emulator, run_tap
) -> None:
    account = account_modified_over(30, {CONTACTS: 1_500})
    faults = Faults(
        search_script=("server_error", "none", "html_502", "truncated", "locked", "none", "stall"),
        stall_seconds=3,
        server_error=0.08,
        locked=0.04,
        html_502=0.04,
        truncated_body=0.04,
        id_error=0.02,
        latency_seconds=0.01,
    )
    emulator = start_emulator(account, page_size=4, faults=faults, search_lag_seconds=0)
    start_date = now_ms() - 31 * DAY_MS
    config = listing_config(
        emulator,
        CONTACTS,
        start_date=iso_utc(start_date),
        full_pass_every_days=0,
        max_retries=8,
        request_timeout=1,
    )
    run = run_tap(config, emulator=emulator)
    assert run.returncode == 0, run.stderr
    assert run.record_set() == truth_modified(account, CONTACTS, start_date, now_ms())
    retried = re.findall(r"POST /crm/objects/2026-03/contacts/search: (.*); retrying", run.stderr)
    for reason in (
        "HTTP 50",
        "HTTP 502 Bad Gateway",
        "not the expected JSON",
        "HTTP 423",
        "timed out",
    ):
        assert any(reason in line for line in retried), (reason, retried)


def test_a_pass_with_failed_ids_does_not_advance_its_bookmark(start_emulator, run_tap) -> None:
    account = account_modified_over(30, {CONTACTS: 300})
    start_date = now_ms() - 31 * DAY_MS
    since_ms = now_ms() - 10 * DAY_MS
    since = iso_utc(since_ms)
    failing = frozenset(account.modified_between("contacts", since_ms, now_ms())[-3:])
    emulator = start_emulator(
        account, page_size=4, search_lag_seconds=0, faults=Faults(failing_ids=failing)
    )
    config = listing_config(
        emulator, CONTACTS, start_date=iso_utc(start_date), full_pass_every_days=0, max_retries=1
    )
    state = {"bookmarks": {"contacts_to_companies": {"since": since}}}
    run = run_tap(config, state=state, emulator=emulator)
    assert run.returncode == 1
    assert "some ids could not be read" in run.error_lines()[-1]
    saved = bookmark(run)
    assert saved["since"] == since and "pass" not in saved and "progress" not in saved


LOOKBACK_MS = 300_000
"""docs/incremental.md: the window starts 5 minutes before the last complete pass."""


def search_bounds(emulator: Emulator) -> list[dict[str, int]]:
    """The modification-time bounds of every search the emulator ran, by operator."""
    bounds = []
    for search in emulator.stats.searches:
        groups = search["filterGroups"]
        assert len(groups) <= 1
        filters = groups[0]["filters"] if groups else []
        bounds.append(
            {f["operator"]: int(f["value"]) for f in filters if f["propertyName"] != "hs_object_id"}
        )
    return bounds


def test_the_window_starts_exactly_5_minutes_before_the_last_pass(start_emulator, run_tap):
    """Changes 4 min 59 s before the saved `since` are read, 5 min 1 s before are not,
    and every search asks from `since` less 300,000 ms exactly; the new `since` is this
    pass's start. Times are written and read here, not by the tap's helpers."""
    account, pairs = seeded_account({CONTACTS: 60})
    ids = pairs[CONTACTS]
    since = (now_ms() // 1000) * 1000 - HOUR_MS
    inside, outside, later = ids[:3], ids[3:6], ids[6:9]
    account.modify("contacts", inside, at=since - LOOKBACK_MS + 1_000)
    account.modify("contacts", outside, at=since - LOOKBACK_MS - 1_000)
    account.modify("contacts", later, at=since + 60_000)
    emulator = start_emulator(account, page_size=4, search_lag_seconds=0)
    config = listing_config(
        emulator, CONTACTS, start_date=iso_utc(since - 2 * DAY_MS), full_pass_every_days=7
    )
    saved = {"since": iso_utc(since), "last_full": iso_utc(since - DAY_MS)}
    before = now_ms()
    run = run_tap(config, state={"bookmarks": {"contacts_to_companies": saved}}, emulator=emulator)
    after = now_ms()
    assert run.returncode == 0, run.stderr
    assert run.record_set() == account.truth(*CONTACTS, inside + later)
    bounds = search_bounds(emulator)
    assert bounds
    for bound in bounds:
        assert bound["GTE"] == since - LOOKBACK_MS
        assert before // 1000 * 1000 <= bound["LT"] <= after  # `Date`: whole seconds
    new = bookmark(run)
    assert before // 1000 * 1000 <= ms_of(new["since"]) <= after
    assert new["last_full"] == iso_utc(since - DAY_MS)


def test_pairs_with_ids_are_read_in_full_when_start_date_is_set(start_emulator, run_tap):
    account, pairs = seeded_account({("deals", "contacts"): 40})
    emulator = start_emulator(account, page_size=4, search_lag_seconds=0)
    recent = iso_utc(now_ms() - HOUR_MS)
    config = config_for(
        emulator, pairs, start_date=iso_utc(now_ms() - DAY_MS), full_pass_every_days=0
    )
    state = {"bookmarks": {"deals_to_contacts": {"since": recent, "last_full": recent}}}
    run = run_tap(config, state=state, emulator=emulator)
    assert run.returncode == 0, run.stderr
    assert run.record_set() == truth_of(account, pairs)
    assert emulator.stats.searches == []
    assert re.search(r"^deals_to_contacts +full +40 ", run.stderr, re.MULTILINE)


def test_start_date_off_then_on_carries_on_from_the_last_complete_pass(start_emulator, run_tap):
    """Without start_date a pass is full and still records its start; with start_date
    again, the next pass is incremental from that start (less the lookback), not from
    the times saved before."""
    account, pairs = seeded_account({CONTACTS: 120})
    ids = pairs[CONTACTS]
    three_days_ago = iso_utc(now_ms() - 3 * DAY_MS)
    account.modify("contacts", ids[:20], at=now_ms() - 2 * DAY_MS)
    emulator = start_emulator(account, page_size=4, search_lag_seconds=0)
    without = listing_config(emulator, CONTACTS)
    old = {"since": three_days_ago, "last_full": three_days_ago}
    before = now_ms()
    off = run_tap(without, state={"bookmarks": {"contacts_to_companies": old}}, emulator=emulator)
    assert off.returncode == 0, off.stderr
    assert off.record_set() == account.truth(*CONTACTS, ids)
    assert all(bound == {} for bound in search_bounds(emulator)), "a full pass searched by time"
    full_searches = len(emulator.stats.searches)
    saved = bookmark(off)
    assert before // 1000 * 1000 <= ms_of(saved["since"]) <= now_ms()
    assert saved["last_full"] == saved["since"]

    changed = ids[50:55]
    account.modify("contacts", changed, at=ms_of(saved["since"]) - 60_000)
    with_start = {
        **without,
        "start_date": iso_utc(now_ms() - 5 * DAY_MS),
        "full_pass_every_days": 7,
    }
    on = run_tap(with_start, state=off.states()[-1], emulator=emulator)
    assert on.returncode == 0, on.stderr
    assert on.record_set() == account.truth(*CONTACTS, changed)
    later = search_bounds(emulator)[full_searches:]
    assert {b["GTE"] for b in later} == {ms_of(saved["since"]) - LOOKBACK_MS}
