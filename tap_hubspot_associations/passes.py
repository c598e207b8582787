"""One stream's pass over its bookmark, without HTTP: plan, resume, per-batch STATE,
activation and finish.

The stream (streams.py) reads records; what the bookmark holds before, during and after
a pass is decided here, so that it can be tested with a dict and a few callbacks:
- `plan()`: the pass an interrupted run left unfinished, or a new one as planned from
  the saved times (ignoring any later than HubSpot's now);
- `resume_point(ids)`: the saved progress, when it is one this version wrote, for the
  same ids, within them, and with a table version where one is needed; else the start;
- `batch_done(bookmark)`: the bookmark after each batch, written as STATE at once;
- `finish(complete=...)`: ACTIVATE_VERSION only for a complete full pass; the window's
  end becomes `since` (and `last_full`) only for a complete pass of ids HubSpot lists;
- `end_run()`: the whole run is over, so the next run starts a new pass.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, MutableMapping
from typing import Any

from tap_hubspot_associations.ids import Ids
from tap_hubspot_associations.state import (
    COMPLETED_KEY,
    LAST_FULL_KEY,
    PASS_KEY,
    PROGRESS_KEY,
    SINCE_KEY,
    Bookmark,
    Pass,
    plan_pass,
    unreadable_times,
)
from tap_hubspot_associations.values import iso


class PassLifecycle:
    """The bookmark of one stream through one pass.

    `state` is the stream's bookmark (changed in place); `write_state` writes it as
    STATE; `use_version(saved)` gives the records their table version (the saved one,
    else a new one) and returns it; `activate(version)` sends ACTIVATE_VERSION.
    `versioned`: the tap emits ACTIVATE_VERSION.
    """

    def __init__(
        self,
        *,
        name: str,
        state: MutableMapping[str, Any],
        setting: str,
        lists_its_ids: bool,
        start_date_ms: int | None,
        full_pass_every_days: int,
        versioned: bool,
        now_ms: Callable[[], int],
        use_version: Callable[[int | None], int | None],
        activate: Callable[[int], None],
        write_state: Callable[[], None],
        logger: logging.Logger,
    ) -> None:
        self._name = name
        self._state = state
        self._setting = setting
        self._lists_its_ids = lists_its_ids
        self._start_date_ms = start_date_ms
        self._full_pass_every_days = full_pass_every_days
        self._versioned = versioned
        self._now_ms = now_ms
        self._use_version = use_version
        self._activate = activate
        self._write_state = write_state
        self._logger = logger
        self._pass: Pass | None = None
        self._version: int | None = None

    @property
    def completed_before(self) -> bool:
        """The interrupted run this one resumes completed this stream: the tap writes
        `true` there and nothing else, so nothing else skips a stream."""
        return self._state.get(COMPLETED_KEY) is True

    @property
    def resumes(self) -> bool:
        """Saved progress exists (it may still be refused by `resume_point`)."""
        return PROGRESS_KEY in self._state

    def plan(self) -> Pass:
        """This run's pass, saved in the bookmark so that a resume runs the same one."""
        if COMPLETED_KEY in self._state:  # not true, or the stream would be skipped
            shown = repr(self._state.pop(COMPLETED_KEY))[:40]
            self._logger.warning(
                "The saved %r of %s is %s, not true; ignored", COMPLETED_KEY, self._name, shown
            )
        if self._lists_its_ids:
            self._pass = Pass(full=True, until_ms=0, reason=f"{self._setting} lists its ids")
            return self._pass
        this_pass, ignored = self.planned(self._state)
        for key, why in ignored.items():
            self._logger.warning("The saved %r of %s %s; ignored", key, self._name, why)
            del self._state[key]
        self._state[PASS_KEY] = this_pass.to_state()
        self._pass = this_pass
        return this_pass

    def planned(self, state: MutableMapping[str, Any]) -> tuple[Pass, dict[str, str]]:
        """The pass to run given the bookmark `state`, and the saved times it ignores
        (`unreadable_times`: the pass then reads more, never less)."""
        now_ms = self._now_ms()
        ignored = unreadable_times(state, now_ms)
        kept = {key: value for key, value in state.items() if key not in ignored}
        saved = Pass.from_state(kept.get(PASS_KEY))
        if saved is not None and (saved.full or self._start_date_ms is not None):
            return saved, ignored
        if saved is None and PROGRESS_KEY in kept:
            return Pass(full=True, until_ms=now_ms, reason="resumed"), ignored
        planned = plan_pass(
            kept,
            start_date_ms=self._start_date_ms,
            full_pass_every_days=self._full_pass_every_days,
            now_ms=now_ms,
        )
        return planned, ignored

    def next_pass(self) -> Pass | None:
        """The new pass that would start now; None when the stream will resume saved
        progress or skip instead."""
        if self.completed_before or PROGRESS_KEY in self._state or PASS_KEY in self._state:
            return None
        return self.planned(self._state)[0]

    def resume_point(self, ids: Ids) -> Bookmark:
        """Where the pass starts: the saved progress when it can be trusted for `ids`;
        the table version of a full pass is then chosen (the saved one when resuming)."""
        bookmark = self._saved_bookmark(ids)
        assert self._pass is not None, "plan() first"
        if self._pass.full:
            bookmark.version = self._use_version(bookmark.version)
        self._version = bookmark.version
        return bookmark

    def _saved_bookmark(self, id_list: Ids) -> Bookmark:
        ids = id_list.fingerprint()
        saved = self._state.get(PROGRESS_KEY)
        if saved is None:
            return Bookmark(ids_fingerprint=ids)
        bookmark = Bookmark.from_state(saved)
        name = self._name
        if bookmark is None:
            return self._restart(f"The saved progress of {name} is not one this version wrote", ids)
        count = id_list.validate()
        if count is not None and bookmark.position > count:
            return self._restart(
                f"The saved progress of {name} is past the end of its {count} ids", ids
            )
        if bookmark.ids_fingerprint != ids:
            return self._restart(f"The ids of {name} changed since its saved progress", ids)
        assert self._pass is not None
        if self._pass.full and self._versioned and bookmark.version is None:
            return self._restart(
                f"The saved progress of {name} was made without table versions, which a "
                "version activated now would delete",
                ids,
            )
        self._logger.info(
            "Resuming %s after %d ids, with %d ids part-read",
            self._name,
            bookmark.position,
            len(bookmark.pending),
        )
        return bookmark

    def _restart(self, why: str, ids: str) -> Bookmark:
        self._logger.warning("%s; reading it from the start", why)
        return Bookmark(ids_fingerprint=ids)

    def batch_done(self, bookmark: Bookmark) -> None:
        """A batch's records are written: its bookmark is STATE now."""
        self._state[PROGRESS_KEY] = bookmark.to_state()
        self._write_state()

    def finish(self, *, complete: bool) -> None:
        """The pass is over: `complete` when no id failed."""
        this_pass = self._pass
        assert this_pass is not None, "plan() first"
        if this_pass.full and self._versioned and self._version is not None:
            activate_when_complete(
                self._version,
                complete=complete,
                name=self._name,
                activate=self._activate,
                logger=self._logger,
            )
        self._state.pop(PROGRESS_KEY, None)
        self._state.pop(PASS_KEY, None)
        if not complete:
            return
        if not self._lists_its_ids:
            self._state[SINCE_KEY] = iso(this_pass.until_ms)
            if this_pass.full:
                self._state[LAST_FULL_KEY] = iso(this_pass.until_ms)
        self._state[COMPLETED_KEY] = True

    def end_run(self) -> None:
        """The whole run is over: the next one starts a new pass of this stream."""
        if self._state.pop(COMPLETED_KEY, None):
            self._write_state()


def activate_when_complete(
    version: int,
    *,
    complete: bool,
    name: str,
    activate: Callable[[int], None],
    logger: logging.Logger,
) -> None:
    """ACTIVATE_VERSION `version` of the stream `name` if its pass is complete; else say
    why not: a target would delete the rows the pass did not read."""
    if not complete:
        logger.warning(
            "Not activating version %d of %s: some ids failed, so the pass is incomplete "
            "and the rows it did not read would be deleted",
            version,
            name,
        )
        return
    activate(version)
    logger.info("Activated version %d of %s", version, name)
