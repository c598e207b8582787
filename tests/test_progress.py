"""The coverage table at the end of a run, in process."""

from __future__ import annotations

from tap_hubspot_associations.batch_reader import Coverage
from tap_hubspot_associations.progress import coverage_table


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
