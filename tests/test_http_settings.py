"""Settings that would only fail as "connection failed" at the first request are refused
up front, with one line naming the setting and never a secret's value."""

from __future__ import annotations

from typing import Any

import pytest

from tap_hubspot_associations.errors import ConfigError
from tap_hubspot_associations.settings import CONFIG_SCHEMA, DEFAULTS, Settings

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
