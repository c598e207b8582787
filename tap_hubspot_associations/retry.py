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


class Retries:
    """The retries of one task (a request, a token refresh) under the policy: at most
    `max_retries` passing failures, each followed by the wait it announced
    (`Retry-After`) or else the next backoff."""

    def __init__(self, max_retries: int) -> None:
        self.max_retries = max_retries
        self.failures = 0
        self._delays = retry_delays()

    def wait_after(self, announced: float | None, *, counted: bool = True) -> float | None:
        """Seconds to wait before the next try; None once `max_retries` counted failures
        are spent. A failure not `counted` (a 429, capped apart) only waits."""
        if counted:
            self.failures += 1
            if self.failures > self.max_retries:
                return None
        return announced if announced is not None else next(self._delays)
