"""ACTIVATE_VERSION only once a pass is complete, with one version across resumes."""

from __future__ import annotations

import json
from pathlib import Path

from hubspot_emulator import Faults
from tests.helpers import (
    as_truth,
    association_records,
    config_for,
    last_state,
    run_and_kill,
    seeded_account,
    tap_command,
    truth_of,
)

PAIRS = {("contacts", "companies"): 120, ("deals", "contacts"): 40}


def versions_by_stream(messages: list[dict]) -> dict[str, set[int | None]]:
    found: dict[str, set[int | None]] = {}
    for m in messages:
        if m["type"] == "RECORD":
            found.setdefault(m["stream"], set()).add(m.get("version"))
    return found


def test_activate_version_follows_the_complete_pass(start_emulator, run_tap) -> None:
    account, pairs = seeded_account(PAIRS)
    emulator = start_emulator(account, page_size=4)
    config = config_for(emulator, pairs, batch_size=10, emit_activate_version_messages=True)
    run = run_tap(config, emulator=emulator)
    assert run.returncode == 0, run.stderr
    assert run.record_set() == truth_of(account, pairs)
    messages = run.messages
    for stream, versions in versions_by_stream(messages).items():
        (version,) = versions
        assert isinstance(version, int)
        positions = [i for i, m in enumerate(messages) if m.get("stream") == stream]
        activations = [i for i in positions if messages[i]["type"] == "ACTIVATE_VERSION"]
        assert len(activations) == 1
        assert messages[activations[0]]["version"] == version
        last_record = max(i for i in positions if messages[i]["type"] == "RECORD")
        assert activations[0] > last_record


def test_one_version_across_a_crash_activated_only_at_the_end(start_emulator, tmp_path: Path):
    account, pairs = seeded_account(PAIRS)
    emulator = start_emulator(account, page_size=3, faults=Faults(latency_seconds=0.02))
    config_path = tmp_path / "config.json"
    config = config_for(emulator, pairs, batch_size=10, emit_activate_version_messages=True)
    config_path.write_text(json.dumps(config))
    records_seen = 0

    def after_records(message: dict) -> bool:
        nonlocal records_seen
        records_seen += message["type"] == "RECORD"
        return records_seen > 150 and message["type"] == "STATE"

    first, killed = run_and_kill(tap_command(config_path), after_records)
    assert killed
    assert not any(
        m["type"] == "ACTIVATE_VERSION" and m["stream"] == "contacts_to_companies" for m in first
    )
    state_path = tmp_path / "state.json"
    state_path.write_text(json.dumps(last_state(first)))
    second, killed = run_and_kill(tap_command(config_path, state_path), lambda m: False)
    assert not killed
    both = first + second
    versions = versions_by_stream(both)["contacts_to_companies"]
    assert len(versions) == 1
    activations = [m for m in second if m["type"] == "ACTIVATE_VERSION"]
    assert {(m["stream"], m["version"]) for m in activations} >= {
        ("contacts_to_companies", next(iter(versions)))
    }
    records = set(association_records(both))
    assert records == truth_of(account, pairs)


def test_an_incomplete_pass_is_not_activated(start_emulator, run_tap) -> None:
    account, pairs = seeded_account(PAIRS)
    bad = pairs[("deals", "contacts")][0]
    emulator = start_emulator(account, faults=Faults(failing_ids=frozenset({bad})))
    config = config_for(
        emulator, pairs, batch_size=10, max_retries=1, emit_activate_version_messages=True
    )
    run = run_tap(config, emulator=emulator)
    assert run.returncode == 1
    activated = {m["stream"] for m in run.messages if m["type"] == "ACTIVATE_VERSION"}
    assert activated == {"contacts_to_companies", "association_labels"}
    assert "Not activating version" in run.stderr


def test_versionless_progress_is_not_resumed_with_versions(start_emulator, run_tap) -> None:
    account, pairs = seeded_account({("contacts", "companies"): 40})
    emulator = start_emulator(account, page_size=4)
    config = config_for(emulator, pairs, batch_size=10)
    first = run_tap(config, emulator=emulator)
    assert first.returncode == 0, first.stderr
    progress = next(
        s["bookmarks"]["contacts_to_companies"]["progress"]
        for s in first.states()
        if "progress" in s["bookmarks"].get("contacts_to_companies", {})
    )
    state = {"bookmarks": {"contacts_to_companies": {"progress": progress}}}
    run = run_tap(
        {**config, "emit_activate_version_messages": True}, state=state, emulator=emulator
    )
    assert run.returncode == 0, run.stderr
    assert "made without table versions" in run.stderr
    assert run.record_set() == truth_of(account, pairs)


def test_the_next_full_pass_activates_its_own_version_after_a_failed_one(start_emulator, run_tap):
    """A pass with a failed id is not activated; the next one's ACTIVATE_VERSION comes
    after its last record, and the rows carrying the version it activates are exactly
    the live associations: activating it deletes nothing HubSpot still has."""
    account, pairs = seeded_account({("contacts", "companies"): 40})
    bad = pairs[("contacts", "companies")][5]
    emulator = start_emulator(account, page_size=4, faults=Faults(failing_ids=frozenset({bad})))
    config = config_for(
        emulator, pairs, batch_size=10, max_retries=1, emit_activate_version_messages=True
    )
    failed = run_tap(config, emulator=emulator)
    assert failed.returncode == 1
    stream = "contacts_to_companies"
    assert not [
        m for m in failed.messages if m["type"] == "ACTIVATE_VERSION" and m["stream"] == stream
    ]
    emulator.faults.failing_ids = frozenset()
    second = run_tap(config, state=failed.states()[-1], emulator=emulator)
    assert second.returncode == 0, second.stderr
    messages = [m for m in second.messages if m.get("stream") == stream]
    (activation,) = [m for m in messages if m["type"] == "ACTIVATE_VERSION"]
    version = activation["version"]
    records = [m for m in messages if m["type"] == "RECORD"]
    assert records and {m.get("version") for m in records} == {version}
    assert messages.index(activation) > max(messages.index(m) for m in records)
    both = failed.messages + second.messages
    kept = {
        as_truth(m["record"])
        for m in both
        if m["type"] == "RECORD" and m["stream"] == stream and m.get("version") == version
    }
    assert kept == truth_of(account, pairs)
