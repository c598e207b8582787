"""The pure part of finding ids: ranges of the id space, the checks every answer of
listing and search must pass, and the rules that say a pass is complete.

No thread, clock or request here: `chains.RangedIds` runs the chains and asks HubSpot,
this module decides what its answers mean. Its design is in `chains`' docstring and in
docs/ids.md.
"""

from __future__ import annotations

import itertools
import re
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tap_hubspot_associations.errors import MalformedAnswer
from tap_hubspot_associations.values import record_id

LIST_PAGE_SIZE = 100
SEARCH_PAGE_SIZE = 200
LIST_SAMPLE = 500
"""Ids the listing keeps of its range when cut: its sample of the type."""
MAX_SPLIT = 5000
"""Ids a split gives a new chain at most (search reaches the 10,000th result only)."""
BOUND = re.compile(r"-?[0-9]{1,20}")
"""A range bound in the bookmark: an id, or -1 below an id 0."""
END = 10**20 - 1
"""The end of the topmost range: above every record id (20 digits at most)."""


class Untrusted(Exception):
    """A search answer that cannot be trusted; the message says why."""


@dataclass
class Chain:
    """One range of ids, (low, high], read in id order by one chain of requests.

    `position` is the highest id fetched so far (`low` before any); `high` only shrinks,
    when another chain takes the upper part. `handed` counts ids handed to the reader,
    `settled` those the reader has completed; `consumed` holds (index in the reader's
    order, id) of ids consumed but not yet known to be completed.
    """

    low: int
    high: int
    position: int = 0
    safe: int = 0
    handed: int = 0
    settled: int = 0
    fetched: bool = False
    """Every id of the range is handed over."""
    busy: bool = False
    splitting: bool = False
    """A search for a cut of this chain is in flight: no other starts meanwhile (it
    would count from the same top and find the same cut)."""
    remaining: int | None = None
    """Ids left above `position`, as the last search's `total` said (None: unknown)."""
    consumed: deque[tuple[int, int]] = field(default_factory=deque)

    def __post_init__(self) -> None:
        self.position = self.safe = self.low

    def settle(self, position: int) -> None:
        """The reader has completed its first `position` ids: move the safe point."""
        while self.consumed and self.consumed[0][0] < position:
            self.safe = self.consumed.popleft()[1]
            self.settled += 1

    @property
    def done(self) -> bool:
        """Every id of the chain is fetched and completed: nothing to resume."""
        return self.safe >= self.high or (self.fetched and self.settled == self.handed)

    def split(self, at: int, count: int) -> Chain:
        """Give the `count` ids above `at` (a search found them) to a new chain."""
        upper = Chain(at, self.high, remaining=count)
        self.high = at
        if self.remaining is not None:
            self.remaining = max(self.remaining - count, 0)
        return upper

    def took(self, ids: list[int], total: int | None) -> None:
        """`ids` (ascending, within the range) were fetched; `total`: how many matched
        the search that fetched them, when it said."""
        self.handed += len(ids)
        self.position = ids[-1]
        if total is not None:
            self.remaining = max(total - len(ids), 0)
        elif self.remaining is not None:
            self.remaining = max(self.remaining - len(ids), 0)


def cut_size(remaining: int, *, listing: bool) -> int:
    """How many of a chain's `remaining` ids a new search chain takes from its top: half
    of a search chain's; all but `LIST_SAMPLE` of the listing's (a list page holds half
    a search page's ids and costs a request all the same: the listing is there to check
    search on a sample, `listing_shortfall`); in whole search pages, at most
    `MAX_SPLIT`; 0 when a cut would not leave two pages (a cut costs a search)."""
    if remaining <= 2 * SEARCH_PAGE_SIZE:
        return 0
    share = min(remaining - LIST_SAMPLE if listing else remaining // 2, MAX_SPLIT)
    return max(share - share % SEARCH_PAGE_SIZE, 0)


def listing_shortfall(listed: int, held: int | None, high: int, object_type: str) -> str | None:
    """Why search cannot be trusted, if listing found more ids up to `high` than search
    holds there (`held`; None: search gave no count). Search may hold more: records
    archived since they were indexed."""
    if held is not None and held >= listed:
        return None
    return f"search holds {held} {object_type} up to id {high} where listing found {listed}"


def drift(count: int) -> int:
    """How far a count may fall while a pass runs, by records archived meanwhile (or,
    in an incremental window, modified out of it): 1%, at least 10. A count that falls
    further says more of the index than of the records."""
    return max(10, count // 100)


def count_shortfall(
    read: int, counted_then: int, counted_now: int | None, top: int, object_type: str
) -> str | None:
    """Why search cannot be trusted, if its pages gave fewer ids up to `top` than it
    counted there when the pass started, less what it counts now within `drift`."""
    fallen = 0 if counted_now is None else max(counted_then - counted_now, 0)
    expected = counted_then - min(fallen, drift(counted_then))
    if read >= expected:
        return None
    return f"search counted {expected} {object_type} up to id {top} but its pages gave {read}"


def total_shortfall(left: int, total: int, after: int, high: int, object_type: str) -> str | None:
    """Why search cannot be trusted, if a page's `total` (the ids it counts in the
    range asked) fell below what the page before left, beyond `drift`: a page, or an
    index, that went missing in between."""
    if total >= left - drift(left):
        return None
    return (
        f"searching {object_type} for {ids_in(after, high)} counted {total}, where the "
        f"page before left {left}"
    )


def fingerprint_of(object_type: str, window: tuple[int, int] | None) -> str:
    """What saved progress must match to resume the ids of `object_type` (all of them,
    or those modified in `window`), whichever source reads them."""
    if window is None:
        return f"ranges:{object_type}"
    since, until = window
    return f"ranges:search:{object_type}:{since}:{until}"


def saved_ranges(resume: Mapping[str, Any]) -> list[Chain] | None:
    """The chains a bookmark's `source` holds; None when it holds none this version
    wrote (the pass then starts over: ids read twice, none lost)."""
    ranges = resume.get("ranges")
    if not isinstance(ranges, list):
        return None
    chains = []
    for entry in ranges:
        if not (
            isinstance(entry, list)
            and len(entry) == 2
            and all(isinstance(b, str) and BOUND.fullmatch(b) for b in entry)
            and int(entry[0]) < int(entry[1])
        ):
            return None
        chains.append(Chain(int(entry[0]), int(entry[1])))
    return chains


def in_order(previous: int, ids: list[int]) -> bool:
    """Whether a listed page goes on in strictly ascending order after `previous`."""
    return not any(b <= a for a, b in itertools.pairwise([previous, *ids]))


def checked_page(
    body: Mapping[str, Any], query: Mapping[str, Any], after: int, high: int, object_type: str
) -> list[int]:
    """The ids of a search answer, once checked against what was asked: at most the
    limit, in the order asked, strictly inside (after, high]; `Untrusted` otherwise."""
    ids = checked_ids(body["results"], "searching", object_type)
    limit = query["limit"]
    if len(ids) > limit:
        raise Untrusted(
            f"searching {object_type} answered {len(ids)} results for a limit of {limit}"
        )
    ordered = ids if query["sorts"][0]["direction"] == "ASCENDING" else ids[::-1]
    if any(b <= a for a, b in itertools.pairwise([after, *ordered, high + 1])):
        raise Untrusted(
            f"searching {object_type} for {ids_in(after, high)}, sorted "
            f"{query['sorts'][0]['direction'].lower()}, answered ids out of that order "
            "or outside"
        )
    return ids


def ids_in(after: int, high: int) -> str:
    """A range (after, high] in words."""
    if high >= END:
        return "every id" if after < 0 else f"ids above {after}"
    return f"ids up to {high}" if after < 0 else f"ids in ({after}, {high}]"


def search_total(body: Mapping[str, Any]) -> int | None:
    """How many ids matched a search, as its `total` says (None if it says nothing)."""
    total = body.get("total")
    if isinstance(total, int) and not isinstance(total, bool) and total >= 0:
        return total
    return None


def checked_ids(results: object, source: str, object_type: str) -> list[int]:
    """The ids of a page's results; any that is not a record id is HubSpot's error, named."""
    ids = []
    for result in results if isinstance(results, list) else []:
        sent = result.get("id") if isinstance(result, dict) else None
        try:
            ids.append(int(record_id(sent)))
        except ValueError:
            shown = "" if sent is None else str(sent)[:40]
            raise MalformedAnswer(
                f"{source} {object_type} returned {shown!r}, not a record id"
            ) from None
    return ids


def next_cursor(body: Mapping[str, Any], source: str, object_type: str) -> str | None:
    """`paging.next.after` of a page: a string (or a number) while pages follow, absent
    on the last page; any other shape is HubSpot's error, named."""
    paging = body.get("paging")
    following = paging.get("next") if isinstance(paging, Mapping) else paging
    if following is None:
        return None
    after = following.get("after") if isinstance(following, Mapping) else None
    if isinstance(after, int) and not isinstance(after, bool):
        after = str(after)
    if not isinstance(after, str) or not after:
        raise MalformedAnswer(
            f"{source} {object_type} returned malformed paging: {str(paging)[:100]}"
        )
    return after
