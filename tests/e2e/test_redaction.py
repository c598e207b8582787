"""The one redaction, as a run that fails shows it: the token HubSpot rejected is in
no output (in process: tests/unit/test_redaction.py)."""

from __future__ import annotations

from hubspot_emulator import Faults
from tests.helpers import config_for, leaked, seeded_account


def test_a_rejected_token_never_shows_in_the_output(start_emulator, run_tap) -> None:
    account, pairs = seeded_account({("contacts", "companies"): 5})
    emulator = start_emulator(account, faults=Faults(script=("server_error",)))
    config = {**config_for(emulator, pairs), "access_token": "pat-na1-rejected-secret"}
    run = run_tap(config, emulator=emulator)
    assert run.returncode == 1
    assert leaked([run.stdout, run.stderr], ("pat-na1-rejected-secret",)) == []
