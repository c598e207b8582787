"""Progress lines and the coverage table at the end of a run, in process, the clock
under the test's control."""

from __future__ import annotations

import logging

from tap_hubspot_associations.batch_reader import Coverage
from tap_hubspot_associations.metrics import RequestStats
from tap_hubspot_associations.progress import ProgressReporter, coverage_table
from tests.fakes import Clock


def test_coverage_table_aligns_names_left_and_counts_right() -> None:
    rows = [
        ("contacts_to_companies", "full", Coverage(1200, 1000, 200, 3, 45678, 0)),
        ("deals_to_contacts", "incremental", Coverage(7, 5, 1, 0, 9, 1)),
    ]
    assert coverage_table(rows) == [
        "stream                 pass           ids   with  without  pages  records  failed",
        "contacts_to_companies  full         1,200  1,000      200      3   45,678       0",
        "deals_to_contacts      incremental      7      5        1      0        9       1",
    ]


def reporter(total: int | None, clock: Clock, stats: RequestStats) -> ProgressReporter:
    return ProgressReporter(
        stream="contacts_to_companies",
        total_ids=total,
        start_position=0,
        stats=stats,
        interval=10,
        logger=logging.getLogger("test"),
        clock=clock,
    )


def test_a_pass_whose_ids_hubspot_lists_counts_the_ids_read() -> None:
    """Ids found as the pass goes have no list position: the line counts the ids read
    (it said "0 ids, 106 records")."""
    clock, stats = Clock(), RequestStats(requests=100)
    progress = reporter(None, clock, stats)
    clock.now += 20
    stats.requests += 50
    line = progress.line(0, Coverage(ids_requested=1200, records=3402))
    assert line == (
        "1,200 ids read (HubSpot lists them as the pass goes), 3,402 records written, "
        "2.5 requests/s"
    )


def test_a_listed_pass_says_how_far_and_how_long_is_left() -> None:
    clock, stats = Clock(), RequestStats()
    progress = reporter(1200, clock, stats)
    clock.now += 60
    stats.requests, stats.rate_limited, stats.retries = 30, 2, 3
    line = progress.line(600, Coverage(ids_requested=600, records=1500))
    assert line == (
        "600 of 1,200 ids read (50%), 1,500 records written, 0.5 requests/s, "
        "2 answers 429 and 3 retries so far, about 1m00s left"
    )
