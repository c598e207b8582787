"""A HubSpot emulator with known ground truth, for testing and demonstrating the tap.

It is a development tool, not part of the shipped tap: the wheel holds only
`tap_hubspot_associations`. It imports nothing from the tap, so that it stays an
independent reference of how HubSpot behaves. Run `python -m hubspot_emulator` to serve
a demo account.
"""

from __future__ import annotations

from hubspot_emulator.account import (
    SEEDED_AT_MS,
    STANDARD_TYPES,
    Account,
    AssociationType,
    Target,
    TruthRecord,
    demo_account,
)
from hubspot_emulator.clock import Clock
from hubspot_emulator.dialect import Dialect
from hubspot_emulator.faults import Faults, RateLimit, SearchIndex
from hubspot_emulator.server import MAX_INPUTS, SEARCH_CAP, Emulator, Exchange, Stats

__all__ = [
    "MAX_INPUTS",
    "SEARCH_CAP",
    "SEEDED_AT_MS",
    "STANDARD_TYPES",
    "Account",
    "AssociationType",
    "Clock",
    "Dialect",
    "Emulator",
    "Exchange",
    "Faults",
    "RateLimit",
    "SearchIndex",
    "Stats",
    "Target",
    "TruthRecord",
    "demo_account",
]
