"""The pure part of finding ids: one chain's bookkeeping, saved ranges, and the checks
every search answer must pass. No thread, no request, no clock."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tap_hubspot_associations.errors import MalformedAnswer
from tap_hubspot_associations.ranges import (
    END,
    Chain,
    Untrusted,
    checked_page,
    count_shortfall,
    cut_size,
    listing_shortfall,
    saved_ranges,
    total_shortfall,
)

# One chain's bookkeeping --------------------------------------------------------------


def test_the_safe_point_is_the_highest_id_with_every_lower_one_completed() -> None:
    chain = Chain(100, 200)
    chain.took([110, 120, 130, 140], None)
    # The reader consumed them at positions 3, 5, 8 and 9 of its merged order.
    chain.consumed.extend([(3, 110), (5, 120), (8, 130), (9, 140)])
    chain.settle(5)  # positions 0..4 completed: 110 only
    assert chain.safe == 110 and not chain.done
    chain.settle(9)  # 0..8: 120 and 130 as well, not 140
    assert chain.safe == 130
    chain.settle(9)
    assert chain.safe == 130 and chain.settled == 3
    chain.settle(100)
    assert chain.safe == 140 and not chain.done, "the range above 140 is not fetched yet"
    chain.fetched = True
    assert chain.done


def test_a_chain_with_nothing_completed_resumes_from_its_start() -> None:
    chain = Chain(100, 200)
    chain.took([150], None)
    chain.consumed.append((7, 150))
    chain.settle(7)
    assert chain.safe == 100 and chain.settled == 0


def test_a_split_gives_the_ids_above_a_point_to_a_new_chain() -> None:
    chain = Chain(0, 1000, remaining=900)
    chain.took([10, 20, 200], None)
    assert chain.remaining == 897
    chain.took([300, 400], 250)
    assert chain.remaining == 248, "a search's total beats the count"
    upper = chain.split(700, 100)  # a search found 100 ids above 700
    assert (chain.position, chain.high, chain.remaining) == (400, 700, 148)
    assert (upper.low, upper.position, upper.safe, upper.high) == (700, 700, 700, 1000)
    assert upper.remaining == 100 and upper.handed == 0


def test_saved_ranges_are_read_strictly() -> None:
    chains = saved_ranges({"ranges": [["-1", "5"], ["5", "12345678901234567890"]]})
    assert chains is not None
    assert [(c.low, c.high) for c in chains] == [(-1, 5), (5, 12345678901234567890)]
    assert saved_ranges({"ranges": []}) == []
    for bad in (
        {},
        {"ranges": "x"},
        {"ranges": [[1, 5]]},
        {"ranges": [["5", "5"]]},
        {"ranges": [["7", "5"]]},
        {"ranges": [["1", "2", "3"]]},
        {"ranges": [["1e3", "5000"]]},
        {"page_start": 5, "page_cursor": "abc"},
    ):
        assert saved_ranges(bad) is None, bad


# Search answers are claims ----------------------------------------------------------


def query(limit: int, direction: str = "ASCENDING") -> dict[str, Any]:
    return {"limit": limit, "sorts": [{"propertyName": "hs_object_id", "direction": direction}]}


def answer(*ids: int) -> dict[str, Any]:
    return {"results": [{"id": str(i)} for i in ids]}


def test_a_page_in_order_within_its_range_and_limit_is_taken() -> None:
    assert checked_page(answer(11, 12, 20), query(3), 10, 20, "contacts") == [11, 12, 20]
    assert checked_page(answer(20, 12), query(2, "DESCENDING"), 10, 20, "contacts") == [20, 12]
    assert checked_page(answer(), query(200), -1, END, "contacts") == []
    assert checked_page(answer(0, END), query(2), -1, END, "contacts") == [0, END]


@pytest.mark.parametrize(
    ("ids", "limit", "direction", "reason"),
    [
        ((11, 12, 13), 2, "ASCENDING", "answered 3 results for a limit of 2"),
        ((12, 11), 2, "ASCENDING", "for ids in (10, 20], sorted ascending, answered ids out"),
        ((11, 12), 2, "DESCENDING", "sorted descending, answered ids out of that order"),
        ((11, 11), 2, "ASCENDING", "out of that order"),
        ((10, 11), 2, "ASCENDING", "out of that order or outside"),
        ((11, 21), 2, "ASCENDING", "out of that order or outside"),
    ],
    ids=[
        "beyond its limit",
        "misordered",
        "ignored sort",
        "repeated id",
        "at its start",
        "past its end",
    ],
)
def test_a_page_that_breaks_what_was_asked_is_not_trusted(
    ids: tuple[int, ...], limit: int, direction: str, reason: str
) -> None:
    with pytest.raises(Untrusted, match=re.escape(reason)):
        checked_page(answer(*ids), query(limit, direction), 10, 20, "contacts")


def test_a_page_whose_ids_are_not_ids_is_malformed_not_untrusted() -> None:
    with pytest.raises(
        MalformedAnswer, match=r"^searching contacts returned '1x', not a record id$"
    ):
        checked_page({"results": [{"id": "1x"}]}, query(1), -1, END, "contacts")


def test_ranges_in_words() -> None:
    cases = {(-1, END): "every id", (5, END): "ids above 5", (-1, 9): "ids up to 9"}
    for (after, high), words in cases.items():
        with pytest.raises(Untrusted, match=words):
            checked_page(answer(7, 6), query(2), after, high, "contacts")


# What proves a pass complete -------------------------------------------------------------


def test_search_holding_fewer_ids_than_listing_found_is_not_trusted() -> None:
    assert listing_shortfall(100, 100, 5000, "contacts") is None
    assert listing_shortfall(100, 103, 5000, "contacts") is None, "archived, still indexed"
    assert listing_shortfall(100, 99, 5000, "contacts") == (
        "search holds 99 contacts up to id 5000 where listing found 100"
    )
    assert listing_shortfall(100, None, 5000, "contacts") is not None, "no count, no proof"


def test_pages_short_of_search_counts_beyond_drift_are_not_trusted() -> None:
    assert count_shortfall(100, 100, None, 9, "deals") is None
    assert count_shortfall(90, 100, 90, 9, "deals") is None, "10 archived meanwhile"
    assert count_shortfall(97, 97, 100, 9, "deals") is None, "3 created or restored"
    assert count_shortfall(89, 100, 89, 9, "deals") == (
        "search counted 90 deals up to id 9 but its pages gave 89"
    ), "at most 1%, or 10, of the count may fall while a pass runs"
    assert count_shortfall(0, 5000, 0, 9, "deals") is not None, "an index gone empty"
    assert count_shortfall(99, 100, None, 9, "deals") is not None


def test_a_page_counting_less_than_the_last_one_left_is_not_trusted() -> None:
    assert total_shortfall(1000, 990, 5, 99, "deals") is None
    assert total_shortfall(1000, 989, 5, 99, "deals") == (
        "searching deals for ids in (5, 99] counted 989, where the page before left 1000"
    )
    assert total_shortfall(20, 10, 5, 99, "deals") is None, "drift: at least 10"
    assert total_shortfall(3000, 0, 5, 99, "deals") is not None, "an index gone empty"


def test_cuts_are_whole_pages_and_take_more_of_the_listing() -> None:
    assert cut_size(400, listing=False) == 0, "not more than two pages"
    assert cut_size(401, listing=False) == 200
    assert cut_size(1000, listing=False) == 400
    assert cut_size(1000, listing=True) == 400, "the listing keeps its sample, 500"
    assert cut_size(600, listing=True) == 0, "not a whole page to give"
    assert cut_size(3000, listing=True) == 2400
    assert cut_size(100_000, listing=False) == 5000, "at most MAX_SPLIT"
