"""HubSpot as it really answers: every name its paths accept, its 429 and 403 variants,
its error shapes, and schemas listing associations both ways, served by the emulator."""

from __future__ import annotations

import pytest

from hubspot_emulator import Account, Dialect, RateLimit
from tests.helpers import (
    FAST_RATE,
    LABELS_STREAM,
    TOKEN,
    config_for,
    seeded_account,
    truth_of,
)


@pytest.mark.parametrize(
    ("from_type", "to_type"),
    [("contact", "company"), ("0-1", "companies"), ("p_cars", "contact"), ("line_item", "deal")],
)
def test_every_name_hubspots_paths_accept_reads_exactly(
    start_emulator, run_tap, from_type, to_type
):
    account = Account(custom_objects={"2-4242": "cars"})
    ids = list(range(10**11, 10**11 + 20))
    account.seed(from_type.replace("p_", "p4242_"), to_type, ids, seed=3, max_targets=5)
    emulator = start_emulator(account)
    run = run_tap(config_for(emulator, {(from_type, to_type): ids}), emulator=emulator)
    assert run.returncode == 0, run.stderr[-2000:]
    stream = f"{from_type}_to_{to_type}".replace("-", "_")
    records = run.records(stream)
    assert records and {(r["from_object_type"], r["to_object_type"]) for r in records} == {
        (from_type, to_type)
    }
    expected = account.truth(from_type.replace("p_", "p4242_"), to_type, ids)
    assert {(r["from_id"], r["to_id"], r["type_id"]) for r in records} == {
        (t[1], t[3], t[5]) for t in expected
    }


def test_a_custom_objects_bare_name_is_refused_up_front(start_emulator, run_tap):
    account, pairs = seeded_account({("p4242_cars", "contacts"): 5})
    emulator = start_emulator(account)
    config = config_for(emulator, {("cars", "contacts"): pairs[("p4242_cars", "contacts")]})
    run = run_tap(config, emulator=emulator)
    assert run.returncode == 1
    assert "use 'p_cars' or 'p4242_cars'" in run.error_lines()[-1]
    assert not [p for p in emulator.stats.requests if "batch/read" in p]


def test_the_emulator_refuses_a_bare_custom_name_as_hubspot_does(start_emulator):
    import json
    import urllib.error
    import urllib.request

    emulator = start_emulator(Account(custom_objects={"2-4242": "cars"}))
    request = urllib.request.Request(
        f"{emulator.url}/crm/associations/2026-03/cars/contacts/batch/read",
        data=json.dumps({"inputs": [{"id": "1"}]}).encode(),
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    refused.value.close()
    assert refused.value.code == 400


@pytest.mark.parametrize(
    "dialect",
    [
        Dialect(error_input_as_id=True),
        Dialect(sub_category_object=True),
        Dialect(error_input_as_id=True, sub_category_object=True),
        Dialect(omit_category=True),
        Dialect(pending_answers=2),
    ],
    ids=["error id", "subCategory object", "both", "no category", "pending"],
)
def test_batch_read_bodies_in_every_documented_shape(start_emulator, run_tap, dialect):
    account, pairs = seeded_account({("contacts", "companies"): 60}, max_targets=4)
    ids = pairs[("contacts", "companies")]
    account.associate("contacts", "companies", ids[0], [])  # one id without associations
    emulator = start_emulator(account, page_size=3, dialect=dialect)
    run = run_tap(config_for(emulator, pairs, max_retries=3), emulator=emulator)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.record_set() == truth_of(account, pairs)
    if dialect.pending_answers:
        assert "status PENDING" in run.stderr


def test_a_type_without_category_missing_from_the_definitions_is_unknown(start_emulator, run_tap):
    account, pairs = seeded_account({("contacts", "companies"): 5}, max_targets=2)
    emulator = start_emulator(account, dialect=Dialect(omit_category=True, labels_status=403))
    run = run_tap(config_for(emulator, pairs), emulator=emulator)
    truth = truth_of(account, pairs)
    assert {r["category"] for r in run.records()} == {"UNKNOWN"}
    assert {(r["from_id"], r["to_id"], r["type_id"]) for r in run.records()} == {
        (t[1], t[3], t[5]) for t in truth
    }


def test_a_403_on_label_definitions_does_not_stop_the_pairs(start_emulator, run_tap):
    account, pairs = seeded_account({("contacts", "companies"): 30})
    emulator = start_emulator(account, dialect=Dialect(labels_status=403))
    run = run_tap(config_for(emulator, pairs), emulator=emulator)
    assert run.record_set() == truth_of(account, pairs)
    assert run.returncode == 1
    errors = run.error_lines()
    assert len(errors) == 1
    assert f"{LABELS_STREAM} could not be read" in errors[0] and "403" in errors[0]


def test_a_403_names_the_scopes_in_the_older_form(start_emulator, run_tap):
    account, pairs = seeded_account({("contacts", "companies"): 3})
    emulator = start_emulator(account, dialect=Dialect(older_scopes=True))
    emulator.tokens = {TOKEN: frozenset({"crm.objects.contacts.read"})}
    run = run_tap(config_for(emulator, pairs), emulator=emulator)
    assert run.returncode == 1
    assert "grant the scopes crm.objects.companies.read" in run.error_lines()[-1]


def test_a_legacy_secondly_429_is_waited_out_by_its_second(start_emulator, run_tap):
    account, pairs = seeded_account({("contacts", "companies"): 100}, max_targets=2)
    emulator = start_emulator(
        account,
        dialect=Dialect(secondly_limit=3),
        rate_limit=RateLimit(max_requests=FAST_RATE, send_headers=False),
    )
    run = run_tap(config_for(emulator, pairs, batch_size=10, max_concurrency=4), emulator=emulator)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.record_set() == truth_of(account, pairs)
    waits = [line for line in run.stderr.splitlines() if "429 rate limited" in line]
    assert all("(SECONDLY); retrying in 1.0 s" in line for line in waits)


def test_the_daily_allowance_is_summed_up_and_a_heavy_run_warned(start_emulator, run_tap):
    account, pairs = seeded_account({("contacts", "companies"): 30})
    emulator = start_emulator(account, dialect=Dialect(daily_allowance=40))
    run = run_tap(config_for(emulator, pairs, batch_size=2), emulator=emulator)
    assert run.returncode == 0
    summary = [line for line in run.stderr.splitlines() if "daily allowance" in line]
    assert len(summary) == 1 and "| WARNING" in summary[0]
    assert "of 40; this run spent about" in summary[0]


def test_discovery_offers_exactly_the_pairs_a_schema_defines(start_emulator, run_tap):
    account = Account(custom_objects={"2-4242": "cars", "2-5151": "boats"})
    account.seed("p4242_cars", "contacts", [1, 2], seed=1)
    account.seed("companies", "p4242_cars", [3, 4], seed=1)
    account.seed("p4242_boats", "p4242_cars", [5], seed=1)
    emulator = start_emulator(account)
    run = run_tap({"access_token": TOKEN, "api_url": emulator.url}, args=["--discover"])
    assert run.returncode == 0, run.stderr[-2000:]
    import json

    offered = {s["tap_stream_id"] for s in json.loads(run.stdout)["streams"]}
    custom = {name for name in offered if "p4242" in name}
    assert custom == {"p4242_cars_to_contacts", "p4242_boats_to_p4242_cars"}
    for engagement in ("calls", "emails", "meetings", "notes", "tasks"):
        for record in ("contacts", "companies", "deals", "tickets"):
            assert f"{engagement}_to_{record}" in offered
