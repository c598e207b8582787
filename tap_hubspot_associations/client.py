"""The HubSpot client: sends requests within the rate budget, judges the answers, retries.

Every stream shares one client, so one token and one rate budget serve the whole run.
Sending one request (`send_once`, shared with the OAuth token refresh) is the only place
that touches HTTP: it never follows a redirect, reads the body under one deadline for
the whole response, and caps its size. Judging (`judge`, one table from status and
body to `Outcome`) is apart; `_send` turns outcomes into retries, waits and errors.
Errors that retrying cannot fix become `HubSpotError` with HubSpot's own message and
correlation id; secrets never enter a message.
"""

from __future__ import annotations

import contextlib
import email.utils
import enum
import http.client
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

import backoff
import msgspec
import requests
import urllib3
import urllib3.connection
from requests.adapters import HTTPAdapter
from singer_sdk import metrics

from tap_hubspot_associations.errors import (
    BadRequest,
    Cancelled,
    HubSpotError,
    Renewed,
    Transient,
)
from tap_hubspot_associations.rate_budget import (
    RateBudget,
    WaitNotices,
    announced_wait,
    header_count,
)
from tap_hubspot_associations.settings import DEFAULTS

if TYPE_CHECKING:
    from tap_hubspot_associations.auth import Auth

CONNECT_TIMEOUT_SECONDS = 10.0
LOCKED_MIN_WAIT_SECONDS = 2.0
"""HubSpot asks clients to wait at least this long after a 423 (locked)."""
MAX_RATE_LIMITED_WAITS = 30
MAX_RENEWALS = 3
"""Token renewals one request may ask for: tokens can expire again while a request
waits for its turn, but a token HubSpot calls expired at once, every time, is not one."""
MAX_BODY_BYTES = 64 * 1024 * 1024
"""The largest response body read, once decoded: a gzip bomb or an endless body stops
here instead of filling memory. HubSpot's largest answers are a few megabytes."""
READ_CHUNK_BYTES = 64 * 1024
BACKOFF_BASE_SECONDS = 0.5
"""The first retry's backoff; each further one doubles it, up to `BACKOFF_MAX_SECONDS`."""
BACKOFF_MAX_SECONDS = 30.0


class Outcome(enum.Enum):
    """What an answer means for the request that got it."""

    ANSWER = "the expected JSON body"
    BROKEN_BODY = "a success status whose body is not the expected JSON: retry"
    NOT_FINAL = "a batch answer still PENDING, PROCESSING or CANCELED: retry"
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
        if body is None or not isinstance(body.get(list_key), list):
            return Outcome.BROKEN_BODY
        if body.get("status", "COMPLETE") != "COMPLETE":
            return Outcome.NOT_FINAL
        return Outcome.ANSWER
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
    daily_allowance: int | None = None
    """`X-HubSpot-RateLimit-Daily`: the account's requests per day, when HubSpot says."""
    daily_remaining_first: int | None = None
    daily_remaining_last: int | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def answered(self, headers: Mapping[str, str]) -> None:
        """Keep what HubSpot says of the day's allowance (not sent to OAuth apps)."""
        allowance = header_count(headers, "X-HubSpot-RateLimit-Daily")
        remaining = header_count(headers, "X-HubSpot-RateLimit-Daily-Remaining")
        with self.lock:
            if allowance is not None:
                self.daily_allowance = allowance
            if remaining is not None:
                if self.daily_remaining_first is None:
                    self.daily_remaining_first = remaining
                self.daily_remaining_last = remaining

    def daily_summary(self) -> tuple[str, bool] | None:
        """A line on the day's allowance, and whether this run spent more than a tenth
        of it; None when HubSpot never said."""
        first, last, allowance = (
            self.daily_remaining_first,
            self.daily_remaining_last,
            self.daily_allowance,
        )
        if first is None or last is None:
            return None
        spent = max(first - last, 0) + 1
        line = f"HubSpot's daily allowance: {last:,} requests remaining"
        if allowance is None:
            return f"{line}; this run spent about {spent:,}", False
        line += f" of {allowance:,}; this run spent about {spent:,}"
        return line, spent > allowance / 10

    def sent(self) -> None:
        with self.lock:
            self.requests += 1

    def retried(self) -> None:
        with self.lock:
            self.retries += 1

    def refused_by_rate_limit(self) -> None:
        with self.lock:
            self.rate_limited += 1


class HubSpotClock:
    """HubSpot's time, read off the `Date` header of its answers.

    Modification times are HubSpot's, so windows over them must be too: this machine's
    clock may be minutes off. `Date` has whole seconds and is stamped before the answer
    travels, so the estimate runs at most a second and a response's travel behind
    HubSpot's clock, never ahead of it.
    """

    def __init__(self, local: Callable[[], float] = time.time) -> None:
        self._local = local
        self._offset: float | None = None
        self._lock = threading.Lock()

    def saw(self, date: object) -> None:
        """An answer came with this `Date` header (anything else is ignored)."""
        if not isinstance(date, str):
            return
        try:
            stamped = email.utils.parsedate_to_datetime(date)
        except (TypeError, ValueError, IndexError, OverflowError):
            return
        if stamped.tzinfo is None:
            return
        with self._lock:
            self._offset = stamped.timestamp() - self._local()

    def now_ms(self) -> int | None:
        """HubSpot's time now in epoch ms; None before any answer with a `Date`."""
        with self._lock:
            offset = self._offset
        return None if offset is None else int((self._local() + offset) * 1000)


class RequestMetrics:
    """The SDK's metric lines for HTTP requests, as its REST streams write them.

    Every request logs its `http_request_duration`; `http_request_count` is logged per
    endpoint and status once `interval` has passed, and by `flush()` at the end of the
    run. The endpoint is the request's path without its query (paths hold object
    types, never record ids). One client serves every stream, so no stream is tagged.
    """

    def __init__(
        self,
        *,
        interval: float = metrics.DEFAULT_LOG_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
        logger: logging.Logger | None = None,
    ) -> None:
        self._interval = interval
        self._clock = clock
        self._logger = logger or metrics.get_metrics_logger()
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, int | None], int] = {}
        self._logged_at = clock()

    def record(self, endpoint: str, status: int | None, seconds: float) -> None:
        """One request to `endpoint` ended with `status` (None: no response) after
        `seconds`."""
        metrics.log(
            self._logger,
            metrics.Point(
                "timer", metrics.Metric.HTTP_REQUEST_DURATION, seconds, _tags(endpoint, status)
            ),
        )
        due: dict[tuple[str, int | None], int] = {}
        with self._lock:
            key = (endpoint, status)
            self._counts[key] = self._counts.get(key, 0) + 1
            if self._clock() - self._logged_at >= self._interval:
                due = self._take()
        self._log_counts(due)

    def flush(self) -> None:
        """Log the counts not logged yet (at the end of a run)."""
        with self._lock:
            due = self._take()
        self._log_counts(due)

    def _take(self) -> dict[tuple[str, int | None], int]:
        counts, self._counts = self._counts, {}
        self._logged_at = self._clock()
        return counts

    def _log_counts(self, counts: Mapping[tuple[str, int | None], int]) -> None:
        for (endpoint, status), count in sorted(counts.items(), key=str):
            metrics.log(
                self._logger,
                metrics.Point(
                    "counter", metrics.Metric.HTTP_REQUEST_COUNT, count, _tags(endpoint, status)
                ),
            )


def _tags(endpoint: str, status: int | None) -> dict[str, Any]:
    ok = status is not None and status < 400
    tags: dict[str, Any] = {
        metrics.Tag.ENDPOINT: endpoint,
        metrics.Tag.STATUS: metrics.Status.SUCCEEDED if ok else metrics.Status.FAILED,
    }
    if status is not None:
        tags[metrics.Tag.HTTP_STATUS_CODE] = status
    return tags


@dataclass(frozen=True)
class Reply:
    """One HTTP answer, read whole."""

    status: int
    reason: str
    headers: Mapping[str, str]
    content: bytes
    method: str
    path: str
    """The request's path and query, for messages."""


_deadline = threading.local()
"""The monotonic time by which the answer being read in this thread must be whole."""


class _DeadlineConnectionMixin:
    """A connection that gives up reading an answer's status line and headers at the
    deadline `send_once` set: a read timeout restarts with every byte, so a server
    dripping its headers would otherwise hold the request for as long as it likes."""

    sock: socket.socket | None

    def getresponse(self) -> Any:
        deadline: float | None = getattr(_deadline, "at", None)
        timer = None
        if deadline is not None:
            timer = threading.Timer(max(deadline - time.monotonic(), 0.0), self._cut)
            timer.daemon = True
            timer.start()
        try:
            return super().getresponse()  # type: ignore[misc]
        finally:
            if timer is not None:
                timer.cancel()

    def _cut(self) -> None:
        sock = self.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class _DeadlineHTTPConnection(_DeadlineConnectionMixin, urllib3.connection.HTTPConnection):
    pass


class _DeadlineHTTPSConnection(_DeadlineConnectionMixin, urllib3.connection.HTTPSConnection):
    pass


class _DeadlineHTTPPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _DeadlineHTTPConnection


class _DeadlineHTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _DeadlineHTTPSConnection


class DeadlineAdapter(HTTPAdapter):
    """requests' adapter whose connections keep `send_once`'s deadline for the headers."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _DeadlineHTTPPool,
            "https": _DeadlineHTTPSPool,
        }


def hubspot_session(*, pool_size: int, user_agent: str) -> requests.Session:
    """The session every request of the run goes through: pooled connections, each
    answer read whole within its deadline."""
    session = requests.Session()
    session.headers["User-Agent"] = user_agent
    adapter = DeadlineAdapter(pool_connections=4, pool_maxsize=pool_size)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def send_once(
    session: requests.Session,
    method: str,
    url: str,
    *,
    headers: Mapping[str, str],
    timeout: float,
    json_body: Mapping[str, Any] | None = None,
    form: Mapping[str, str] | None = None,
    max_body: int = MAX_BODY_BYTES,
    clock: Callable[[], float] = time.monotonic,
    request_metrics: RequestMetrics | None = None,
) -> Reply:
    """Send one request and read its answer whole, safely; the only place HTTP is spoken.

    - `timeout` bounds the whole response, body included: a server dripping a byte a
      second cannot hold a request for minutes. The deadline is checked as data
      arrives, and a read that gets nothing ends after `timeout`, so an answer takes
      at most twice `timeout`. Past it: `Transient("timed out")`.
    - A body longer than `max_body` once decoded is `Transient` (a later answer may be
      whole); reading stops there, so a gzip bomb never fills memory.
    - A redirect is never followed (it would carry the Authorization header or the
      OAuth form to wherever it points): `HubSpotError`, not retried.
    - The connection goes back to the pool only after a body read to its end, and is
      closed otherwise.
    """
    started = clock()
    deadline = started + timeout
    path = urlsplit(url).path
    status: int | None = None
    try:
        _deadline.at = time.monotonic() + timeout
        try:
            response = session.request(
                method,
                url,
                json=json_body,
                data=form,
                headers=dict(headers),
                timeout=(min(CONNECT_TIMEOUT_SECONDS, timeout), timeout),
                allow_redirects=False,
                stream=True,
            )
        except requests.Timeout:
            raise Transient("timed out") from None
        except requests.exceptions.SSLError as exc:
            raise HubSpotError(
                f"TLS with {_where(url)} failed ({_tls_reason(exc)}): check that api_url's "
                "scheme is the server's (https for HubSpot) and that its certificate is valid"
            ) from None
        except requests.RequestException as exc:
            if time.monotonic() >= _deadline.at:
                raise Transient("timed out") from None
            raise Transient(connection_failure(exc, url)) from None
        finally:
            _deadline.at = None
        status = response.status_code
        read_whole = False
        try:
            if 300 <= status < 400:
                answered = f"{status} {_one_line(response.reason or '')}".rstrip()
                raise HubSpotError(
                    f"{method} {response.request.path_url or path} was answered {answered}, "
                    "a redirect to "
                    f"{_one_line(response.headers.get('Location') or 'nowhere')!r}: "
                    "redirects are refused, as the request's credentials would follow it; "
                    "check api_url"
                )
            content = _read_body(response, deadline, clock, max_body)
            read_whole = True
        finally:
            if read_whole:
                response.raw.release_conn()
            else:
                response.close()
        return Reply(
            status=status,
            reason=response.reason or "",
            headers=response.headers,
            content=content,
            method=method,
            path=response.request.path_url or path,
        )
    finally:
        if request_metrics is not None:
            request_metrics.record(path, status, clock() - started)


def _read_body(
    response: requests.Response, deadline: float, clock: Callable[[], float], max_body: int
) -> bytes:
    """The decoded body, read as it arrives (`read1`), within `deadline` and `max_body`."""
    chunks: list[bytes] = []
    size = 0
    try:
        while True:
            if clock() > deadline:
                raise Transient("timed out")
            chunk = response.raw.read1(READ_CHUNK_BYTES, decode_content=True)
            if not chunk:
                return b"".join(chunks)
            size += len(chunk)
            if size > max_body:
                raise Transient(
                    f"response body larger than {max_body // (1024 * 1024)} MiB (the size "
                    "cap of an answer)"
                )
            chunks.append(chunk)
    except urllib3.exceptions.ReadTimeoutError:
        raise Transient("timed out") from None
    except (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError) as exc:
        if clock() > deadline:
            raise Transient("timed out") from None
        raise Transient(f"reading the body failed ({type(exc).__name__})") from None


def _where(url: str) -> str:
    """The host and port a URL connects to."""
    split = urlsplit(url)
    port = split.port or (443 if split.scheme == "https" else 80)
    return f"{split.hostname}:{port}"


def connection_failure(exc: requests.RequestException, url: str) -> str:
    """What went wrong connecting to `url`'s host, in words: refused, or its name not
    found (DNS), or another failure by its kind."""
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    if isinstance(reason, urllib3.exceptions.NameResolutionError):
        return f"{urlsplit(url).hostname} could not be resolved (DNS)"
    if isinstance(reason, urllib3.exceptions.NewConnectionError) and isinstance(
        reason.__context__, ConnectionRefusedError
    ):
        return f"connection to {_where(url)} refused"
    return f"connection to {_where(url)} failed ({type(reason or exc).__name__})"


def _tls_reason(exc: requests.exceptions.SSLError) -> str:
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return _one_line(str(reason or exc))[:160]


def _one_line(text: str) -> str:
    return " ".join(text.split())[:200]


def retry_delays() -> Iterator[float]:
    """Backoff waits between retries: exponential, with full jitter."""
    delays = backoff.expo(base=2, factor=BACKOFF_BASE_SECONDS, max_value=BACKOFF_MAX_SECONDS)
    next(delays)
    for delay in delays:
        yield backoff.full_jitter(delay)


@dataclass
class _Answer:
    reply: Reply
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
        max_wait: float = float(DEFAULTS["max_wait_seconds"]),
        request_metrics: RequestMetrics | None = None,
        waits: WaitNotices | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.auth = auth
        self.session = session
        self.max_retries = max_retries
        self.timeout = read_timeout
        """Seconds a whole response may take (`request_timeout`)."""
        self.max_wait = max_wait
        self.logger = logger
        self.budget = budget
        self.search_budget = search_budget
        self.stats = RequestStats()
        self.hubspot_clock = HubSpotClock()
        self.metrics = request_metrics or RequestMetrics()
        self.waits = waits or WaitNotices(
            interval=float(DEFAULTS["progress_interval"]), logger=logger
        )
        """Retries' waits, said aloud while they last."""
        self._clock = clock

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
        delays = retry_delays()
        failures = 0
        rate_limited = 0
        renewals = 0
        while True:
            try:
                answer = self._exchange(method, url, body, budgets, cancel)
                return self._outcome(answer, list_key, budgets[0], cancel, renewals=renewals)
            except Renewed:
                renewals += 1
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
                wait = exc.wait if exc.wait is not None else next(delays)
                self.logger.warning("%s %s: %s; retrying in %.1f s", method, path, exc, wait)
                if self.waits.wait(wait, f"{method} {path} after {exc}", cancel):
                    raise Cancelled from None

    def _exchange(
        self,
        method: str,
        url: str,
        body: Mapping[str, Any] | None,
        budgets: tuple[RateBudget, ...],
        cancel: threading.Event,
    ) -> _Answer:
        """Send once, holding a slot of every budget; the answer as it came.

        The token is taken once the slots are held, right before sending: a request may
        wait long for its slot, and a token taken before could expire meanwhile.
        """
        slots: list[tuple[RateBudget, float]] = []
        for budget in budgets:
            sent_at = budget.acquire(cancel)
            if sent_at is None:
                for taken, at in slots:
                    taken.release(at, {})
                raise Cancelled
            slots.append((budget, sent_at))
        headers: Mapping[str, str] = {}
        refused = False
        try:
            token = self.auth.token(cancel)
            self.stats.sent()
            reply = send_once(
                self.session,
                method,
                url,
                headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
                json_body=body,
                timeout=self.timeout,
                clock=self._clock,
                request_metrics=self.metrics,
            )
            headers = reply.headers
            refused = reply.status == 429
            self.stats.answered(headers)
            self.hubspot_clock.saw(headers.get("Date"))
        finally:
            # The app's budget comes last: its release may refuse an announced window.
            for budget, sent_at in slots:
                announced = headers if budget is self.budget else {}
                budget.release(sent_at, announced, refused=refused)
        return _Answer(reply, json_object(reply.content), token)

    def _outcome(
        self,
        answer: _Answer,
        list_key: str,
        budget: RateBudget,
        cancel: threading.Event,
        *,
        renewals: int,
    ) -> dict[str, Any]:
        """The body of a good answer; any other answer raises what it means."""
        reply, body = answer.reply, answer.body
        status = reply.status
        outcome = judge(status, body, list_key)
        if outcome is Outcome.ANSWER:
            assert body is not None
            return body
        if outcome is Outcome.BROKEN_BODY:
            raise Transient(f"{status} response is not the expected JSON")
        if outcome is Outcome.NOT_FINAL:
            assert body is not None
            raise Transient(f"{status} response with status {str(body.get('status'))[:40]}")
        if (
            outcome is Outcome.EXPIRED_TOKEN
            and renewals < MAX_RENEWALS
            and self.auth.renew(answer.token, cancel)
        ):
            raise Renewed
        if outcome in (Outcome.EXPIRED_TOKEN, Outcome.UNAUTHORIZED):
            after = f" (after {renewals} token renewals)" if renewals else ""
            raise HubSpotError(
                f"HubSpot rejected the credentials (401){after}: {describe(reply, body)}",
                status=401,
            )
        if outcome is Outcome.FORBIDDEN:
            scopes = required_scopes(body)
            hint = f"; grant the scopes {', '.join(scopes)}" if scopes else ""
            raise HubSpotError(
                f"HubSpot refused access (403): {describe(reply, body)}{hint}", status=403
            )
        if outcome is Outcome.DAILY_LIMIT:
            self.stats.refused_by_rate_limit()
            raise HubSpotError(
                "HubSpot's daily request limit for this account is spent (429 DAILY); "
                f"run again after the account's midnight: {describe(reply, body)}"
            )
        if outcome is Outcome.RATE_LIMITED:
            self.stats.refused_by_rate_limit()
            policy = body.get("policyName") if body else None
            wait = budget.wait_after_429(reply.headers, policy=policy)
            raise Transient(f"429 rate limited ({policy or 'no policy'})", wait, rate_limited=True)
        if outcome is Outcome.TRANSIENT:
            asked = announced_wait(reply.headers, "Retry-After", self.max_wait)
            if status == 423:
                asked = max(asked or 0.0, LOCKED_MIN_WAIT_SECONDS)
            raise Transient(f"HTTP {status} {describe(reply, body)}", asked)
        error = BadRequest if outcome is Outcome.BAD_REQUEST else HubSpotError
        raise error(
            f"HubSpot rejected {reply.method} {reply.path} ({status}): {describe(reply, body)}",
            status=status,
        )


def json_object(content: bytes) -> dict[str, Any] | None:
    """`content` as a JSON object, or None when it is not one.

    Invalid UTF-8 (`UnicodeDecodeError`) and nesting deeper than msgspec follows
    (`RecursionError`) are broken bodies like any other, not crashes.
    """
    try:
        value = msgspec.json.decode(content)
    except (ValueError, RecursionError):
        return None
    return cast("dict[str, Any]", value) if isinstance(value, dict) else None


def describe(reply: Reply, body: Mapping[str, Any] | None) -> str:
    """HubSpot's message and correlation id, or what the response was instead."""
    correlation = reply.headers.get("X-HubSpot-Correlation-Id")
    if body:
        message = str(body.get("message") or body.get("category") or "no message")
        correlation = str(body.get("correlationId") or correlation or "")
    else:
        kind = reply.headers.get("Content-Type", "no content type").split(";")[0]
        message = f"{reply.reason or 'no reason'}, {kind} body"
    message = " ".join(message.split())[:500]
    correlation = _one_line(correlation or "")
    return f"{message} (correlation id {correlation})" if correlation else message


def required_scopes(body: Mapping[str, Any] | None) -> list[str]:
    """The scopes a 403 body says are missing: under `requiredGranularScopes` (newer
    bodies) or `requiredScopes` (older ones)."""
    scopes: list[str] = []
    errors = (body or {}).get("errors")
    for error in errors if isinstance(errors, list) else []:
        context = error.get("context") if isinstance(error, dict) else None
        if not isinstance(context, dict):
            continue
        for key in ("requiredGranularScopes", "requiredScopes"):
            listed = context.get(key)
            for scope in listed if isinstance(listed, list) else []:
                if isinstance(scope, str) and scope not in scopes:
                    scopes.append(scope)
    return scopes
