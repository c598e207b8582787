"""The HubSpot client: authentication, pacing under the rate limit, and retries.

Every stream shares one client, so one token and one rate budget serve the whole run.
Errors that retrying cannot fix become `HubSpotError` with HubSpot's own message and
correlation id; secrets never enter a message.
"""

from __future__ import annotations

import bisect
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn, Protocol, cast

import backoff
import msgspec
import requests

from tap_hubspot_associations.errors import HubSpotError

DEFAULT_WINDOW_SECONDS = 10.0
SEARCH_PER_SECOND = 5
"""CRM search's own limit per account, beside the app's rolling window."""
ARRIVAL_MARGIN = 0.1
"""Seconds a request may take to reach HubSpot after it is sent."""
CONNECT_TIMEOUT_SECONDS = 10.0
TOKEN_PATH = "/oauth/v1/token"
_TRANSIENT_STATUSES = frozenset({423, 477})
_LOCKED_MIN_WAIT_SECONDS = 2.0
MAX_RATE_LIMITED_WAITS = 30


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
    ) -> None:
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
            if self._access_token is None or time.monotonic() >= self._refresh_at:
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
        body = _json_object(response)
        token = body.get("access_token") if body else None
        if response.status_code != 200 or not isinstance(token, str):
            raise HubSpotError(
                f"OAuth token refresh was refused ({response.status_code}): "
                f"{_describe(response, body)}; check client_id, client_secret and refresh_token"
            )
        expires_in = float(body.get("expires_in") or 1800) if body else 1800.0
        self._access_token = token
        self._refresh_at = time.monotonic() + expires_in - min(300.0, expires_in / 5)
        if body and isinstance(body.get("refresh_token"), str):
            self._refresh_token = body["refresh_token"]


class RateBudget:
    """One rolling window of requests for the whole run, never fuller than HubSpot allows.

    The user grants a ceiling (`max_requests_per_10s`); HubSpot's headers may announce a
    lower one, a different window, or fewer requests remaining (other clients of the
    app): the budget keeps under all of them. The window is rolling, so a slot frees
    when the oldest request in it ages out, and bursts within a window are fine. A
    request holds its slot from sending until its response, and is then dated when
    HubSpot will have counted it: on arrival, which is at most `ARRIVAL_MARGIN` after
    sending (and never after the response).
    """

    def __init__(
        self,
        *,
        max_requests: int,
        window: float = DEFAULT_WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._done: list[float] = []
        self._sent: list[float] = []
        self._in_flight = 0
        self._others: deque[tuple[float, int]] = deque()
        self._ceiling_per_second = max_requests / window
        self._announced: int | None = None
        self._answered = False
        self.window = window

    @property
    def limit(self) -> int:
        """Requests allowed per window now; one alone until a response tells the limits."""
        if not self._answered:
            return 1
        ceiling = max(1, int(self._ceiling_per_second * self.window + 1e-9))
        return ceiling if self._announced is None else min(ceiling, self._announced)

    def acquire(self, cancel: threading.Event) -> float | None:
        """Wait for a free slot in the window and take it until `release()`.

        Returns the time of sending, or None if cancelled first.
        """
        while not cancel.is_set():
            with self._lock:
                now = self._clock()
                self._forget_before(now - self.window)
                if len(self._done) + self._in_flight + self._held_by_others(now) < self.limit:
                    self._in_flight += 1
                    self._sent.append(now)
                    return now
                wait = self._done[0] + self.window - now if self._done else 0.05
            cancel.wait(max(wait, 0.001))
        return None

    def release(self, sent_at: float, headers: Mapping[str, str]) -> None:
        """Date the request by its arrival at HubSpot and adopt what HubSpot announces."""
        announced = _int_header(headers, "X-HubSpot-RateLimit-Max")
        interval_ms = _int_header(headers, "X-HubSpot-RateLimit-Interval-Milliseconds")
        remaining = _int_header(headers, "X-HubSpot-RateLimit-Remaining")
        with self._lock:
            now = self._clock()
            self._in_flight -= 1
            bisect.insort(self._done, min(now, sent_at + ARRIVAL_MARGIN))
            self._answered = True
            if announced is not None and announced > 0:
                self._announced = announced
            if interval_ms is not None and interval_ms > 0:
                self.window = interval_ms / 1000
            if remaining is not None and self._announced is not None:
                # HubSpot counted `remaining` when this request arrived: ours then were
                # those sent in the window before it, the rest belong to other clients.
                ours = bisect.bisect_right(self._sent, sent_at) - bisect.bisect_right(
                    self._sent, sent_at - self.window
                )
                others = self._announced - remaining - ours
                self._others.append((now, max(0, others)))

    def wait_after_429(self, headers: Mapping[str, str]) -> float:
        """Seconds to wait after a 429: `Retry-After`, else until the window frees."""
        retry_after = _float_header(headers, "Retry-After")
        if retry_after is not None:
            return max(retry_after, 0.0)
        interval_ms = _int_header(headers, "X-HubSpot-RateLimit-Interval-Milliseconds")
        window = interval_ms / 1000 if interval_ms else self.window
        with self._lock:
            now = self._clock()
            self._forget_before(now - window)
            oldest = self._done[0] if self._done else now
        return max(oldest + window - now, 0.05)

    def _held_by_others(self, now: float) -> int:
        """Slots other clients of the app hold: the most any response of the last window
        implied (each one alone may miss a few, as our own dates are estimates)."""
        while self._others and self._others[0][0] <= now - self.window:
            self._others.popleft()
        return max((held for _, held in self._others), default=0)

    def _forget_before(self, horizon: float) -> None:
        del self._done[: bisect.bisect_right(self._done, horizon)]
        del self._sent[: bisect.bisect_right(self._sent, horizon - self.window)]


@dataclass
class RequestStats:
    """What the client did, for the coverage summary."""

    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self, name: str) -> None:
        with self.lock:
            setattr(self, name, getattr(self, name) + 1)


class _Transient(Exception):
    """A failure that a later attempt may not see."""

    def __init__(
        self, reason: str, wait: float | None = None, *, rate_limited: bool = False
    ) -> None:
        super().__init__(reason)
        self.wait = wait
        self.rate_limited = rate_limited


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
                return self._attempt(
                    method, url, body, list_key, budgets, renewed=renewed, cancel=cancel
                )
            except _Renewed:
                renewed = True
            except _Transient as exc:
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
                    self.stats.count("retries")
                wait = exc.wait if exc.wait is not None else backoff.full_jitter(next(delays))
                self.logger.warning("%s %s: %s; retrying in %.1f s", method, path, exc, wait)
                if cancel.wait(wait):
                    raise Cancelled from None

    def _attempt(
        self,
        method: str,
        url: str,
        body: Mapping[str, Any] | None,
        list_key: str,
        budgets: tuple[RateBudget, ...],
        *,
        renewed: bool,
        cancel: threading.Event,
    ) -> dict[str, Any]:
        token = self.auth.token()
        slots: list[tuple[RateBudget, float]] = []
        for budget in budgets:
            sent_at = budget.acquire(cancel)
            if sent_at is None:
                for taken, at in slots:
                    taken.release(at, {})
                raise Cancelled
            slots.append((budget, sent_at))
        self.stats.count("requests")
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
            raise _Transient("timed out") from None
        except requests.RequestException as exc:
            raise _Transient(f"connection failed ({type(exc).__name__})") from None
        finally:
            for budget, sent_at in slots:
                budget.release(sent_at, headers if budget is self.budget else {})
        status = response.status_code
        parsed = _json_object(response, content)
        if status in (200, 207):
            if parsed is None or not isinstance(parsed.get(list_key), list):
                raise _Transient(f"{status} response is not the expected JSON")
            return parsed
        if status == 429:
            self._rate_limited(response, parsed, budgets[0])
        if status == 401:
            expired = parsed is not None and parsed.get("category") == "EXPIRED_AUTHENTICATION"
            if expired and not renewed and self.auth.renew(token):
                raise _Renewed
            raise HubSpotError(
                f"HubSpot rejected the credentials (401): {_describe(response, parsed)}"
            )
        if status == 403:
            scopes = _required_scopes(parsed)
            hint = f"; grant the scopes {', '.join(scopes)}" if scopes else ""
            raise HubSpotError(f"HubSpot refused access (403): {_describe(response, parsed)}{hint}")
        if status in _TRANSIENT_STATUSES or status >= 500:
            wait = _float_header(response.headers, "Retry-After")
            if status == 423:
                wait = max(wait or 0.0, _LOCKED_MIN_WAIT_SECONDS)
            raise _Transient(f"HTTP {status} {_describe(response, parsed)}", wait)
        error = BadRequest if status == 400 else HubSpotError
        raise error(
            f"HubSpot rejected {method} {response.request.path_url} ({status}): "
            f"{_describe(response, parsed)}"
        )

    def _rate_limited(
        self, response: requests.Response, parsed: dict[str, Any] | None, budget: RateBudget
    ) -> NoReturn:
        self.stats.count("rate_limited")
        if parsed and parsed.get("policyName") == "DAILY":
            raise HubSpotError(
                "HubSpot's daily request limit for this account is spent (429 DAILY); "
                f"run again after the account's midnight: {_describe(response, parsed)}"
            )
        wait = budget.wait_after_429(response.headers)
        raise _Transient("429 rate limited", wait, rate_limited=True)


class BadRequest(HubSpotError):
    """HubSpot called the request invalid (400)."""


class Cancelled(Exception):
    """The caller gave up on this request (another one failed the run)."""


class _Renewed(Exception):
    """The token was renewed after HubSpot called it expired: send the request again."""


def _json_object(
    response: requests.Response, content: bytes | None = None
) -> dict[str, Any] | None:
    try:
        value = msgspec.json.decode(content if content is not None else response.content)
    except (msgspec.DecodeError, requests.RequestException):
        return None
    return cast("dict[str, Any]", value) if isinstance(value, dict) else None


def _describe(response: requests.Response, body: Mapping[str, Any] | None) -> str:
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


def _required_scopes(body: Mapping[str, Any] | None) -> list[str]:
    scopes: list[str] = []
    for error in (body or {}).get("errors") or []:
        context = error.get("context") if isinstance(error, dict) else None
        if isinstance(context, dict):
            scopes += [str(s) for s in context.get("requiredGranularScopes") or []]
    return scopes


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    value = _float_header(headers, name)
    return int(value) if value is not None else None


def _float_header(headers: Mapping[str, str], name: str) -> float | None:
    try:
        return float(headers[name])
    except (KeyError, TypeError, ValueError):
        return None
