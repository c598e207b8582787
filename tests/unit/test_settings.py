"""Settings read in process: api_url, credentials, defaults (the command line's handling
of them: tests/e2e/test_inputs.py)."""

from __future__ import annotations

from typing import Any

import pytest

from tap_hubspot_associations.errors import ConfigError
from tap_hubspot_associations.settings import CONFIG_SCHEMA, DEFAULTS, AssociationPair, Settings


@pytest.mark.parametrize(
    ("from_type", "to_type", "name"),
    [
        ("contacts", "companies", "contacts_to_companies"),
        ("p4242_cars", "contacts", "p4242_cars_to_contacts"),
        ("2-4242", "contacts", "2_4242_to_contacts"),
        ("Line Items", "DEALS", "line_items_to_deals"),
    ],
)
def test_stream_names(from_type: str, to_type: str, name: str) -> None:
    assert AssociationPair("associations[0]", from_type, to_type, ()).stream_name == name


SECRET = "pat-na1-settings-test-secret"


def settings(**given: Any) -> Settings:
    return Settings.from_config({"access_token": SECRET, **given})


@pytest.mark.parametrize(
    ("api_url", "complaint"),
    [
        ("http://localhost:99999", "invalid port"),
        ("http://localhost:0", "invalid port"),
        ("https://api.hubapi.com ", "whitespace around it"),
        (" https://api.hubapi.com", "whitespace around it"),
        ("https://api.hubapi.com\n", "whitespace around it"),
        ("https://api.hub\tapi.com", "control character"),
        ("https://api.hub\x00api.com", "control character"),
        ("https://api hubapi.com", "a space"),
    ],
)
def test_an_api_url_that_cannot_be_sent_to_is_refused(api_url: str, complaint: str) -> None:
    with pytest.raises(ConfigError, match=complaint) as raised:
        settings(api_url=api_url)
    assert str(raised.value).startswith("api_url ")


def test_a_good_api_url_with_a_port_passes() -> None:
    assert settings(api_url="http://127.0.0.1:8080").api_url == "http://127.0.0.1:8080"


@pytest.mark.parametrize("name", ["access_token", "client_secret", "refresh_token"])
@pytest.mark.parametrize("bad", ["\r\nX-Injected: 1", "\n", " ", "\t", "\x7f", "é"])
def test_a_credential_that_cannot_travel_in_a_header_is_refused_without_echo(
    name: str, bad: str
) -> None:
    value = f"{SECRET}-{name}{bad}"
    config: dict[str, Any] = {"client_id": "id", "client_secret": "cs-test", "refresh_token": "rt"}
    config[name] = value
    with pytest.raises(ConfigError) as raised:
        Settings.from_config(config)
    message = str(raised.value)
    assert message.startswith(f"{name} contains")
    assert SECRET not in message


def test_max_wait_seconds_is_a_setting_with_its_default_in_the_schema() -> None:
    spec = CONFIG_SCHEMA["properties"]["max_wait_seconds"]
    assert spec["default"] == DEFAULTS["max_wait_seconds"] == 300
    assert spec["minimum"] == 1
    assert spec["description"]
    assert settings().max_wait_seconds == 300
    assert settings(max_wait_seconds=2.5).max_wait_seconds == 2.5


def test_a_setting_given_as_null_takes_its_default() -> None:
    """The schema lets null through (a Meltano setting cleared, a generated config): it
    is a setting not given, not a number to convert."""
    given = {
        "access_token": "pat-na1-settings-test",
        "progress_interval": None,
        "max_wait_seconds": None,
        "max_retries": None,
    }
    settings = Settings.from_config(given)
    assert (settings.progress_interval, settings.max_wait_seconds, settings.max_retries) == (
        10,
        300,
        5,
    ), "the defaults the README's table gives"


def test_pairs_keep_their_ids_as_given_and_ids_that_are_not_a_list_are_refused() -> None:
    pair = {"from": "contacts", "to": "companies"}
    listed = settings(associations=[{**pair, "ids": ["12", 34]}]).pairs[0]
    assert (listed.ids, listed.ids_file, listed.lists_ids) == (("12", 34), None, True)
    every = settings(associations=[pair]).pairs[0]
    assert (every.ids, every.ids_file, every.lists_ids) == (None, None, False)
    with pytest.raises(ConfigError, match=r"^associations\[0\]\.ids: must be a list"):
        settings(associations=[{**pair, "ids": "12"}])
    with pytest.raises(ConfigError, match=r"^associations\[0\]\.ids_file: must be the path"):
        settings(associations=[{**pair, "ids_file": 5}])
