"""Single values from outside, checked and converted in one place: record ids (from
HubSpot, settings, files and state), times (state and settings), the numbers HubSpot's
headers hold, credentials fit for a header, and any text shown in one log line.

Each check says what it accepts and refuses everything else, so that a bool never
passes for a number and a header never smuggles a line break into a log."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timezone

RECORD_ID = re.compile(r"0|[1-9][0-9]{0,19}")
"""A HubSpot record id as the tap keeps it: up to 20 decimal digits (ids exceed 32 bits),
without leading zeros, so that one record has one id (`0001` would be a second key)."""
MAX_NUMERIC_ID = 10**20
"""The first number too long to be a record id (`RECORD_ID`: 20 digits at most)."""
PLAIN_NUMBER = re.compile(r"[0-9]{1,30}(\.[0-9]{1,30})?")
"""A header number as HubSpot writes them: digits, maybe a fraction. Nothing that
`float()` also takes (`inf`, `nan`, `1e308`, `-5`, `1_0`) is a wait."""
HEADER_SAFE = re.compile(r"[\x21-\x7e]+")
"""Visible ASCII: what a credential may hold to travel in a header or form unchanged."""


def is_record_id(value: object) -> bool:
    """Whether `value` is a record id as the tap keeps them: a string of digits."""
    return isinstance(value, str) and RECORD_ID.fullmatch(value) is not None


def record_id(value: object) -> str:
    """A record id HubSpot sent as a number (as observed) or a string (as documented),
    as the tap keeps it; ValueError for anything else (a bool is not a number here)."""
    if type(value) is int and 0 <= value < MAX_NUMERIC_ID:
        return str(value)
    if not is_record_id(value):
        raise ValueError(value)
    assert isinstance(value, str)
    return value


def iso(ms: int) -> str:
    """Epoch milliseconds as an ISO 8601 UTC time, as state keeps them."""
    moment = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(value: object) -> int | None:
    """Epoch milliseconds of an ISO 8601 time with a zone (a date alone is midnight UTC)
    from 1970 on; None when `value` is not one. Earlier times are no HubSpot time, and
    near year 1 a window reaching back would fall before the first time `iso` can show."""
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
    ms = round(moment.timestamp() * 1000)
    return ms if ms >= 0 else None


def header_number(headers: Mapping[str, str], name: str) -> float | None:
    """The plain non-negative number a header holds; None when absent or anything else."""
    raw = headers.get(name)
    if not isinstance(raw, str):
        return None
    text = raw.strip()
    return float(text) if PLAIN_NUMBER.fullmatch(text) else None


def header_count(headers: Mapping[str, str], name: str) -> int | None:
    """A count a header holds (a limit, the requests remaining); None if not a number."""
    value = header_number(headers, name)
    return int(value) if value is not None else None


def is_header_safe(value: str) -> bool:
    """Whether `value` can be sent as a credential: visible ASCII only. A line break
    would split the request's headers, and whitespace or other characters are a
    copy-and-paste slip that HubSpot would only answer with a 401."""
    return HEADER_SAFE.fullmatch(value) is not None


def one_line(text: str) -> str:
    """Text from outside (a reason phrase, a header) as one short line of a message."""
    return " ".join(text.split())[:200]
