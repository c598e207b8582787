"""Times as state and settings write them: epoch milliseconds and ISO 8601 in UTC."""

from __future__ import annotations

from datetime import datetime, timezone


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
