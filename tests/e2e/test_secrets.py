"""No secret in any output, whatever fails: a token HubSpot rejects or a server echoes, a
secret in a file or setting of the wrong kind, DEBUG logging, OAuth's secrets. Every
run's output is also checked as it ends and by the suite-wide scan (tests/conftest.py);
the redaction alone: tests/unit/test_redaction.py."""

from __future__ import annotations

import json

import pytest

from hubspot_emulator import Faults
from tests.helpers import (
    CLIENT_ID,
    CLIENT_SECRET,
    REFRESH_TOKEN,
    TOKEN,
    Answer,
    HostileServer,
    assert_no_secrets,
    assert_one_clear_error,
    config_for,
    json_answer,
    leaked,
    oauth_config,
    run_tap_command,
    seeded_account,
    tap_command,
    truth_of,
)


def test_a_rejected_token_never_shows_in_the_output(start_emulator, run_tap) -> None:
    account, pairs = seeded_account({("contacts", "companies"): 5})
    emulator = start_emulator(account, faults=Faults(script=("server_error",)))
    config = {**config_for(emulator, pairs), "access_token": "pat-na1-rejected-secret"}
    run = run_tap(config, emulator=emulator)
    assert run.returncode == 1
    assert leaked([run.stdout, run.stderr], ("pat-na1-rejected-secret",)) == []


def echoing_server(status: int) -> HostileServer:
    """Echoes the Authorization header it was sent into every field of its error."""

    def answer(method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        sent = headers.get("Authorization", "")
        error = {
            "status": "error",
            "message": f"bad {sent}",
            "correlationId": sent,
            "category": sent,
            "errors": [{"context": {"requiredGranularScopes": [sent]}}],
        }
        return json_answer(status, error, **{"X-HubSpot-Correlation-Id": sent})

    return HostileServer(answer)


@pytest.mark.parametrize("status", [400, 401, 403, 500])
def test_a_server_echoing_the_token_never_gets_it_printed(run_tap, status):
    with echoing_server(status) as server:
        config = {
            "access_token": TOKEN,
            "api_url": server.url,
            "max_retries": 0,
            "associations": [{"from": "contacts", "to": "companies", "ids": ["101"]}],
        }
        run = run_tap(config)  # run_tap fails the test on any secret in the output
    assert run.returncode == 1
    assert len(server.requests) >= 1


def test_an_ids_file_that_is_the_config_shows_no_part_of_the_token(run_tap, tmp_path):
    config_path = tmp_path / "config.json"
    config = {
        "access_token": TOKEN,
        "api_url": "http://127.0.0.1:9",
        "associations": [{"from": "contacts", "to": "companies", "ids_file": str(config_path)}],
    }
    config_path.write_text(json.dumps(config))
    run = run_tap_command(tap_command(config_path))
    assert_one_clear_error(run, "is not a HubSpot record id")
    excerpts = {TOKEN[i : i + 12] for i in range(len(TOKEN) - 11)}
    assert not [e for e in excerpts if e in run.stderr + run.stdout]


def test_a_secret_setting_of_the_wrong_type_is_not_echoed(run_tap):
    secret = 918273645546372819
    config = {
        "access_token": secret,
        "api_url": "http://127.0.0.1:9",
        "associations": [{"from": "contacts", "to": "companies", "ids": ["1"]}],
    }
    run = run_tap(config)
    assert run.returncode != 0
    assert str(secret) not in run.stderr + run.stdout


def test_no_secret_at_debug_level_even_when_requests_fail(start_emulator, run_tap) -> None:
    account, pairs = seeded_account({("contacts", "companies"): 10})
    emulator = start_emulator(
        account,
        faults=Faults(script=("server_error", "html_502")),
        oauth_clients={CLIENT_ID: (CLIENT_SECRET, REFRESH_TOKEN)},
    )
    config = oauth_config(emulator, pairs)
    env = {"TAP_HUBSPOT_ASSOCIATIONS_LOGLEVEL": "DEBUG"}
    run = run_tap(config, env=env, emulator=emulator)
    assert run.returncode == 0, run.stderr
    assert "DEBUG" in run.stderr
    assert_no_secrets(run.stdout, run.stderr, extra=tuple(emulator.issued_tokens()))


def test_about_marks_every_credential_secret(run_tap) -> None:
    run = run_tap(None, args=["--about", "--format", "json"])
    assert run.returncode == 0, run.stderr
    settings = json.loads(run.stdout)["settings"]["properties"]
    secret = {name for name, schema in settings.items() if schema.get("secret")}
    assert secret == {"access_token", "client_secret", "refresh_token"}


def test_oauth_secrets_never_reach_the_output(start_emulator, run_tap) -> None:
    account, pairs = seeded_account({("contacts", "companies"): 10})
    emulator = start_emulator(account, oauth_clients={CLIENT_ID: (CLIENT_SECRET, REFRESH_TOKEN)})
    config = oauth_config(emulator, pairs)
    run = run_tap(config, emulator=emulator)
    assert run.returncode == 0, run.stderr
    assert emulator.stats.tokens_issued == 1
    refused = run_tap({**config, "client_secret": "client-secret-wrong-value"}, emulator=emulator)
    assert refused.returncode == 1
    assert "client-secret-wrong-value" not in refused.stderr


# Adversarial: redaction that corrupts records; secrets it does not know ----------------


def test_map_config_values_never_corrupt_the_records(start_emulator, run_tap) -> None:
    """stream_map_config's strings are redacted as secrets, and on stdout every
    occurrence is replaced: a value that is also ordinary data (here "companies", and a
    record id, as a map's lookup table or an id filter holds) turned the stream name
    into "contacts_to_[redacted]", `to_object_type` and `from_id` into "[redacted]",
    with exit 0. A number-like value also breaks the JSON (`"type_id":[redacted]`)."""
    account, pairs = seeded_account({("contacts", "companies"): 10})
    emulator = start_emulator(account)
    some_id = str(pairs[("contacts", "companies")][3])
    config = {
        **config_for(emulator, pairs),
        "stream_map_config": {"target_type": "companies", "watched_ids": [some_id]},
    }
    run = run_tap(config, emulator=emulator)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "[redacted]" not in run.stdout
    assert {m.get("stream") for m in run.messages} >= {"contacts_to_companies"}
    assert run.record_set() == truth_of(account, pairs)


def test_a_numeric_map_config_value_is_a_secret_too(start_emulator, run_tap) -> None:
    """Only the strings of stream_map_config are learned as secrets: a numeric salt
    was printed whole by the error of a map that failed on it ("KeyError:
    98765432109")."""
    account, pairs = seeded_account({("contacts", "companies"): 3})
    emulator = start_emulator(account)
    config = {
        **config_for(emulator, pairs),
        "stream_maps": {"contacts_to_companies": {"bucket": "{'a': 1}[config['salt']]"}},
        "stream_map_config": {"salt": 98765432109},
    }
    run = run_tap(config, emulator=emulator)
    assert run.returncode == 1, run.stderr[-2000:]
    assert leaked([run.stdout, run.stderr], ("98765432109",)) == []
