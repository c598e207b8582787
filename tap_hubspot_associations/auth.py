"""Authentication: the bearer token of each request, static or OAuth-refreshed."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

import requests

from tap_hubspot_associations.client import describe, json_object
from tap_hubspot_associations.errors import HubSpotError


class Auth(Protocol):
    """Supplies the bearer token of each request."""

    def token(self) -> str: ...

    def renew(self, rejected: str) -> bool:
        """Get a fresh token after HubSpot called `rejected` expired; False if impossible."""
        ...


class StaticToken:
    """A private app token or service key: it never changes."""

    def __init__(self, access_token: str) -> None:
        self._access_token = access_token

    def token(self) -> str:
        return self._access_token

    def renew(self, rejected: str) -> bool:
        return False


class OAuthToken:
    """An OAuth access token, refreshed ahead of its expiry and shared by every stream."""

    def __init__(
        self,
        *,
        token_url: str,
        client_id: str,
        client_secret: str,
        refresh_token: str,
        session: requests.Session,
        timeout: tuple[float, float],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clock = clock
        self._token_url = token_url
        self._client_id = client_id
        self._client_secret = client_secret
        self._refresh_token = refresh_token
        self._session = session
        self._timeout = timeout
        self._lock = threading.Lock()
        self._access_token: str | None = None
        self._refresh_at = 0.0

    def token(self) -> str:
        with self._lock:
            if self._access_token is None or self._clock() >= self._refresh_at:
                self._refresh()
            assert self._access_token is not None
            return self._access_token

    def renew(self, rejected: str) -> bool:
        with self._lock:
            if self._access_token == rejected:
                self._refresh()
        return True

    def _refresh(self) -> None:
        form = {
            "grant_type": "refresh_token",
            "client_id": self._client_id,
            "client_secret": self._client_secret,
            "refresh_token": self._refresh_token,
        }
        try:
            response = self._session.post(self._token_url, data=form, timeout=self._timeout)
        except requests.RequestException as exc:
            raise HubSpotError(
                f"OAuth token refresh at {self._token_url} failed: {type(exc).__name__}"
            ) from None
        body = json_object(response.content)
        token = body.get("access_token") if body else None
        if response.status_code != 200 or not isinstance(token, str):
            raise HubSpotError(
                f"OAuth token refresh was refused ({response.status_code}): "
                f"{describe(response, body)}; check client_id, client_secret and refresh_token"
            )
        expires_in = float(body.get("expires_in") or 1800) if body else 1800.0
        self._access_token = token
        self._refresh_at = self._clock() + expires_in - min(300.0, expires_in / 5)
        if body and isinstance(body.get("refresh_token"), str):
            self._refresh_token = body["refresh_token"]
