"""Authentication: the bearer token of each request, static or OAuth-refreshed.

The OAuth refresh is a request like any other: sent through `transport.send_once` (no
redirects, capped body, one deadline), retried on transient failures with backoff, and
fatal only when HubSpot answers that the refresh token or client is invalid. Every
token HubSpot issues is a secret from the moment it arrives.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeGuard

import requests

from tap_hubspot_associations.errors import Cancelled, HubSpotError, Transient
from tap_hubspot_associations.metrics import RequestMetrics
from tap_hubspot_associations.outcomes import Outcome, describe, judge_token
from tap_hubspot_associations.rate_budget import announced_wait
from tap_hubspot_associations.redaction import SECRETS
from tap_hubspot_associations.retry import Retries
from tap_hubspot_associations.transport import json_object, send_once
from tap_hubspot_associations.values import is_header_safe

MAX_TOKEN_LIFETIME = 86400.0
"""The longest lifetime believed of a token (HubSpot's last 30 minutes): past it the
token is refreshed anyway."""
MIN_ISSUED_TOKEN = 16
"""The fewest characters of a token the tap accepts from the token endpoint; HubSpot's
are far longer."""


class Auth(Protocol):
    """Supplies the bearer token of each request."""

    def token(self, cancel: threading.Event | None = None) -> str:
        """The token to send now; `cancel` stops any wait for a refresh."""
        ...

    def renew(self, rejected: str, cancel: threading.Event | None = None) -> bool:
        """Get a fresh token after HubSpot called `rejected` expired; False if impossible."""
        ...


class StaticToken:
    """A private app token or service key: it never changes."""

    def __init__(self, access_token: str) -> None:
        self._access_token = access_token

    def token(self, cancel: threading.Event | None = None) -> str:
        return self._access_token

    def renew(self, rejected: str, cancel: threading.Event | None = None) -> bool:
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
        timeout: float | tuple[float, float],
        max_retries: int,
        max_wait: float,
        logger: logging.Logger | None = None,
        request_metrics: RequestMetrics | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`timeout` bounds each whole token response (`request_timeout`); of a
        (connect, read) pair, the read part is taken."""
        self._clock = clock
        self._token_url = token_url
        self._client_id = client_id
        self._client_secret = client_secret
        self._refresh_token = refresh_token
        self._session = session
        self._timeout = timeout[-1] if isinstance(timeout, tuple) else timeout
        self._max_retries = max_retries
        self._max_wait = max_wait
        self._logger = logger or logging.getLogger(__name__)
        self._metrics = request_metrics
        self._lock = threading.Lock()
        self._access_token: str | None = None
        self._refresh_at = 0.0

    def token(self, cancel: threading.Event | None = None) -> str:
        with self._lock:
            if self._access_token is None or self._clock() >= self._refresh_at:
                self._refresh(cancel or threading.Event())
            assert self._access_token is not None
            return self._access_token

    def renew(self, rejected: str, cancel: threading.Event | None = None) -> bool:
        with self._lock:
            if self._access_token == rejected:
                self._refresh(cancel or threading.Event())
        return True

    def _refresh(self, cancel: threading.Event) -> None:
        """Refresh, retrying transient failures; `HubSpotError` when it cannot be done."""
        retries = Retries(self._max_retries)
        while True:
            try:
                self._refresh_once()
                return
            except Transient as exc:
                wait = retries.wait_after(exc.wait)
                if wait is None:
                    raise HubSpotError(
                        f"OAuth token refresh at {self._token_url} still failing after "
                        f"{self._max_retries} retries: {exc}"
                    ) from None
                self._logger.warning("OAuth token refresh: %s; retrying in %.1f s", exc, wait)
                if cancel.wait(wait):
                    raise Cancelled from None

    def _refresh_once(self) -> None:
        form = {
            "grant_type": "refresh_token",
            "client_id": self._client_id,
            "client_secret": self._client_secret,
            "refresh_token": self._refresh_token,
        }
        reply = send_once(
            self._session,
            "POST",
            self._token_url,
            headers={"Accept": "application/json"},
            form=form,
            timeout=self._timeout,
            clock=self._clock,
            request_metrics=self._metrics,
        )
        body = json_object(reply.content)
        status = reply.status
        outcome = judge_token(status, body)
        if outcome is Outcome.ANSWER:
            assert body is not None
            access_token, refresh_token, expires_in = _issued(body)
            self._access_token = access_token
            self._refresh_at = self._clock() + expires_in - min(300.0, expires_in / 5)
            if refresh_token is not None:
                self._refresh_token = refresh_token
            return
        said = describe(reply.reason, reply.headers, body)
        if outcome is Outcome.BROKEN_BODY:
            raise Transient("the token endpoint's answer (200) is not a JSON object")
        if outcome is Outcome.UNAUTHORIZED:
            raise HubSpotError(
                f"OAuth token refresh was refused ({status}): {said}; "
                "check client_id, client_secret and refresh_token"
            )
        if outcome is Outcome.TRANSIENT:
            asked = announced_wait(reply.headers, "Retry-After", self._max_wait)
            raise Transient(f"HTTP {status} {said}", asked)
        raise HubSpotError(
            f"OAuth token refresh at {self._token_url} was refused ({status}): {said}"
        )


def _usable(token: object) -> TypeGuard[str]:
    """Whether `token` can be a token HubSpot issued: visible ASCII, `MIN_ISSUED_TOKEN`
    characters at least. A shorter one would be masked wherever it appears in the
    records ("1000", an id), corrupting them."""
    return isinstance(token, str) and len(token) >= MIN_ISSUED_TOKEN and is_header_safe(token)


def _issued(body: Mapping[str, Any]) -> tuple[str, str | None, float]:
    """The access token, refresh token (None: keep the old one) and lifetime of a token
    answer; `Transient` when malformed. Each token is made a secret first, so no message
    can show it, not even this one's."""
    access_token, refresh_token = body.get("access_token"), body.get("refresh_token")
    for issued in (access_token, refresh_token):
        if isinstance(issued, str) and len(issued) >= MIN_ISSUED_TOKEN:
            SECRETS.add(issued)
    if not _usable(access_token):
        raise Transient("the token endpoint's answer has no usable access_token")
    if refresh_token is not None and not _usable(refresh_token):
        raise Transient("the token endpoint's answer has an unusable refresh_token")
    expires_in = body.get("expires_in")
    lifetime = math.nan
    if isinstance(expires_in, int) and not isinstance(expires_in, bool):
        # Capped before converting: a huge integer would overflow a float.
        lifetime = float(min(expires_in, MAX_TOKEN_LIFETIME))
    elif isinstance(expires_in, float) and math.isfinite(expires_in):
        lifetime = min(expires_in, MAX_TOKEN_LIFETIME)
    if not lifetime > 0:
        raise Transient(
            "the token endpoint's answer has no expires_in as a positive number of seconds"
        )
    return access_token, refresh_token, lifetime
