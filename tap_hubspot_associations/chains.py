"""Ids from HubSpot along several chains at once: the id space cut into ranges.

One chain of list cursors runs at one page per response time: with 400 ms responses
about 250 ids/s, a seventh of what the rate budget allows. CRM search can start
anywhere in the id space (`hs_object_id` `GT` a, `LTE` b, sorted ascending), so the id
space is cut into ranges read concurrently, each a chain of searches of 200 ids that
restarts its filter after every page (no query nears search's 10,000-result cap).

A pass starts with one range, up to the highest id, and its count (one search). In a
full pass the list chain reads it from the bottom (listing spends the app's budget, not
search's 5/s); every search chain without a range takes the top of the range with most
ids left: half of them, at most `MAX_SPLIT`, cut where a search counted from the top
finds that many (its answer is the new chain's first page). Ranges are cut by counts of
ids, not widths of id space, so gaps and uneven spreads cost nothing, and chains keep
splitting each other to the end, so no chain is left alone.

Ids come out in no reproducible order, so a position in them means nothing to a later
run. Each chain therefore keeps its safe point: its highest id such that it and every
lower id of the chain are among the ids the batch reader has completed. The bookmark
holds, per chain, the range from its safe point to its end; a resumed pass reads those
ranges again (by search), at least once, never fewer.
"""

from __future__ import annotations

import itertools
import logging
import re
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from tap_hubspot_associations.errors import Cancelled, HubSpotError, MalformedAnswer
from tap_hubspot_associations.ids import last_modified_property, record_id
from tap_hubspot_associations.paths import objects_path, search_path

if TYPE_CHECKING:
    from tap_hubspot_associations.client import HubSpotClient

LIST_PAGE_SIZE = 100
SEARCH_PAGE_SIZE = 200
SEARCH_CHAINS = 4
"""Search chains at once: at 400 ms a response, 3 keep search's 5/s busy; more wait."""
MAX_SPLIT = 5000
"""Ids a split gives a new chain at most (search reaches the 10,000th result only)."""
FETCH_AHEAD = 3000
"""Ids fetched ahead of the batches that will read them."""
BOUND = re.compile(r"-?[0-9]{1,20}")
"""A range bound in the bookmark: an id, or -1 below an id 0."""


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


_END = object()
"""Handed over after the last id."""
_WAIT = object()
"""No chain to take yet: a busy one has not said how much it has left."""
WAIT_SECONDS = 0.05
HandOver = Callable[[list[object]], bool]
"""Hands items to the reading thread; False once reading has stopped."""


class RangedIds:
    """Every live id of an object type, or those modified in [since, until), from
    several chains at once (see the module's docstring)."""

    def __init__(
        self,
        *,
        setting: str,
        object_type: str,
        client: HubSpotClient,
        api_version: str,
        window: tuple[int, int] | None = None,
        search_chains: int = SEARCH_CHAINS,
        logger: logging.Logger | None = None,
    ) -> None:
        """`window`: (since, until) in epoch ms for an incremental pass; None for every
        id, then the list chain runs too."""
        self.setting = setting
        self._object_type = object_type
        self._client = client
        self._list_path = objects_path(api_version, object_type)
        self._search_path = search_path(api_version, object_type)
        self._window = window
        self._search_chains = search_chains
        self._logger = logger or logging.getLogger(__name__)
        self._lock = threading.Lock()
        self._chains: list[Chain] | None = None
        """Every chain not yet done; None until the ranges are known."""
        self._waiting: deque[Chain] = deque()
        self._workers = 0

    def validate(self) -> None:
        return None

    def fingerprint(self) -> str:
        if self._window is None:
            return f"ranges:{self._object_type}"
        since, until = self._window
        return f"ranges:search:{self._object_type}:{since}:{until}"

    def resume_at(self, position: int) -> dict[str, Any]:
        """Per chain not done, the range from its safe point to its end."""
        with self._lock:
            if self._chains is None:
                return {}
            for chain in self._chains:
                chain.settle(position)
            self._chains = [c for c in self._chains if not c.done or c.busy]
            ranges = [[str(c.safe), str(c.high)] for c in self._chains if not c.done]
        return {"ranges": ranges}

    def read_from(self, position: int, resume: Mapping[str, Any]) -> Iterator[str]:
        """The saved ranges are the bookmark's at once, so that a resumed pass stopped
        before it reads anything keeps them."""
        saved = saved_ranges(resume)
        if saved is not None:
            with self._lock:
                self._chains, self._waiting = list(saved), deque(saved)
        return self._read(position, saved)

    def _read(self, position: int, saved: list[Chain] | None) -> Iterator[str]:
        fetched: deque[object] = deque()
        ready = threading.Condition()
        stop = threading.Event()
        starter = threading.Thread(
            target=self._start, args=(saved, fetched, ready, stop), daemon=True
        )
        starter.start()
        try:
            for index in itertools.count(position):
                with ready:
                    ready.wait_for(lambda: bool(fetched))
                    item = fetched.popleft()
                    ready.notify_all()
                if item is _END:
                    return
                if isinstance(item, BaseException):
                    raise item
                assert isinstance(item, tuple)
                chain, id_ = item
                with self._lock:
                    chain.consumed.append((index, id_))
                yield str(id_)
        finally:
            stop.set()
            with ready:
                ready.notify_all()

    # The fetching threads.

    def _start(
        self,
        saved: list[Chain] | None,
        fetched: deque[object],
        ready: threading.Condition,
        stop: threading.Event,
    ) -> None:
        """Find the ranges (the saved ones, or by the lowest and highest id), then start
        the chains."""

        def hand_over(items: list[object]) -> bool:
            with ready:
                for item in items:
                    while len(fetched) >= FETCH_AHEAD and not stop.is_set():
                        ready.wait(0.1)
                    if stop.is_set():
                        return False
                    fetched.append(item)
                    ready.notify_all()
            return True

        try:
            listed: Chain | None = None
            if saved is None:
                chains = self._first_ranges(stop)
                if chains and self._window is None:
                    listed = chains[0]
                    listed.busy = True
                with self._lock:
                    self._chains = list(chains)
                    self._waiting = deque(c for c in chains if c is not listed)
            with self._lock:
                self._workers = self._search_chains + (listed is not None)
            if listed is not None:
                threading.Thread(
                    target=self._work, args=(listed, hand_over, stop), daemon=True
                ).start()
            for _ in range(self._search_chains):
                threading.Thread(
                    target=self._work, args=(None, hand_over, stop), daemon=True
                ).start()
        except Cancelled:
            return
        except BaseException as exc:  # handed to the reading thread, which raises it
            hand_over([exc])

    def _work(
        self,
        listed: Chain | None,
        hand_over: HandOver,
        stop: threading.Event,
    ) -> None:
        """Run the list chain (if given), then chains of search until none is left."""
        try:
            if listed is not None:
                self._run_listing(listed, hand_over, stop)
            while not stop.is_set():
                chain = self._next_chain(hand_over, stop)
                if chain is None:
                    break
                if chain is _WAIT:
                    stop.wait(WAIT_SECONDS)
                    continue
                assert isinstance(chain, Chain)
                self._run_search(chain, hand_over, stop)
        except Cancelled:
            return
        except BaseException as exc:  # handed to the reading thread, which raises it
            hand_over([exc])
            return
        with self._lock:
            self._workers -= 1
            last = self._workers == 0
        if last:
            hand_over([_END])

    def _next_chain(self, hand_over: HandOver, stop: threading.Event) -> Chain | object | None:
        """A waiting range, else the top of the busy chain with most left: half of what
        it has left in whole pages, at most `MAX_SPLIT`, and only if that is more than
        two pages.
        `_WAIT` while a busy chain has not said how much it has left.

        One search counted from the top finds the split and is the new chain's first
        page: sorted descending, it skips the top `count` less a page, so it answers
        the lowest page of the top `count` ids.
        """
        with self._lock:
            if self._waiting:
                chain = self._waiting.pop()
                chain.busy = True
                return chain
            assert self._chains is not None
            busy = [c for c in self._chains if c.busy and not c.fetched]
            known = [c for c in busy if c.remaining is not None and not c.splitting]
            widest = max(known, key=lambda c: c.remaining or 0, default=None)
            if widest is None or (widest.remaining or 0) <= 2 * SEARCH_PAGE_SIZE:
                return _WAIT if len(known) < len(busy) else None
            half = min((widest.remaining or 0) // 2, MAX_SPLIT)
            count = half - half % SEARCH_PAGE_SIZE  # whole pages: no part-filled last page
            widest.splitting = True
        try:
            return self._split(widest, count, hand_over, stop)
        finally:
            with self._lock:
                widest.splitting = False

    def _split(
        self, widest: Chain, count: int, hand_over: HandOver, stop: threading.Event
    ) -> Chain | object:
        """Search for the cut below the top `count` ids of `widest`; the new chain, or
        `_WAIT` when the chain changed meanwhile and the answer is of no use."""
        with self._lock:
            after, high = widest.position, widest.high
        query = self._query(SEARCH_PAGE_SIZE, "DESCENDING", after, high)
        query["after"] = str(count - SEARCH_PAGE_SIZE)
        body = self._client.search(self._search_path, query, cancel=stop)
        found = checked_ids(body["results"], "searching", self._object_type)
        if any(b >= a for a, b in itertools.pairwise([high + 1, *found, after])):
            raise HubSpotError(
                f"searching {self._object_type} returned ids out of order or outside "
                f"({after}, {high}]: ids would be missed"
            )
        total = search_total(body)
        with self._lock:
            if widest.position == after and widest.high == high:
                # The search counted the chain's range as it is now: the chain's own count
                # may be from before an earlier cut, and a cut from a count too high is
                # useless (and would be searched for again).
                if total is not None:
                    widest.remaining = total
                elif not found:
                    widest.remaining = 0
            if not found:  # fewer ids left than thought
                return _WAIT
            page = found[::-1]
            at = page[0] - 1
            if widest.fetched or not widest.busy or widest.high != high:
                return _WAIT
            if widest.position >= at:
                return _WAIT
            chain = widest.split(at, count)
            chain.busy = True
            assert self._chains is not None
            self._chains.append(chain)
            chain.took(page, None)
            items: list[object] = [(chain, id_) for id_ in page]
        if not hand_over(items):
            raise Cancelled
        return chain

    def _finish(
        self, chain: Chain, ids: list[int], complete: bool, total: int | None = None
    ) -> list[object]:
        """Keep the fetched ids within the chain's range (it may have shrunk while they
        were fetched); the chain is complete when any fell outside."""
        with self._lock:
            kept = [id_ for id_ in ids if id_ <= chain.high]
            if kept:
                chain.took(kept, total if len(kept) == len(ids) else None)
            if complete or len(kept) < len(ids) or chain.position >= chain.high:
                chain.fetched, chain.busy = True, False
            return [(chain, id_) for id_ in kept]

    def _run_listing(self, chain: Chain, hand_over: HandOver, stop: threading.Event) -> None:
        """HubSpot lists ids in ascending order (its `after` cursors are ids): the list
        chain covers its range from the start until an id passes the range's end.

        A first page out of order hands the range to the search chains (nothing of it
        was handed over yet); disorder after that stops the pass, as the ids handed
        over no longer mark a range. An empty page with a cursor hands the rest of the
        range, from the last id listed, to the search chains.
        """
        cursor: str | None = None
        seen: set[str] = set()
        previous = chain.low
        while not chain.fetched:
            query = {"limit": LIST_PAGE_SIZE, "properties": "hs_object_id", "archived": "false"}
            if cursor is not None:
                query["after"] = cursor
            body = self._client.get(
                f"{self._list_path}?{urlencode(query)}", list_key="results", cancel=stop
            )
            ids = checked_ids(body["results"], "listing", self._object_type)
            cursor = next_cursor(body, "listing", self._object_type)
            if cursor is not None and cursor in seen:
                raise HubSpotError(
                    f"{self.setting}: HubSpot's paging of {self._object_type} returned a "
                    "cursor it had returned before; the listing would never end"
                )
            if cursor is not None:
                seen.add(cursor)
            if (ids and ids[0] <= previous) or any(b <= a for a, b in itertools.pairwise(ids)):
                if chain.handed == 0:
                    self._logger.warning(
                        "%s: HubSpot listed %s out of id order; reading them by search alone",
                        self.setting,
                        self._object_type,
                    )
                    self._leave_to_search(chain)
                    return
                raise HubSpotError(
                    f"{self.setting}: listing {self._object_type} returned ids out of "
                    "ascending order: the ranges read beside it would miss or repeat ids"
                )
            if not ids and cursor is not None:
                # An empty page that says more follow (records archived under the
                # cursor): the rest of the range is left to search, which reads it by id.
                self._leave_to_search(chain)
                return
            previous = ids[-1] if ids else previous
            if not hand_over(self._finish(chain, ids, cursor is None)):
                raise Cancelled

    def _leave_to_search(self, chain: Chain) -> None:
        """Hand the list chain's range, from its position, to the search chains."""
        with self._lock:
            chain.busy = False
            self._waiting.append(chain)

    def _run_search(self, chain: Chain, hand_over: HandOver, stop: threading.Event) -> None:
        while not chain.fetched:
            with self._lock:
                after, high = chain.position, chain.high
            body = self._client.search(
                self._search_path,
                self._query(SEARCH_PAGE_SIZE, "ASCENDING", after, high),
                cancel=stop,
            )
            ids = checked_ids(body["results"], "searching", self._object_type)
            if any(b <= a for a, b in itertools.pairwise([after, *ids, high + 1])):
                raise HubSpotError(
                    f"searching {self._object_type} returned ids out of order or outside "
                    f"({after}, {high}]: ids would be missed"
                )
            more = next_cursor(body, "searching", self._object_type) is not None
            total = search_total(body)
            if not hand_over(self._finish(chain, ids, not more or not ids, total)):
                raise Cancelled

    def _first_ranges(self, stop: threading.Event) -> list[Chain]:
        """One range up to the highest id, with how many ids it holds (one search);
        chains split it as they start."""
        body = self._client.search(
            self._search_path, self._query(1, "DESCENDING", None, None), cancel=stop
        )
        ids = checked_ids(body["results"], "searching", self._object_type)
        if not ids:
            return []
        return [Chain(-1, ids[0], remaining=search_total(body))]

    def _query(
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
        if after is not None:
            filters.append({"propertyName": "hs_object_id", "operator": "GT", "value": str(after)})
        if high is not None:
            filters.append({"propertyName": "hs_object_id", "operator": "LTE", "value": str(high)})
        return {
            "filterGroups": [{"filters": filters}] if filters else [],
            "sorts": [{"propertyName": "hs_object_id", "direction": direction}],
            "properties": ["hs_object_id"],
            "limit": limit,
        }


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
