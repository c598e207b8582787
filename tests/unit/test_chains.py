"""Ids from several chains at once: the id space cut into ranges, split as chains finish.

In process: the bookkeeping of one chain (its safe point, its split), and `RangedIds`
against a small fake of list and search (`tests.fakes.FakeHubSpot`); end to end in
tests/e2e/test_chains.py.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
from collections import deque
from collections.abc import Iterator
from typing import Any, cast
from urllib.parse import parse_qs

import pytest

from tap_hubspot_associations.errors import HubSpotError
from tap_hubspot_associations.queries import Listing, last_modified_property
from tap_hubspot_associations.ranges import Chain
from tests.fakes import FakeHubSpot, Untrustworthy, ranged, settled, uneven_ids

# RangedIds against a fake of list and search ------------------------------------------


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_id_exactly_once_from_several_chains(seed: int) -> None:
    ids = uneven_ids(seed)
    fake = FakeHubSpot(ids, seed=seed)
    read = list(ranged(fake).read_from(0, {}))
    assert sorted(read) == sorted(map(str, ids))
    assert len(read) == len(set(read))
    assert fake.listed > 0
    assert any(s.get("after") for s in fake.searches), "no range was split"


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_no_chain_is_cut_twice_at_once(seed: int) -> None:
    """Searches for a cut of the same range at once find the same cut: all but one
    would be wasted, at 5 searches a second."""
    fake = FakeHubSpot(uneven_ids(seed), seed=seed)
    list(ranged(fake, search_chains=4).read_from(0, {}))
    cuts = [
        (json.dumps(s["filterGroups"], sort_keys=True), s.get("after"))
        for s in fake.searches
        if s["sorts"][0]["direction"] == "DESCENDING" and s["limit"] > 1
    ]
    assert cuts, "no range was split"
    assert len(cuts) == len(set(cuts)), "the same cut was searched for twice"


def test_a_cut_recounts_a_range_whose_count_was_stale() -> None:
    """A chain counting 1,200 ids left where 600 are (its count from before an earlier
    cut): the first cut lands at its position and is of no use; the next one must not
    search for the same cut again."""
    ids = list(range(10**11 + 1, 10**11 + 601))
    fake = FakeHubSpot(ids)
    source = ranged(fake)
    chain = Chain(10**11, ids[-1], remaining=1200)
    chain.busy = True
    source._chains, source._waiting = [chain], deque()  # running alone, nothing waits
    assert not isinstance(source._next_chain(), Chain)
    assert chain.remaining == 600, "recounted by the cut's search"
    cut = source._next_chain()
    assert isinstance(cut, Chain) and cut.low == ids[399]
    descending = [s for s in fake.searches if s["sorts"][0]["direction"] == "DESCENDING"]
    assert [s["after"] for s in descending] == ["400", "0"]


class Shuffled(FakeHubSpot):
    """Lists ids out of order: the list chain cannot stand for a range of ids then."""

    def listing_answer(self, path: str, answer: dict[str, Any]) -> dict[str, Any]:
        answer["results"].reverse()
        return answer


class ShuffledLater(FakeHubSpot):
    """Lists its first page in order and the rest out of order."""

    def listing_answer(self, path: str, answer: dict[str, Any]) -> dict[str, Any]:
        if "after=" in path:
            answer["results"].reverse()
        return answer


def test_a_listing_out_of_order_from_its_first_page_leaves_the_ids_to_search(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ids = uneven_ids(8)
    fake = Shuffled(ids)
    with caplog.at_level(logging.WARNING):
        read = list(ranged(fake).read_from(0, {}))
    assert sorted(read) == sorted(map(str, ids))
    assert len(read) == len(set(read))
    assert fake.listed == 1, "one page listed, then search alone"
    assert caplog.messages == [
        "associations[0]: HubSpot listed contacts out of id order; reading them by search alone"
    ]


def test_a_listing_out_of_order_after_its_first_page_stops_the_pass() -> None:
    with pytest.raises(HubSpotError, match="out of ascending order"):
        list(ranged(ShuffledLater(list(range(1000, 3000)))).read_from(0, {}))


class Hostile(FakeHubSpot):
    """Answers one kind of request wrongly, as `kind` names it."""

    def __init__(self, ids: list[int], kind: str) -> None:
        super().__init__(ids)
        self.kind = kind

    def search_answer(self, body: dict[str, Any], answer: dict[str, Any]) -> dict[str, Any]:
        descending = body["sorts"][0]["direction"] == "DESCENDING"
        first, cut = body["limit"] == 1, descending and body["limit"] > 1
        page = not descending
        wrong_id = {"bad first id": first, "bad cut id": cut, "bad page id": page}
        if wrong_id.get(self.kind) and answer["results"]:
            answer["results"][0] = {"id": "12x"}
        if self.kind == "page paging" and page:
            answer["paging"] = {"next": {"after": {"offset": 1}}}
        if self.kind == "page paging not an object" and page:
            answer["paging"] = {"next": "7"}
        if self.kind == "result without id" and page:
            answer["results"][0] = {"properties": {}}
        if self.kind == "result not an object" and page:
            answer["results"][0] = "7"
        return answer

    def listing_answer(self, path: str, answer: dict[str, Any]) -> dict[str, Any]:
        if self.kind == "bad listed id":
            answer["results"][0] = {"id": "12x"}
        if self.kind == "listing cursor repeats":
            answer["paging"] = {"next": {"after": "7"}}
        if self.kind == "listing overlaps" and "after=" in path:
            answer["results"][0] = {"id": str(self.ids[int(parse_qs(path)["after"][0]) - 1])}
        return answer


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("bad first id", "^searching contacts returned '12x', not a record id$"),
        ("bad cut id", "^searching contacts returned '12x', not a record id$"),
        ("bad page id", "^searching contacts returned '12x', not a record id$"),
        ("bad listed id", "^listing contacts returned '12x', not a record id$"),
        ("page paging", r"^searching contacts returned malformed paging: \{'next': "),
        ("page paging not an object", "^searching contacts returned malformed paging: "),
        ("result without id", "^searching contacts returned '', not a record id$"),
        ("result not an object", "^searching contacts returned '', not a record id$"),
        (
            "listing cursor repeats",
            "^associations\\[0\\]: HubSpot's paging of contacts returned a cursor it had "
            "returned before",
        ),
        ("listing overlaps", "^associations\\[0\\]: listing contacts returned ids out of"),
    ],
)
def test_answers_hubspot_never_gives_are_named(kind: str, message: str) -> None:
    with pytest.raises(HubSpotError, match=message):
        list(ranged(Hostile(list(range(10**11, 10**11 + 3000)), kind)).read_from(0, {}))


# Search as a claim: what it answers is checked, listing is the authority ------------


UNTRUSTED = [
    ("empty index", "search found no contacts, listing did"),
    ("ignored sort", "sorted descending, answered ids out of that order"),
    # The answer repeated lands on whichever search came next, as threads ran: it fails
    # that search's order, range, limit or count, or (a count's answer standing in for
    # a page) leaves the pages short of the first count.
    (
        "repeated page",
        "answered ids out of that order or outside|for a limit of|page before|its pages gave",
    ),
    ("beyond its limit", "results for a limit of"),
    ("short of its total", "where the page before left"),
    ("count without ids", "searching contacts counted"),
    ("no count", "searching contacts gave no count"),
    ("refused 400", "HubSpot refused the search (400)"),
    ("refused 403", "HubSpot refused the search (403)"),
    ("refused 404", "HubSpot refused the search (404)"),
]


@pytest.mark.parametrize(("kind", "reason"), UNTRUSTED)
def test_a_full_pass_lists_every_id_when_search_cannot_be_trusted(
    kind: str, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    ids = uneven_ids(4)
    fake = Untrustworthy(ids, kind)
    with caplog.at_level(logging.WARNING):
        read = list(ranged(fake).read_from(0, {}))
    assert set(read) == set(map(str, ids))
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1, warnings
    assert warnings[0].startswith(
        "associations[0]: reading contacts by listing alone, without search: "
    )
    assert any(why in warnings[0] for why in reason.split("|")), warnings[0]
    assert fake.listed >= len(ids) // 100, "the listing went on to the end"


@pytest.mark.parametrize(("kind", "reason"), UNTRUSTED)
def test_an_incremental_pass_stops_when_search_cannot_be_trusted(kind: str, reason: str) -> None:
    ids = uneven_ids(4)
    if kind == "empty index":
        reason = "search found no contacts, listing did"
    source = ranged(Untrustworthy(ids, kind), window=(1_000, 2_000))
    with pytest.raises(HubSpotError, match=r"^associations\[0\]: searching contacts for") as err:
        list(source.read_from(0, {}))
    assert any(why in str(err.value) for why in reason.split("|")), err.value


class ShortAndEmptyPage(Untrustworthy):
    """Search short of its own count, and a listing with an empty page, that says more
    follow, far above the listing's first range: met only once search is distrusted."""

    def listing_answer(self, path: str, answer: dict[str, Any]) -> dict[str, Any]:
        if "after=2000" in path:
            answer["results"] = []
        return answer


def test_a_listing_that_stands_in_for_search_follows_an_empty_page() -> None:
    """It went back to search, which nothing read any more: the ids listed after the
    empty page were lost, and the pass ended as if complete."""
    ids = list(range(10**11, 10**11 + 4000))
    read = set(ranged(ShortAndEmptyPage(ids, "short of its total")).read_from(0, {}))
    listed = ids[:2000] + ids[2100:]  # the empty page's ids are archived, as listed
    assert read >= set(map(str, listed))


def test_ids_listed_above_the_top_search_knows_are_read() -> None:
    """Search's index lags: the newest records are listed, not yet searchable."""
    ids = list(range(10**11, 10**11 + 300))
    fake = Untrustworthy(ids, "lag", hidden=frozenset(ids[-40:]))
    read = list(ranged(fake).read_from(0, {}))
    assert sorted(read, key=int) == [str(i) for i in ids]


def test_search_missing_ids_the_listing_found_is_not_trusted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An index missing records in the listing's range (partly rebuilt): the listing's
    count proves it, and the rest of the type is listed too."""
    ids = list(range(10**11, 10**11 + 6000))
    fake = Untrustworthy(ids, "partial", hidden=frozenset(ids[10:6000:50]))
    with caplog.at_level(logging.WARNING):
        read = list(ranged(fake).read_from(0, {}))
    assert set(read) == set(map(str, ids))
    assert len(caplog.records) == 1
    assert "where listing found" in caplog.records[0].getMessage()


def test_a_range_search_ended_is_saved_until_the_counts_are_checked() -> None:
    """Search may end a range short (a page without paging): until the pass's counts
    agree, the bookmark keeps it, so a pass stopped before then asks again."""
    source = ranged(FakeHubSpot([]))
    ended = Chain(100, 900)
    ended.took([150, 300], None)
    ended.consumed.extend([(0, 150), (1, 300)])
    ended.fetched = True
    running = Chain(900, 2000)
    source._chains = [ended, running]
    assert source.resume_at(2) == {"ranges": [["300", "900"], ["900", "2000"]]}
    source._checked = True
    assert source.resume_at(2) == {"ranges": [["900", "2000"]]}


def test_a_resumed_pass_to_be_activated_reads_what_search_misses_in_its_ranges() -> None:
    ids = list(range(10**11, 10**11 + 3000))
    hidden = frozenset(ids[1000:1100])
    saved = {"ranges": [[str(ids[899]), str(ids[1999])]]}
    read = list(
        ranged(Untrustworthy(ids, "partial", hidden=hidden), verify=True).read_from(0, saved)
    )
    assert sorted(read) == [str(i) for i in ids[900:2000]], "its ranges, each id once"


def test_a_pass_to_be_activated_reads_what_search_misses_above_the_listings_range(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An index missing records near the top, where the listing's sample does not
    reach and search's counts agree with themselves."""
    ids = list(range(10**11, 10**11 + 6000))
    hidden = frozenset(ids[-300::3])
    fake = Untrustworthy(ids, "partial at the top", hidden=hidden)
    with caplog.at_level(logging.WARNING):
        read = list(ranged(fake, verify=True).read_from(0, {}))
    assert sorted(read) == sorted(map(str, ids)) and len(read) == len(set(read))
    assert [r.getMessage() for r in caplog.records] == [
        "associations[0]: search did not give 100 contacts the listing found; they are "
        "read too, and search's gaps are HubSpot's to explain"
    ]


def test_a_pass_to_be_activated_with_a_healthy_search_reads_each_id_once() -> None:
    ids = uneven_ids(6)
    fake = FakeHubSpot(ids)
    read = list(ranged(fake, verify=True).read_from(0, {}))
    assert sorted(read) == sorted(map(str, ids)) and len(read) == len(set(read))
    assert fake.listed >= len(ids) // 100, "listed to the last page"


def test_a_healthy_search_is_checked_against_the_listing_and_trusted() -> None:
    ids = uneven_ids(5)
    fake = FakeHubSpot(ids)
    read = list(ranged(fake).read_from(0, {}))
    assert sorted(read) == sorted(map(str, ids)) and len(read) == len(set(read))
    counts = [s for s in fake.searches if s["limit"] == 1]
    assert len(counts) == 2, "the first search, and the count of the listing's range"
    listed_range = counts[1]["filterGroups"][0]["filters"]
    assert [f["operator"] for f in listed_range] == ["LTE"]
    assert fake.listed < len(ids) // 100, "search did most of the work"


class NumericCursors(FakeHubSpot):
    """Lists with cursors sent as numbers, as some answers do."""

    def listing_answer(self, path: str, answer: dict[str, Any]) -> dict[str, Any]:
        if "paging" in answer:
            answer["paging"]["next"]["after"] = int(answer["paging"]["next"]["after"])
        return answer


class EmptyPages(FakeHubSpot):
    """Lists an empty page between full ones, as a listing may when records are
    archived under it."""

    def listing_answer(self, path: str, answer: dict[str, Any]) -> dict[str, Any]:
        if "after=500" in path:
            answer["results"] = []
            answer["paging"] = {"next": {"after": "600"}}
        return answer


def test_an_empty_listing_page_ends_the_listing_and_search_reads_the_rest() -> None:
    ids = list(range(10**11, 10**11 + 3000))
    read = list(ranged(EmptyPages(ids)).read_from(0, {}))
    assert sorted(read, key=int) == [str(i) for i in ids]
    assert len(read) == len(set(read))


class EmptyLatePages(FakeHubSpot):
    """Lists empty pages with a cursor near the top of the id space, where only a pass
    to be activated lists, to check what search gave."""

    def listing_answer(self, path: str, answer: dict[str, Any]) -> dict[str, Any]:
        if any(f"after={after}" in path for after in (2500, 2600)):
            answer["results"] = []
        return answer


def test_empty_listing_pages_while_a_pass_to_be_activated_lists_to_the_end() -> None:
    ids = list(range(10**11, 10**11 + 3000))
    fake = EmptyLatePages(ids)
    read = list(ranged(fake, verify=True).read_from(0, {}))
    assert sorted(set(read), key=int) == [str(i) for i in ids]
    assert fake.listed >= 30, "the listing went on to its last page"


def test_numeric_cursors_and_the_lowest_ids_are_read() -> None:
    ids = list(range(1, 2001))
    read = list(ranged(NumericCursors(ids)).read_from(0, {}))
    assert sorted(read, key=int) == [str(i) for i in ids]


def test_an_incremental_window_searches_every_range_by_modification_time() -> None:
    """(The fake counts every id as modified in the window: which ids are is the
    emulator's part, in the end-to-end tests.)"""
    ids = uneven_ids(3)
    fake = FakeHubSpot(ids)
    source = ranged(fake, window=(1_000, 2_000))
    assert sorted(source.read_from(0, {}), key=int) == [str(i) for i in ids]
    assert fake.listed == 0, "listing cannot filter by time"
    window = [
        {"propertyName": "lastmodifieddate", "operator": "GTE", "value": "1000"},
        {"propertyName": "lastmodifieddate", "operator": "LT", "value": "2000"},
    ]
    assert all(s["filterGroups"][0]["filters"][:2] == window for s in fake.searches)


def test_chains_fetch_at_most_3000_ids_ahead_of_the_reader() -> None:
    """What the reader can still take while HubSpot stops answering is what the chains
    fetched ahead of it: the 3,000 ids waiting and the pages in hand (4 searches of 200,
    one listing of 100). Counting HubSpot's answers instead would count ids the chains
    dropped (a cut's answer of no use, a page fetched past a cut), which none holds."""
    ids = list(range(10**11, 10**11 + 50_000))
    fake = FakeHubSpot(ids)
    reading = iter(ranged(fake).read_from(0, {}))
    taken = consume(reading, 10)
    settled(lambda: fake.answered)
    fake.silent.set()
    beyond = 10 + 3000 + 4 * 200 + 100 + 1
    taker = threading.Thread(
        target=lambda: taken.extend(itertools.islice(reading, beyond - 10)), daemon=True
    )
    taker.start()
    held = settled(lambda: len(taken))
    assert 10 + 3000 <= held < beyond
    fake.silent.clear()
    taker.join(timeout=60)
    cast(Any, reading).close()
    assert len(set(taken)) == beyond and set(taken) <= {str(i) for i in ids}


def test_cuts_are_whole_pages() -> None:
    fake = FakeHubSpot(uneven_ids(2))
    list(ranged(fake).read_from(0, {}))
    cuts = [
        int(s["after"])
        for s in fake.searches
        if s["sorts"][0]["direction"] == "DESCENDING" and s["limit"] > 1
    ]
    assert cuts and all((cut + 200) % 200 == 0 for cut in cuts), cuts


def test_no_ids_reads_nothing() -> None:
    fake = FakeHubSpot([])
    source = ranged(fake)
    assert source.resume_at(0) == {}, "nothing known before reading: no ranges to save"
    assert list(source.read_from(0, {})) == []
    assert source.resume_at(0) == {"ranges": []}


def test_closing_the_reader_cancels_every_request_it_started() -> None:
    fake = FakeHubSpot(uneven_ids(7))
    reading = iter(ranged(fake).read_from(0, {}))
    consume(reading, 500)
    cast(Any, reading).close()
    assert fake.cancels and fake.searches and fake.listed
    assert all(cancel.is_set() for cancel in fake.cancels)


class BadPaging(FakeHubSpot):
    def listing_answer(self, path: str, answer: dict[str, Any]) -> dict[str, Any]:
        answer["paging"] = {"next": {"after": ""}}
        return answer


def test_malformed_paging_of_the_listing_is_named() -> None:
    with pytest.raises(HubSpotError, match=r"^listing contacts returned malformed paging: "):
        list(ranged(BadPaging(list(range(1000, 3000)))).read_from(0, {}))


def consume(ids: Iterator[str], count: int) -> list[str]:
    return [next(ids) for _ in range(count)]


@pytest.mark.parametrize(("seed", "consumed", "completed"), [(4, 900, 700), (5, 2500, 2500)])
def test_a_resume_reads_what_the_completed_prefix_leaves(
    seed: int, consumed: int, completed: int
) -> None:
    """A pass stopped after its reader took `consumed` ids of which it completed the
    first `completed`: the saved ranges hold every other id (and the redone ones only
    below each chain's first gap)."""
    ids = uneven_ids(seed)
    first = ranged(FakeHubSpot(ids, seed=seed))
    reading = iter(first.read_from(0, {}))
    taken = consume(reading, consumed)
    source = first.resume_at(completed)
    cast(Any, reading).close()
    assert source["ranges"]
    second = ranged(FakeHubSpot(ids, seed=seed + 100))
    again = list(second.read_from(completed, json.loads(json.dumps(source))))
    assert set(taken[:completed]) | set(again) == set(map(str, ids))
    assert len(again) == len(set(again))
    # Nothing completed is read again: every chain's completed ids are a prefix of it.
    assert not set(taken[:completed]) & set(again)
    # A second resume of the resumed pass, before it read anything, keeps its ranges.
    third = ranged(FakeHubSpot(ids, seed=seed + 200))
    reading = iter(third.read_from(completed, source))
    assert third.resume_at(completed) == source
    cast(Any, reading).close()


def test_a_resume_mid_pass_of_a_resumed_pass() -> None:
    ids = uneven_ids(6)
    first = ranged(FakeHubSpot(ids))
    reading = iter(first.read_from(0, {}))
    taken = consume(reading, 1200)
    source = first.resume_at(1000)
    cast(Any, reading).close()
    second = ranged(FakeHubSpot(ids, seed=9))
    reading = iter(second.read_from(1000, source))
    taken += consume(reading, 800)
    source = second.resume_at(1500)
    cast(Any, reading).close()
    done = set(taken[:1000]) | set(taken[1200:1700])
    rest = list(ranged(FakeHubSpot(ids, seed=10)).read_from(1500, source))
    assert done | set(rest) == set(map(str, ids))


# The queries of one type -----------------------------------------------------------


@pytest.mark.parametrize(
    ("object_type", "modified"),
    [
        ("contacts", "lastmodifieddate"),
        ("Contacts", "lastmodifieddate"),
        ("contact", "lastmodifieddate"),
        ("0-1", "lastmodifieddate"),
        ("companies", "hs_lastmodifieddate"),
        ("0-2", "hs_lastmodifieddate"),
        ("deals", "hs_lastmodifieddate"),
        ("2-123456", "hs_lastmodifieddate"),
    ],
)
def test_contacts_keep_their_modification_time_apart(object_type: str, modified: str) -> None:
    """docs/incremental.md: `lastmodifieddate` for contacts (as HubSpot's paths name
    them: plural, singular or `0-1`), `hs_lastmodifieddate` for every other type."""
    assert last_modified_property(object_type) == modified


class CountRefused(FakeHubSpot):
    """Refuses (403) a count of the listing's range (one result, ascending); every
    other search is answered."""

    def search(
        self, path: str, body: dict[str, Any], *, cancel: threading.Event | None = None
    ) -> dict[str, Any]:
        if body["limit"] == 1 and body["sorts"][0]["direction"] == "ASCENDING":
            raise HubSpotError(f"HubSpot rejected POST {path} (403): no", status=403)
        return super().search(path, body, cancel=cancel)


def test_a_count_search_refuses_makes_the_listing_read_the_rest(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ids = uneven_ids(5)
    fake = CountRefused(ids)
    with caplog.at_level(logging.WARNING):
        read = list(ranged(fake).read_from(0, {}))
    assert set(read) == set(map(str, ids))
    assert [r.getMessage() for r in caplog.records] == [
        "associations[0]: reading contacts by listing alone, without search: HubSpot "
        "refused the search (403): HubSpot rejected POST /crm/objects/2026-03/contacts/"
        "search (403): no"
    ]


class NothingModified(FakeHubSpot):
    """Search finds no record modified in any window; its index holds every one."""

    def search_answer(self, body: dict[str, Any], answer: dict[str, Any]) -> dict[str, Any]:
        filters = body["filterGroups"][0]["filters"] if body["filterGroups"] else []
        if any(f["propertyName"] == "lastmodifieddate" for f in filters):
            return {"total": 0, "results": []}
        return answer


def test_an_incremental_window_nothing_was_modified_in_reads_nothing() -> None:
    """Search's index holds the type, so its empty window is believed: nothing is
    read, and listing is not asked."""
    fake = NothingModified(list(range(10**11, 10**11 + 500)))
    assert list(ranged(fake, window=(1_000, 2_000)).read_from(0, {})) == []
    assert fake.listed == 0
    assert [s["filterGroups"] for s in fake.searches][-1] == [], "the index was asked"


class CountsOneMore(FakeHubSpot):
    """Search counts one id more than its pages give (a record in its count, not its
    pages): each count's `total` is one too many."""

    def search_answer(self, body: dict[str, Any], answer: dict[str, Any]) -> dict[str, Any]:
        if body["limit"] == 1:
            answer["total"] += 1
        return answer


def test_search_whose_pages_fall_one_short_of_its_count_is_not_trusted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Once every chain is done, the ids read up to the top search gave at the start
    must reach its count then (counted again: no fewer now)."""
    ids = list(range(10**11 + 1, 10**11 + 1001))
    with caplog.at_level(logging.WARNING):
        read = list(ranged(CountsOneMore(ids)).read_from(0, {}))
    assert set(read) == set(map(str, ids))
    assert [r.getMessage() for r in caplog.records] == [
        "associations[0]: reading contacts by listing alone, without search: search "
        f"counted 1001 contacts up to id {ids[-1]} but its pages gave 1000"
    ]


def test_a_resumed_pass_whose_search_is_refused_lists_its_ranges() -> None:
    """A resumed pass has no listing of its own: once search is refused, one from the
    start reads the type (ids outside the saved ranges again: none lost)."""
    ids = list(range(10**11, 10**11 + 3000))
    saved = {"ranges": [[str(ids[899]), str(ids[1999])]]}
    fake = Untrustworthy(ids, "refused 403")
    read = set(ranged(fake).read_from(0, saved))
    assert read >= {str(i) for i in ids[900:2000]}
    assert read <= set(map(str, ids))
    assert fake.listed >= 30, "listed to the last page"


@pytest.mark.parametrize("verify", [False, True], ids=["search distrusted", "to be activated"])
def test_ids_listed_past_the_listings_range_are_read_when_the_listing_goes_on(
    verify: bool,
) -> None:
    """A list page crosses the end of the listing's range: the ids past it were left to
    the chain above. When the listing goes on to its last page (search distrusted, or a
    pass to be activated checking search), from the page after that one, those ids are
    its own again."""
    ids = list(range(10**11, 10**11 + 300))
    source = ranged(FakeHubSpot(ids), verify=verify)
    listing = Listing(Chain(-1, ids[149]))
    source._listing, source._chains = listing, [listing.chain]
    source._run_listing()  # pages of 100: the second one crosses the range's end
    assert listing.cursor is not None and not listing.exhausted
    if not verify:
        source._distrust = "search failed a check"
    try:
        source._complete()
    finally:
        if source._spool is not None:
            source._spool.close()  # the pass's own, closed by its reader otherwise
    source._out.finish()
    assert sorted(id_ for _, id_ in source._out) == ids
