"""Last in the suite: no secret in anything any tap run of the session printed."""

from __future__ import annotations

import pytest

from hubspot_emulator import Faults
from tests.helpers import (
    CAPTURED_OUTPUT,
    ISSUED_TOKENS,
    SECRETS,
    config_for,
    leaked,
    seeded_account,
)

pytestmark = pytest.mark.e2e


def test_no_secret_in_any_output_of_the_suite(start_emulator, run_tap) -> None:
    account, pairs = seeded_account({("contacts", "companies"): 5})
    emulator = start_emulator(account, faults=Faults(script=("server_error",)))
    config = {**config_for(emulator, pairs), "access_token": "pat-na1-rejected-secret"}
    assert run_tap(config, emulator=emulator).returncode == 1
    assert len(CAPTURED_OUTPUT) >= 2
    leaks = leaked(CAPTURED_OUTPUT, (*SECRETS, "pat-na1-rejected-secret", *ISSUED_TOKENS))
    assert not leaks, f"{len(leaks)} secrets appeared in the tap's output"


def test_the_scan_finds_a_planted_secret() -> None:
    """The scan finds a secret anywhere in what was captured."""
    planted = "pat-na1-planted-for-the-scan"
    CAPTURED_OUTPUT.append(f"a log line quoting {planted} in passing")
    try:
        assert leaked(CAPTURED_OUTPUT, (*SECRETS, planted)) == [planted]
    finally:
        CAPTURED_OUTPUT.pop()
