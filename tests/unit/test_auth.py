"""OAuthToken alone: when it refreshes, what it retries, what ends the run.

A scripted transport (`tests.helpers`) stands in for HubSpot's token endpoint and
the clock is under the test's control, so nothing leaves the process and nothing sleeps.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

import pytest
import requests

from tap_hubspot_associations.auth import OAuthToken, StaticToken
from tap_hubspot_associations.errors import HubSpotError
from tap_hubspot_associations.redaction import MASK, SECRETS
from tests.fakes import Canned, Clock, RecordingEvent, Transport, session_with

TOKEN_URL = "https://token.test/oauth/v1/token"


class TokenEndpoint:
    """Answers each refresh with a new token, and records the forms it was sent."""

    def __init__(self, expires_in: object = 1800) -> None:
        self.forms: list[dict[str, list[str]]] = []
        self.expires_in = expires_in

    def __call__(self, request: requests.PreparedRequest) -> Canned:
        assert isinstance(request.body, str)
        self.forms.append(parse_qs(request.body))
        issued = len(self.forms)
        body = {
            "access_token": f"test-access-token-{issued}",
            "refresh_token": f"test-refresh-token-{issued}",
            "expires_in": self.expires_in,
        }
        return Canned(body=json.dumps(body).encode())


def oauth(
    *script: Any,
    transport: Transport | None = None,
    clock: Clock | None = None,
    max_retries: int = 2,
) -> OAuthToken:
    """An OAuth token answered by `script` (or by `transport`, to see its requests)."""
    return OAuthToken(
        token_url=TOKEN_URL,
        client_id="id",
        client_secret="secret",
        refresh_token="refresh-0",
        session=session_with(transport or Transport(*script)),
        timeout=5,
        max_retries=max_retries,
        max_wait=300,
        clock=clock or Clock(),
    )


def test_refreshes_a_fifth_of_a_short_lifetime_early() -> None:
    endpoint, clock = TokenEndpoint(expires_in=100), Clock()
    token = oauth(endpoint, clock=clock)
    assert token.token() == "test-access-token-1"
    clock.now += 79.9
    assert token.token() == "test-access-token-1"
    clock.now += 0.1
    assert token.token() == "test-access-token-2"
    assert len(endpoint.forms) == 2


def test_refreshes_five_minutes_early_at_most() -> None:
    endpoint, clock = TokenEndpoint(expires_in=1800), Clock()
    token = oauth(endpoint, clock=clock)
    token.token()
    clock.now += 1499.9
    assert token.token() == "test-access-token-1"
    clock.now += 0.1
    assert token.token() == "test-access-token-2"


def test_each_refresh_sends_the_latest_refresh_token() -> None:
    endpoint, clock = TokenEndpoint(expires_in=100), Clock()
    token = oauth(endpoint, clock=clock)
    token.token()
    clock.now += 100
    token.token()
    assert [form["refresh_token"] for form in endpoint.forms] == [
        ["refresh-0"],
        ["test-refresh-token-1"],
    ]
    assert endpoint.forms[0]["grant_type"] == ["refresh_token"]


def test_renew_replaces_only_the_token_that_was_rejected() -> None:
    endpoint = TokenEndpoint()
    token = oauth(endpoint)
    first = token.token()
    assert token.renew(first)
    assert token.token() == "test-access-token-2"
    assert token.renew(first)  # a second request rejected with the old token: no refresh
    assert len(endpoint.forms) == 2


def test_a_static_token_cannot_be_renewed() -> None:
    static = StaticToken("pat-na1-x")
    assert static.token() == "pat-na1-x"
    assert not static.renew("pat-na1-x")


def test_every_issued_token_is_a_secret_at_once() -> None:
    token = oauth(TokenEndpoint())
    issued = token.token()
    assert SECRETS.redact(f"Bearer {issued}") == f"Bearer {MASK}"
    assert SECRETS.redact("test-refresh-token-1") == MASK


@pytest.mark.parametrize(
    "blip",
    [
        Canned(503, b"<html>busy</html>", {"Content-Type": "text/html"}, "Unavailable"),
        Canned(429, b'{"message": "slow down"}', {"Retry-After": "1"}, "Too Many Requests"),
        Canned(200, b'{"access_token": "tok'),
        Canned(400, b"<html>proxy</html>", {"Content-Type": "text/html"}, "Bad Request"),
        Canned(error=requests.ConnectionError("reset")),
        Canned(error=requests.ReadTimeout("slow")),
    ],
    ids=["503", "429", "truncated body", "400 without an error body", "reset", "timeout"],
)
def test_a_transient_failure_of_the_refresh_is_retried(blip: Canned) -> None:
    endpoint = TokenEndpoint()
    token = oauth(blip, endpoint)
    cancel = RecordingEvent()
    assert token.token(cancel) == "test-access-token-1"
    assert len(cancel.waits) == 1


def test_a_token_too_short_to_be_hubspots_is_refused_and_never_masked() -> None:
    """A token of a few characters ("1000") would be masked wherever it appears in the
    records: it is retried as a malformed answer, and not learned as a secret."""
    short = Canned(200, b'{"access_token": "1000", "expires_in": 1800}')
    token = oauth(short, TokenEndpoint())
    assert token.token(RecordingEvent()) == "test-access-token-1"
    assert SECRETS.redact_bytes(b'{"type_id":1000}') == b'{"type_id":1000}'


@pytest.mark.parametrize("expires_in", ["soon", True, None, -5, 0, [1800]])
def test_a_malformed_lifetime_is_retried_then_named(expires_in: object) -> None:
    endpoint = TokenEndpoint(expires_in=expires_in)
    token = oauth(endpoint, max_retries=2)
    with pytest.raises(HubSpotError, match=r"still failing after 2 retries: .*expires_in"):
        token.token(RecordingEvent())
    assert len(endpoint.forms) == 3


def test_an_invalid_refresh_token_is_fatal_with_hubspots_message() -> None:
    refused = Canned(
        400,
        json.dumps(
            {"status": "BAD_REFRESH_TOKEN", "message": "missing or unknown refresh token"}
        ).encode(),
        reason="Bad Request",
    )
    transport = Transport(refused, TokenEndpoint())
    token = oauth(transport=transport)
    with pytest.raises(HubSpotError, match=r"refused \(400\): missing or unknown refresh token"):
        token.token(RecordingEvent())
    assert len(transport.requests) == 1


def test_a_redirect_of_the_token_request_is_refused_and_never_followed() -> None:
    transport = Transport(
        Canned(307, b"", {"Location": "http://attacker.test/collect"}, "Temporary Redirect"),
        TokenEndpoint(),
    )
    token = oauth(transport=transport)
    with pytest.raises(HubSpotError, match=r"307 Temporary Redirect.*redirects are refused"):
        token.token(RecordingEvent())
    assert [request.url for request in transport.requests] == [TOKEN_URL]
