"""The one retry policy: how long to wait before each retry of anything that failed in
passing (a request, a token refresh, an id HubSpot could not read)."""

from __future__ import annotations

from collections.abc import Iterator

import backoff

BACKOFF_BASE_SECONDS = 0.5
"""The first retry's backoff; each further one doubles it, up to `BACKOFF_MAX_SECONDS`."""
BACKOFF_MAX_SECONDS = 30.0


def retry_delays() -> Iterator[float]:
    """Backoff waits between retries: exponential, with full jitter."""
    delays = backoff.expo(base=2, factor=BACKOFF_BASE_SECONDS, max_value=BACKOFF_MAX_SECONDS)
    next(delays)
    for delay in delays:
        yield backoff.full_jitter(delay)


def retry_delay(attempt: int) -> float:
    """The wait before retry number `attempt` (1 for the first), with full jitter."""
    return backoff.full_jitter(min(BACKOFF_BASE_SECONDS * 2 ** (attempt - 1), BACKOFF_MAX_SECONDS))
