"""Progress lines during long runs, and the coverage table at the end of a run."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from tap_hubspot_associations.batch_reader import Coverage
from tap_hubspot_associations.metrics import RequestStats


class ProgressReporter:
    """Logs where one stream's pass is, at most once every `interval` seconds."""

    def __init__(
        self,
        *,
        stream: str,
        total_ids: int | None,
        start_position: int,
        stats: RequestStats,
        interval: float,
        logger: logging.Logger,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stream = stream
        self._total = total_ids
        self._start_position = start_position
        self._stats = stats
        self._interval = interval
        self._logger = logger
        self._clock = clock
        self._started = self._last = clock()
        self._requests_at_start = stats.requests

    def batch_done(self, position: int, coverage: Coverage) -> None:
        now = self._clock()
        if now - self._last >= self._interval:
            self._last = now
            self._logger.info("Progress of %s: %s", self._stream, self.line(position, coverage))

    def line(self, position: int, coverage: Coverage) -> str:
        """Where the pass is, as a sentence: ids done (of how many, when known), records
        written, the pace, and 429s and retries once there are any."""
        elapsed = max(self._clock() - self._started, 1e-9)
        rate = (self._stats.requests - self._requests_at_start) / elapsed
        if self._total:
            done = f"{position:,} of {self._total:,} ids read ({100 * position // self._total}%)"
        else:
            done = f"{coverage.ids_requested:,} ids read (HubSpot lists them as the pass goes)"
        parts = [done, f"{coverage.records:,} records written", f"{rate:.1f} requests/s"]
        troubles = [
            f"{count} {what}"
            for count, what in (
                (self._stats.rate_limited, "answers 429"),
                (self._stats.retries, "retries"),
            )
            if count
        ]
        if troubles:
            parts.append(f"{' and '.join(troubles)} so far")
        if self._total:
            speed = (position - self._start_position) / elapsed
            if speed > 0:
                parts.append(f"about {duration((self._total - position) / speed)} left")
        return ", ".join(parts)


def duration(seconds: float) -> str:
    """`1h02m`, `3m05s`: how long, as a person reads it."""
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


COVERAGE_COLUMNS = ("stream", "pass", "ids", "with", "without", "pages", "records", "failed")


def coverage_table(rows: Sequence[tuple[str, str, Coverage]]) -> list[str]:
    """The end-of-run table: one line per stream (name, kind of pass, coverage), aligned."""
    cells = [COVERAGE_COLUMNS] + [
        (
            name,
            kind,
            f"{c.ids_requested:,}",
            f"{c.ids_with_associations:,}",
            f"{c.ids_without_associations:,}",
            f"{c.extra_pages:,}",
            f"{c.records:,}",
            f"{c.ids_failed:,}",
        )
        for name, kind, c in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(COVERAGE_COLUMNS))]
    return [
        "  ".join(
            cell.ljust(width) if i < 2 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        )
        for row in cells
    ]
