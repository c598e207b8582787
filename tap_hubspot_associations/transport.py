"""Sending one request: the only place that touches HTTP.

`send_once` never follows a redirect, reads the body under one deadline for the whole
response (a read timeout restarts with every byte, so a server dripping bytes could
hold a request forever otherwise), and caps its size. Connection failures are named by
host, port and kind. The client and the OAuth token refresh both send through it.
"""

from __future__ import annotations

import contextlib
import heapq
import http.client
import itertools
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlsplit

import msgspec
import requests
import urllib3
import urllib3.connection
from requests.adapters import HTTPAdapter

from tap_hubspot_associations.errors import HubSpotError, Transient
from tap_hubspot_associations.metrics import RequestMetrics
from tap_hubspot_associations.values import one_line

CONNECT_TIMEOUT_SECONDS = 10.0
MAX_BODY_BYTES = 64 * 1024 * 1024
"""The largest response body read, once decoded: a gzip bomb or an endless body stops
here instead of filling memory. HubSpot's largest answers are a few megabytes."""
READ_CHUNK_BYTES = 64 * 1024


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


class Watchdog:
    """One thread that calls each registered callback when its deadline passes, unless
    it was cancelled first: the deadlines of every request in flight, without a thread
    (or a timer) per request.

    Once `cancel()` returns, its callback is not running and never will: a cut that
    had begun is finished first, so it cannot land on a connection already given back
    to the pool for another request."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._due: list[tuple[float, int]] = []
        self._pending: dict[int, Callable[[], None]] = {}
        self._condition = threading.Condition()
        self._numbers = itertools.count()
        self._thread: threading.Thread | None = None
        self._calling: int | None = None
        """The number whose callback runs now, outside the lock."""

    def watch(self, deadline: float, callback: Callable[[], None]) -> int:
        """Call `callback` at `deadline` (on the watchdog's clock); a number to cancel it."""
        number = next(self._numbers)
        with self._condition:
            heapq.heappush(self._due, (deadline, number))
            self._pending[number] = callback
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="deadlines", daemon=True)
                self._thread.start()
            self._condition.notify()
        return number

    def cancel(self, number: int) -> None:
        """The callback of `number` is not called, or has returned if it was called."""
        with self._condition:
            self._pending.pop(number, None)
            if threading.current_thread() is not self._thread:
                while self._calling == number:
                    self._condition.wait()

    def _run(self) -> None:
        while True:
            with self._condition:
                while self._due and self._due[0][1] not in self._pending:
                    heapq.heappop(self._due)  # cancelled
                if not self._due:
                    self._condition.wait()
                    continue
                deadline, number = self._due[0]
                wait = deadline - self._clock()
                if wait > 0:
                    self._condition.wait(wait)
                    continue
                heapq.heappop(self._due)
                callback = self._pending.pop(number)
                self._calling = number
            try:
                with contextlib.suppress(Exception):  # one failed cut must not end the others
                    callback()
            finally:
                with self._condition:
                    self._calling = None
                    self._condition.notify_all()


WATCHDOG = Watchdog()
"""The deadlines of every request of the run."""


class _DeadlineConnectionMixin:
    """A connection that gives up reading an answer's status line and headers at the
    deadline `send_once` set: a read timeout restarts with every byte, so a server
    dripping its headers would otherwise hold the request for as long as it likes."""

    sock: socket.socket | None

    def getresponse(self) -> Any:
        deadline: float | None = getattr(_deadline, "at", None)
        watched = None if deadline is None else WATCHDOG.watch(deadline, self._cut)
        try:
            return super().getresponse()  # type: ignore[misc]
        finally:
            if watched is not None:
                WATCHDOG.cancel(watched)

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
                answered = f"{status} {one_line(response.reason or '')}".rstrip()
                raise HubSpotError(
                    f"{method} {response.request.path_url or path} was answered {answered}, "
                    "a redirect to "
                    f"{one_line(response.headers.get('Location') or 'nowhere')!r}: "
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
    return one_line(str(reason or exc))[:160]


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
