"""Last in the suite: no secret in anything any tap run of the session printed."""

from __future__ import annotations

import pytest

from hubspot_emulator import Faults
from tests.helpers import (
    CAPTURED_OUTPUT,
    ISSUED_TOKENS,
    SECRETS,
    config_for,
    seeded_account,
)

pytestmark = pytest.mark.e2e


def test_no_secret_in_any_output_of_the_suite(start_emulator, run_tap) -> None:
    account, pairs = seeded_account({("contacts", "companies"): 5})
    emulator = start_emulator(account, faults=Faults(script=("server_error",)))
    config = {**config_for(emulator, pairs), "access_token": "pat-na1-rejected-secret"}
    assert run_tap(config, emulator=emulator).returncode == 1
    assert len(CAPTURED_OUTPUT) >= 2
    secrets = (*SECRETS, "pat-na1-rejected-secret", *ISSUED_TOKENS)
    leaks = [secret for secret in secrets for output in CAPTURED_OUTPUT if secret in output]
    assert not leaks, f"{len(leaks)} secrets appeared in the tap's output"
