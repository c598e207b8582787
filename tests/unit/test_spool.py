"""Ids enumerated once a run for every pair of the type: kept on disk by chain, read
back in ascending order, with bookmarks in the enumeration's ranges."""

from __future__ import annotations

import json
import random
from typing import Any

from tap_hubspot_associations.ranges import END
from tap_hubspot_associations.spool import BLOCK_IDS, IdSpool, SpooledIds
from tests.fakes import FakeHubSpot, Untrustworthy, ranged, uneven_ids


def filled(spool: IdSpool, chains: dict[int, list[int]], seed: int = 0) -> IdSpool:
    """`spool` filled as chains fill it: pages of each chain's ids, chains interleaved."""
    pages = {
        low: [ids[i : i + 200] for i in range(0, len(ids), 200)] for low, ids in chains.items()
    }
    rng = random.Random(seed)
    while pages:
        low = rng.choice(sorted(pages))
        spool.add(low, pages[low].pop(0))
        if not pages[low]:
            del pages[low]
    spool.finish()
    return spool


def test_ids_come_back_ascending_whatever_order_chains_wrote_them() -> None:
    chains = {
        -1: list(range(0, 3 * BLOCK_IDS)),
        5 * BLOCK_IDS: list(range(5 * BLOCK_IDS + 1, 6 * BLOCK_IDS, 3)),
        3 * BLOCK_IDS - 1: list(range(3 * BLOCK_IDS, 5 * BLOCK_IDS, 7)),
    }
    with IdSpool() as spool:
        filled(spool, chains)
        assert list(spool) == sorted(i for ids in chains.values() for i in ids)
        assert list(spool) == list(spool), "read as often as pairs need"


def test_a_spooled_pass_resumes_in_ranges() -> None:
    ids = sorted(random.Random(3).sample(range(10**11, 10**11 + 10**6), 5000))
    with IdSpool() as spool:
        filled(spool, {-1: ids})
        first = SpooledIds(setting="associations[1]", spool=spool, fingerprint="ranges:contacts")
        assert first.resume_at(0) == {"ranges": [["-1", str(END)]]}, "nothing read yet"
        reading = first.read_from(0, {})
        taken = [next(reading) for _ in range(1200)]
        assert taken == [str(i) for i in ids[:1200]]
        saved = json.loads(json.dumps(first.resume_at(1000)))
        assert saved == {"ranges": [[str(ids[999]), str(END)]]}
        second = SpooledIds(setting="associations[1]", spool=spool, fingerprint="ranges:contacts")
        assert list(second.read_from(1000, saved)) == [str(i) for i in ids[1000:]]


def test_a_spooled_pass_reads_only_the_saved_ranges_of_an_interrupted_one() -> None:
    ids = list(range(100, 1100))
    with IdSpool() as spool:
        filled(spool, {-1: ids[:500], 599: ids[500:]})
        source = SpooledIds(setting="associations[1]", spool=spool, fingerprint="ranges:contacts")
        saved = {"ranges": [["199", "300"], ["899", str(END)]]}
        read = list(source.read_from(40, saved))
        assert read == [str(i) for i in [*range(200, 301), *range(900, 1100)]]
        assert source.resume_at(40 + 101) == {"ranges": [["899", str(END)]]}


def test_an_enumeration_fills_the_spool_with_every_id_once() -> None:
    ids = uneven_ids(2)
    with IdSpool() as spool:
        read = list(ranged(FakeHubSpot(ids), spool=spool).read_from(0, {}))
        assert spool.complete
        assert list(spool) == sorted(ids) == sorted(map(int, read))


def test_an_enumeration_that_is_not_the_whole_type_is_not_shared() -> None:
    ids = uneven_ids(3)
    with IdSpool() as distrusted:
        list(ranged(Untrustworthy(ids, "ignored sort"), spool=distrusted).read_from(0, {}))
        assert not distrusted.complete, "the listing handed out ids search gave too"
    with IdSpool() as resumed:
        saved = {"ranges": [[str(ids[100]), str(END)]]}
        list(ranged(FakeHubSpot(ids), spool=resumed).read_from(0, saved))
        assert not resumed.complete, "it holds the saved ranges only"
    with IdSpool() as stopped:
        reading: Any = ranged(FakeHubSpot(ids), spool=stopped).read_from(0, {})
        next(reading)
        reading.close()
        assert not stopped.complete
