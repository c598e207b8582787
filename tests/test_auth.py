"""OAuthToken alone: when it refreshes, with the clock under the test's control.

A mock transport stands in for HubSpot's token endpoint, so nothing leaves the process.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

import requests
from requests.adapters import BaseAdapter

from tap_hubspot_associations.auth import OAuthToken, StaticToken

TOKEN_URL = "https://token.test/oauth/v1/token"


class TokenEndpoint(BaseAdapter):
    """Answers each refresh with a new token, and records the forms it was sent."""

    def __init__(self, expires_in: object = 1800) -> None:
        super().__init__()
        self.forms: list[dict[str, list[str]]] = []
        self.expires_in = expires_in

    def send(  # type: ignore[override]  # the transport ignores the sending options
        self, request: requests.PreparedRequest, **options: Any
    ) -> requests.Response:
        assert isinstance(request.body, str)
        self.forms.append(parse_qs(request.body))
        response = requests.Response()
        response.status_code = 200
        response._content = json.dumps(
            {
                "access_token": f"access-{len(self.forms)}",
                "refresh_token": f"refresh-{len(self.forms)}",
                "expires_in": self.expires_in,
            }
        ).encode()
        response.request = request
        return response

    def close(self) -> None: ...


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def oauth(endpoint: TokenEndpoint, clock: Clock) -> OAuthToken:
    session = requests.Session()
    session.mount("https://", endpoint)
    return OAuthToken(
        token_url=TOKEN_URL,
        client_id="id",
        client_secret="secret",
        refresh_token="refresh-0",
        session=session,
        timeout=(1, 1),
        clock=clock,
    )


def test_refreshes_a_fifth_of_a_short_lifetime_early() -> None:
    endpoint, clock = TokenEndpoint(expires_in=100), Clock()
    token = oauth(endpoint, clock)
    assert token.token() == "access-1"
    clock.now += 79.9
    assert token.token() == "access-1"
    clock.now += 0.1
    assert token.token() == "access-2"
    assert len(endpoint.forms) == 2


def test_refreshes_five_minutes_early_at_most() -> None:
    endpoint, clock = TokenEndpoint(expires_in=1800), Clock()
    token = oauth(endpoint, clock)
    token.token()
    clock.now += 1499.9
    assert token.token() == "access-1"
    clock.now += 0.1
    assert token.token() == "access-2"


def test_each_refresh_sends_the_latest_refresh_token() -> None:
    endpoint, clock = TokenEndpoint(expires_in=100), Clock()
    token = oauth(endpoint, clock)
    token.token()
    clock.now += 100
    token.token()
    assert [form["refresh_token"] for form in endpoint.forms] == [["refresh-0"], ["refresh-1"]]
    assert endpoint.forms[0]["grant_type"] == ["refresh_token"]


def test_renew_replaces_only_the_token_that_was_rejected() -> None:
    endpoint, clock = TokenEndpoint(), Clock()
    token = oauth(endpoint, clock)
    first = token.token()
    assert token.renew(first)
    assert token.token() == "access-2"
    assert token.renew(first)  # a second request rejected with the old token: no refresh
    assert len(endpoint.forms) == 2


def test_a_static_token_cannot_be_renewed() -> None:
    static = StaticToken("pat-na1-x")
    assert static.token() == "pat-na1-x"
    assert not static.renew("pat-na1-x")
