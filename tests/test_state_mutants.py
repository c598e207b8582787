"""Pure logic that `make mutation` found unheld (docs/testing.md): pass planning and
the saved shapes of bookmarks and passes, in process, with literal expectations."""

from __future__ import annotations

import time

from tap_hubspot_associations.state import Bookmark, Pass, parse_iso, plan_pass

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
