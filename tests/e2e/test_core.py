"""The SDK's standard tap tests, run against the emulator, and what they cannot check."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from singer_sdk.testing import SuiteConfig, get_tap_test_class
from singer_sdk.testing.runners import TapTestRunner

from hubspot_emulator import Emulator
from tap_hubspot_associations.tap import TapHubSpotAssociations
from tests.helpers import FAST_RATE, TOKEN, seeded_account, truth_of

ACCOUNT, PAIRS = seeded_account(
    {("contacts", "companies"): 60, ("deals", "0-1"): 30, ("p4242_cars", "contacts"): 20}
)
SUITE = SuiteConfig(max_records_limit=None)


def core_config(url: str) -> dict[str, Any]:
    """The config of this module's runs, reading from the emulator at `url`."""
    return {
        "access_token": TOKEN,
        "api_url": url,
        "max_requests_per_10s": FAST_RATE,
        "batch_size": 25,
        "associations": [
            {"from": f, "to": t, "ids": [str(i) for i in ids]} for (f, t), ids in PAIRS.items()
        ],
    }


# The SDK's factory builds its tap when the module is collected, to name the streams its
# tests are parametrized over: that needs the config, not a server. The emulator is
# started only by the class's own runner fixture, for the class alone (its rate window
# shared with no other test), and stopped after it.
_SdkTests = get_tap_test_class(
    tap_class=TapHubSpotAssociations,
    config=core_config("http://127.0.0.1:9"),
    suite_config=SUITE,
)


class TestTapHubSpotAssociations(_SdkTests):  # type: ignore[misc, valid-type]
    @pytest.fixture(scope="class")
    @classmethod
    def runner(cls) -> Iterator[TapTestRunner]:
        with Emulator(ACCOUNT, tokens={TOKEN: None}, page_size=4) as emulator:
            runner = TapTestRunner(
                tap_class=TapHubSpotAssociations,
                config=core_config(emulator.url),
                suite_config=SUITE,
                parse_env_config=True,
            )
            runner.sync_all()
            yield runner


@pytest.fixture
def CONFIG(start_emulator) -> dict[str, Any]:
    """This test's own emulator, serving the module's account."""
    return core_config(start_emulator(ACCOUNT, page_size=4).url)


def test_primary_keys_are_unique_and_output_is_exact(run_tap, CONFIG) -> None:
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


def test_stream_names_follow_the_configured_types(CONFIG) -> None:
    tap = TapHubSpotAssociations(config=CONFIG, parse_env_config=False)
    assert sorted(tap.streams) == [
        "association_labels",
        "contacts_to_companies",
        "deals_to_0_1",
        "p4242_cars_to_contacts",
    ]


def test_deselected_fields_and_stream_maps_still_apply(run_tap, tmp_path, CONFIG) -> None:
    """The fast record path must step aside when the user changes records."""
    config = {
        **CONFIG,
        "associations": CONFIG["associations"][:1],
        "stream_maps": {"contacts_to_companies": {"pair": "from_id + '>' + to_id"}},
    }
    catalog = TapHubSpotAssociations(config=config, parse_env_config=False).catalog_dict
    for entry in catalog["streams"]:
        for item in entry["metadata"]:
            if item["breadcrumb"] == ["properties", "label"]:
                item["metadata"]["selected"] = False
    catalog_path = tmp_path / "catalog.json"
    catalog_path.write_text(json.dumps(catalog))
    run = run_tap(config, args=["--catalog", str(catalog_path)])
    assert run.returncode == 0, run.stderr
    records = run.records("contacts_to_companies")
    assert records
    assert all("label" not in r and r["pair"] == f"{r['from_id']}>{r['to_id']}" for r in records)
    (from_type, to_type), ids = next(iter(PAIRS.items()))
    expected = {(r[1], r[3], r[4], r[5]) for r in ACCOUNT.truth(from_type, to_type, ids)}
    assert {(r["from_id"], r["to_id"], r["category"], r["type_id"]) for r in records} == expected


@pytest.mark.parametrize("versioned", [True, False])
def test_records_written_a_batch_at_a_time_are_what_the_sdks_path_writes(
    run_tap, CONFIG, versioned
) -> None:
    """Flattening (a no-op on these flat records) sends records through the SDK's own
    per-record path; without it they are written a batch at a time: the same messages."""
    config = {
        **CONFIG,
        "associations": CONFIG["associations"][:1],
        "emit_activate_version_messages": versioned,
    }
    fast = run_tap(config)
    sdk = run_tap({**config, "flattening_enabled": True, "flattening_max_depth": 1})
    assert fast.returncode == sdk.returncode == 0, (fast.stderr, sdk.stderr)

    def shapes(run: Any) -> set[tuple[Any, ...]]:
        return {
            (m["stream"], tuple(sorted(m)), type(m.get("version")), *sorted(m["record"].items()))
            for m in run.messages
            if m["type"] == "RECORD"
        }

    assert shapes(fast) == shapes(sdk)
    assert fast.record_set() == truth_of(ACCOUNT, dict(list(PAIRS.items())[:1]))
    records = [m for m in fast.messages if m["type"] == "RECORD"]
    assert all(("version" in m) == versioned for m in records)


def test_the_record_count_metric_counts_every_record(run_tap, CONFIG) -> None:
    run = run_tap(CONFIG)
    assert run.returncode == 0, run.stderr
    counted: Counter[str] = Counter()
    for line in run.stderr.splitlines():
        if '"metric":"record_count"' in line:
            point = json.loads(line.split("METRIC: ", 1)[1])
            counted[point["tags"]["stream"]] += point["value"]
    emitted = Counter(m["stream"] for m in run.messages if m["type"] == "RECORD")
    assert counted == emitted
    assert sum(emitted.values()) > len(PAIRS) * 10


def test_a_dry_run_writes_one_record_a_stream(run_tap, CONFIG) -> None:
    """`--test records` (the SDK's dry run) stops each stream at its first record."""
    run = run_tap(CONFIG, args=["--test", "records"])
    assert run.returncode == 0, run.stderr
    emitted = Counter(m["stream"] for m in run.messages if m["type"] == "RECORD")
    assert emitted == Counter(
        ["association_labels", "contacts_to_companies", "deals_to_0_1", "p4242_cars_to_contacts"]
    )


def test_records_carry_the_time_they_were_extracted(run_tap, CONFIG) -> None:
    run = run_tap({**CONFIG, "associations": CONFIG["associations"][:1]})
    assert run.returncode == 0, run.stderr
    stamps = [m["time_extracted"] for m in run.messages if m["type"] == "RECORD"]
    assert stamps and all(datetime.fromisoformat(s).tzinfo is not None for s in stamps)


def test_association_labels_of_every_selected_pair(run_tap, CONFIG) -> None:
    run = run_tap(CONFIG)
    assert run.returncode == 0, run.stderr
    labels = run.records("association_labels")
    keys = Counter(
        (r["from_object_type"], r["to_object_type"], r["category"], r["type_id"]) for r in labels
    )
    assert max(keys.values()) == 1
    expected = {
        (from_type, to_type, category, type_id, label)
        for from_type, to_type in PAIRS
        for category, type_id, label in ACCOUNT.labels(from_type, to_type)
    }
    assert {tuple(r.values()) for r in labels} == expected
    assert any(r["label"] is None for r in labels) and any(r["label"] for r in labels)
