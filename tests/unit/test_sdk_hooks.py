"""The singer-sdk internals the tap relies on are still there, or a test names them."""

from __future__ import annotations

from typing import Any

import pytest
from singer_sdk import Stream

from tap_hubspot_associations import sdk_hooks
from tap_hubspot_associations.tap import TapHubSpotAssociations

CONFIG = {
    "access_token": "pat-na1-unit",
    "api_url": "http://127.0.0.1:9",
    "associations": [{"from": "contacts", "to": "companies", "ids": ["1"]}],
}


def a_stream() -> Stream:
    tap = TapHubSpotAssociations(config=CONFIG, parse_env_config=False)
    return tap.streams["contacts_to_companies"]


def test_every_hook_the_tap_uses_is_offered_by_this_sdk() -> None:
    broken = sdk_hooks.broken_hooks(a_stream())
    assert not broken, f"singer-sdk changed private hooks the tap relies on: {broken}"


def test_a_changed_hook_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    def changed(self: Stream, state: Any) -> None: ...

    monkeypatch.setattr(Stream, "_write_state_message", changed)
    assert sdk_hooks.broken_hooks(a_stream()) == ["Stream._write_state_message(self)"]


def test_a_log_line_the_tap_drops_that_the_sdk_no_longer_writes_is_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sdk_hooks, "SKIPPED_STREAM_MESSAGE", "Skipping '%s', which it never says")
    assert sdk_hooks.broken_hooks(a_stream()) == [
        "Tap.sync_all logging \"Skipping '%s', which it never says\""
    ]
