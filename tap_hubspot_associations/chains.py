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

Listing is the authority, search the accelerator. Search is a second index that lags
writes, can be empty or partial, and can answer in an order it was not asked for, so
its answers are claims, checked before they bound anything:

- no range ends at the top search knows of: the list chain's range, and the range of
  whichever chain is cut from its top, run to `END`, above every record id, so ids
  listed (or searched) above that top are read, never dropped;
- every search page must hold at most its limit, in the order asked, strictly inside
  the range asked; a page that repeats one before fails that test;
- once the chains are done, two counts: what the list chain listed in its range against
  what search holds there, and the ids read up to the top search gave at the start
  against the lesser of its counts then and now (ids archived meanwhile leave both);
- search refused (400, 403, 404), or empty while listing is not.

In a full pass, a search that fails any of these is not used again for the type: one
WARNING says why, and the list chain reads the rest of the type alone, from where it is
(ids search gave before may be read twice, none is missed). An incremental pass can
only search, so there the same failures end the run with one ERROR.
"""

from __future__ import annotations

import bisect
import logging
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from tap_hubspot_associations.errors import Cancelled, HubSpotError
from tap_hubspot_associations.handover import HandOver
from tap_hubspot_associations.queries import Listing, Requests, TypeQueries
from tap_hubspot_associations.ranges import (
    END,
    SEARCH_PAGE_SIZE,
    Chain,
    count_shortfall,
    cut_size,
    fingerprint_of,
    in_order,
    listing_shortfall,
    saved_ranges,
    total_shortfall,
)
from tap_hubspot_associations.spool import IdSpool

SEARCH_CHAINS = 4
"""Search chains at once: at 400 ms a response, 3 keep search's 5/s busy; more wait."""
FETCH_AHEAD = 3000
"""Ids fetched ahead of the batches that will read them."""


_WAIT = object()
"""No chain to take yet: a busy one has not said how much it has left."""
WAIT_SECONDS = 0.05


class RangedIds:
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
        self._verify = verify and window is None
        self._owned_spool = spool is None and self._verify
        if self._owned_spool:
            spool = IdSpool()
        self._spool = spool
        self._when_done = when_done
        self._out: HandOver[tuple[Chain, int]] = HandOver(FETCH_AHEAD)
        self._reading: Iterator[str] | None = None
        self.setting = setting
        self._object_type = object_type
        self._client = client
        self._window = window
        self._search_chains = search_chains
        self._logger = logger or logging.getLogger(__name__)
        self._queries = TypeQueries(
            setting=setting,
            object_type=object_type,
            client=client,
            api_version=api_version,
            window=window,
            cancel=self._out.cancelled,
            distrust=self._distrust_search,
        )
        self._lock = threading.Lock()
        self._chains: list[Chain] | None = None
        """Every chain not yet done; None until the ranges are known."""
        self._waiting: deque[Chain] = deque()
        self._workers = 0
        self._listing: Listing | None = None
        self._distrust: str | None = None
        """Why search is not used any more in this pass (None: it is)."""
        self._top: int | None = None
        """The highest id search knew of when the pass started (None: not known)."""
        self._counted: int | None = None
        """How many ids search counted up to `_top` when the pass started."""
        self._read_to_top = 0
        """Ids handed over up to `_top`, from every chain."""
        self._checked = False
        """Every chain is done and the counts agree (`_complete`)."""
        self._resumed: list[tuple[int, int]] | None = None
        """The saved ranges a resumed pass reads (None: a pass from the start)."""

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

    def _hand(self, items: list[tuple[Chain, int]]) -> None:
        """Hand ids over to the reader, waiting for room; `Cancelled` once it stopped."""
        if items and not self._out.put(items):
            raise Cancelled

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

    def _took(self, chain: Chain, ids: list[int], total: int | None) -> list[tuple[Chain, int]]:
        """Hand `ids` over as `chain`'s (under the lock)."""
        if not ids:
            return []
        chain.took(ids, total)
        if self._spool is not None:
            self._spool.add(chain.low, ids)
        if self._top is not None:
            self._read_to_top += sum(1 for id_ in ids if id_ <= self._top)
        return [(chain, id_) for id_ in ids]

    def _finish(
        self, chain: Chain, ids: list[int], complete: bool, total: int | None = None
    ) -> list[tuple[Chain, int]]:
        """Keep the fetched ids within the chain's range (it may have shrunk while they
        were fetched); the chain is complete when any fell outside. Nothing of search's
        is kept once it is distrusted."""
        with self._lock:
            listing = self._listing
            if self._distrust is not None and (listing is None or chain is not listing.chain):
                chain.fetched, chain.busy = True, False
                return []
            kept = [id_ for id_ in ids if id_ <= chain.high]
            if listing is not None and chain is listing.chain:
                listing.beyond = ids[len(kept) :]
            items = self._took(chain, kept, total if len(kept) == len(ids) else None)
            if complete or len(kept) < len(ids) or chain.position >= chain.high:
                chain.fetched, chain.busy = True, False
            return items

    def _run_listing(self) -> None:
        """HubSpot lists ids in ascending order (its `after` cursors are ids): the list
        chain covers its range from the start until an id passes the range's end.

        A first page out of order hands the range to the search chains (nothing of it
        was handed over yet); disorder after that stops the pass, as the ids handed
        over no longer mark a range. An empty page with a cursor hands the rest of the
        range, from the last id listed, to the search chains. Once search is
        distrusted, neither is left to it: disorder stops the pass, an empty page is
        followed.
        """
        listing = self._listing
        assert listing is not None
        chain = listing.chain
        while not chain.fetched:
            ids, cursor = self._queries.list_page(listing)
            if not in_order(listing.previous, ids):
                if chain.handed == 0 and self._distrust is None:
                    self._logger.warning(
                        "%s: HubSpot listed %s out of id order; reading them by search alone",
                        self.setting,
                        self._object_type,
                    )
                    self._leave_to_search(listing, "it listed ids out of order")
                    return
                raise self._disorder()
            if not ids and cursor is not None and self._distrust is None:
                # An empty page that says more follow (records archived under the
                # cursor): the rest of the range is left to search, which reads it by id.
                # (Once search is distrusted, the listing follows the cursor on.)
                self._leave_to_search(listing, "it listed an empty page with more to follow")
                return
            if ids and self._counted == 0:
                self._distrust_search(f"search found no {self._object_type}, listing did")
            listing.cursor, listing.exhausted = cursor, cursor is None
            listing.previous = ids[-1] if ids else listing.previous
            self._hand(self._finish(chain, ids, cursor is None))

    def _in_pass(self, id_: int) -> bool:
        """Whether this pass reads `id_`: any, or for a resumed one, one in its ranges
        (sorted by their lower ends, which never overlap)."""
        if self._resumed is None:
            return True
        index = bisect.bisect_left(self._resumed, (id_,)) - 1
        return index >= 0 and self._resumed[index][0] < id_ <= self._resumed[index][1]

    def _disorder(self) -> HubSpotError:
        return HubSpotError(
            f"{self.setting}: listing {self._object_type} returned ids out of "
            "ascending order: the ranges read beside it would miss or repeat ids"
        )

    def _verify_rest(self) -> None:
        """A full pass to be activated: search's ids are trusted only once the listing,
        from where it stopped to its last page, shows no id search did not give. Any
        such id is read too (one WARNING says how many); the spool then cannot stand
        for the type (its order is broken)."""
        listing, spool = self._listing, self._spool
        assert listing is not None and spool is not None
        chain = listing.chain
        with self._lock:
            listed_to, chain.high, chain.busy = chain.high, END, True
        spool.seal()
        given = iter(spool.ids_after(listed_to))  # up to its range's end, listing's own
        next_given = next(given, None)
        missing = 0
        pages = [listing.beyond] if listing.beyond else []
        listing.beyond = []
        while pages or not listing.exhausted:
            if pages:
                ids = pages.pop()
            else:
                ids, cursor = self._queries.list_page(listing)
                if not in_order(listing.previous, ids):
                    raise self._disorder()
                listing.cursor, listing.exhausted = cursor, cursor is None
                listing.previous = ids[-1] if ids else listing.previous
            unseen = []
            for id_ in ids:
                while next_given is not None and next_given < id_:
                    next_given = next(given, None)
                if next_given != id_ and self._in_pass(id_):
                    unseen.append(id_)
            if unseen:
                spool.spoil()
                missing += len(unseen)
                with self._lock:
                    items = self._took(chain, unseen, None)
                self._hand(items)
        with self._lock:
            chain.fetched, chain.busy = True, False
        if missing:
            self._logger.warning(
                "%s: search did not give %d %s the listing found; they are read too, and "
                "search's gaps are HubSpot's to explain",
                self.setting,
                missing,
                self._object_type,
            )

    def _leave_to_search(self, listing: Listing, why: str) -> None:
        """Hand the list chain's range, from its position, to the search chains."""
        with self._lock:
            listing.abandoned = why
            listing.chain.busy = False
            self._waiting.append(listing.chain)

    def _distrust_search(self, reason: str) -> None:
        """Use search no more in this pass: one WARNING, and once the chains stop, the
        listing reads the rest of the type (`_complete`). In an
        incremental pass, which can only search, the pass ends."""
        if self._window is not None:
            raise HubSpotError(
                f"{self.setting}: searching {self._object_type} for records modified in "
                f"the window cannot be trusted: {reason}; an incremental pass can only "
                "search, so none of it is read (a full pass lists instead)"
            )
        with self._lock:
            if self._distrust is not None:
                return
            self._distrust = reason
            if self._spool is not None:
                self._spool.spoil()  # the listing will hand out ids search gave too
        self._logger.warning(
            "%s: reading %s by listing alone, without search: %s",
            self.setting,
            self._object_type,
            reason,
        )

    def _complete(self) -> None:
        """Every chain is done: check what proves the ids cover the type, and where a
        check fails, list the rest."""
        if self._distrust is None:
            reason = self._short_count()
            if reason is not None:
                self._distrust_search(reason)
        if self._distrust is None:
            listing = self._listing
            if self._verify and listing is None and self._resumed is not None:
                # A resumed pass has no listing of its own: one from the start checks
                # the saved ranges (ids outside them were read before).
                listing = self._listing = Listing(Chain(-1, -1))
            if self._verify and listing is not None and listing.abandoned is None:
                self._verify_rest()
            with self._lock:
                self._checked = True
            return
        listing = self._listing
        if listing is None:  # a resumed pass: its ranges were to be searched
            listing = self._listing = Listing(Chain(-1, END))
        if listing.abandoned is not None:
            raise HubSpotError(
                f"{self.setting}: neither search nor listing of {self._object_type} can be "
                f"trusted (search: {self._distrust}; listing: {listing.abandoned}): ids "
                "would be missed"
            )
        with self._lock:
            chain = listing.chain
            beyond, listing.beyond = listing.beyond, []
            chain.high, chain.busy, chain.fetched = END, True, listing.exhausted
            items = self._took(chain, beyond, None)
        self._hand(items)
        self._run_listing()
        if not listing.exhausted:
            raise HubSpotError(
                f"{self.setting}: listing {self._object_type} ended before its last page "
                f"(search: {self._distrust}): ids would be missed"
            )

    def _short_count(self) -> str | None:
        """Why the ids read up to the top search gave at the start fall short of what
        it counted, if they do: counted again now (one search of one result, its
        `total`), only when the ids read fall short of the first count."""
        if self._top is None or self._counted is None or self._read_to_top >= self._counted:
            return None
        now = self._queries.count(-1, self._top)
        return count_shortfall(self._read_to_top, self._counted, now, self._top, self._object_type)

    def _check_listing(self) -> None:
        """The listing's range is final: does search hold as many ids in it as listing
        found? (One search of one result, its `total`; done while other chains run.)"""
        listing = self._listing
        assert listing is not None
        chain = listing.chain
        if listing.abandoned is not None or chain.high >= END or self._distrust is not None:
            return
        held = self._queries.count(-1, chain.high)
        reason = listing_shortfall(chain.handed, held, chain.high, self._object_type)
        if reason is not None:
            self._distrust_search(reason)

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
