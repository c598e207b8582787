"""Every enumeration of a run: once per type and window, spooled for the pairs that
share it, and started ahead of the pass that will read it."""

from __future__ import annotations

import logging
from functools import partial
from typing import Any, cast

from tap_hubspot_associations.chains import RangedIds
from tap_hubspot_associations.client import HubSpotClient
from tap_hubspot_associations.enumerations import Enumerations, Key
from tap_hubspot_associations.spool import SpooledIds
from tests.fakes import FakeHubSpot, settled, uneven_ids

WINDOW = (1_000, 2_000)
LOGGER = logging.getLogger("test")


def planned(fake: FakeHubSpot, upcoming: dict[str, Key | None]) -> Enumerations:
    """Pairs a, b, c... in the run's order, each to enumerate as `upcoming` says."""
    enumerations = Enumerations(
        partial(RangedIds, client=cast(HubSpotClient, fake), api_version="2026-03")
    )
    for name, key in upcoming.items():
        enumerations.plan(
            name=name,
            setting=f"associations[{name}]",
            object_type="contacts",
            upcoming=lambda key=key: key,  # type: ignore[misc]
            logger=LOGGER,
        )
    return enumerations


def test_pairs_of_one_type_share_one_enumeration_and_the_next_starts_ahead() -> None:
    ids = uneven_ids(1)
    fake = FakeHubSpot(ids)
    every: Key = ("contacts", None)
    windowed: Key = ("contacts", WINDOW)
    enumerations = planned(fake, {"a": every, "b": every, "c": windowed})
    try:
        first = enumerations.ids("a", "contacts", None, "ranges:contacts", resumes=False)
        assert isinstance(first, RangedIds)
        ahead = enumerations._ahead.get("c")
        assert ahead is not None, "c's enumeration started with a's pass, b's is a's"
        assert list(enumerations._ahead) == ["c"] and ahead[0] == windowed
        assert sorted(map(int, first.read_from(0, {}))) == ids
        second = enumerations.ids("b", "contacts", None, "ranges:contacts", resumes=False)
        assert isinstance(second, SpooledIds), "b reads what a's enumeration found"
        assert sorted(map(int, second.read_from(0, {}))) == ids
        third = enumerations.ids(
            "c", "contacts", WINDOW, "ranges:search:contacts:1000:2000", resumes=False
        )
        assert third is ahead[1], "c takes over the enumeration started for it"
        assert sorted(map(int, third.read_from(0, {}))) == ids
    finally:
        enumerations.close()


def test_a_pair_that_resumes_is_not_enumerated_ahead() -> None:
    fake = FakeHubSpot(uneven_ids(2))
    enumerations = planned(fake, {"a": ("contacts", None), "b": None})
    try:
        enumerations.ids("a", "contacts", None, "ranges:contacts", resumes=False)
        assert enumerations._ahead == {}
        resumed = enumerations.ids("b", "contacts", None, "ranges:contacts", resumes=False)
        assert isinstance(resumed, RangedIds), "its own enumeration, from its bookmark"
    finally:
        enumerations.close()


def test_an_enumeration_no_pass_took_over_is_cancelled_at_the_end() -> None:
    fake = FakeHubSpot(uneven_ids(3))
    enumerations = planned(fake, {"a": ("contacts", WINDOW), "b": ("contacts", None)})
    enumerations.ids("a", "contacts", WINDOW, "w", resumes=False)
    _, ahead = enumerations._ahead["b"]
    enumerations.close()
    answered = settled(lambda: fake.answered)
    assert settled(lambda: fake.answered) == answered, "no request after the end"
    assert cast(Any, ahead)._out.cancelled.is_set()


def test_a_resumed_pass_does_not_take_over_an_enumeration_started_for_another() -> None:
    """p resumes saved ranges of contacts; q, later, starts fresh on contacts too: the
    enumeration started ahead is q's, never p's (p would number its ids from 0)."""
    ids = uneven_ids(4)
    fake = FakeHubSpot(ids)
    every: Key = ("contacts", None)
    enumerations = planned(fake, {"o": ("contacts", WINDOW), "p": None, "q": every})
    try:
        enumerations.ids("o", "contacts", WINDOW, "w", resumes=False)
        assert list(enumerations._ahead) == ["q"]
        resumed = enumerations.ids("p", "contacts", None, "ranges:contacts", resumes=True)
        saved = {"ranges": [[str(ids[100]), "99999999999999999999"]]}
        assert sorted(map(int, resumed.read_from(500, saved))) == ids[101:]
        fresh = enumerations.ids("q", "contacts", None, "ranges:contacts", resumes=False)
        assert sorted(map(int, fresh.read_from(0, {}))) == ids
    finally:
        enumerations.close()
