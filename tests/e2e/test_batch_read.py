"""Batch read semantics: paging per id, keyed results, errors in 207 and 200 bodies."""

from __future__ import annotations

import re

from hubspot_emulator import Account, Faults
from tests.helpers import config_for, seeded_account, truth_of


def many_types_account() -> tuple[Account, dict[tuple[str, str], list[int]]]:
    """An id with 23 targets (five pages of five), several types per edge, every category."""
    account, pairs = seeded_account({("contacts", "companies"): 40, ("deals", "contacts"): 15})
    big = 2**40 + 1
    account.associate(
        "contacts",
        "companies",
        big,
        [
            (2**35 + n, (("HUBSPOT_DEFINED", 1, "Primary"), ("HUBSPOT_DEFINED", 279, None)))
            for n in range(20)
        ]
        + [
            (2**36, (("WORK", 500, None),)),
            (2**36 + 1, (("USER_DEFINED", 42, "Billing"),)),
            (2**36 + 2, (("INTEGRATOR_DEFINED", 7, "Partner"),)),
        ],
    )
    pairs[("contacts", "companies")].append(big)
    return account, pairs


def test_every_association_of_every_page_is_emitted(start_emulator, run_tap) -> None:
    account, pairs = many_types_account()
    emulator = start_emulator(account, page_size=5)
    run = run_tap(config_for(emulator, pairs, batch_size=10), emulator=emulator)
    assert run.returncode == 0, run.stderr
    truth = truth_of(account, pairs)
    assert run.record_set() == truth
    assert {r[4] for r in truth} >= {"HUBSPOT_DEFINED", "USER_DEFINED", "WORK"}
    assert any(r[6] is None for r in truth)
    big = [r for r in run.records() if r["from_id"] == str(2**40 + 1)]
    assert len(big) == 43
    assert all(isinstance(r["to_id"], str) and isinstance(r["type_id"], int) for r in big)


def test_batches_respect_batch_size_and_mix_cursors_with_fresh_ids(start_emulator, run_tap):
    account, pairs = many_types_account()
    emulator = start_emulator(account, page_size=3)
    config = config_for(emulator, pairs, batch_size=7, max_concurrency=2)
    run = run_tap(config, emulator=emulator)
    assert run.returncode == 0, run.stderr
    batches = emulator.stats.batches
    assert max(len(batch) for batch in batches) == 7
    mixed = [b for b in batches if any(a is None for _, a in b) and any(a for _, a in b)]
    assert mixed, "continuation cursors never shared a request with fresh ids"
    for batch in batches:
        assert len({i for i, _ in batch}) == len(batch), "an id appeared twice in one request"


def test_an_id_repeated_in_a_batch_is_requested_once(start_emulator, run_tap) -> None:
    account, pairs = seeded_account({("contacts", "companies"): 6})
    ids = pairs[("contacts", "companies")]
    emulator = start_emulator(account)
    repeated = {("contacts", "companies"): [ids[0], ids[1], ids[0], *ids[2:], ids[1], ids[5]]}
    run = run_tap(config_for(emulator, repeated, batch_size=100), emulator=emulator)
    assert run.returncode == 0, run.stderr
    assert [sorted(i for i, _ in b) for b in emulator.stats.batches] == [sorted(map(str, ids))]
    assert len(run.records()) == len(account.truth("contacts", "companies", ids))


def test_ids_without_associations_are_counted_not_logged(start_emulator, run_tap) -> None:
    account, pairs = seeded_account({("contacts", "companies"): 80})
    ids = pairs[("contacts", "companies")]
    emulator = start_emulator(account, page_size=4)
    run = run_tap(config_for(emulator, pairs, batch_size=30), emulator=emulator)
    assert run.returncode == 0, run.stderr
    assert emulator.stats.statuses[207] > 0
    without = sum(1 for i in ids if not account.targets("contacts", "companies", i))
    pages = [-(-len(account.targets("contacts", "companies", i)) // 4) for i in ids]
    extra_pages = sum(max(n - 1, 0) for n in pages)
    summary = re.search(r"Coverage of contacts_to_companies: (.*)", run.stderr)
    assert summary, run.stderr
    assert summary.group(1) == (
        f"ids requested 80, with associations {80 - without}, without {without}, "
        f"extra pages followed {extra_pages}, records emitted {len(run.records())}, "
        "ids failed 0"
    )
    assert "is associated with" not in run.stderr


def test_per_id_errors_are_retried_until_read(start_emulator, run_tap) -> None:
    """A quarter of the ids fail each time they are asked. The emulator's seeded draws
    are taken in the order threads reach it, so near the end one id alone can meet a
    run of failures in the sequence (9 in a row was seen once): 20 retries make that
    run out of reach, and every id is read all the same."""
    account, pairs = seeded_account({("contacts", "companies"): 120, ("deals", "contacts"): 40})
    emulator = start_emulator(account, page_size=5, faults=Faults(id_error=0.25))
    run = run_tap(config_for(emulator, pairs, batch_size=50, max_retries=20), emulator=emulator)
    assert run.returncode == 0, run.stderr
    assert run.record_set() == truth_of(account, pairs)


def test_an_id_that_keeps_failing_is_named_after_everything_else(start_emulator, run_tap):
    account, pairs = seeded_account({("contacts", "companies"): 30, ("deals", "contacts"): 10})
    bad = pairs[("contacts", "companies")][7]
    emulator = start_emulator(account, page_size=5, faults=Faults(failing_ids=frozenset({bad})))
    run = run_tap(config_for(emulator, pairs, batch_size=8, max_retries=2), emulator=emulator)
    assert run.returncode == 1
    errors = run.error_lines()
    assert str(bad) in errors[-1] and "contacts_to_companies" in errors[-1]
    assert "Traceback" not in run.stderr
    good = {k: [i for i in v if i != bad] for k, v in pairs.items()}
    assert run.record_set() == truth_of(account, good)
    assert run.messages[-1]["type"] == "STATE"
    sent = [i for batch in emulator.stats.batches for i, _ in batch if i == str(bad)]
    assert len(sent) == 3


def test_errors_inside_a_200_body_are_handled_alike(start_emulator, run_tap) -> None:
    account, pairs = seeded_account({("contacts", "companies"): 50})
    bad = pairs[("contacts", "companies")][3]
    faults = Faults(errors_in_200=True, id_error=0.2, failing_ids=frozenset({bad}))
    emulator = start_emulator(account, page_size=5, faults=faults)
    run = run_tap(config_for(emulator, pairs, batch_size=20, max_retries=6), emulator=emulator)
    assert emulator.stats.statuses[207] == 0 and emulator.stats.statuses[200] > 0
    assert run.returncode == 1
    assert str(bad) in run.error_lines()[-1]
    good = {k: [i for i in v if i != bad] for k, v in pairs.items()}
    assert run.record_set() == truth_of(account, good)


def test_legacy_v4_paths(start_emulator, run_tap) -> None:
    account, pairs = seeded_account({("0-3", "0-1"): 30})
    emulator = start_emulator(account, page_size=5)
    run = run_tap(config_for(emulator, pairs, api_version="v4"), emulator=emulator)
    assert run.returncode == 0, run.stderr
    assert run.record_set() == truth_of(account, pairs)
    assert set(emulator.stats.requests) == {
        "/crm/v4/associations/0-3/0-1/batch/read",
        "/crm/v4/associations/0-3/0-1/labels",
    }


def test_the_default_batch_is_hubspots_limit_of_1000(start_emulator, run_tap) -> None:
    account, pairs = seeded_account({("contacts", "companies"): 2500}, max_targets=3)
    emulator = start_emulator(account)
    config = config_for(emulator, pairs)
    run = run_tap(config, emulator=emulator)
    assert run.returncode == 0, run.stderr
    assert sorted(len(batch) for batch in emulator.stats.batches) == [500, 1000, 1000]
    assert run.record_set() == truth_of(account, pairs)


def test_progress_lines_and_the_final_coverage_table(start_emulator, run_tap) -> None:
    """Two answers each take 1.1 s, one request at a time: at least two progress lines
    come due at 1 s intervals however fast the machine."""
    account, pairs = seeded_account({("contacts", "companies"): 120, ("deals", "contacts"): 30})
    faults = Faults(script=("none", "stall", "none", "stall"), stall_seconds=1.1)
    emulator = start_emulator(account, page_size=4, faults=faults)
    config = config_for(emulator, pairs, batch_size=5, max_concurrency=1, progress_interval=1)
    run = run_tap(config, emulator=emulator)
    assert run.returncode == 0, run.stderr
    done = [
        int(m.group(1).replace(",", ""))
        for m in re.finditer(r"Progress of contacts_to_companies: ([\d,]+) of 120 ids", run.stderr)
    ]
    assert len(done) >= 2 and done == sorted(done) and done[-1] <= 120
    assert re.search(r"records written, [\d.]+ requests/s, about \d+m\d\ds left", run.stderr)
    table = run.stderr.split("Coverage of this run:\n", 1)[1].splitlines()
    assert table[0].split() == [
        "stream",
        "pass",
        "ids",
        "with",
        "without",
        "pages",
        "records",
        "failed",
    ]
    for line, ((from_type, to_type), ids) in zip(table[1:3], pairs.items(), strict=True):
        with_associations = sum(1 for i in ids if account.targets(from_type, to_type, i))
        records = len(account.truth(from_type, to_type, ids))
        name, kind, count, with_, without, _, emitted, failed = line.split()
        assert (name, kind) == (f"{from_type}_to_{to_type}", "full")
        assert (count, with_, without) == (
            str(len(ids)),
            str(with_associations),
            str(len(ids) - with_associations),
        )
        assert (emitted.replace(",", ""), failed) == (str(records), "0")
