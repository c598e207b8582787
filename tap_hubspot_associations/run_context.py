"""What the streams of one run share: HubSpot's time when the run started, and each
pair's label definitions, read once whichever stream asks first."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from tap_hubspot_associations.errors import TapError
from tap_hubspot_associations.paths import associations_path

if TYPE_CHECKING:
    from tap_hubspot_associations.client import HubSpotClient


class RunContext:
    """Per run: HubSpot's time at its start, and the label definitions of each pair."""

    def __init__(
        self,
        *,
        client: HubSpotClient,
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

    def label_definitions(self, from_type: str, to_type: str) -> list[object]:
        """The pair's label definitions as HubSpot lists them (one request a run); the
        `TapError` of that request, again, to every caller."""
        key = (from_type, to_type)
        if key not in self._labels:
            path = associations_path(self._api_version, from_type, to_type, "labels")
            try:
                self._labels[key] = self._client.get(path, list_key="results")["results"]
            except TapError as exc:
                self._labels[key] = exc
        found = self._labels[key]
        if isinstance(found, TapError):
            raise found
        return found

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
