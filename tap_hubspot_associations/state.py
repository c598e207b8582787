"""The STATE format: what a stream's bookmark holds, and which pass a stream runs.

One bookmark per stream (`state_partitioning_keys = []`), under
`bookmarks.<stream>`. Every time is ISO 8601 UTC with milliseconds (`iso()` turns
epoch milliseconds into one, `parse_iso()` back). An example, mid-pass:

```json
{"bookmarks": {"contacts_to_companies": {
  "pass": {"mode": "incremental", "since": "2026-11-20T03:55:00.000Z",
           "until": "2026-11-28T04:00:00.000Z"},
  "since": "2026-11-20T04:00:00.000Z",
  "last_full": "2026-11-24T04:00:00.000Z",
  "progress": {"format": 1, "ids": "search:contacts:1763611200000:1764302400000",
               "version": null, "position": 3000,
               "pending": {"101": "MTAx", "205": null}, "failed": ["307"],
               "source": {"ranges": [["2799", "5400"], ["7100", "9000"]]}}
}}}
```

- `progress` (`Bookmark`): where the running pass is, and the ids it gave up on;
  gone once the pass ends.
- `pass` (`Pass`): the running pass's kind and window, so a resume keeps them.
- `since`: when the last complete pass started: changes from then on are unread.
- `last_full`: when the last complete full pass started.
- `completed_in_unfinished_run`: the stream completed in a run that has not ended
  yet; a run starting with it set resumes that run and skips the stream.

A full pass reads every live id of the `from` type; an incremental one only the ids
whose record was modified in its window. The window runs from where the last complete
pass started (less `SEARCH_LOOKBACK_MS`, as the search index lags writes), or from
`start_date`, up to the pass's own start. Full passes come back on the user's schedule,
because incremental ones cannot see every change (see docs/incremental.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tap_hubspot_associations.values import is_record_id, iso, parse_iso

SEARCH_LOOKBACK_MS = 5 * 60 * 1000
"""Changes this old before the last pass started are read again: HubSpot's search
index lags writes by seconds."""
DAY_MS = 24 * 60 * 60 * 1000

PROGRESS_KEY = "progress"
PASS_KEY = "pass"
SINCE_KEY = "since"
LAST_FULL_KEY = "last_full"
COMPLETED_KEY = "completed_in_unfinished_run"
BOOKMARK_FORMAT = 1


@dataclass
class Bookmark:
    """Where a pass is: ids consumed from the list, ids whose reading is unfinished, and
    ids the pass gave up on.

    `pending` maps an id to its `after` cursor (None: read it from its first page). It
    never holds more than about one batch of ids, so STATE stays small. `failed` ids are
    read again from their first page by a resumed pass: until they are read, the pass
    is incomplete, never activated and never the start of the next window.
    """

    position: int = 0
    pending: dict[str, str | None] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)
    ids_fingerprint: str | None = None
    """Which id list `position` counts in: saved progress resumes only the same list."""
    version: int | None = None
    """The table version of the pass, kept across resumes until it is activated."""
    source: dict[str, Any] = field(default_factory=dict)
    """What the id source needs to resume beyond `position` (the ranges of ids left)."""

    def to_state(self) -> dict[str, Any]:
        return {
            "format": BOOKMARK_FORMAT,
            "ids": self.ids_fingerprint,
            "version": self.version,
            "position": self.position,
            "pending": self.pending,
            "failed": self.failed,
            "source": self.source,
        }

    @classmethod
    def from_state(cls, value: object) -> Bookmark | None:
        """The bookmark in `value`, or None when it is not exactly one this version
        wrote: a bool is not a position, a pending key must be a record id."""
        if not isinstance(value, Mapping) or value.get("format") != BOOKMARK_FORMAT:
            return None
        position, pending = value.get("position"), value.get("pending")
        failed = value.get("failed", [])
        ids, version, source = value.get("ids"), value.get("version"), value.get("source")
        if not isinstance(position, int) or not _is_count(position):
            return None
        if not isinstance(pending, Mapping):
            return None
        if not all(
            is_record_id(id_) and (after is None or isinstance(after, str))
            for id_, after in pending.items()
        ):
            return None
        if not isinstance(failed, list) or not all(is_record_id(id_) for id_ in failed):
            return None
        if not (ids is None or isinstance(ids, str)) or not (version is None or _is_count(version)):
            return None
        if not (source is None or isinstance(source, Mapping)):
            return None
        return cls(
            position=position,
            pending=dict(pending),
            failed=list(failed),
            ids_fingerprint=ids,
            version=version,
            source=dict(source or {}),
        )


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


@dataclass(frozen=True)
class Pass:
    """One pass over a pair; kept in the bookmark so that a resumed pass keeps its window."""

    full: bool
    until_ms: int
    """When the pass started: it reads changes before this, the next pass those after."""
    since_ms: int | None = None
    """Incremental passes read the ids modified from this time on."""
    reason: str = ""

    def to_state(self) -> dict[str, str | None]:
        return {
            "mode": "full" if self.full else "incremental",
            "since": None if self.since_ms is None else iso(self.since_ms),
            "until": iso(self.until_ms),
        }

    @classmethod
    def from_state(cls, value: object) -> Pass | None:
        """The pass saved in `value`, or None when it is not one this version wrote."""
        if not isinstance(value, Mapping) or value.get("mode") not in ("full", "incremental"):
            return None
        until, since = parse_iso(value.get("until")), parse_iso(value.get("since"))
        full = value["mode"] == "full"
        if until is None or (not full and (since is None or since > until)):
            return None
        return cls(full=full, until_ms=until, since_ms=None if full else since, reason="resumed")

    @property
    def window(self) -> tuple[int, int] | None:
        """(since, until) of an incremental pass; None for a full one."""
        if self.full:
            return None
        assert self.since_ms is not None
        return self.since_ms, self.until_ms

    def describe(self) -> str:
        if self.full:
            return f"full pass ({self.reason})"
        assert self.since_ms is not None
        return (
            f"incremental pass ({self.reason}): records modified from {iso(self.since_ms)} "
            f"to {iso(self.until_ms)}"
        )


CLOCK_SLACK_MS = 5_000
"""How far a saved time may lie beyond HubSpot's time now and still be trusted: HubSpot's
`Date` has whole seconds, so two runs' estimates of its time (metrics.HubSpotClock) may
each lag it by a second and an answer's travel; a run that follows another within a
second could otherwise find the time the other saved "in the future"."""


def unreadable_times(saved: Mapping[str, object], now_ms: int) -> dict[str, str]:
    """The saved times of a bookmark that are not to be trusted, with why: those this
    version cannot read, and those later than HubSpot's time now, beyond the clock's
    slack (a clock that ran ahead wrote them). Dropped, they make a pass read more,
    never less."""
    ignored = {}
    for key in (SINCE_KEY, LAST_FULL_KEY, PASS_KEY):
        if key not in saved:
            continue
        value = saved[key]
        read = Pass.from_state(value) if key == PASS_KEY else parse_iso(value)
        if read is None:
            ignored[key] = f"is not one this version wrote ({str(value)[:60]!r})"
        elif (read.until_ms if isinstance(read, Pass) else read) > now_ms + CLOCK_SLACK_MS:
            ignored[key] = f"is later than HubSpot's time now, {iso(now_ms)} ({str(value)[:60]!r})"
    return ignored


def plan_pass(
    saved: Mapping[str, object],
    *,
    start_date_ms: int | None,
    full_pass_every_days: int,
    now_ms: int,
) -> Pass:
    """The pass to start now, given a stream's bookmark and the settings."""
    if start_date_ms is None:
        return Pass(full=True, until_ms=now_ms, reason="start_date is not set")
    last_full = parse_iso(saved.get(LAST_FULL_KEY))
    if full_pass_every_days > 0:
        if last_full is None:
            return Pass(full=True, until_ms=now_ms, reason="no full pass has completed yet")
        age_days = (now_ms - last_full) / DAY_MS
        if age_days >= full_pass_every_days:
            return Pass(
                full=True,
                until_ms=now_ms,
                reason=f"the last one started {age_days:.1f} days ago; "
                f"full_pass_every_days is {full_pass_every_days}",
            )
    since = parse_iso(saved.get(SINCE_KEY))
    if since is None:
        return Pass(full=False, since_ms=start_date_ms, until_ms=now_ms, reason="from start_date")
    return Pass(
        full=False,
        since_ms=min(since - SEARCH_LOOKBACK_MS, now_ms),
        until_ms=now_ms,
        reason="from the last complete pass",
    )
