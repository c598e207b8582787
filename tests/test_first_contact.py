"""A newcomer's first runs: a wrong credential, a typo in a pair, an api_url that does not
answer as expected. Each ends at once with one ERROR line that names the cause, before
anything is written to stdout."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from tests.helpers import TapRun, config_for, seeded_account

pytestmark = pytest.mark.e2e


def assert_one_error_before_any_output(run: TapRun, *expected: str) -> None:
    assert run.returncode == 1, run.stderr
    assert "Traceback" not in run.stderr
    errors = run.error_lines()
    assert len(errors) == 1, run.stderr[-3000:]
    for text in expected:
        assert text in errors[0], errors[0]
    assert run.stdout == "", "no SCHEMA, STATE or RECORD before the run's one ERROR"


def test_a_wrong_token_stops_the_run_before_any_schema(start_emulator, run_tap) -> None:
    account, pairs = seeded_account({("contacts", "companies"): 3})
    emulator = start_emulator(account)
    config = {**config_for(emulator, pairs), "access_token": "pat-na1-not-this-one-x"}
    run = run_tap(config, emulator=emulator)
    assert_one_error_before_any_output(run, "HubSpot rejected the credentials (401)")
    assert sum(emulator.stats.requests.values()) == 1, "one cheap request"


def test_a_wrong_token_stops_a_run_that_reads_nothing(start_emulator, run_tap) -> None:
    """No pair configured, no catalog: nothing would be read, but a token that cannot
    read anything is still the first thing to fix."""
    account, _ = seeded_account({("contacts", "companies"): 3})
    emulator = start_emulator(account)
    config: dict[str, Any] = {**config_for(emulator, {}), "access_token": "pat-na1-wrong-x"}
    del config["associations"]
    run = run_tap(config, emulator=emulator)
    assert_one_error_before_any_output(run, "HubSpot rejected the credentials (401)")


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
    assert_one_error_before_any_output(run, "'too'")
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
    assert_one_error_before_any_output(run, f"127.0.0.1:{port}", "refused")


def test_tls_to_a_plain_http_server_is_named_and_not_retried(start_emulator, run_tap) -> None:
    account, pairs = seeded_account({("contacts", "companies"): 3})
    emulator = start_emulator(account)
    config = {**config_for(emulator, pairs), "api_url": emulator.url.replace("http:", "https:")}
    run = run_tap(config, emulator=emulator)
    assert_one_error_before_any_output(run, "TLS", emulator.url.removeprefix("http://"))
    assert "retrying" not in run.stderr, "a TLS failure is no passing fault"
