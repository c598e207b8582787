"""Which pass a stream of a listed pair runs, full or incremental, and over what window.

A full pass reads every live id of the `from` type; an incremental one only the ids
whose record was modified in its window. The window runs from where the last complete
pass started (less `SEARCH_LOOKBACK_MS`, as the search index lags writes), or from
`start_date`, up to the pass's own start. Full passes come back on the user's schedule,
because incremental ones cannot see every change (see the README).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone

SEARCH_LOOKBACK_MS = 5 * 60 * 1000
"""Changes this old before the last pass started are read again: HubSpot's search
index lags writes by seconds, and clocks drift."""
DAY_MS = 24 * 60 * 60 * 1000

PASS_KEY = "pass"
SINCE_KEY = "since"
"""When the last complete pass of the stream started: changes from then on are unread."""
LAST_FULL_KEY = "last_full"
"""When the last complete full pass of the stream started."""


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

    def describe(self) -> str:
        if self.full:
            return f"full pass ({self.reason})"
        assert self.since_ms is not None
        return (
            f"incremental pass ({self.reason}): records modified from {iso(self.since_ms)} "
            f"to {iso(self.until_ms)}"
        )


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


def iso(ms: int) -> str:
    """Epoch milliseconds as an ISO 8601 UTC time, as state keeps them."""
    moment = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(value: object) -> int | None:
    """Epoch milliseconds of an ISO 8601 time with a zone (a date alone is midnight UTC);
    None when `value` is not one."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if text[-1:] in ("Z", "z"):  # Python 3.10 reads only numeric offsets
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        if len(text) > 10:
            return None
        moment = moment.replace(tzinfo=timezone.utc)
    return round(moment.timestamp() * 1000)
