"""The HubSpot client: sends requests within the rate budget, judges the answers, retries.

Every stream shares one client, so one token and one rate budget serve the whole run.
Sending (`_exchange`) and judging (`judge`, one table from status and body to
`Outcome`) are apart; `_send` turns outcomes into retries, waits and errors. Errors
that retrying cannot fix become `HubSpotError` with HubSpot's own message and
correlation id; secrets never enter a message.
"""

from __future__ import annotations

import enum
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import backoff
import msgspec
import requests

from tap_hubspot_associations.errors import (
    BadRequest,
    Cancelled,
    HubSpotError,
    Renewed,
    Transient,
)
from tap_hubspot_associations.rate_budget import RateBudget, float_header

if TYPE_CHECKING:
    from tap_hubspot_associations.auth import Auth

CONNECT_TIMEOUT_SECONDS = 10.0
LOCKED_MIN_WAIT_SECONDS = 2.0
"""HubSpot asks clients to wait at least this long after a 423 (locked)."""
MAX_RATE_LIMITED_WAITS = 30


class Outcome(enum.Enum):
    """What an answer means for the request that got it."""

    ANSWER = "the expected JSON body"
    BROKEN_BODY = "a success status whose body is not the expected JSON: retry"
    EXPIRED_TOKEN = "the token expired: renew it and send again"
    UNAUTHORIZED = "the credentials are wrong: fatal"
    FORBIDDEN = "a scope is missing: fatal"
    RATE_LIMITED = "a rate limit refused it: wait as told, send again"
    DAILY_LIMIT = "the day's budget is spent: fatal"
    TRANSIENT = "HubSpot failed for now: back off, retry"
    BAD_REQUEST = "HubSpot called it invalid (400): the caller decides"
    REFUSED = "any other answer: fatal"


def judge(status: int, body: Mapping[str, Any] | None, list_key: str) -> Outcome:
    """The outcome of an answer with `status` and JSON `body` (None: not a JSON object),
    for a request expecting a list at `list_key`."""
    if status in (200, 207):
        if body is not None and isinstance(body.get(list_key), list):
            return Outcome.ANSWER
        return Outcome.BROKEN_BODY
    category = body.get("category") if body else None
    if status == 401:
        expired = category == "EXPIRED_AUTHENTICATION"
        return Outcome.EXPIRED_TOKEN if expired else Outcome.UNAUTHORIZED
    if status == 403:
        return Outcome.FORBIDDEN
    if status == 429:
        daily = body is not None and body.get("policyName") == "DAILY"
        return Outcome.DAILY_LIMIT if daily else Outcome.RATE_LIMITED
    if status in (423, 477) or status >= 500:
        return Outcome.TRANSIENT
    if status == 400:
        return Outcome.BAD_REQUEST
    return Outcome.REFUSED


@dataclass
class RequestStats:
    """What the client did, for progress lines and the coverage summary."""

    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def sent(self) -> None:
        with self.lock:
            self.requests += 1

    def retried(self) -> None:
        with self.lock:
            self.retries += 1

    def refused_by_rate_limit(self) -> None:
        with self.lock:
            self.rate_limited += 1


@dataclass
class _Answer:
    response: requests.Response
    body: dict[str, Any] | None
    token: str
    """The token the request was sent with: renewal replaces it only if still current."""


class HubSpotClient:
    """Sends requests to HubSpot and returns their JSON bodies, or raises `HubSpotError`."""

    def __init__(
        self,
        *,
        api_url: str,
        auth: Auth,
        session: requests.Session,
        max_retries: int,
        read_timeout: float,
        logger: logging.Logger,
        budget: RateBudget,
        search_budget: RateBudget,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.auth = auth
        self.session = session
        self.max_retries = max_retries
        self.timeout = (CONNECT_TIMEOUT_SECONDS, read_timeout)
        self.logger = logger
        self.budget = budget
        self.search_budget = search_budget
        self.stats = RequestStats()

    def post(
        self,
        path: str,
        body: Mapping[str, Any],
        *,
        list_key: str,
        cancel: threading.Event | None = None,
    ) -> dict[str, Any]:
        """POST JSON; the answer must be a JSON object holding a list at `list_key`.

        Setting `cancel` makes waits and retries stop at once with `Cancelled`.
        """
        return self._send("POST", path, body, list_key, cancel or threading.Event(), ())

    def search(
        self, path: str, body: Mapping[str, Any], *, cancel: threading.Event | None = None
    ) -> dict[str, Any]:
        """POST a CRM search, paced by search's own per-second limit as well."""
        return self._send(
            "POST", path, body, "results", cancel or threading.Event(), (self.search_budget,)
        )

    def get(
        self, path: str, *, list_key: str, cancel: threading.Event | None = None
    ) -> dict[str, Any]:
        """GET `path` (query included); the answer must hold a list at `list_key`."""
        return self._send("GET", path, None, list_key, cancel or threading.Event(), ())

    def _send(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None,
        list_key: str,
        cancel: threading.Event,
        own_limits: tuple[RateBudget, ...],
    ) -> dict[str, Any]:
        """Send until an answer comes, paced by `own_limits` (an endpoint's own limits)
        and then by the app's budget."""
        url = self.api_url + path
        budgets = (*own_limits, self.budget)
        delays = backoff.expo(base=2, factor=0.5, max_value=30)
        next(delays)
        failures = 0
        rate_limited = 0
        renewed = False
        while True:
            try:
                answer = self._exchange(method, url, body, budgets, cancel)
                return self._outcome(answer, list_key, budgets[0], renewed=renewed)
            except Renewed:
                renewed = True
            except Transient as exc:
                if exc.rate_limited:
                    rate_limited += 1
                    if rate_limited > MAX_RATE_LIMITED_WAITS:
                        raise HubSpotError(
                            f"{method} {path} was rate limited {rate_limited} times in a row; "
                            "another app may be spending this account's budget"
                        ) from None
                else:
                    failures += 1
                    if failures > self.max_retries:
                        raise HubSpotError(
                            f"{method} {path} still failing after {self.max_retries} retries: {exc}"
                        ) from None
                    self.stats.retried()
                wait = exc.wait if exc.wait is not None else backoff.full_jitter(next(delays))
                self.logger.warning("%s %s: %s; retrying in %.1f s", method, path, exc, wait)
                if cancel.wait(wait):
                    raise Cancelled from None

    def _exchange(
        self,
        method: str,
        url: str,
        body: Mapping[str, Any] | None,
        budgets: tuple[RateBudget, ...],
        cancel: threading.Event,
    ) -> _Answer:
        """Send once, holding a slot of every budget; the answer as it came."""
        token = self.auth.token()
        slots: list[tuple[RateBudget, float]] = []
        for budget in budgets:
            sent_at = budget.acquire(cancel)
            if sent_at is None:
                for taken, at in slots:
                    taken.release(at, {})
                raise Cancelled
            slots.append((budget, sent_at))
        self.stats.sent()
        headers: Mapping[str, str] = {}
        try:
            response = self.session.request(
                method,
                url,
                json=body,
                headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
                timeout=self.timeout,
                allow_redirects=False,
            )
            content = response.content
            headers = response.headers
        except requests.Timeout:
            raise Transient("timed out") from None
        except requests.RequestException as exc:
            raise Transient(f"connection failed ({type(exc).__name__})") from None
        finally:
            for budget, sent_at in slots:
                budget.release(sent_at, headers if budget is self.budget else {})
        return _Answer(response, json_object(content), token)

    def _outcome(
        self, answer: _Answer, list_key: str, budget: RateBudget, *, renewed: bool
    ) -> dict[str, Any]:
        """The body of a good answer; any other answer raises what it means."""
        response, body = answer.response, answer.body
        status = response.status_code
        outcome = judge(status, body, list_key)
        if outcome is Outcome.ANSWER:
            assert body is not None
            return body
        if outcome is Outcome.BROKEN_BODY:
            raise Transient(f"{status} response is not the expected JSON")
        if outcome is Outcome.EXPIRED_TOKEN and not renewed and self.auth.renew(answer.token):
            raise Renewed
        if outcome in (Outcome.EXPIRED_TOKEN, Outcome.UNAUTHORIZED):
            raise HubSpotError(
                f"HubSpot rejected the credentials (401): {describe(response, body)}"
            )
        if outcome is Outcome.FORBIDDEN:
            scopes = required_scopes(body)
            hint = f"; grant the scopes {', '.join(scopes)}" if scopes else ""
            raise HubSpotError(f"HubSpot refused access (403): {describe(response, body)}{hint}")
        if outcome is Outcome.DAILY_LIMIT:
            self.stats.refused_by_rate_limit()
            raise HubSpotError(
                "HubSpot's daily request limit for this account is spent (429 DAILY); "
                f"run again after the account's midnight: {describe(response, body)}"
            )
        if outcome is Outcome.RATE_LIMITED:
            self.stats.refused_by_rate_limit()
            raise Transient(
                "429 rate limited", budget.wait_after_429(response.headers), rate_limited=True
            )
        if outcome is Outcome.TRANSIENT:
            asked = float_header(response.headers, "Retry-After")
            if status == 423:
                asked = max(asked or 0.0, LOCKED_MIN_WAIT_SECONDS)
            raise Transient(f"HTTP {status} {describe(response, body)}", asked)
        error = BadRequest if outcome is Outcome.BAD_REQUEST else HubSpotError
        raise error(
            f"HubSpot rejected {response.request.method} {response.request.path_url} "
            f"({status}): {describe(response, body)}"
        )


def json_object(content: bytes) -> dict[str, Any] | None:
    """`content` as a JSON object, or None when it is not one."""
    try:
        value = msgspec.json.decode(content)
    except msgspec.DecodeError:
        return None
    return cast("dict[str, Any]", value) if isinstance(value, dict) else None


def describe(response: requests.Response, body: Mapping[str, Any] | None) -> str:
    """HubSpot's message and correlation id, or what the response was instead."""
    correlation = response.headers.get("X-HubSpot-Correlation-Id")
    if body:
        message = str(body.get("message") or body.get("category") or "no message")
        correlation = str(body.get("correlationId") or correlation or "")
    else:
        kind = response.headers.get("Content-Type", "no content type").split(";")[0]
        message = f"{response.reason or 'no reason'}, {kind} body"
    message = " ".join(message.split())[:500]
    return f"{message} (correlation id {correlation})" if correlation else message


def required_scopes(body: Mapping[str, Any] | None) -> list[str]:
    """The scopes a 403 body says are missing."""
    scopes: list[str] = []
    for error in (body or {}).get("errors") or []:
        context = error.get("context") if isinstance(error, dict) else None
        if isinstance(context, dict):
            scopes += [str(s) for s in context.get("requiredGranularScopes") or []]
    return scopes
