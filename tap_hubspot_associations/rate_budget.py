"""The rate budget: one rolling window of requests, never fuller than HubSpot allows.

It is also where announced waits are read: every header that tells the tap to wait
(`Retry-After`, a rate limit window) is parsed strictly and capped by `max_wait_seconds`,
because a broken or hostile server may announce `inf`, `nan` or a year.
"""

from __future__ import annotations

import bisect
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping

from tap_hubspot_associations.errors import HubSpotError
from tap_hubspot_associations.values import header_count, header_number

DEFAULT_WINDOW_SECONDS = 10.0
SEARCH_PER_SECOND = 5
"""CRM search's own limit per account, beside the app's rolling window."""
ARRIVAL_MARGIN = 0.1
"""Seconds a request may take to reach HubSpot after it is sent."""
WINDOW_HEADER = "X-HubSpot-RateLimit-Interval-Milliseconds"
MIN_WINDOW_SECONDS = 1.0
"""The shortest window adopted (HubSpot's shortest is a second): a window of a
millisecond still allows one request, so it would let a thousand a second through."""


class RateBudget:
    """One rolling window of requests for the whole run, never fuller than HubSpot allows.

    The user grants a ceiling (`max_requests_per_10s`); HubSpot's headers may announce a
    lower one, a different window, or fewer requests remaining (other clients of the
    app): the budget keeps under all of them. The window is rolling, so a slot frees
    when the oldest request in it ages out, and bursts within a window are fine. A
    request holds its slot from sending until its response, and is then dated when
    HubSpot will have counted it: on arrival, which is at most `ARRIVAL_MARGIN` after
    sending (and never after the response).

    An announced window longer than `max_wait` is refused (`release` raises): waiting
    it out could stall the run for a day without a word.

    Some responses announce a per-second limit too (`X-HubSpot-RateLimit-Secondly`,
    `-Secondly-Remaining`): the budget keeps under it as well. A 429's own counts are
    not adopted as other clients' share: `Retry-After` is its wait, nothing more.
    """

    def __init__(
        self,
        *,
        max_requests: int,
        window: float = DEFAULT_WINDOW_SECONDS,
        max_wait: float,
        clock: Callable[[], float] = time.monotonic,
        logger: logging.Logger | None = None,
        notices: WaitNotices | None = None,
    ) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._done: list[float] = []
        self._sent: list[float] = []
        self._in_flight = 0
        self._others: deque[tuple[float, int]] = deque()
        self._ceiling_per_second = max_requests / window
        self._announced: int | None = None
        self._secondly: int | None = None
        self._paused_until = 0.0
        """No request is sent before this: a response said no request of this second
        remains."""
        self._answered = False
        self._logger = logger or logging.getLogger(__name__)
        self.window = window
        self.max_wait = max_wait
        self.notices = notices
        """Where a long wait for a slot is said while it lasts (none: only past max_wait)."""

    @property
    def limit(self) -> int:
        """Requests allowed per window now; one alone until a response tells the limits."""
        if not self._answered:
            return 1
        ceiling = max(1, int(self._ceiling_per_second * self.window + 1e-9))
        return ceiling if self._announced is None else min(ceiling, self._announced)

    def acquire(self, cancel: threading.Event) -> float | None:
        """Wait for a free slot in the window and take it until `release()`.

        Returns the time of sending, or None if cancelled first. A wait longer than
        `max_wait` (other clients holding the budget) is logged once.
        """
        started = self._clock()
        logged = False
        while not cancel.is_set():
            with self._lock:
                now = self._clock()
                self._forget_before(now - self.window)
                wait = self._wait_for_second(now)
                if wait <= 0 and (
                    len(self._done) + self._in_flight + self._held_by_others(now) < self.limit
                ):
                    self._in_flight += 1
                    self._sent.append(now)
                    return now
                if wait <= 0:
                    wait = self._done[0] + self.window - now if self._done else 0.05
            if self.notices is not None and now - started >= self.notices.interval:
                self.notices.say(
                    f"waited {now - started:.0f} s so far for a free slot of the rate budget "
                    f"({self.limit} requests per {self.window:.1f} s; other clients of the app "
                    "may be using it)",
                    f"rate budget {id(self)}",
                )
            if not logged and now - started > self.max_wait:
                logged = True
                self._logger.warning(
                    "waiting %.0f s so far for a free slot of the rate budget (%d requests "
                    "per %.1f s); other clients of the app may be using it",
                    now - started,
                    self.limit,
                    self.window,
                )
            step = min(max(wait, 0.001), self.max_wait)
            if self.notices is not None:
                step = min(step, self.notices.interval)  # a long wait is said while it lasts
            cancel.wait(step)
        return None

    def release(self, sent_at: float, headers: Mapping[str, str], *, refused: bool = False) -> None:
        """Date the request by its arrival at HubSpot and adopt what HubSpot announces.

        `refused`: the answer was a 429, whose remaining count says nothing of other
        clients. The slot is always freed; then a window longer than `max_wait` raises
        `HubSpotError`.
        """
        announced = header_count(headers, "X-HubSpot-RateLimit-Max")
        remaining = None if refused else header_count(headers, "X-HubSpot-RateLimit-Remaining")
        secondly = header_count(headers, "X-HubSpot-RateLimit-Secondly")
        secondly_remaining = header_count(headers, "X-HubSpot-RateLimit-Secondly-Remaining")
        refusal: HubSpotError | None = None
        try:
            window = announced_wait(headers, WINDOW_HEADER, self.max_wait, unit=0.001)
        except HubSpotError as exc:
            window, refusal = None, exc
        with self._lock:
            now = self._clock()
            self._in_flight -= 1
            bisect.insort(self._done, min(now, sent_at + ARRIVAL_MARGIN))
            self._answered = True
            if announced is not None and announced > 0:
                self._announced = announced
            if window is not None and window >= MIN_WINDOW_SECONDS:
                self.window = window
            if secondly is not None and secondly > 0:
                self._secondly = secondly
            if secondly_remaining == 0:
                self._paused_until = max(self._paused_until, now + 1.0)
            if remaining is not None and self._announced is not None:
                # HubSpot counted `remaining` when this request arrived: ours then were
                # those sent in the window before it, the rest belong to other clients.
                ours = bisect.bisect_right(self._sent, sent_at) - bisect.bisect_right(
                    self._sent, sent_at - self.window
                )
                others = self._announced - remaining - ours
                self._others.append((now, max(0, others)))
        if refusal is not None:
            raise refusal

    def wait_after_429(self, headers: Mapping[str, str], *, policy: object = None) -> float:
        """Seconds to wait after a 429: `Retry-After`, else one second for HubSpot's
        legacy per-second policy (`SECONDLY`), else until the window frees.

        Raises `HubSpotError` when either announces more than `max_wait`.
        """
        retry_after = announced_wait(headers, "Retry-After", self.max_wait)
        if retry_after is not None:
            return retry_after
        if policy == "SECONDLY":
            return min(1.0, self.max_wait)
        window = announced_wait(headers, WINDOW_HEADER, self.max_wait, unit=0.001)
        window = window or self.window
        with self._lock:
            now = self._clock()
            self._forget_before(now - window)
            oldest = self._done[0] if self._done else now
        return min(max(oldest + window - now, 0.05), self.max_wait)

    def _wait_for_second(self, now: float) -> float:
        """Seconds until the per-second limit HubSpot announced lets another request
        go; 0 when it does now (or none was announced)."""
        wait = self._paused_until - now
        if self._secondly is not None:
            last_second = self._sent[bisect.bisect_right(self._sent, now - 1.0) :]
            if len(last_second) >= self._secondly:
                wait = max(wait, last_second[-self._secondly] + 1.0 - now)
        return wait

    def _held_by_others(self, now: float) -> int:
        """Slots other clients of the app hold: the most any response of the last window
        implied (each one alone may miss a few, as our own dates are estimates), and one
        more while there are any."""
        while self._others and self._others[0][0] <= now - self.window:
            self._others.popleft()
        held = max((held for _, held in self._others), default=0)
        # Requests in flight together reach HubSpot in any order, so a count can miss one
        # of ours or theirs: when others share the window, one slot more is left to them.
        return held + 1 if held else 0

    def _forget_before(self, horizon: float) -> None:
        del self._done[: bisect.bisect_right(self._done, horizon)]
        del self._sent[: bisect.bisect_right(self._sent, horizon - self.window)]


class WaitNotices:
    """Says why nothing moves while the tap waits long.

    A wait is logged as it starts by whoever waits (a retry's WARNING names the answer
    and the seconds); past that, every `interval` seconds while it lasts, one INFO line
    says how long is left and what for, so that a run stuck behind a 429's two-minute
    `Retry-After` does not look hung. Threads waiting for the same reason at once are
    said once.
    """

    def __init__(
        self,
        *,
        interval: float,
        logger: logging.Logger,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval = max(interval, 1.0)
        self._logger = logger
        self._clock = clock
        self._lock = threading.Lock()
        self._said: dict[str, float] = {}

    def wait(
        self, seconds: float, reason: str, cancel: threading.Event, *, key: str | None = None
    ) -> bool:
        """Wait `seconds` unless `cancel` is set first (then True): in steps of at most
        an interval, each followed by a line while a second or more is left. Waits of
        one `key` (default: the reason) at once are said once."""
        left = seconds
        while left > 0:
            step = min(left, self.interval)
            if cancel.wait(step):
                return True
            left -= step
            if left >= 1:
                line = f"still waiting {left:.0f} s of {seconds:.0f} s: {reason}"
                self.say(line, reason if key is None else key)
        return False

    def say(self, line: str, key: str) -> None:
        """Log `line`, unless a line of the same `key` was logged within the last
        interval."""
        now = self._clock()
        with self._lock:
            last = self._said.get(key)
            if last is not None and now - last < 0.9 * self.interval:
                return
            self._said[key] = now
        self._logger.info("%s", line)


def announced_wait(
    headers: Mapping[str, str], name: str, max_wait: float, *, unit: float = 1.0
) -> float | None:
    """Seconds the header `name` tells the tap to wait (its value times `unit`).

    None when the header is absent or not a plain number (as if HubSpot had said
    nothing); `HubSpotError` when it is longer than `max_wait`, because obeying would
    stall the run for that long.
    """
    value = header_number(headers, name)
    if value is None:
        return None
    seconds = value * unit
    if seconds > max_wait:
        raise HubSpotError(
            f"HubSpot announced {name}: {headers[name].strip()} ({seconds:.0f} s), longer "
            f"than max_wait_seconds ({max_wait:g} s): stopping instead of waiting; raise "
            "max_wait_seconds to wait that long"
        )
    return seconds
