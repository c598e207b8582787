"""The SDK's standard tap tests, run against the emulator, and what they cannot check."""

from __future__ import annotations

from collections import Counter

from singer_sdk.testing import SuiteConfig, get_tap_test_class

from tap_hubspot_associations.emulator import Emulator
from tap_hubspot_associations.tap import TapHubSpotAssociations
from tests.conftest import TOKEN, config_for, seeded_account, truth_of

ACCOUNT, PAIRS = seeded_account(
    {("contacts", "companies"): 60, ("deals", "0-1"): 30, ("p4242_cars", "contacts"): 20}
)
EMULATOR = Emulator(ACCOUNT, tokens={TOKEN: None}, page_size=4)
EMULATOR.start()
CONFIG = config_for(EMULATOR, PAIRS, batch_size=25)

TestTapHubSpotAssociations = get_tap_test_class(
    tap_class=TapHubSpotAssociations,
    config=CONFIG,
    suite_config=SuiteConfig(max_records_limit=None),
)


def test_primary_keys_are_unique_and_output_is_exact(run_tap) -> None:
    """The SDK's primary-key test cannot see duplicates; this one can."""
    run = run_tap(CONFIG)
    assert run.returncode == 0, run.stderr
    keys = Counter(
        (
            r["from_object_type"],
            r["to_object_type"],
            r["from_id"],
            r["to_id"],
            r["category"],
            r["type_id"],
        )
        for r in run.records()
    )
    assert keys, "the run emitted no records"
    assert max(keys.values()) == 1
    assert run.record_set() == truth_of(ACCOUNT, PAIRS)


def test_stream_names_follow_the_configured_types() -> None:
    tap = TapHubSpotAssociations(config=CONFIG, parse_env_config=False)
    assert sorted(tap.streams) == [
        "contacts_to_companies",
        "deals_to_0_1",
        "p4242_cars_to_contacts",
    ]
