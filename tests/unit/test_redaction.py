"""The one redaction every output passes, in process."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
from singer_sdk.configuration import _dict_config as dict_config

from tap_hubspot_associations import sdk_hooks
from tap_hubspot_associations.redaction import MASK, Secrets
from tests.helpers import SECRETS, leaked

SECRET = 'cs/abc+de=fg"q\\uo\u00e9te'


@pytest.mark.parametrize(
    "echoed",
    [
        SECRET,
        quote(SECRET, safe=""),
        quote_plus(SECRET),
        json.dumps(SECRET)[1:-1],
        json.dumps(SECRET, ensure_ascii=False)[1:-1],
    ],
    ids=["as is", "url-encoded", "form-encoded", "json ascii", "json"],
)
def test_a_secret_is_masked_in_every_form_a_server_echoes_it(echoed: str) -> None:
    secrets = Secrets()
    secrets.add(SECRET)
    text = f"client_secret={echoed}&grant_type=refresh_token"
    assert echoed not in secrets.redact(text)
    assert MASK in secrets.redact(text)
    assert echoed.encode() not in secrets.redact_bytes(text.encode())


def test_a_value_known_for_logs_only_is_masked_on_stderr_and_kept_in_records() -> None:
    """A stream map's config value may equal ordinary data ("companies") or be written
    into records on purpose: masking it on stdout would corrupt the records."""
    secrets = Secrets()
    secrets.add("companies", on_stdout=False)
    secrets.add(98765432109, on_stdout=False)
    record = b'{"stream":"contacts_to_companies","record":{"salt":98765432109}}'
    assert secrets.redact_bytes(record) == record
    assert secrets.redact("salt 98765432109 for companies") == f"salt {MASK} for {MASK}"
    secrets.add("companies")
    assert b"companies" not in secrets.redact_bytes(record), "a credential is masked anywhere"


def test_an_excerpt_of_a_secret_is_masked_on_stderr() -> None:
    secrets = Secrets()
    secrets.add("pat-na1-0123456789abcdef")
    shown = secrets.redact('line 1: \'{"access_token": "pat-na1-0123456789a...\'')
    assert "0123456789" not in shown


def test_values_too_short_or_not_given_are_not_secrets() -> None:
    secrets = Secrets()
    for value in (None, True, "", "abc"):
        secrets.add(value)
    assert secrets.redact("abc True None") == "abc True None"


def test_a_number_given_as_a_secret_is_masked() -> None:
    secrets = Secrets()
    secrets.add(918273645546372819)
    assert "918273645546372819" not in secrets.redact("got 918273645546372819")


def test_the_dotenv_file_the_sdk_loads_is_found_from_the_sdks_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = tmp_path / "venv" / "lib" / "singer_sdk" / "configuration" / "_dict_config.py"
    module.parent.mkdir(parents=True)
    (tmp_path / ".env").write_text("TAP_HUBSPOT_ASSOCIATIONS_ACCESS_TOKEN=pat-na1-in-dotenv\n")
    monkeypatch.setattr(dict_config, "__file__", str(module))
    assert sdk_hooks.dotenv_settings() == {
        "TAP_HUBSPOT_ASSOCIATIONS_ACCESS_TOKEN": "pat-na1-in-dotenv"
    }


def test_the_suite_wide_scan_finds_a_secret_anywhere_in_what_was_captured() -> None:
    planted = "pat-na1-planted-for-the-scan"
    outputs = ["a first run's output", f"a log line quoting {planted} in passing"]
    assert leaked(outputs, (*SECRETS, planted)) == [planted]
    assert leaked(outputs[:1], (*SECRETS, planted)) == []
