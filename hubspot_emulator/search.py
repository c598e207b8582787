"""CRM search: sorted by `hs_object_id` either way, filtered by id and modification time,
`total` counted, a 10,000-result cap, its own 5 a second, an index that lags writes (or
misbehaves as a test asks)."""

from __future__ import annotations

import json
import uuid
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Mapping
from typing import Any

from hubspot_emulator.base import SEARCH_PAGE_MAX, EmulatorBase
from hubspot_emulator.http import Reply, error_reply, to_json
from hubspot_emulator.limits import per_second

_OPERATORS: dict[str, Callable[[int, int], bool]] = {
    "EQ": lambda a, b: a == b,
    "NEQ": lambda a, b: a != b,
    "LT": lambda a, b: a < b,
    "LTE": lambda a, b: a <= b,
    "GT": lambda a, b: a > b,
    "GTE": lambda a, b: a >= b,
}

_DIRECTIONS = ("ASCENDING", "DESCENDING")


def _id_slice(ids: list[int], groups: list[Any]) -> list[int]:
    """The part of the sorted `ids` a single filter group's `hs_object_id` bounds allow
    (all of them otherwise): a search over a range of ids need not test every record.
    Every filter is still tested on what is left."""
    if len(groups) != 1:
        return ids
    low, high = 0, len(ids)
    for search_filter in groups[0]["filters"]:
        if search_filter["propertyName"] != "hs_object_id":
            continue
        value, operator = int(search_filter["value"]), search_filter["operator"]
        if operator in ("GT", "GTE"):
            low = max(low, (bisect_right if operator == "GT" else bisect_left)(ids, value))
        elif operator in ("LT", "LTE"):
            high = min(high, (bisect_left if operator == "LT" else bisect_right)(ids, value))
    return ids[low:high]


def _search_test(
    search_filter: Mapping[str, Any], modified_property: str
) -> Callable[[Mapping[str, int]], bool]:
    """One filter of a search request as a test of a record's values; bad ones raise."""
    name = search_filter["propertyName"]
    if name not in ("hs_object_id", modified_property):
        raise ValueError(f"Property {name!r} does not exist or cannot be searched here")
    compare = _OPERATORS[search_filter["operator"]]
    value = int(search_filter["value"])
    return lambda values: compare(values[name], value)


class Search(EmulatorBase):
    def _search(self, object_type: str, raw: bytes) -> Reply:
        """CRM search as HubSpot runs it: AND within a filter group, OR between groups,
        at most `search_cap` results a query, an index that lags writes."""
        type_id = self.account.type_id(object_type) or ""
        modified_property = "lastmodifieddate" if type_id == "0-1" else "hs_lastmodifieddate"
        try:
            request = json.loads(raw)
            groups = request.get("filterGroups") or []
            limit = int(request.get("limit", 10))
            offset = int(request.get("after") or 0)
            sorts = request.get("sorts") or []
            tests = [
                [_search_test(f, modified_property) for f in group["filters"]] for group in groups
            ]
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            return error_reply(400, "VALIDATION_ERROR", f"Invalid search request: {exc}")
        with self._lock:
            self.stats.searches.append(request)
            searches = len(self.stats.searches)
        index = self.search_index
        if index.refused_status is not None:
            return error_reply(
                index.refused_status, "NOT_FOUND", f"Search is not available for {object_type}"
            )
        if not 0 < limit <= SEARCH_PAGE_MAX:
            return error_reply(400, "VALIDATION_ERROR", f"limit must be 1 to {SEARCH_PAGE_MAX}")
        if len(groups) > 5 or any(len(group) > 6 for group in tests):
            return error_reply(400, "VALIDATION_ERROR", "Too many filter groups or filters")
        if offset + limit > self.search_cap:
            return error_reply(
                400,
                "VALIDATION_ERROR",
                f"Search results are limited to {self.search_cap} per query; "
                f"after {offset} with limit {limit} exceeds it",
            )
        by_id = [{"propertyName": "hs_object_id", "direction": d} for d in _DIRECTIONS]
        if sorts not in ([], *([s] for s in by_id)):
            return error_reply(400, "VALIDATION_ERROR", "The emulator sorts by hs_object_id only")
        now_ms = self.clock.time_ms()
        lag_ms = int(self.search_lag_seconds * 1000)
        matches = []
        for id_ in _id_slice(self._sorted_objects(type_id), groups):
            if index.empty or id_ in index.missing:
                continue
            modified = self.account.objects[type_id].get(id_)
            if modified is not None and now_ms - modified < lag_ms:
                modified = self.account.previously_modified.get((type_id, id_))
            if modified is None:
                continue
            values = {"hs_object_id": id_, modified_property: modified}
            if not tests or any(all(test(values) for test in group) for group in tests):
                matches.append(id_)
        if sorts and sorts[0]["direction"] == "DESCENDING" and not index.ignores_sort:
            matches.reverse()
        page = matches[offset : offset + limit]
        body: dict[str, Any] = {
            "total": len(matches),
            "results": [
                {"id": str(i), "properties": {"hs_object_id": str(i)}, "archived": False}
                for i in page
            ],
        }
        if offset + limit < len(matches):
            body["paging"] = {"next": {"after": str(offset + limit)}}
        answer = to_json(body)
        with self._lock:
            repeat = index.repeats_every and searches % index.repeats_every == 0
            if repeat and self._last_search is not None:
                answer = self._last_search
            self._last_search = answer
        return Reply(200, body=answer)

    def _search_rate_limited(self) -> Reply | None:
        """Search's own limit: `search_per_second` in any second, with no headers."""
        refused = per_second(
            self._lock,
            self._search_window,
            self.search_per_second,
            self.clock.monotonic(),
            self.rate_limit.arrival_grace,
        )
        if refused is None:
            return None
        refused["requestId"] = uuid.uuid4().hex
        return Reply(429, body=to_json(refused))
