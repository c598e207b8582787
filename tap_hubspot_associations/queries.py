"""The requests an enumeration makes of one object type: list pages, searches and
counts, each answer checked before it bounds anything (ranges.py has the checks).

A search answer that fails a check, or a search HubSpot refuses for good, makes search
untrusted for the type (`distrust`, given by the enumeration, decides what follows).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlencode

from tap_hubspot_associations.errors import HubSpotError
from tap_hubspot_associations.paths import objects_path, search_path
from tap_hubspot_associations.ranges import (
    END,
    LIST_PAGE_SIZE,
    Chain,
    Untrusted,
    checked_ids,
    checked_page,
    next_cursor,
    search_total,
)


def last_modified_property(object_type: str) -> str:
    """Contacts keep their last-modified time in `lastmodifieddate`, the rest in
    `hs_lastmodifieddate`."""
    return (
        "lastmodifieddate"
        if object_type.lower() in ("contacts", "contact", "0-1")
        else "hs_lastmodifieddate"
    )


UNUSABLE_SEARCH_STATUSES = (400, 403, 404)
"""Statuses with which HubSpot refuses a search for good: the type is listed instead."""


@dataclass
class Listing:
    """The list chain's own state: HubSpot's cursor is opaque, so a listing can only go
    on from where it is, never start in the middle."""

    chain: Chain
    cursor: str | None = None
    seen: set[str] = field(default_factory=set)
    previous: int = -1
    beyond: list[int] = field(default_factory=list)
    """Ids of the last page above the range's end, left to the chain above: read after
    all if search proves untrustworthy and the listing goes on."""
    exhausted: bool = False
    """HubSpot's last page came: nothing is listed beyond it."""
    abandoned: str | None = None
    """Why the listing left its range to search (it listed out of order): then it is no
    authority, and a search that fails too ends the pass."""


class Requests(Protocol):
    """What the queries need of the client: GET a listing, POST a search."""

    def get(
        self, path: str, *, list_key: str, cancel: threading.Event | None = None
    ) -> dict[str, Any]: ...

    def search(
        self, path: str, body: Mapping[str, Any], *, cancel: threading.Event | None = None
    ) -> dict[str, Any]: ...


class TypeQueries:
    """List and search one object type (in a window of modification times, or all)."""

    def __init__(
        self,
        *,
        setting: str,
        object_type: str,
        client: Requests,
        api_version: str,
        window: tuple[int, int] | None,
        cancel: threading.Event,
        distrust: Callable[[str], None],
    ) -> None:
        self.setting = setting
        self._object_type = object_type
        self._client = client
        self._list_path = objects_path(api_version, object_type)
        self._search_path = search_path(api_version, object_type)
        self._window = window
        self._cancel = cancel
        self._distrust = distrust

    def list_page(self, listing: Listing) -> tuple[list[int], str | None]:
        """The listing's next page: its ids and the cursor of the one after (None on
        the last page); a cursor seen before fails the pass (the listing would never
        end)."""
        query = {"limit": LIST_PAGE_SIZE, "properties": "hs_object_id", "archived": "false"}
        if listing.cursor is not None:
            query["after"] = listing.cursor
        body = self._list(query)
        ids = checked_ids(body["results"], "listing", self._object_type)
        cursor = next_cursor(body, "listing", self._object_type)
        if cursor is not None and cursor in listing.seen:
            raise HubSpotError(
                f"{self.setting}: HubSpot's paging of {self._object_type} returned a "
                "cursor it had returned before; the listing would never end"
            )
        if cursor is not None:
            listing.seen.add(cursor)
        return ids, cursor

    def count(self, after: int, high: int) -> int | None:
        """How many ids search holds in (after, high], by its `total`."""
        answer = self.search(self.query(1, "ASCENDING", after, high), after, high)
        return None if answer is None else answer[1]

    def search(
        self, query: dict[str, Any], after: int, high: int
    ) -> tuple[list[int], int | None, bool] | None:
        """One search, its answer checked: the ids (in the order asked), HubSpot's
        `total` and whether more follow; None once search is distrusted, by this answer
        or another."""
        try:
            body = self._client.search(self._search_path, query, cancel=self._cancel)
            ids = checked_page(body, query, after, high, self._object_type)
        except HubSpotError as exc:
            if exc.status not in UNUSABLE_SEARCH_STATUSES:
                raise
            self._distrust(f"HubSpot refused the search ({exc.status}): {exc}")
            return None
        except Untrusted as exc:
            self._distrust(str(exc))
            return None
        more = next_cursor(body, "searching", self._object_type) is not None
        return ids, search_total(body), more

    def check_index_not_empty(self) -> None:
        """An incremental window that search finds empty: true only if search's index
        holds the type at all, or listing finds none either."""
        everything = {
            "filterGroups": [],
            "sorts": [{"propertyName": "hs_object_id", "direction": "DESCENDING"}],
            "properties": ["hs_object_id"],
            "limit": 1,
        }
        indexed = self._client.search(self._search_path, everything, cancel=self._cancel)
        if checked_ids(indexed["results"], "searching", self._object_type):
            return
        query = urlencode({"limit": 1, "properties": "hs_object_id", "archived": "false"})
        listed = self._client.get(
            f"{self._list_path}?{query}", list_key="results", cancel=self._cancel
        )
        if checked_ids(listed["results"], "listing", self._object_type):
            self._distrust(f"search found no {self._object_type}, listing did")

    def _list(self, query: Mapping[str, object]) -> dict[str, Any]:
        path = f"{self._list_path}?{urlencode(query)}"
        return self._client.get(path, list_key="results", cancel=self._cancel)

    def query(
        self, limit: int, direction: str, after: int | None, high: int | None
    ) -> dict[str, Any]:
        filters = []
        if self._window is not None:
            modified = last_modified_property(self._object_type)
            since, until = self._window
            filters += [
                {"propertyName": modified, "operator": "GTE", "value": str(since)},
                {"propertyName": modified, "operator": "LT", "value": str(until)},
            ]
        if after is not None and after >= 0:
            filters.append({"propertyName": "hs_object_id", "operator": "GT", "value": str(after)})
        if high is not None and high < END:
            filters.append({"propertyName": "hs_object_id", "operator": "LTE", "value": str(high)})
        return {
            "filterGroups": [{"filters": filters}] if filters else [],
            "sorts": [{"propertyName": "hs_object_id", "direction": direction}],
            "properties": ["hs_object_id"],
            "limit": limit,
        }
