"""A stream's bookmark through one pass, without HTTP: a dict in, STATE writes and
activations out, HubSpot's time under the test's control."""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from tap_hubspot_associations.passes import PassLifecycle
from tap_hubspot_associations.state import Bookmark
from tests.helpers import iso_utc, ms_of

NOW = "2026-03-10T12:00:00.000Z"
FINGERPRINT = "list:sha256:abc"


class ListedIds:
    """An id source of `count` ids with a fixed fingerprint."""

    setting = "associations[0]"

    def __init__(self, count: int | None = 10, fingerprint: str = FINGERPRINT) -> None:
        self.count = count
        self._fingerprint = fingerprint

    def validate(self) -> int | None:
        return self.count

    def fingerprint(self) -> str:
        return self._fingerprint

    def read_from(self, position: int, resume: Mapping[str, Any]) -> Iterator[str]:
        raise AssertionError("a lifecycle never reads ids")

    def resume_at(self, position: int) -> dict[str, Any]:
        raise AssertionError("a lifecycle never asks where ids resume")

    def close(self) -> None: ...


class Run:
    """What a lifecycle did: STATE written (copies of the bookmark), versions used and
    activated."""

    def __init__(self, state: dict[str, Any]) -> None:
        self.state = state
        self.written: list[dict[str, Any]] = []
        self.used: list[int] = []
        self.activated: list[int] = []

    def use_version(self, saved: int | None) -> int:
        """The stream's rule: the saved version, else a new one (777)."""
        version = saved or 777
        self.used.append(version)
        return version

    def lifecycle(
        self,
        *,
        lists_its_ids: bool = True,
        versioned: bool = False,
        start_date: str | None = None,
        full_pass_every_days: int = 7,
        now: str = NOW,
    ) -> PassLifecycle:
        return PassLifecycle(
            name="contacts_to_companies",
            state=self.state,
            setting="associations[0]",
            lists_its_ids=lists_its_ids,
            start_date_ms=None if start_date is None else ms_of(start_date),
            full_pass_every_days=full_pass_every_days,
            versioned=versioned,
            now_ms=lambda: ms_of(now),
            use_version=self.use_version if versioned else lambda saved: saved,
            activate=self.activated.append,
            write_state=lambda: self.written.append(dict(self.state)),
            logger=logging.getLogger("tests.passes"),
        )


def test_a_listed_pass_writes_state_after_each_batch_and_completes() -> None:
    run = Run({})
    lifecycle = run.lifecycle()
    this_pass = lifecycle.plan()
    assert this_pass.full and "associations[0] lists its ids" in this_pass.describe()
    bookmark = lifecycle.resume_point(ListedIds())
    assert (bookmark.position, bookmark.ids_fingerprint) == (0, FINGERPRINT)
    lifecycle.batch_done(Bookmark(position=5, ids_fingerprint=FINGERPRINT))
    assert run.written[-1]["progress"]["position"] == 5
    lifecycle.finish(complete=True)
    assert run.state == {"completed_in_unfinished_run": True}, "an id list has no window"
    lifecycle.end_run()
    assert run.state == {} and run.written[-1] == {}


def test_a_versioned_full_pass_is_activated_only_when_complete(
    caplog: pytest.LogCaptureFixture,
) -> None:
    run = Run({})
    lifecycle = run.lifecycle(versioned=True)
    lifecycle.plan()
    assert lifecycle.resume_point(ListedIds()).version == 777
    assert run.used == [777]
    lifecycle.finish(complete=False)
    assert run.activated == []
    assert "Not activating version 777" in caplog.text
    assert "completed_in_unfinished_run" not in run.state

    run = Run({})
    lifecycle = run.lifecycle(versioned=True)
    lifecycle.plan()
    lifecycle.resume_point(ListedIds())
    lifecycle.finish(complete=True)
    assert run.activated == [777]


def saved_progress(**fields: Any) -> dict[str, Any]:
    progress = {
        "format": 1,
        "ids": FINGERPRINT,
        "version": None,
        "position": 4,
        "pending": {"1001": "cursor-1"},
        "failed": [],
        "source": {},
    }
    return {"progress": {**progress, **fields}}


def test_saved_progress_for_the_same_ids_is_resumed_with_its_version() -> None:
    run = Run(saved_progress(version=555))
    lifecycle = run.lifecycle(versioned=True)
    assert lifecycle.resumes
    lifecycle.plan()
    bookmark = lifecycle.resume_point(ListedIds())
    assert (bookmark.position, bookmark.pending, bookmark.version) == (
        4,
        {"1001": "cursor-1"},
        555,
    )
    assert run.used == [555]


@pytest.mark.parametrize(
    ("state", "ids", "versioned", "why"),
    [
        ({"progress": {"format": 99}}, ListedIds(), False, "is not one this version wrote"),
        (saved_progress(position=11), ListedIds(10), False, "is past the end of its 10 ids"),
        (saved_progress(), ListedIds(fingerprint="other"), False, "changed since"),
        (saved_progress(), ListedIds(), True, "made without table versions"),
    ],
)
def test_saved_progress_that_cannot_be_trusted_starts_over(
    state: dict[str, Any],
    ids: ListedIds,
    versioned: bool,
    why: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    lifecycle = Run(state).lifecycle(versioned=versioned)
    lifecycle.plan()
    bookmark = lifecycle.resume_point(ids)
    assert (bookmark.position, bookmark.pending) == (0, {})
    assert why in caplog.text and "reading it from the start" in caplog.text
    assert bookmark.ids_fingerprint == ids.fingerprint(), "so that the next run can resume it"


def test_saved_progress_at_the_last_id_is_resumed_not_started_over() -> None:
    """An interrupted run may have passed every id and still hold pages to read."""
    lifecycle = Run(saved_progress(position=10)).lifecycle()
    lifecycle.plan()
    bookmark = lifecycle.resume_point(ListedIds(10))
    assert (bookmark.position, bookmark.pending) == (10, {"1001": "cursor-1"})


def test_an_incremental_pass_moves_since_to_its_end_when_complete() -> None:
    since = "2026-03-09T12:00:00.000Z"
    run = Run({"since": since, "last_full": "2026-03-08T00:00:00.000Z"})
    lifecycle = run.lifecycle(lists_its_ids=False, start_date="2026-01-01T00:00:00Z")
    this_pass = lifecycle.plan()
    assert this_pass.window == (ms_of(since) - 5 * 60 * 1000, ms_of(NOW)), "5 min lookback"
    assert run.state["pass"]["mode"] == "incremental", "saved for a resume"
    lifecycle.resume_point(ListedIds(None))
    lifecycle.finish(complete=True)
    assert run.state["since"] == NOW
    assert run.state["last_full"] == "2026-03-08T00:00:00.000Z", "only a full pass moves it"
    assert "pass" not in run.state and "progress" not in run.state


def test_an_incomplete_pass_keeps_since_where_it_was() -> None:
    since = "2026-03-09T12:00:00.000Z"
    run = Run({"since": since, "last_full": "2026-03-08T00:00:00.000Z"})
    lifecycle = run.lifecycle(lists_its_ids=False, start_date="2026-01-01T00:00:00Z")
    lifecycle.plan()
    lifecycle.resume_point(ListedIds(None))
    lifecycle.finish(complete=False)
    assert run.state["since"] == since
    assert "completed_in_unfinished_run" not in run.state


def test_a_full_pass_of_listed_records_sets_since_and_last_full() -> None:
    run = Run({})
    lifecycle = run.lifecycle(lists_its_ids=False)
    assert lifecycle.plan().full
    lifecycle.resume_point(ListedIds(None))
    lifecycle.finish(complete=True)
    assert (run.state["since"], run.state["last_full"]) == (NOW, NOW)


def test_saved_times_later_than_hubspots_now_are_dropped(caplog: pytest.LogCaptureFixture) -> None:
    ahead = iso_utc(ms_of(NOW) + 3_600_000)
    run = Run({"since": ahead, "last_full": "2026-03-08T00:00:00.000Z"})
    lifecycle = run.lifecycle(lists_its_ids=False, start_date="2026-01-01T00:00:00Z")
    this_pass = lifecycle.plan()
    assert this_pass.window == (ms_of("2026-01-01T00:00:00Z"), ms_of(NOW)), "from start_date"
    assert "later than HubSpot's time now" in caplog.text


def test_a_stream_with_saved_progress_or_completed_has_no_next_pass() -> None:
    assert Run(saved_progress()).lifecycle(lists_its_ids=False).next_pass() is None
    completed = Run({"completed_in_unfinished_run": True}).lifecycle(lists_its_ids=False)
    assert completed.completed_before and completed.next_pass() is None
    fresh = Run({}).lifecycle(lists_its_ids=False).next_pass()
    assert fresh is not None and fresh.full


@pytest.mark.parametrize("flag", ["false", "true", 1, False, None, {}])
def test_only_the_true_the_tap_writes_skips_a_completed_stream(
    flag: object, caplog: pytest.LogCaptureFixture
) -> None:
    run = Run({"completed_in_unfinished_run": flag})
    lifecycle = run.lifecycle(lists_its_ids=False)
    assert not lifecycle.completed_before
    assert lifecycle.next_pass() is not None
    with caplog.at_level(logging.WARNING):
        assert lifecycle.plan().full
    assert "completed_in_unfinished_run" not in run.state
    assert "not true; ignored" in caplog.text


def test_an_interrupted_incremental_pass_resumes_its_saved_window() -> None:
    """The saved progress is a position among the ids of the saved window: a window
    planned now would list other ids."""
    saved_pass = {
        "mode": "incremental",
        "since": "2026-03-09T10:55:00.000Z",
        "until": "2026-03-10T11:00:00.000Z",
    }
    state = {
        "since": "2026-03-09T11:00:00.000Z",
        "last_full": "2026-03-08T00:00:00.000Z",
        "pass": saved_pass,
        **saved_progress(),
    }
    lifecycle = Run(state).lifecycle(lists_its_ids=False, start_date="2026-01-01T00:00:00Z")
    this_pass = lifecycle.plan()
    assert this_pass.window == (ms_of("2026-03-09T10:55:00Z"), ms_of("2026-03-10T11:00:00Z"))


def test_an_interrupted_full_pass_without_start_date_keeps_its_end() -> None:
    """Its end becomes `since`: ending it now would skip what changed in ids it had
    already read while it was interrupted."""
    saved_pass = {"mode": "full", "since": None, "until": "2026-03-10T11:00:00.000Z"}
    run = Run({"pass": saved_pass, **saved_progress()})
    lifecycle = run.lifecycle(lists_its_ids=False)
    lifecycle.plan()
    lifecycle.resume_point(ListedIds(None))
    lifecycle.finish(complete=True)
    assert run.state["since"] == "2026-03-10T11:00:00.000Z"
    assert run.state["last_full"] == "2026-03-10T11:00:00.000Z"


def test_progress_whose_pass_is_dropped_is_finished_by_a_full_pass() -> None:
    """Without its window, only a full pass is sure to read what the progress covers."""
    ahead = iso_utc(ms_of(NOW) + 3_600_000)
    saved_pass = {"mode": "incremental", "since": "2026-03-09T11:55:00.000Z", "until": ahead}
    state = {
        "since": "2026-03-09T12:00:00.000Z",
        "last_full": "2026-03-08T00:00:00.000Z",
        "pass": saved_pass,
        **saved_progress(),
    }
    lifecycle = Run(state).lifecycle(lists_its_ids=False, start_date="2026-01-01T00:00:00Z")
    assert lifecycle.plan().full


@pytest.mark.parametrize(
    ("state", "versioned", "lists_its_ids"),
    [
        (saved_progress(version=555), False, True),
        (
            {
                "since": "2026-03-09T12:00:00.000Z",
                "last_full": "2026-03-08T00:00:00.000Z",
                "pass": {
                    "mode": "incremental",
                    "since": "2026-03-09T11:55:00.000Z",
                    "until": "2026-03-10T11:00:00.000Z",
                },
                **saved_progress(version=555),
            },
            True,
            False,
        ),
    ],
    ids=["a full pass of a tap that does not activate", "an incremental pass"],
)
def test_a_saved_version_is_activated_only_by_a_versioned_full_pass(
    state: dict[str, Any], versioned: bool, lists_its_ids: bool
) -> None:
    """Activating a version deletes the rows the pass did not read: an incremental pass
    reads only some, and a tap told not to activate must not."""
    run = Run(copy.deepcopy(state))  # finish() changes it; the parameters outlive one run
    lifecycle = run.lifecycle(
        versioned=versioned, lists_its_ids=lists_its_ids, start_date="2026-01-01T00:00:00Z"
    )
    lifecycle.plan()
    assert lifecycle.resume_point(ListedIds()).version == 555
    lifecycle.finish(complete=True)
    assert run.activated == []


def test_ending_a_run_whose_pass_was_incomplete_writes_nothing() -> None:
    run = Run({})
    lifecycle = run.lifecycle()
    lifecycle.plan()
    lifecycle.resume_point(ListedIds())
    lifecycle.finish(complete=False)
    lifecycle.end_run()
    assert run.state == {} and run.written == []
