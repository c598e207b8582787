"""A newcomer's first runs: a wrong credential, a typo in a pair, an api_url that does not
answer as expected. Each ends at once with one ERROR line that names the cause, before
anything is written to stdout."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hubspot_emulator import Faults
from tests.helpers import (
    LABELS_STREAM,
    TapRun,
    assert_one_clear_error,
    batch_reads,
    config_for,
    offline_config,
    seeded_account,
    truth_of,
)


def test_a_wrong_token_stops_the_run_before_any_schema(start_emulator, run_tap) -> None:
    account, pairs = seeded_account({("contacts", "companies"): 3})
    emulator = start_emulator(account)
    config = {**config_for(emulator, pairs), "access_token": "pat-na1-not-this-one-x"}
    run = run_tap(config, emulator=emulator)
    assert_one_clear_error(run, "HubSpot rejected the credentials (401)", before_any_output=True)
    assert sum(emulator.stats.requests.values()) == 1, "one cheap request"


def test_a_wrong_token_stops_a_run_that_reads_nothing(start_emulator, run_tap) -> None:
    """No pair configured, no catalog: nothing would be read, but a token that cannot
    read anything is still the first thing to fix."""
    account, _ = seeded_account({("contacts", "companies"): 3})
    emulator = start_emulator(account)
    config: dict[str, Any] = {**config_for(emulator, {}), "access_token": "pat-na1-wrong-x"}
    del config["associations"]
    run = run_tap(config, emulator=emulator)
    assert_one_clear_error(run, "HubSpot rejected the credentials (401)", before_any_output=True)
    assert "No pair is read" not in run.stderr, "the credential first: no advice before it"


def test_a_token_without_a_scope_passes_the_check(start_emulator, run_tap) -> None:
    """A 403 says the token is good but lacks a scope: the check passes; what the run
    reads decides what scopes it needs."""
    account, _ = seeded_account({("contacts", "companies"): 3})
    emulator = start_emulator(account)
    emulator.tokens["pat-na1-tickets-only-x"] = frozenset({"tickets"})
    config: dict[str, Any] = {**config_for(emulator, {}), "access_token": "pat-na1-tickets-only-x"}
    del config["associations"]
    run = run_tap(config, emulator=emulator)
    assert run.returncode == 0, run.stderr


def test_an_unknown_key_in_a_pair_is_named(start_emulator, run_tap) -> None:
    account, _ = seeded_account({("contacts", "companies"): 3})
    emulator = start_emulator(account)
    config = config_for(emulator, {})
    config["associations"] = [{"from": "contacts", "too": "companies"}]
    run = run_tap(config, emulator=emulator)
    assert_one_clear_error(run, "'too'", before_any_output=True)
    assert sum(emulator.stats.requests.values()) == 0


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_refused_connection_names_the_host_and_port(run_tap) -> None:
    port = closed_port()
    config = {
        "access_token": "pat-na1-test-0000-secret-token",
        "api_url": f"http://127.0.0.1:{port}",
        "associations": [{"from": "contacts", "to": "companies", "ids": ["1"]}],
        "max_retries": 1,
    }
    run = run_tap(config)
    assert_one_clear_error(run, f"127.0.0.1:{port}", "refused", before_any_output=True)


def test_tls_to_a_plain_http_server_is_named_and_not_retried(start_emulator, run_tap) -> None:
    account, pairs = seeded_account({("contacts", "companies"): 3})
    emulator = start_emulator(account)
    config = {**config_for(emulator, pairs), "api_url": emulator.url.replace("http:", "https:")}
    run = run_tap(config, emulator=emulator)
    assert_one_clear_error(run, "TLS", emulator.url.removeprefix("http://"), before_any_output=True)
    assert "retrying" not in run.stderr, "a TLS failure is no passing fault"


# -- runs that read no pair say so once ---------------------------------------------------


def no_pair_warnings(run: TapRun) -> list[str]:
    return [line for line in run.stderr.splitlines() if "No pair is read" in line]


def test_a_run_with_only_a_token_says_how_to_choose_a_pair(start_emulator, run_tap) -> None:
    """No pair configured, no catalog: the offered pairs are not selected, and one WARNING
    says so, instead of a line for each of the dozens of streams skipped."""
    account, _ = seeded_account({("contacts", "companies"): 3})
    emulator = start_emulator(account)
    config: dict[str, Any] = config_for(emulator, {})
    del config["associations"]
    run = run_tap(config, emulator=emulator)
    assert run.returncode == 0, run.stderr
    (warning,) = no_pair_warnings(run)
    assert "no `associations` are configured" in warning
    assert "contacts_to_companies" in warning and "configure `associations`" in warning
    assert "Skipping deselected stream" not in run.stderr
    assert batch_reads(emulator) == 0


def test_a_catalog_that_selects_no_configured_pair_says_so(
    start_emulator, run_tap, tmp_path
) -> None:
    account, pairs = seeded_account({("contacts", "companies"): 3})
    emulator = start_emulator(account)
    config = config_for(emulator, pairs)
    catalog = discovered_catalog(run_tap, config, emulator)
    for entry in catalog["streams"]:
        select(entry, entry["tap_stream_id"] == LABELS_STREAM)
    catalog_path = tmp_path / "catalog.json"
    catalog_path.write_text(json.dumps(catalog))
    run = run_tap(config, emulator=emulator, args=["--catalog", str(catalog_path)])
    assert run.returncode == 0, run.stderr
    (warning,) = no_pair_warnings(run)
    assert "the catalog selects none of the configured pairs (contacts_to_companies)" in warning
    assert "select contacts_to_companies in a catalog (`--catalog`), or run without one" in warning
    assert batch_reads(emulator) == 0


def discovered_catalog(run_tap: Any, config: dict[str, Any], emulator: Any) -> dict[str, Any]:
    run = run_tap(config, emulator=emulator, args=["--discover"])
    assert run.returncode == 0, run.stderr
    catalog: dict[str, Any] = json.loads(run.stdout)
    return catalog


def select(entry: dict[str, Any], selected: bool) -> None:
    for metadata in entry["metadata"]:
        if metadata["breadcrumb"] == []:
            metadata["metadata"]["selected"] = selected


# -- stream maps ------------------------------------------------------------------------


def test_a_stream_map_of_a_deselected_stream_reads_the_selected_ones(
    start_emulator, run_tap, tmp_path
) -> None:
    """meltano/sdk issue #1942: singer-sdk checked a map of a deselected stream against no
    properties at all, and every run failed before reading anything. With it: flattening
    enabled, and a property the catalog deselects in a selected stream."""
    account, pairs = seeded_account({("contacts", "companies"): 4, ("deals", "contacts"): 3})
    emulator = start_emulator(account)
    config = {
        **config_for(emulator, pairs),
        "stream_maps": {"deals_to_contacts": {"label": "str(label).upper()"}},
        "flattening_enabled": True,
        "flattening_max_depth": 1,
    }
    catalog = discovered_catalog(run_tap, config, emulator)
    for entry in catalog["streams"]:
        select(entry, entry["tap_stream_id"] != "deals_to_contacts")
        for metadata in entry["metadata"]:
            if metadata["breadcrumb"] == ["properties", "label"]:
                metadata["metadata"]["selected"] = False
    catalog_path = tmp_path / "catalog.json"
    catalog_path.write_text(json.dumps(catalog))
    run = run_tap(config, emulator=emulator, args=["--catalog", str(catalog_path)])
    assert run.returncode == 0, run.stderr
    records = run.records("contacts_to_companies")
    expected = account.truth("contacts", "companies", pairs[("contacts", "companies")])
    assert {tuple(r[k] for k in KEY) for r in records} == {
        (t[1], t[3], t[4], t[5]) for t in expected
    }
    assert len(records) == len(expected)
    assert not [r for r in records if "label" in r], "the catalog deselects label"
    (schema,) = [
        m for m in run.messages if m["type"] == "SCHEMA" and m["stream"] == "contacts_to_companies"
    ]
    assert "label" not in schema["schema"]["properties"]
    assert not run.records("deals_to_contacts")


KEY = ("from_id", "to_id", "category", "type_id")


def test_a_stream_map_singer_sdk_refuses_is_a_settings_error(start_emulator, run_tap) -> None:
    account, pairs = seeded_account({("contacts", "companies"): 3})
    emulator = start_emulator(account)
    config = {
        **config_for(emulator, pairs),
        "stream_maps": {"contacts_to_companies": {"__key_properties__": ["no_such_field"]}},
    }
    run = run_tap(config, emulator=emulator)
    assert_one_clear_error(run, "stream_maps: ", before_any_output=True)
    assert "a bug" not in run.stderr


@pytest.mark.parametrize(
    ("maps", "named"),
    [
        (
            {"contacts_to_companies": {"from_id": "from_id", "doubled": "to_id +"}},
            "contacts_to_companies.doubled",
        ),
        (
            {
                "contacts_to_companies": {"from_id": "from_id"},
                "copy": {"__source__": "contacts_to_companies", "doubled": "to_id +"},
            },
            "copy.doubled",
        ),
    ],
)
def test_a_stream_map_that_does_not_parse_names_its_map_and_property(
    start_emulator, run_tap, maps, named
) -> None:
    account, pairs = seeded_account({("contacts", "companies"): 3})
    emulator = start_emulator(account)
    run = run_tap({**config_for(emulator, pairs), "stream_maps": maps}, emulator=emulator)
    assert_one_clear_error(
        run, f"stream_maps: {named}: Failed to parse expression to_id +", before_any_output=True
    )


# -- long waits -------------------------------------------------------------------------


def test_a_long_retry_after_is_said_while_it_lasts(start_emulator, run_tap) -> None:
    """HubSpot answers 429 with `Retry-After: 3`: with progress lines every second, the
    wait says each second how long is left and why, so a stalled run does not look hung."""
    account, pairs = seeded_account({("contacts", "companies"): 3})
    faults = Faults(script=("rate_limited",), rate_limited_retry_after=3.0)
    emulator = start_emulator(account, faults=faults)
    run = run_tap(config_for(emulator, pairs, progress_interval=1), emulator=emulator)
    assert run.returncode == 0, run.stderr
    lines = [line for line in run.stderr.splitlines() if "still waiting" in line]
    assert lines, run.stderr[-3000:]
    assert "of 3 s: POST /crm/associations/" in lines[0] and "429" in lines[0], lines[0]
    assert run.record_set() == truth_of(account, pairs)


def test_a_run_reading_no_pair_activates_no_empty_label_version(start_emulator, run_tap) -> None:
    """No pair read: the label definitions of no pair would be an empty version, and a
    target honouring ACTIVATE_VERSION would delete every label row it holds."""
    account, _ = seeded_account({("contacts", "companies"): 3})
    emulator = start_emulator(account)
    config: dict[str, Any] = config_for(emulator, {}, emit_activate_version_messages=True)
    del config["associations"]
    run = run_tap(config, emulator=emulator)
    assert run.returncode == 0, run.stderr
    assert not [m for m in run.messages if m["type"] in ("SCHEMA", "ACTIVATE_VERSION")]
    assert len(no_pair_warnings(run)) == 1


def test_a_configured_pair_the_catalog_leaves_out_is_named(
    start_emulator, run_tap, tmp_path
) -> None:
    account, pairs = seeded_account({("contacts", "companies"): 3, ("deals", "contacts"): 2})
    emulator = start_emulator(account)
    config = config_for(emulator, pairs)
    catalog = discovered_catalog(run_tap, config, emulator)
    for entry in catalog["streams"]:
        select(entry, entry["tap_stream_id"] != "deals_to_contacts")
    catalog_path = tmp_path / "catalog.json"
    catalog_path.write_text(json.dumps(catalog))
    run = run_tap(config, emulator=emulator, args=["--catalog", str(catalog_path)])
    assert run.returncode == 0, run.stderr
    assert "Configured but not selected, so not read: deals_to_contacts" in run.stderr
    assert not no_pair_warnings(run)


def drop_root_metadata(entry: dict[str, Any]) -> None:
    entry["metadata"] = [m for m in entry["metadata"] if m["breadcrumb"] != []]


def deselect_key(entry: dict[str, Any]) -> None:
    for metadata in entry["metadata"]:
        if metadata["breadcrumb"] == ["properties", "to_id"]:
            metadata["metadata"].update(inclusion="available", selected=False)


def string_selected(entry: dict[str, Any]) -> None:
    select(entry, True)
    for metadata in entry["metadata"]:
        if metadata["breadcrumb"] == []:
            metadata["metadata"]["selected"] = "false"


def unknown_key(entry: dict[str, Any]) -> None:
    entry["key_properties"] = ["nope"]


def run_with_changed_catalog(
    change: Callable[[dict[str, Any]], None], start_emulator: Any, run_tap: Any, tmp_path: Path
) -> TapRun:
    """A run with the discovered catalog, its entry of contacts_to_companies changed."""
    account, pairs = seeded_account({("contacts", "companies"): 3})
    emulator = start_emulator(account)
    config = config_for(emulator, pairs)
    catalog = discovered_catalog(run_tap, config, emulator)
    (entry,) = [e for e in catalog["streams"] if e["tap_stream_id"] == "contacts_to_companies"]
    change(entry)
    catalog_path = tmp_path / "catalog.json"
    catalog_path.write_text(json.dumps(catalog))
    return run_tap(config, emulator=emulator, args=["--catalog", str(catalog_path)])


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (drop_root_metadata, "is selected without its key properties from_id, to_id"),
        (deselect_key, "is selected without its key properties to_id"),
        (string_selected, "metadata.selected: must be true or false, not 'false'"),
        (unknown_key, "`key_properties` ['nope'] are not in its schema"),
    ],
)
def test_a_catalog_that_would_write_records_without_their_keys_is_refused(
    change: Any, expected: str, start_emulator, run_tap, tmp_path
) -> None:
    """Records without their key (or with no field at all, when an entry has no
    stream-level metadata) are no records a target can keep; "false" as a string would
    select."""
    run = run_with_changed_catalog(change, start_emulator, run_tap, tmp_path)
    assert_one_clear_error(run, expected, before_any_output=True)


def test_a_catalog_repeating_a_stream_is_refused(start_emulator, run_tap, tmp_path) -> None:
    account, pairs = seeded_account({("contacts", "companies"): 3})
    emulator = start_emulator(account)
    config = config_for(emulator, pairs)
    catalog = discovered_catalog(run_tap, config, emulator)
    catalog["streams"].append(catalog["streams"][0])
    catalog_path = tmp_path / "catalog.json"
    catalog_path.write_text(json.dumps(catalog))
    run = run_tap(config, emulator=emulator, args=["--catalog", str(catalog_path)])
    assert_one_clear_error(run, "repeats the stream", before_any_output=True)


def test_a_map_expression_failing_on_a_record_names_its_stream(start_emulator, run_tap) -> None:
    """singer-sdk names only expressions that fail to parse; one failing on a record
    (here dividing by zero) was reported as a bug of the tap, quoting the salt it used."""
    account, pairs = seeded_account({("contacts", "companies"): 3})
    emulator = start_emulator(account)
    config = {
        **config_for(emulator, pairs),
        "stream_maps": {
            "contacts_to_companies": {"ratio": "1 / 0", "key": "config['salt'] + from_id"}
        },
        "stream_map_config": {"salt": "salt-never-printed-42"},
    }
    run = run_tap(config, emulator=emulator)
    assert run.returncode == 1, run.stderr
    (error,) = run.error_lines()
    assert "stream_maps: the map of contacts_to_companies failed on a record" in error
    assert "ZeroDivisionError" in error and "a bug" not in error
    assert "salt-never-printed-42" not in run.stdout + run.stderr


def test_a_map_config_value_in_an_error_is_redacted(start_emulator, run_tap) -> None:
    account, pairs = seeded_account({("contacts", "companies"): 3})
    emulator = start_emulator(account)
    config = {
        **config_for(emulator, pairs),
        "stream_maps": {"contacts_to_companies": {"hashed": "int(config['salt'])"}},
        "stream_map_config": {"salt": "HashSaltNeverPrinted"},
    }
    run = run_tap(config, emulator=emulator)
    assert run.returncode == 1, run.stderr
    (error,) = run.error_lines()
    assert "the map of contacts_to_companies failed on a record: ValueError" in error
    assert "HashSaltNeverPrinted" not in run.stdout + run.stderr


def test_flattening_settings_singer_sdk_refuses_are_one_settings_error(
    start_emulator, run_tap
) -> None:
    account, pairs = seeded_account({("contacts", "companies"): 3})
    emulator = start_emulator(account)
    config = {**config_for(emulator, pairs), "flattening_enabled": True}
    run = run_tap(config, emulator=emulator)
    assert_one_clear_error(run, "settings: ", "flattening_max_depth", before_any_output=True)


# Adversarial: stream maps and catalogs singer-sdk cannot read -------------------------


@pytest.mark.parametrize(
    "maps",
    [
        {"__else__": "x"},
        {"__else__": 5},
        {"contacts_to_companies": {"__else__": "drop"}},
    ],
    ids=["else a string", "else a number", "a stream's else a string"],
)
def test_an_else_that_is_not_null_is_a_stream_maps_error(maps: dict[str, Any], run_tap) -> None:
    """singer-sdk's schema allows `__else__` only as "__NULL__" or null; checking any
    other value crashed the validator: "unexpected AttributeError: 'str' object has no
    attribute 'get' (a bug: please report it)"."""
    run = run_tap({**offline_config(), "stream_maps": maps})
    assert_one_clear_error(run, "stream_maps", "__else__", before_any_output=True)


def property_not_an_object(entry: dict[str, Any]) -> None:
    entry["schema"]["properties"]["label"] = 5


def nested_breadcrumb(entry: dict[str, Any]) -> None:
    entry["metadata"].append({"breadcrumb": [["properties"]], "metadata": {"selected": True}})


def replication_key_a_number(entry: dict[str, Any]) -> None:
    entry["replication_key"] = 5


def any_of_not_a_list(entry: dict[str, Any]) -> None:
    entry["schema"]["properties"]["type_id"]["anyOf"] = 5


@pytest.mark.parametrize(
    "change",
    [property_not_an_object, nested_breadcrumb, replication_key_a_number, any_of_not_a_list],
)
def test_a_catalog_singer_sdk_cannot_read_is_one_line_naming_it(
    change: Any, start_emulator, run_tap, tmp_path
) -> None:
    """Each was "unexpected AttributeError / TypeError / InvalidReplicationKeyException
    ... (a bug: please report it)"; the replication key one after SCHEMA and STATE
    were written."""
    run = run_with_changed_catalog(change, start_emulator, run_tap, tmp_path)
    assert_one_clear_error(run, "catalog", before_any_output=True)
