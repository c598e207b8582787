"""The rate budget: one rolling window of requests, never fuller than HubSpot allows."""

from __future__ import annotations

import bisect
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping

DEFAULT_WINDOW_SECONDS = 10.0
SEARCH_PER_SECOND = 5
"""CRM search's own limit per account, beside the app's rolling window."""
ARRIVAL_MARGIN = 0.1
"""Seconds a request may take to reach HubSpot after it is sent."""


class RateBudget:
    """One rolling window of requests for the whole run, never fuller than HubSpot allows.

    The user grants a ceiling (`max_requests_per_10s`); HubSpot's headers may announce a
    lower one, a different window, or fewer requests remaining (other clients of the
    app): the budget keeps under all of them. The window is rolling, so a slot frees
    when the oldest request in it ages out, and bursts within a window are fine. A
    request holds its slot from sending until its response, and is then dated when
    HubSpot will have counted it: on arrival, which is at most `ARRIVAL_MARGIN` after
    sending (and never after the response).
    """

    def __init__(
        self,
        *,
        max_requests: int,
        window: float = DEFAULT_WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._done: list[float] = []
        self._sent: list[float] = []
        self._in_flight = 0
        self._others: deque[tuple[float, int]] = deque()
        self._ceiling_per_second = max_requests / window
        self._announced: int | None = None
        self._answered = False
        self.window = window

    @property
    def limit(self) -> int:
        """Requests allowed per window now; one alone until a response tells the limits."""
        if not self._answered:
            return 1
        ceiling = max(1, int(self._ceiling_per_second * self.window + 1e-9))
        return ceiling if self._announced is None else min(ceiling, self._announced)

    def acquire(self, cancel: threading.Event) -> float | None:
        """Wait for a free slot in the window and take it until `release()`.

        Returns the time of sending, or None if cancelled first.
        """
        while not cancel.is_set():
            with self._lock:
                now = self._clock()
                self._forget_before(now - self.window)
                if len(self._done) + self._in_flight + self._held_by_others(now) < self.limit:
                    self._in_flight += 1
                    self._sent.append(now)
                    return now
                wait = self._done[0] + self.window - now if self._done else 0.05
            cancel.wait(max(wait, 0.001))
        return None

    def release(self, sent_at: float, headers: Mapping[str, str]) -> None:
        """Date the request by its arrival at HubSpot and adopt what HubSpot announces."""
        announced = int_header(headers, "X-HubSpot-RateLimit-Max")
        interval_ms = int_header(headers, "X-HubSpot-RateLimit-Interval-Milliseconds")
        remaining = int_header(headers, "X-HubSpot-RateLimit-Remaining")
        with self._lock:
            now = self._clock()
            self._in_flight -= 1
            bisect.insort(self._done, min(now, sent_at + ARRIVAL_MARGIN))
            self._answered = True
            if announced is not None and announced > 0:
                self._announced = announced
            if interval_ms is not None and interval_ms > 0:
                self.window = interval_ms / 1000
            if remaining is not None and self._announced is not None:
                # HubSpot counted `remaining` when this request arrived: ours then were
                # those sent in the window before it, the rest belong to other clients.
                ours = bisect.bisect_right(self._sent, sent_at) - bisect.bisect_right(
                    self._sent, sent_at - self.window
                )
                others = self._announced - remaining - ours
                self._others.append((now, max(0, others)))

    def wait_after_429(self, headers: Mapping[str, str]) -> float:
        """Seconds to wait after a 429: `Retry-After`, else until the window frees."""
        retry_after = float_header(headers, "Retry-After")
        if retry_after is not None:
            return max(retry_after, 0.0)
        interval_ms = int_header(headers, "X-HubSpot-RateLimit-Interval-Milliseconds")
        window = interval_ms / 1000 if interval_ms else self.window
        with self._lock:
            now = self._clock()
            self._forget_before(now - window)
            oldest = self._done[0] if self._done else now
        return max(oldest + window - now, 0.05)

    def _held_by_others(self, now: float) -> int:
        """Slots other clients of the app hold: the most any response of the last window
        implied (each one alone may miss a few, as our own dates are estimates)."""
        while self._others and self._others[0][0] <= now - self.window:
            self._others.popleft()
        return max((held for _, held in self._others), default=0)

    def _forget_before(self, horizon: float) -> None:
        del self._done[: bisect.bisect_right(self._done, horizon)]
        del self._sent[: bisect.bisect_right(self._sent, horizon - self.window)]


def int_header(headers: Mapping[str, str], name: str) -> int | None:
    value = float_header(headers, name)
    return int(value) if value is not None else None


def float_header(headers: Mapping[str, str], name: str) -> float | None:
    try:
        return float(headers[name])
    except (KeyError, TypeError, ValueError):
        return None
