"""Search is a claim, listing the authority: every way HubSpot's search index can fall
short of the records, and HubSpot's clock against the machine's, end to end.

For each, the tap reads every association exactly, or exits 1 with one ERROR line; it
never activates a version missing rows. Expected records come from the emulator's
account, never from the tap.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from hubspot_emulator import Account, Clock, Emulator, SearchIndex
from tests.helpers import (
    DAY_MS,
    LABELS_STREAM,
    TapRun,
    association_records,
    config_for,
    iso_utc,
    last_state,
    ms_of,
    run_and_kill,
    seeded_account,
    tap_command,
)

PAIR = ("contacts", "companies")
STREAM = "contacts_to_companies"
WITH_COMPANIES = 1_500


def contacts(count: int = 2 * WITH_COMPANIES) -> tuple[Account, list[int]]:
    """Contacts, half of them with companies: enough for search chains to cut the
    listing's range."""
    account, pairs = seeded_account({PAIR: count // 2}, max_targets=6)
    ids = pairs[PAIR]
    lonely = list(range(ids[-1] + 1, ids[-1] + 1 + count - len(ids)))
    account.add_objects("contacts", lonely)
    return account, [*ids, *lonely]


def every_id_config(emulator: Emulator, **settings: Any) -> dict[str, Any]:
    config = config_for(emulator, {}, batch_size=200, emit_activate_version_messages=True)
    config["associations"] = [{"from": "contacts", "to": "companies"}]
    return {**config, **settings}


def warnings(run: TapRun) -> list[str]:
    return [line for line in run.stderr.splitlines() if "| WARNING" in line]


def activated(run: TapRun) -> list[str]:
    return [
        m["stream"]
        for m in run.messages
        if m["type"] == "ACTIVATE_VERSION" and m["stream"] != LABELS_STREAM
    ]


def assert_exact_by_listing_alone(
    run: TapRun, account: Account, ids: list[int], *whys: str
) -> None:
    """Every association read, the pass activated, and one WARNING with one of `whys`."""
    assert run.returncode == 0, run.stderr
    assert run.record_set() == account.truth(*PAIR, ids)
    assert activated(run) == [STREAM]
    found = warnings(run)
    assert len(found) == 1, found
    assert "associations[0]: reading contacts by listing alone, without search: " in found[0]
    assert any(why in found[0] for why in whys), found[0]


@pytest.mark.parametrize(
    ("index", "why"),
    [
        (SearchIndex(empty=True), "search found no contacts, listing did"),
        (SearchIndex(ignores_sort=True), "sorted descending, answered ids out of that order"),
        # The answer repeated lands on whichever search came next: it fails its order,
        # its range, its limit or its count, as that search's threads made it.
        (
            SearchIndex(repeats_every=4),
            (
                "answered ids out of that order or outside",
                "results for a limit of",
                "where the page before left",
            ),
        ),
        (SearchIndex(refused_status=400), "HubSpot refused the search (400)"),
        (SearchIndex(refused_status=403), "HubSpot refused the search (403)"),
        (SearchIndex(refused_status=404), "HubSpot refused the search (404)"),
    ],
    ids=["empty", "ignored sort", "repeated page", "400", "403", "404"],
)
def test_a_search_that_cannot_be_trusted_leaves_the_type_to_listing(
    start_emulator, run_tap, index: SearchIndex, why: str | tuple[str, ...]
) -> None:
    account, ids = contacts()
    emulator = start_emulator(account, search_index=index)
    run = run_tap(every_id_config(emulator), emulator=emulator)
    assert_exact_by_listing_alone(run, account, ids, *([why] if isinstance(why, str) else why))


def test_an_index_missing_records_the_listing_found_is_caught_by_its_count(
    start_emulator, run_tap
) -> None:
    account, ids = contacts()
    missing = frozenset(ids[5::40])  # the listing's range holds some of them
    emulator = start_emulator(account, search_index=SearchIndex(missing=missing))
    run = run_tap(every_id_config(emulator), emulator=emulator)
    assert_exact_by_listing_alone(run, account, ids, "where listing found")


def test_a_pass_to_be_activated_reads_records_the_index_misses_anywhere(
    start_emulator, run_tap
) -> None:
    """Missing near the top, where the listing's sample does not reach: a pass whose
    ACTIVATE_VERSION would delete their rows lists to the last page and reads them."""
    account, ids = contacts()
    missing = frozenset(ids[: len(ids) // 2][-300:])  # the last with companies
    emulator = start_emulator(account, search_index=SearchIndex(missing=missing))
    run = run_tap(every_id_config(emulator), emulator=emulator)
    assert run.returncode == 0, run.stderr
    assert account.truth(*PAIR, missing), "the missing records have companies"
    assert run.record_set() == account.truth(*PAIR, ids)
    assert activated(run) == [STREAM]
    found = warnings(run)
    assert len(found) == 1, found
    # Found by the listing to the last page, or, if the listing's own sample reached
    # them first (a fast machine), by its count: either way, every row is read.
    assert (
        "search did not give 300 contacts the listing found" in found[0]
        or "reading contacts by listing alone" in found[0]
    ), found[0]


def test_a_resumed_pass_to_be_activated_is_checked_against_a_listing(
    start_emulator, tmp_path: Path
) -> None:
    """Killed mid-pass, resumed while search's index is empty: the saved ranges are
    searched and found empty, but the listing shows their ids, which are read."""
    account, ids = contacts()
    emulator = start_emulator(account)
    config = tmp_path / "config.json"
    config.write_text(json.dumps(every_id_config(emulator, batch_size=100, max_concurrency=1)))
    states = 0

    def third_state(message: dict[str, Any]) -> bool:
        nonlocal states
        states += message["type"] == "STATE"
        return states == 3

    first, killed = run_and_kill(tap_command(config), third_state)
    assert killed
    state = last_state(first)
    assert state["bookmarks"][STREAM]["progress"]["source"]["ranges"]
    emulator.wait_idle()
    emulator.search_index = SearchIndex(empty=True)
    saved = tmp_path / "state.json"
    saved.write_text(json.dumps(state))
    second, killed = run_and_kill(tap_command(config, saved), lambda m: False)
    assert not killed
    assert set(association_records(first)) | set(association_records(second)) == (
        account.truth(*PAIR, ids)
    )
    activations = [m for m in second if m["type"] == "ACTIVATE_VERSION" and m["stream"] == STREAM]
    assert len(activations) == 1


def test_records_listed_but_not_yet_searchable_are_read(start_emulator, run_tap) -> None:
    """The newest records, above every id search holds, as the list chain reads them."""
    account, ids = contacts(300)
    newest = list(range(ids[-1] + 1, ids[-1] + 41))
    account.add_objects("contacts", newest, modified_at=account.clock.time_ms())
    account.seed(*PAIR, newest, seed=7, max_targets=6)
    emulator = start_emulator(account, search_lag_seconds=3600)
    run = run_tap(every_id_config(emulator), emulator=emulator)
    assert run.returncode == 0, run.stderr
    assert account.truth(*PAIR, newest), "the newest records have companies"
    assert run.record_set() == account.truth(*PAIR, [*ids, *newest])
    assert activated(run) == [STREAM]
    assert warnings(run) == []


def test_an_incremental_pass_stops_when_search_cannot_be_trusted(start_emulator, run_tap) -> None:
    """An incremental window can only be searched: no listing can stand in for it."""
    account, ids = contacts()
    account.modify("contacts", ids, at=account.clock.time_ms() - 60_000)
    emulator = start_emulator(account, search_index=SearchIndex(ignores_sort=True))
    config = every_id_config(
        emulator, start_date=iso_utc(account.clock.time_ms() - DAY_MS), full_pass_every_days=0
    )
    run = run_tap(config, emulator=emulator)
    assert run.returncode == 1
    errors = run.error_lines()
    assert len(errors) == 1, run.stderr
    assert "associations[0]: searching contacts for records modified in the window" in errors[0]
    assert activated(run) == []
    assert all("since" not in s["bookmarks"].get(STREAM, {}) for s in run.states())


def test_an_incremental_pass_stops_when_the_index_is_empty(start_emulator, run_tap) -> None:
    account, _ = contacts(300)
    emulator = start_emulator(account, search_index=SearchIndex(empty=True))
    config = every_id_config(
        emulator, start_date=iso_utc(account.clock.time_ms() - DAY_MS), full_pass_every_days=0
    )
    run = run_tap(config, emulator=emulator)
    assert run.returncode == 1
    assert len(run.error_lines()) == 1, run.stderr
    assert "search found no contacts, listing did" in run.error_lines()[0]


# HubSpot's clock, not the machine's ----------------------------------------------------


def test_windows_follow_hubspots_clock_when_the_machine_runs_ahead(start_emulator, run_tap) -> None:
    """HubSpot's clock 10 minutes behind the machine's: changes made after a pass, by
    HubSpot's time, fall in the next window (by the machine's, they would fall before
    it, the lookback being 5 minutes)."""
    clock = Clock(offset=-600)
    account, ids = contacts(300)
    account.clock = clock
    emulator = start_emulator(account, clock=clock, search_lag_seconds=0)
    config = every_id_config(emulator, start_date=iso_utc(clock.time_ms() - DAY_MS))
    first = run_tap(config, emulator=emulator)
    assert first.returncode == 0, first.stderr
    saved = first.states()[-1]
    assert ms_of(saved["bookmarks"][STREAM]["since"]) <= clock.time_ms()
    changed = ids[:20]
    account.modify("contacts", changed, at=clock.time_ms() + 1_000)
    clock.advance(2)
    second = run_tap(config, state=saved, emulator=emulator)
    assert second.returncode == 0, second.stderr
    assert second.record_set() == account.truth(*PAIR, changed)
    assert second.record_set(), "the changed records have companies"


def test_saved_times_later_than_hubspots_now_are_not_trusted(start_emulator, run_tap) -> None:
    """A state written by a clock that ran ahead: `last_full` and `since` in HubSpot's
    future would make the window empty and hold off full passes; they are dropped with
    a WARNING, and a full pass reads everything."""
    account, ids = contacts(300)
    emulator = start_emulator(account, search_lag_seconds=0)
    config = every_id_config(emulator, start_date=iso_utc(account.clock.time_ms() - DAY_MS))
    ahead = iso_utc(account.clock.time_ms() + 600_000)
    state = {"bookmarks": {STREAM: {"since": ahead, "last_full": ahead}}}
    run = run_tap(config, state=state, emulator=emulator)
    assert run.returncode == 0, run.stderr
    assert run.record_set() == account.truth(*PAIR, ids)
    assert activated(run) == [STREAM], "a full pass"
    later = [w for w in warnings(run) if "is later than HubSpot's time now" in w]
    assert len(later) == 2, run.stderr
    assert ms_of(run.states()[-1]["bookmarks"][STREAM]["since"]) <= int(time.time() * 1000)
