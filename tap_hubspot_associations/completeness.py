"""What proves an enumeration of one type complete, and what reads the rest when the
proof fails: the base of `RangedIds` (chains.py, which adds the threads that search).

Listing is the authority, search the accelerator. The list chain covers its range from
the start (`_run_listing`); once every chain is done (`_complete`) the counts must agree:
what the listing found in its range against what search holds there (`_check_listing`),
and the ids read up to search's first top against its counts (`_short_count`). A check
that fails distrusts search (`_distrust_search`): in a full pass the listing reads the
rest of the type alone; an incremental pass, which can only search, ends. A pass to be
activated lists to its last page and reads every id search did not give
(`_verify_rest`). Ids go to the reader through `_took` and `_hand`, which also count
them for these checks and keep them for the spool.
"""

from __future__ import annotations

import bisect
import logging
import threading
from collections import deque

from tap_hubspot_associations.errors import Cancelled, HubSpotError
from tap_hubspot_associations.handover import HandOver
from tap_hubspot_associations.queries import Listing, Requests, TypeQueries
from tap_hubspot_associations.ranges import (
    END,
    Chain,
    count_shortfall,
    in_order,
    listing_shortfall,
)
from tap_hubspot_associations.spool import IdSpool

FETCH_AHEAD = 3000
"""Ids fetched ahead of the batches that will read them."""


class Completeness:
    """The state every chain of one enumeration shares, and the proof that they cover
    the type (see the module's docstring)."""

    def __init__(
        self,
        *,
        setting: str,
        object_type: str,
        client: Requests,
        api_version: str,
        window: tuple[int, int] | None,
        logger: logging.Logger | None,
        spool: IdSpool | None,
        verify: bool,
    ) -> None:
        self._verify = verify and window is None
        self._owned_spool = spool is None and self._verify
        if self._owned_spool:
            spool = IdSpool()
        self._spool = spool
        self._out: HandOver[tuple[Chain, int]] = HandOver(FETCH_AHEAD)
        self.setting = setting
        self._object_type = object_type
        self._window = window
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
        """Ranges no chain reads yet."""
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

    def _hand(self, items: list[tuple[Chain, int]]) -> None:
        """Hand ids over to the reader, waiting for room; `Cancelled` once it stopped."""
        if items and not self._out.put(items):
            raise Cancelled

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
