"""What the streams of one run share: HubSpot's time when the run started, and each
pair's label definitions, read once whichever stream asks first. (The ids each `from`
type shares: `enumerations`.)"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from tap_hubspot_associations.errors import TapError
from tap_hubspot_associations.metrics import HubSpotClock
from tap_hubspot_associations.paths import associations_path

LABEL_READS_AT_ONCE = 8


class LabelReader(Protocol):
    """What a run needs of the client: GET, and HubSpot's time read off its answers."""

    @property
    def hubspot_clock(self) -> HubSpotClock: ...

    def get(
        self, path: str, *, list_key: str, cancel: threading.Event | None = None
    ) -> dict[str, Any]: ...


class RunContext:
    """Per run: HubSpot's time at its start, and the label definitions of each pair."""

    def __init__(
        self,
        *,
        client: LabelReader,
        api_version: str,
        logger: logging.Logger,
        local_clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._api_version = api_version
        self._logger = logger
        self._local_clock = local_clock
        self._started_ms: int | None = None
        self._labels: dict[tuple[str, str], list[object] | TapError] = {}
        self._labels_wanted: list[tuple[str, str]] = []

    def will_read_labels(self, from_type: str, to_type: str) -> None:
        """A selected pair: its label definitions are read with the first asked for."""
        self._labels_wanted.append((from_type, to_type))

    def label_definitions(self, from_type: str, to_type: str) -> list[object]:
        """The pair's label definitions as HubSpot lists them (one request a run); the
        `TapError` of that request, again, to every caller. The first call reads every
        selected pair's at once: one response time, not one a pair."""
        key = (from_type, to_type)
        if key not in self._labels:
            wanted = list(dict.fromkeys([key, *self._labels_wanted]))
            with ThreadPoolExecutor(min(len(wanted), LABEL_READS_AT_ONCE)) as pool:
                for pair, found in zip(wanted, pool.map(self._read_labels, wanted), strict=True):
                    self._labels.setdefault(pair, found)
            self._labels_wanted.clear()
        found = self._labels[key]
        if isinstance(found, TapError):
            raise found
        return found

    def _read_labels(self, pair: tuple[str, str]) -> list[object] | TapError:
        path = associations_path(self._api_version, *pair, "labels")
        try:
            definitions: list[object] = self._client.get(path, list_key="results")["results"]
        except TapError as exc:
            return exc
        return definitions

    def started_ms(self) -> int:
        """HubSpot's time when the run started, by the `Date` of its first answer:
        passes are bounded by it, and saved times beyond it are not HubSpot's. The
        machine's clock only when HubSpot sent no `Date` (with a WARNING)."""
        if self._started_ms is None:
            now = self._client.hubspot_clock.now_ms()
            if now is None:
                self._logger.warning(
                    "HubSpot's answers carry no Date header: passes are timed by this "
                    "machine's clock, which may be off HubSpot's"
                )
                now = int(self._local_clock() * 1000)
            self._started_ms = now
        return self._started_ms
