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

Listing is the authority, search the accelerator: search is a second index that lags
writes, can be empty or partial, and can answer in an order it was not asked for, so
each answer is checked before it bounds anything (queries.py, ranges.py), and what
proves the chains cover the type is in completeness.py, the base of `RangedIds`. No
range ends at the top search knows of: the list chain's range, and the range of
whichever chain is cut from its top, run to `END`, above every record id.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from tap_hubspot_associations.completeness import Completeness
from tap_hubspot_associations.errors import Cancelled
from tap_hubspot_associations.queries import Listing, Requests
from tap_hubspot_associations.ranges import (
    END,
    SEARCH_PAGE_SIZE,
    Chain,
    cut_size,
    fingerprint_of,
    saved_ranges,
    total_shortfall,
)
from tap_hubspot_associations.spool import IdSpool

SEARCH_CHAINS = 4
"""Search chains at once: at 400 ms a response, 3 keep search's 5/s busy; more wait."""


_WAIT = object()
"""No chain to take yet: a busy one has not said how much it has left."""
WAIT_SECONDS = 0.05


class RangedIds(Completeness):
    """Every live id of an object type, or those modified in [since, until), from
    several chains at once (see the module's docstring)."""

    def __init__(
        self,
        *,
        setting: str,
        object_type: str,
        client: Requests,
        api_version: str,
        window: tuple[int, int] | None = None,
        search_chains: int = SEARCH_CHAINS,
        logger: logging.Logger | None = None,
        spool: IdSpool | None = None,
        when_done: Callable[[], None] | None = None,
        verify: bool = False,
    ) -> None:
        """`window`: (since, until) in epoch ms for an incremental pass; None for every
        id, then the list chain runs too. `spool`: where to keep every id handed out
        for other pairs of the type, when a pass from the start completes. `when_done`:
        called in the reading thread once every id was read. `verify`: a full pass to be
        activated, whose rows missing from it a target would delete: the listing goes
        on to its last page (`_verify_rest`)."""
        super().__init__(
            setting=setting,
            object_type=object_type,
            client=client,
            api_version=api_version,
            window=window,
            logger=logger,
            spool=spool,
            verify=verify,
        )
        self._when_done = when_done
        self._reading: Iterator[str] | None = None
        self._search_chains = search_chains
        self._workers = 0

    def validate(self) -> None:
        return None

    def fingerprint(self) -> str:
        return fingerprint_of(self._object_type, self._window)

    def resume_at(self, position: int) -> dict[str, Any]:
        """Per chain not done, the range from its safe point to its end; nothing once
        search is distrusted (a resumed pass then starts over: ids read twice, none
        lost, as the listing's place cannot be saved). Until the pass's counts are
        checked (`_complete`), a chain whose search said it had no more is not done
        yet: search may have ended it short, and the resumed pass asks again."""
        with self._lock:
            if self._chains is None or self._distrust is not None:
                return {}
            for chain in self._chains:
                chain.settle(position)
            if not self._checked:
                ranges = [[str(c.safe), str(c.high)] for c in self._chains if c.safe < c.high]
                return {"ranges": ranges}
            self._chains = [c for c in self._chains if not c.done or c.busy]
            ranges = [[str(c.safe), str(c.high)] for c in self._chains if not c.done]
        return {"ranges": ranges}

    def start(self) -> None:
        """Start fetching every id now, before any reader asks: a pass later in the run
        takes this enumeration over with `read_from(0, {})`, its first ids waiting."""
        self._reading = self._begin(0, None)

    def close(self) -> None:
        """Stop fetching: the reader is done with these ids, or never took them (an
        enumeration started ahead that no pass took over)."""
        self._out.cancel()

    def read_from(self, position: int, resume: Mapping[str, Any]) -> Iterator[str]:
        """The saved ranges are the bookmark's at once, so that a resumed pass stopped
        before it reads anything keeps them."""
        saved = saved_ranges(resume)
        if self._reading is not None:
            if position != 0 or saved is not None:
                raise RuntimeError("an enumeration started ahead serves a fresh pass only")
            return self._reading
        if saved is not None:
            with self._lock:
                self._chains, self._waiting = list(saved), deque(saved)
        return self._begin(position, saved)

    def _begin(self, position: int, saved: list[Chain] | None) -> Iterator[str]:
        if saved is not None:
            self._resumed = sorted((chain.low, chain.high) for chain in saved)
        threading.Thread(target=self._start, args=(saved,), daemon=True).start()
        return self._read(position, saved)

    def _read(self, position: int, saved: list[Chain] | None) -> Iterator[str]:
        try:
            for index, (chain, id_) in enumerate(self._out, start=position):
                with self._lock:
                    chain.consumed.append((index, id_))
                yield str(id_)
            if self._spool is not None:
                if saved is not None:
                    self._spool.spoil()  # it holds the saved ranges only
                self._spool.finish()
            if self._when_done is not None:
                self._when_done()
        finally:
            self._out.cancel()
            if self._owned_spool and self._spool is not None:
                self._spool.close()

    # The fetching threads.

    def _start(self, saved: list[Chain] | None) -> None:
        """Find the ranges (the saved ones, or by the lowest and highest id), then start
        the chains."""
        try:
            listed: Chain | None = None
            if saved is None:
                chains = self._first_ranges()
                if chains and self._window is None:
                    listed = chains[0]
                    listed.busy = True
                    self._listing = Listing(listed)
                with self._lock:
                    self._chains = list(chains)
                    self._waiting = deque(c for c in chains if c is not listed)
            with self._lock:
                self._workers = self._search_chains + (listed is not None)
            if listed is not None:
                threading.Thread(target=self._work, args=(True,), daemon=True).start()
            for _ in range(self._search_chains):
                threading.Thread(target=self._work, args=(False,), daemon=True).start()
        except Cancelled:
            return
        except BaseException as exc:  # handed to the reading thread, which raises it
            self._out.fail(exc)

    def _work(self, lists: bool) -> None:
        """Run the list chain (if `lists`), then chains of search until none is left;
        the last worker to finish checks the pass is complete."""
        stopped = self._out.cancelled
        try:
            if lists:
                self._run_listing()
                self._check_listing()
            while not stopped.is_set():
                chain = self._next_chain()
                if chain is None:
                    break
                if chain is _WAIT:
                    stopped.wait(WAIT_SECONDS)
                    continue
                assert isinstance(chain, Chain)
                self._run_search(chain)
            with self._lock:
                self._workers -= 1
                last = self._workers == 0
            if last:
                self._complete()
                self._out.finish()
        except Cancelled:
            return
        except BaseException as exc:  # handed to the reading thread, which raises it
            self._out.fail(exc)

    def _next_chain(self) -> Chain | object | None:
        """A waiting range, else the top of the busy chain with most left: half of what
        it has left in whole pages, at most `MAX_SPLIT`, and only if that is more than
        two pages. None once search is distrusted.
        `_WAIT` while a busy chain has not said how much it has left.

        One search counted from the top finds the split and is the new chain's first
        page: sorted descending, it skips the top `count` less a page, so it answers
        the lowest page of the top `count` ids.
        """
        with self._lock:
            if self._distrust is not None:
                return None
            if self._waiting:
                chain = self._waiting.pop()
                chain.busy = True
                return chain
            assert self._chains is not None
            busy = [c for c in self._chains if c.busy and not c.fetched]
            known = [c for c in busy if c.remaining is not None and not c.splitting]
            widest = max(known, key=lambda c: c.remaining or 0, default=None)
            listing = self._listing.chain if self._listing is not None else None
            count = 0
            if widest is not None:
                count = cut_size(widest.remaining or 0, listing=widest is listing)
            if widest is None or not count:
                return _WAIT if len(known) < len(busy) else None
            widest.splitting = True
        try:
            return self._split(widest, count)
        finally:
            with self._lock:
                widest.splitting = False

    def _split(self, widest: Chain, count: int) -> Chain | object | None:
        """Search for the cut below the top `count` ids of `widest`; the new chain,
        `_WAIT` when the chain changed meanwhile and the answer is of no use, None when
        search turned out untrustworthy."""
        with self._lock:
            after, high = widest.position, widest.high
        query = self._queries.query(SEARCH_PAGE_SIZE, "DESCENDING", after, high)
        query["after"] = str(count - SEARCH_PAGE_SIZE)
        answer = self._queries.search(query, after, high)
        if answer is None:
            return None
        found, total, _ = answer
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
            if self._distrust is not None:
                return None
            if widest.fetched or not widest.busy or widest.high != high:
                return _WAIT
            if widest.position >= at:
                return _WAIT
            chain = widest.split(at, count)
            chain.busy = True
            assert self._chains is not None
            self._chains.append(chain)
            items = self._took(chain, page, None)
        self._hand(items)
        return chain

    def _run_search(self, chain: Chain) -> None:
        while not chain.fetched:
            with self._lock:
                after, high = chain.position, chain.high
            answer = self._queries.search(
                self._queries.query(SEARCH_PAGE_SIZE, "ASCENDING", after, high), after, high
            )
            if answer is None:
                self._finish(chain, [], True)
                return
            ids, total, more = answer
            with self._lock:
                # A cut meanwhile leaves the answer's count about the range as it was.
                unchanged = chain.position == after and chain.high == high
                left = chain.remaining if unchanged else None
            if total is not None and left is not None:
                reason = total_shortfall(left, total, after, high, self._object_type)
                if reason is not None:
                    self._distrust_search(reason)
                    self._finish(chain, [], True)
                    return
            counted = total if unchanged else None
            self._hand(self._finish(chain, ids, not more or not ids, counted))

    def _first_ranges(self) -> list[Chain]:
        """One range up to `END` (the top search knows of is not confirmed), with how
        many ids search holds (one search for the highest id, whose `total` counts
        them); chains split it as they start. A full pass lists it even when search
        finds nothing; an incremental pass with nothing in its window reads nothing."""
        query = self._queries.query(1, "DESCENDING", None, None)
        answer = self._queries.search(query, -1, END)
        ids: list[int] = []
        if answer is not None:
            ids, total, _ = answer
            if ids and total is None:
                self._distrust_search(f"searching {self._object_type} gave no count")
            elif ids:
                self._top, self._counted = ids[0], total
            elif total:
                self._distrust_search(
                    f"searching {self._object_type} counted {total} but answered none"
                )
            else:
                self._counted = 0
        if self._window is not None:
            if not ids:
                self._queries.check_index_not_empty()
                return []
            return [Chain(-1, END, remaining=total)]
        remaining = None if answer is None else self._counted
        return [Chain(-1, END, remaining=remaining)]
