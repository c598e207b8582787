"""What the client counts and tells: request statistics, HubSpot's clock, and the SDK's
metric lines for HTTP requests."""

from __future__ import annotations

import email.utils
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timezone
from typing import Any

from singer_sdk import metrics

from tap_hubspot_associations.values import header_count


@dataclass
class RequestStats:
    """What the client did, for progress lines and the coverage summary."""

    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    daily_allowance: int | None = None
    """`X-HubSpot-RateLimit-Daily`: the account's requests per day, when HubSpot says."""
    daily_remaining_first: int | None = None
    daily_remaining_last: int | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def answered(self, headers: Mapping[str, str]) -> None:
        """Keep what HubSpot says of the day's allowance (not sent to OAuth apps)."""
        allowance = header_count(headers, "X-HubSpot-RateLimit-Daily")
        remaining = header_count(headers, "X-HubSpot-RateLimit-Daily-Remaining")
        with self.lock:
            if allowance is not None:
                self.daily_allowance = allowance
            if remaining is not None:
                if self.daily_remaining_first is None:
                    self.daily_remaining_first = remaining
                self.daily_remaining_last = remaining

    def daily_summary(self) -> tuple[str, bool] | None:
        """A line on the day's allowance, and whether this run spent more than a tenth
        of it; None when HubSpot never said."""
        first, last, allowance = (
            self.daily_remaining_first,
            self.daily_remaining_last,
            self.daily_allowance,
        )
        if first is None or last is None:
            return None
        spent = max(first - last, 0) + 1
        line = f"HubSpot's daily allowance: {last:,} requests remaining"
        if allowance is None:
            return f"{line}; this run spent about {spent:,}", False
        line += f" of {allowance:,}; this run spent about {spent:,}"
        return line, spent > allowance / 10

    def sent(self) -> None:
        with self.lock:
            self.requests += 1

    def retried(self) -> None:
        with self.lock:
            self.retries += 1

    def refused_by_rate_limit(self) -> None:
        with self.lock:
            self.rate_limited += 1


class HubSpotClock:
    """HubSpot's time, read off the `Date` header of its answers.

    Modification times are HubSpot's, so windows over them must be too: this machine's
    clock may be minutes off. `Date` has whole seconds and is stamped before the answer
    travels, so the estimate runs at most a second and a response's travel behind
    HubSpot's clock, never ahead of it.
    """

    def __init__(self, local: Callable[[], float] = time.time) -> None:
        self._local = local
        self._offset: float | None = None
        self._lock = threading.Lock()

    def saw(self, date: object) -> None:
        """An answer came with this `Date` header (anything else is ignored)."""
        if not isinstance(date, str):
            return
        try:
            stamped = email.utils.parsedate_to_datetime(date)
            # A time ISO 8601 cannot show in UTC (past year 9999) is no time of HubSpot's.
            seconds = stamped.astimezone(timezone.utc).timestamp()
        except (TypeError, ValueError, IndexError, OverflowError):
            return
        if stamped.tzinfo is None or seconds < 0:
            return
        with self._lock:
            self._offset = seconds - self._local()

    def now_ms(self) -> int | None:
        """HubSpot's time now in epoch ms; None before any answer with a `Date`."""
        with self._lock:
            offset = self._offset
        return None if offset is None else int((self._local() + offset) * 1000)


class RequestMetrics:
    """The SDK's metric lines for HTTP requests, as its REST streams write them.

    Every request logs its `http_request_duration`; `http_request_count` is logged per
    endpoint and status once `interval` has passed, and by `flush()` at the end of the
    run. The endpoint is the request's path without its query (paths hold object
    types, never record ids). One client serves every stream, so no stream is tagged.
    """

    def __init__(
        self,
        *,
        interval: float = metrics.DEFAULT_LOG_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
        logger: logging.Logger | None = None,
    ) -> None:
        self._interval = interval
        self._clock = clock
        self._logger = logger or metrics.get_metrics_logger()
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, int | None], int] = {}
        self._logged_at = clock()

    def record(self, endpoint: str, status: int | None, seconds: float) -> None:
        """One request to `endpoint` ended with `status` (None: no response) after
        `seconds`."""
        metrics.log(
            self._logger,
            metrics.Point(
                "timer", metrics.Metric.HTTP_REQUEST_DURATION, seconds, _tags(endpoint, status)
            ),
        )
        due: dict[tuple[str, int | None], int] = {}
        with self._lock:
            key = (endpoint, status)
            self._counts[key] = self._counts.get(key, 0) + 1
            if self._clock() - self._logged_at >= self._interval:
                due = self._take()
        self._log_counts(due)

    def flush(self) -> None:
        """Log the counts not logged yet (at the end of a run)."""
        with self._lock:
            due = self._take()
        self._log_counts(due)

    def _take(self) -> dict[tuple[str, int | None], int]:
        counts, self._counts = self._counts, {}
        self._logged_at = self._clock()
        return counts

    def _log_counts(self, counts: Mapping[tuple[str, int | None], int]) -> None:
        for (endpoint, status), count in sorted(counts.items(), key=str):
            metrics.log(
                self._logger,
                metrics.Point(
                    "counter", metrics.Metric.HTTP_REQUEST_COUNT, count, _tags(endpoint, status)
                ),
            )


def _tags(endpoint: str, status: int | None) -> dict[str, Any]:
    ok = status is not None and status < 400
    tags: dict[str, Any] = {
        metrics.Tag.ENDPOINT: endpoint,
        metrics.Tag.STATUS: metrics.Status.SUCCEEDED if ok else metrics.Status.FAILED,
    }
    if status is not None:
        tags[metrics.Tag.HTTP_STATUS_CODE] = status
    return tags
