"""Pairs without id lists: every id of the `from` type, listed from HubSpot."""

from __future__ import annotations

import json
from pathlib import Path

from hubspot_emulator import STANDARD_TYPES, Account, Faults
from tests.helpers import (
    association_records,
    batch_reads,
    config_for,
    last_state,
    run_and_kill,
    seeded_account,
    tap_command,
    truth_of,
)

LISTED = 1_250


def account_with_objects() -> tuple[Account, list[int]]:
    """Contacts with associations to companies, and as many again without any."""
    account, pairs = seeded_account({("contacts", "companies"): LISTED // 2})
    ids = pairs[("contacts", "companies")]
    lonely = range(10**12, 10**12 + LISTED - len(ids))
    account.add_objects("contacts", lonely)
    return account, [*ids, *lonely]


def discovery_config(emulator, **settings) -> dict:
    config = config_for(emulator, {}, batch_size=200, **settings)
    config["associations"] = [{"from": "contacts", "to": "companies"}]
    return config


def list_requests(emulator, path: str = "/crm/objects/2026-03/contacts") -> int:
    return emulator.stats.requests[path]


def test_every_id_of_the_type_is_listed_and_read(start_emulator, run_tap) -> None:
    account, ids = account_with_objects()
    emulator = start_emulator(account, page_size=4)
    run = run_tap(discovery_config(emulator), emulator=emulator)
    assert run.returncode == 0, run.stderr
    assert run.record_set() == account.truth("contacts", "companies", ids)
    assert list_requests(emulator) > 0
    assert list_requests(emulator, "/crm/objects/2026-03/contacts/search") > 0
    first_reads = [i for b in emulator.stats.batches for i, after in b if after is None]
    assert sorted(first_reads) == sorted(map(str, ids))


def test_legacy_paths_list_through_crm_v3(start_emulator, run_tap) -> None:
    account, ids = account_with_objects()
    emulator = start_emulator(account, page_size=4)
    run = run_tap(discovery_config(emulator, api_version="v4"), emulator=emulator)
    assert run.returncode == 0, run.stderr
    assert run.record_set() == account.truth("contacts", "companies", ids)
    assert list_requests(emulator, "/crm/v3/objects/contacts") > 0
    assert list_requests(emulator, "/crm/v3/objects/contacts/search") > 0


def test_an_interrupted_discovery_resumes_its_listing(start_emulator, tmp_path: Path) -> None:
    account, ids = account_with_objects()
    emulator = start_emulator(account, page_size=4, faults=Faults(latency_seconds=0.02))
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(discovery_config(emulator, max_concurrency=2)))

    def mid_listing(message: dict) -> bool:
        progress = message.get("value", {}).get("bookmarks", {}).get("contacts_to_companies", {})
        return progress.get("progress", {}).get("position", 0) >= 600

    first, killed = run_and_kill(tap_command(config_path), mid_listing)
    assert killed
    state = last_state(first)
    saved = state["bookmarks"]["contacts_to_companies"]["progress"]
    assert saved["source"]["ranges"]
    emulator.wait_idle()
    listed_before = list_requests(emulator)
    read_before = len(emulator.stats.batches)
    state_path = tmp_path / "state.json"
    state_path.write_text(json.dumps(state))
    second, killed = run_and_kill(tap_command(config_path, state_path), lambda m: False)
    assert not killed
    records = set(association_records(first)) | set(association_records(second))
    assert records == account.truth("contacts", "companies", ids)
    # The saved ranges are searched again; nothing is listed from the start.
    assert list_requests(emulator) == listed_before
    read_again = [i for b in emulator.stats.batches[read_before:] for i, after in b if not after]
    assert len(read_again) < LISTED - 500


def test_without_pairs_the_catalog_offers_common_and_custom_ones(start_emulator, run_tap, tmp_path):
    account, pairs = seeded_account({("contacts", "companies"): 150, ("p4242_cars", "0-1"): 40})
    emulator = start_emulator(account, page_size=4)
    config = config_for(emulator, {})
    del config["associations"]
    discovered = json.loads(run_tap(config, args=["--discover"]).stdout)
    entries = {entry["tap_stream_id"]: entry for entry in discovered["streams"]}
    assert {
        "contacts_to_companies",
        "tickets_to_contacts",
        "p4242_cars_to_contacts",
        "association_labels",
    } <= set(entries)
    root = next(m for m in entries["tickets_to_contacts"]["metadata"] if m["breadcrumb"] == [])
    assert root["metadata"]["selected-by-default"] is False

    for name, entry in entries.items():
        selected = name in ("contacts_to_companies", "p4242_cars_to_contacts", "association_labels")
        root = next(m for m in entry["metadata"] if m["breadcrumb"] == [])
        root["metadata"]["selected"] = selected
    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps(discovered))
    run = run_tap(config, args=["--catalog", str(catalog)])
    assert run.returncode == 0, run.stderr
    expected = account.truth("contacts", "companies", pairs[("contacts", "companies")])
    expected |= account.truth("p4242_cars", "contacts", pairs[("p4242_cars", "0-1")])
    assert run.record_set() == expected
    read = {path for path in emulator.stats.requests if path.endswith("/batch/read")}
    assert read == {
        "/crm/associations/2026-03/contacts/companies/batch/read",
        "/crm/associations/2026-03/p4242_cars/contacts/batch/read",
    }


def test_without_pairs_or_catalog_nothing_is_read(start_emulator, run_tap) -> None:
    account, _ = seeded_account({("contacts", "companies"): 10})
    emulator = start_emulator(account)
    config = config_for(emulator, {})
    del config["associations"]
    run = run_tap(config, emulator=emulator)
    assert run.returncode == 0, run.stderr
    assert not run.records() and batch_reads(emulator) == 0


def test_pairs_named_by_every_standard_type_id(start_emulator, run_tap) -> None:
    """Every standard type id of HubSpot's table, as the emulator (and docs/hubspot-api.md)
    gives it, is accepted as a pair's `from` and read exactly: a wrong id in the tap's
    own table stops the run with "not an object type"."""
    counts = {(type_id, "0-1"): 4 for type_id in STANDARD_TYPES.values() if type_id != "0-1"}
    account, pairs = seeded_account({("0-1", "0-2"): 4, **counts})
    emulator = start_emulator(account, page_size=4)
    run = run_tap(config_for(emulator, pairs), emulator=emulator)
    assert run.returncode == 0, run.stderr
    assert run.record_set() == truth_of(account, pairs)


def test_offered_custom_pairs_name_standard_types_as_hubspot_does(start_emulator, run_tap):
    """Custom object associations to standard types are offered under the emulator's
    name of each type id (companies for 0-2, ...), not the bare id."""
    account, _ = seeded_account(
        {("p4242_cars", "0-1"): 5, ("p4242_cars", "0-2"): 5, ("p4242_cars", "0-5"): 5}
    )
    emulator = start_emulator(account, page_size=4)
    config = config_for(emulator, {})
    del config["associations"]
    discovered = json.loads(run_tap(config, args=["--discover"]).stdout)
    offered = {e["tap_stream_id"] for e in discovered["streams"]}
    names = {type_id: name for name, type_id in STANDARD_TYPES.items()}
    expected = {f"p4242_cars_to_{names[to]}" for from_, to in account.edges if from_ == "2-4242"}
    assert expected == {
        "p4242_cars_to_contacts",
        "p4242_cars_to_companies",
        "p4242_cars_to_tickets",
    }
    assert expected <= offered
