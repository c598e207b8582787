"""The STATE format alone: times, bookmarks, passes and pass planning, in process."""

from __future__ import annotations

import time

import pytest

from tap_hubspot_associations.state import Bookmark, Pass, plan_pass, unreadable_times
from tap_hubspot_associations.values import iso, parse_iso
from tests.helpers import iso_utc, ms_of

# Epoch seconds from GNU date (`date -u -d ... +%s`), not from the code under test.
NEW_YEAR_2026_MS = 1_767_225_600_000
LATE_NOVEMBER_MS = 1_795_925_106_789  # 2026-11-29T04:05:06.789Z
DAY_MS = 86_400_000
FIVE_MINUTES_MS = 300_000


def test_bookmark_round_trip() -> None:
    bookmark = Bookmark(
        position=3000,
        pending={"101": "MTAx", "205": None},
        failed=["307"],
        ids_fingerprint="list:contacts",
        version=1764302400000,
        source={"page_start": 2800, "page_cursor": "abc"},
    )
    saved = bookmark.to_state()
    assert saved == {
        "format": 1,
        "ids": "list:contacts",
        "version": 1764302400000,
        "position": 3000,
        "pending": {"101": "MTAx", "205": None},
        "failed": ["307"],
        "source": {"page_start": 2800, "page_cursor": "abc"},
    }
    assert Bookmark.from_state(saved) == bookmark


GOOD = {"format": 1, "ids": "x", "version": None, "position": 3, "pending": {}, "source": {}}


@pytest.mark.parametrize(
    "saved",
    [
        None,
        [],
        {**GOOD, "format": 2},
        {**GOOD, "position": -1},
        {**GOOD, "position": "3"},
        {**GOOD, "position": 3.0},
        {**GOOD, "position": True},
        {**GOOD, "pending": {"not-an-id": None}},
        {**GOOD, "failed": [307]},
        {**GOOD, "failed": "307"},
        {**GOOD, "version": True},
        {**GOOD, "pending": []},
        {**GOOD, "pending": {"101": 5}},
    ],
)
def test_bookmark_refuses_shapes_it_never_wrote(saved: object) -> None:
    assert Bookmark.from_state(saved) is None


def test_pass_round_trips() -> None:
    full = Pass(full=True, until_ms=NEW_YEAR_2026_MS)
    assert full.to_state() == {"mode": "full", "since": None, "until": "2026-01-01T00:00:00.000Z"}
    assert Pass.from_state(full.to_state()) == Pass(
        full=True, until_ms=NEW_YEAR_2026_MS, reason="resumed"
    )
    incremental = Pass(full=False, since_ms=NEW_YEAR_2026_MS, until_ms=LATE_NOVEMBER_MS)
    assert incremental.to_state() == {
        "mode": "incremental",
        "since": "2026-01-01T00:00:00.000Z",
        "until": "2026-11-29T04:05:06.789Z",
    }
    resumed = Pass.from_state(incremental.to_state())
    assert resumed is not None
    assert (resumed.full, resumed.since_ms, resumed.until_ms) == (
        False,
        NEW_YEAR_2026_MS,
        LATE_NOVEMBER_MS,
    )


@pytest.mark.parametrize(
    "saved",
    [
        {"mode": "both", "until": "2026-01-01T00:00:00Z"},
        {"mode": "full"},
        {"mode": "incremental", "until": "2026-01-01T00:00:00Z"},
        {"mode": "incremental", "since": "2026-02-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"},
    ],
)
def test_pass_refuses_shapes_it_never_wrote(saved: object) -> None:
    assert Pass.from_state(saved) is None


def test_without_start_date_every_pass_is_full() -> None:
    planned = plan_pass(
        {"since": "2026-01-01T00:00:00Z"},
        start_date_ms=None,
        full_pass_every_days=7,
        now_ms=LATE_NOVEMBER_MS,
    )
    assert planned.full
    assert planned.until_ms == LATE_NOVEMBER_MS


def test_first_pass_with_a_schedule_is_full() -> None:
    planned = plan_pass(
        {}, start_date_ms=NEW_YEAR_2026_MS, full_pass_every_days=7, now_ms=LATE_NOVEMBER_MS
    )
    assert planned.full


@pytest.mark.parametrize(("age_days", "full"), [(6.9, False), (7.0, True), (30, True)])
def test_full_pass_comes_back_on_schedule(age_days: float, full: bool) -> None:
    last_full = iso(LATE_NOVEMBER_MS - round(age_days * DAY_MS))
    planned = plan_pass(
        {"last_full": last_full, "since": last_full},
        start_date_ms=NEW_YEAR_2026_MS,
        full_pass_every_days=7,
        now_ms=LATE_NOVEMBER_MS,
    )
    assert planned.full is full


def test_incremental_pass_reads_from_five_minutes_before_the_last_one() -> None:
    planned = plan_pass(
        {"since": "2026-11-28T04:05:06.789Z"},
        start_date_ms=NEW_YEAR_2026_MS,
        full_pass_every_days=0,
        now_ms=LATE_NOVEMBER_MS,
    )
    assert not planned.full
    assert planned.since_ms == LATE_NOVEMBER_MS - DAY_MS - FIVE_MINUTES_MS
    assert planned.until_ms == LATE_NOVEMBER_MS


def test_first_incremental_pass_reads_from_start_date() -> None:
    planned = plan_pass(
        {}, start_date_ms=NEW_YEAR_2026_MS, full_pass_every_days=0, now_ms=LATE_NOVEMBER_MS
    )
    assert (planned.full, planned.since_ms) == (False, NEW_YEAR_2026_MS)


# Epoch milliseconds from GNU date (`date -u -d ... +%s`), not from the code under test.
NEW_YEAR_2026_MS = 1_767_225_600_000
LATE_NOVEMBER_MS = 1_795_925_106_789  # 2026-11-29T04:05:06.789Z


def test_every_planned_pass_ends_now_and_says_why() -> None:
    """The window of every kind of pass ends when it was planned; each gives a reason."""
    saved_old = {"last_full": "2026-11-01T00:00:00Z", "since": "2026-11-01T00:00:00Z"}
    cases = [
        plan_pass({}, start_date_ms=None, full_pass_every_days=7, now_ms=LATE_NOVEMBER_MS),
        plan_pass(
            {}, start_date_ms=NEW_YEAR_2026_MS, full_pass_every_days=7, now_ms=LATE_NOVEMBER_MS
        ),
        plan_pass(
            saved_old,
            start_date_ms=NEW_YEAR_2026_MS,
            full_pass_every_days=7,
            now_ms=LATE_NOVEMBER_MS,
        ),
        plan_pass(
            {}, start_date_ms=NEW_YEAR_2026_MS, full_pass_every_days=0, now_ms=LATE_NOVEMBER_MS
        ),
        plan_pass(
            saved_old,
            start_date_ms=NEW_YEAR_2026_MS,
            full_pass_every_days=0,
            now_ms=LATE_NOVEMBER_MS,
        ),
    ]
    assert [p.full for p in cases] == [True, True, True, False, False]
    for planned in cases:
        assert planned.until_ms == LATE_NOVEMBER_MS
        assert planned.reason and planned.reason in planned.describe()


def test_a_daily_schedule_runs_a_full_pass_after_a_day() -> None:
    last_full = "2026-11-28T04:05:06.789Z"  # one day before LATE_NOVEMBER_MS
    planned = plan_pass(
        {"last_full": last_full, "since": last_full},
        start_date_ms=NEW_YEAR_2026_MS,
        full_pass_every_days=1,
        now_ms=LATE_NOVEMBER_MS,
    )
    assert planned.full


def test_a_bookmark_without_the_newer_keys_is_read() -> None:
    """`failed`, `ids`, `version` and `source` may be absent or null."""
    minimal = {"format": 1, "position": 3, "pending": {}}
    assert Bookmark.from_state(minimal) == Bookmark(position=3)
    assert Bookmark.from_state({**minimal, "ids": None, "source": None}) == Bookmark(position=3)
    assert Bookmark.from_state({**minimal, "ids": 5}) is None
    assert Bookmark.from_state({**minimal, "source": 5}) is None
    assert Bookmark.from_state({**minimal, "failed": ["101"]}) == Bookmark(
        position=3, failed=["101"]
    )


def test_a_pass_of_an_empty_window_is_read_back_and_anything_else_refused() -> None:
    same = {"mode": "incremental", "since": "2026-01-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"}
    resumed = Pass.from_state(same)
    assert resumed is not None and resumed.since_ms == resumed.until_ms == NEW_YEAR_2026_MS
    full = Pass.from_state(
        {"mode": "full", "since": "2025-01-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"}
    )
    assert full is not None and full.since_ms is None
    assert Pass.from_state([]) is None
    assert Pass.from_state("full") is None


def test_a_bookmark_at_position_0_is_read() -> None:
    """A pass interrupted before its first batch completed saves position 0."""
    assert Bookmark.from_state({"format": 1, "position": 0, "pending": {"7": None}}) == Bookmark(
        position=0, pending={"7": None}
    )


def test_a_date_alone_is_midnight_utc_in_any_local_zone(monkeypatch) -> None:
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        assert parse_iso("2026-01-01") == NEW_YEAR_2026_MS
    finally:
        monkeypatch.undo()
        time.tzset()


def test_a_time_saved_within_the_clocks_second_is_kept() -> None:
    """HubSpot's `Date` has whole seconds: a run right after another may estimate
    HubSpot's time a second or so below the `since` the other saved. That is the clock's
    grain, not a clock that ran ahead; ten minutes ahead is."""
    now = ms_of("2026-03-10T12:00:00.000Z")
    just_after = {"since": iso_utc(now + 1_500), "last_full": iso_utc(now + 1_500)}
    assert unreadable_times(just_after, now) == {}
    ahead = {"since": iso_utc(now + 600_000)}
    assert list(unreadable_times(ahead, now)) == ["since"]
