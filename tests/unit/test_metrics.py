"""What the client counts and tells: HubSpot's clock, read off `Date` headers."""

from __future__ import annotations

import pytest

from tap_hubspot_associations.metrics import HubSpotClock

# Epoch seconds from GNU date (`date -u -d ... +%s`), not from the code under test.
NEW_YEAR_2026 = 1_767_225_600


def test_hubspots_time_runs_on_from_its_date_header_by_the_local_clock() -> None:
    local = [5_000.0]
    clock = HubSpotClock(local=lambda: local[0])
    assert clock.now_ms() is None, "no Date seen yet"
    clock.saw("Thu, 01 Jan 2026 00:00:00 GMT")
    assert clock.now_ms() == NEW_YEAR_2026 * 1000
    local[0] += 2.5
    assert clock.now_ms() == NEW_YEAR_2026 * 1000 + 2500


@pytest.mark.parametrize(
    "date",
    [
        "Fri, 31 Dec 9999 23:59:59 -2359",  # year 10000 in UTC: no ISO time shows it
        "Thu, 01 Jan 1960 00:00:00 GMT",
        "Thu, 01 Jan 2026 00:00:00 -0000",  # no zone known
        "yesterday",
        None,
        1_767_225_600,
    ],
)
def test_a_date_that_is_no_time_of_hubspots_is_ignored(date: object) -> None:
    clock = HubSpotClock(local=lambda: 5_000.0)
    clock.saw("Thu, 01 Jan 2026 00:00:00 GMT")
    clock.saw(date)
    assert clock.now_ms() == NEW_YEAR_2026 * 1000
