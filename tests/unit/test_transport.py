"""`send_once` and `json_object` in process: what one HTTP exchange may and may not do.

The test doubles (a scripted transport, a clock, a cancel event that records waits
instead of sleeping) live in `tests.fakes`: nothing leaves the process and no test
sleeps. Last, what reaches the transport for the tap's own requests: the timeouts and
TLS verification.
"""

from __future__ import annotations

import gzip
import json
import socket
import threading
import time
from collections.abc import Callable
from typing import Any, cast

import pytest
import requests
import urllib3

from tap_hubspot_associations.answers import BatchAnswer
from tap_hubspot_associations.errors import HubSpotError, Transient
from tap_hubspot_associations.tap import TapHubSpotAssociations
from tap_hubspot_associations.transport import MAX_BODY_BYTES, Watchdog, json_object, send_once
from tests.fakes import (
    API,
    RESULTS,
    Canned,
    Clock,
    DripBody,
    EndlessBody,
    RecordingAdapter,
    Transport,
    gzip_bomb,
    session_with,
)
from tests.helpers import CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN


def send(transport: Transport, *, clock: Clock | None = None, timeout: float = 5.0) -> Any:
    return send_once(
        session_with(transport),
        "GET",
        API + "/crm/objects/2026-03/contacts?limit=100",
        headers={},
        timeout=timeout,
        clock=clock or Clock(),
    )


def test_the_body_is_read_under_one_deadline_for_the_whole_response() -> None:
    clock = Clock()
    transport = Transport(Canned(body=DripBody(clock), headers={"Content-Length": "1000000"}))
    with pytest.raises(Transient, match="timed out"):
        send(transport, clock=clock, timeout=5)
    assert clock.now <= 1000.0 + 6, "gave up at the deadline, not after the whole body"


def test_requests_are_streamed() -> None:
    transport = Transport(Canned())
    reply = send(transport)
    assert reply.status == 200
    assert reply.content == RESULTS
    assert transport.options[0]["stream"] is True


def test_a_redirect_is_refused_and_names_its_status() -> None:
    transport = Transport(
        Canned(307, b"", {"Location": "https://elsewhere.test/steal"}, "Temporary Redirect")
    )
    with pytest.raises(HubSpotError, match=r"307 .*redirects are refused") as raised:
        send(transport)
    assert not isinstance(raised.value, Transient)
    assert "elsewhere.test" in str(raised.value)
    assert len(transport.requests) == 1, "the session would have followed it"


def test_a_gzip_bomb_stops_at_the_size_cap() -> None:
    bomb = gzip_bomb(MAX_BODY_BYTES + 2 * 1024 * 1024)
    assert len(bomb) < MAX_BODY_BYTES // 100
    transport = Transport(Canned(body=bomb, headers={"Content-Encoding": "gzip"}))
    with pytest.raises(Transient, match="larger than 64 MiB"):
        send(transport)


def test_an_endless_body_stops_at_the_size_cap() -> None:
    transport = Transport(Canned(body=EndlessBody()))
    with pytest.raises(Transient, match="larger than 64 MiB"):
        send(transport)


def test_connection_failures_and_timeouts_are_transient() -> None:
    failing = Transport(Canned(error=requests.ConnectionError("reset")))
    with pytest.raises(
        Transient, match=r"^connection to api\.test:443 failed \(ConnectionError\)$"
    ):
        send(failing)
    slow = Transport(Canned(error=requests.ReadTimeout("slow")))
    with pytest.raises(Transient, match="timed out"):
        send(slow)


def test_a_truncated_body_is_transient() -> None:
    transport = Transport(Canned(body=b'{"results": [', headers={"Content-Length": "100"}))
    with pytest.raises(Transient, match="reading the body failed"):
        send(transport)


def test_a_body_of_many_pieces_is_read_whole() -> None:
    """A body longer than one read arrives in pieces; the reply holds it byte for byte."""
    body = json.dumps({"results": [{"id": str(n)} for n in range(20_000)]}).encode()
    assert len(body) > 3 * 64 * 1024
    reply = send(Transport(Canned(body=body)))
    assert reply.content == body


def test_a_gzip_answer_is_decoded() -> None:
    """The transport hands over the body as it came (`Content-Encoding` and all, as
    requests' adapter opens it): decoding it is `send_once`'s."""
    body = json.dumps({"results": [{"id": "101"}]}).encode()
    transport = Transport(Canned(body=gzip.compress(body), headers={"Content-Encoding": "gzip"}))
    assert send(transport).content == body


class Pool:
    """A connection pool that keeps the connections given back to it."""

    def __init__(self) -> None:
        self.returned: list[Connection] = []

    def _put_conn(self, connection: Connection) -> None:
        self.returned.append(connection)


class Connection:
    def __init__(self) -> None:
        self.closed = False

    def close(self) -> None:
        self.closed = True


class Pooled(Transport):
    """Answers `canned` over a connection of a pool, to see what becomes of it."""

    def __init__(self, canned: Canned) -> None:
        super().__init__(canned)
        self.pool, self.connection = Pool(), Connection()


def test_a_connection_whose_answer_was_read_whole_goes_back_to_the_pool() -> None:
    transport = Pooled(Canned())
    assert send(transport).content == RESULTS
    assert transport.pool.returned == [transport.connection]
    assert not transport.connection.closed


@pytest.mark.parametrize(
    "answer",
    [
        lambda: Canned(body=EndlessBody()),
        lambda: Canned(body=b'{"results": [', headers={"Content-Length": "100"}),
    ],
    ids=["beyond the size cap", "truncated"],
)
def test_a_connection_whose_answer_was_not_read_whole_is_closed(
    answer: Callable[[], Canned],
) -> None:
    """What is left unread on it would be read as the next request's answer."""
    transport = Pooled(answer())
    with pytest.raises(Transient):
        send(transport)
    assert transport.connection.closed


@pytest.mark.parametrize(
    "content",
    [
        b'{"results": ["\xff\xfe"]}',
        b"\xff" * 10,
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
        b"not json",
        b"[1, 2]",
    ],
    ids=["invalid utf-8 in a string", "invalid utf-8", "deep array", "deep object", "text", "list"],
)
def test_bodies_that_are_not_a_json_object_are_none_never_an_exception(content: bytes) -> None:
    assert json_object(content) is None


def test_a_json_object_is_decoded() -> None:
    assert json_object(RESULTS) == {"results": []}


def failure(reason: Exception) -> urllib3.exceptions.MaxRetryError:
    """urllib3's error with `reason` inside, as requests wraps it."""
    return urllib3.exceptions.MaxRetryError(cast(Any, None), "/", reason)


def test_a_refused_connection_and_an_unknown_host_are_named() -> None:
    refused = urllib3.exceptions.NewConnectionError(cast(Any, None), "Connection refused")
    refused.__context__ = ConnectionRefusedError(111, "Connection refused")
    with pytest.raises(Transient, match=r"^connection to api\.test:443 refused$"):
        send(Transport(Canned(error=requests.ConnectionError(failure(refused)))))
    unknown = urllib3.exceptions.NameResolutionError("api.test", cast(Any, None), socket.gaierror())
    with pytest.raises(Transient, match=r"^api\.test could not be resolved \(DNS\)$"):
        send(Transport(Canned(error=requests.ConnectionError(failure(unknown)))))


def test_a_tls_failure_is_named_and_final() -> None:
    reason = urllib3.exceptions.SSLError("wrong version number")
    broken = requests.exceptions.SSLError(failure(reason))
    expected = r"^TLS with api\.test:443 failed \(wrong version number\)"
    with pytest.raises(HubSpotError, match=expected):
        send(Transport(Canned(error=broken)))


def test_a_failure_without_details_is_named_by_its_kind() -> None:
    with pytest.raises(
        Transient, match=r"^connection to api\.test:443 failed \(ConnectionError\)$"
    ):
        send(Transport(Canned(error=requests.ConnectionError())))
    with pytest.raises(HubSpotError, match=r"^TLS with api\.test:443 failed "):
        send(Transport(Canned(error=requests.exceptions.SSLError())))


def test_a_tls_failure_raised_bare_is_named_by_its_own_words() -> None:
    """urllib3's TLS error as requests' adapter raises it when it comes unwrapped."""
    bare = requests.exceptions.SSLError(urllib3.exceptions.SSLError("EOF in violation of protocol"))
    expected = r"^TLS with api\.test:443 failed \(EOF in violation of protocol\)"
    with pytest.raises(HubSpotError, match=expected):
        send(Transport(Canned(error=bare)))


# What reaches the wire ---------------------------------------------------------------


def test_every_request_has_a_10_second_connect_timeout(monkeypatch) -> None:
    """README: "connect timeout is 10 s", read timeout `request_timeout`: as they reach
    the transport, for API calls and OAuth token requests alike."""
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    config = {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "refresh_token": REFRESH_TOKEN,
        "request_timeout": 42,
        "associations": [{"from": "contacts", "to": "companies", "ids": ["1"]}],
    }
    tap = TapHubSpotAssociations(config=config, parse_env_config=False)
    adapter = RecordingAdapter()
    tap.client.session.mount("https://", adapter)
    tap.client.get("/crm-object-schemas/2026-03/schemas", list_key="results")
    assert [sent["url"] for sent in adapter.sent] == [
        "https://api.hubapi.com/oauth/v1/token",
        "https://api.hubapi.com/crm-object-schemas/2026-03/schemas",
    ]
    for sent in adapter.sent:
        assert tuple(sent["timeout"]) == (10, 42)
        assert sent["verify"] is True


def test_tls_verification_stays_on(monkeypatch) -> None:
    """What reaches the transport for a real request: `verify` on, to HubSpot's https URL
    (not just the session's default, which the tap could override per request)."""
    from tap_hubspot_associations.tap import TapHubSpotAssociations

    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    config = {
        "access_token": "pat-na1-test-0000-secret-token",
        "associations": [{"from": "contacts", "to": "companies", "ids": ["1"]}],
    }
    tap = TapHubSpotAssociations(config=config, parse_env_config=False)
    adapter = RecordingAdapter()
    tap.client.session.mount("https://", adapter)
    tap.client.post_typed(
        "/crm/associations/2026-03/contacts/companies/batch/read",
        {"inputs": []},
        BatchAnswer,
        list_key="results",
    )
    (sent,) = adapter.sent
    assert sent["url"].startswith("https://api.hubapi.com/")
    assert sent["verify"] is True


# One watchdog for every deadline ------------------------------------------------------


def test_the_watchdog_calls_each_callback_at_its_deadline_unless_cancelled() -> None:
    watchdog = Watchdog()
    called: list[str] = []
    done = threading.Event()
    now = time.monotonic()

    def late() -> None:
        called.append("late")
        done.set()

    watchdog.watch(now + 0.2, late)
    watchdog.watch(now + 0.05, lambda: called.append("early"))
    cancelled = watchdog.watch(now + 0.1, lambda: called.append("cancelled"))
    watchdog.cancel(cancelled)
    assert done.wait(10)
    assert called == ["early", "late"]


def test_a_cancel_during_its_callback_returns_once_the_callback_is_done() -> None:
    """A cut that began as its request ended must be over when `cancel()` returns: the
    request's connection then goes back to the pool, and a cut landing later would
    shut it under the next request."""
    watchdog = Watchdog()
    running, release = threading.Event(), threading.Event()
    finished: list[str] = []

    def slow_cut() -> None:
        running.set()
        release.wait(10)
        finished.append("cut")

    number = watchdog.watch(time.monotonic(), slow_cut)
    assert running.wait(10)
    cancelled = threading.Event()

    def cancel() -> None:
        watchdog.cancel(number)
        cancelled.set()

    canceller = threading.Thread(target=cancel)
    canceller.start()
    assert not cancelled.wait(0.3), "cancel() returned while the cut was still running"
    release.set()
    assert cancelled.wait(10)
    assert finished == ["cut"]
    canceller.join()


def test_a_callback_may_cancel_its_own_deadline() -> None:
    """The watchdog's own thread never waits for the callback it is running."""
    watchdog = Watchdog()
    done = threading.Event()
    numbers: list[int] = []

    def cancel_itself() -> None:
        watchdog.cancel(numbers[0])
        done.set()

    numbers.append(watchdog.watch(time.monotonic(), cancel_itself))
    assert done.wait(10), "the callback never returned from cancelling itself"


def test_one_thread_watches_every_request() -> None:
    """A deadline per request in flight, and one thread for all of them (a timer per
    request started a thread each)."""
    watchdog = Watchdog()
    before = {t for t in threading.enumerate() if t.name == "deadlines"}
    numbers = [watchdog.watch(time.monotonic() + 60, lambda: None) for _ in range(50)]
    started = {t for t in threading.enumerate() if t.name == "deadlines"} - before
    assert len(started) == 1
    for number in numbers:
        watchdog.cancel(number)


def test_a_failing_callback_leaves_the_watchdog_running() -> None:
    watchdog = Watchdog()
    done = threading.Event()

    def fail() -> None:
        raise OSError("the socket is gone")

    watchdog.watch(time.monotonic(), fail)
    watchdog.watch(time.monotonic() + 0.05, done.set)
    assert done.wait(10)


def test_a_watchdog_whose_thread_died_starts_another() -> None:
    """Should its thread ever end (an exception no callback guard catches), the next
    deadline still gets a thread to keep it."""
    watchdog = Watchdog()
    dead = threading.Thread(target=lambda: None, name="deadlines")
    dead.start()
    dead.join()
    watchdog._thread = dead  # as if it had ended
    done = threading.Event()
    watchdog.watch(time.monotonic() + 0.05, done.set)
    assert done.wait(10)


def test_the_watchdog_never_holds_the_process_open() -> None:
    """Its thread waits for the next deadline for as long as the run lasts: once the
    tap is done, it must not keep the process from ending."""
    watchdog = Watchdog()
    number = watchdog.watch(time.monotonic() + 3600, lambda: None)
    thread = watchdog._thread
    assert thread is not None and thread.is_alive()
    assert thread.daemon
    watchdog.cancel(number)


def test_a_deadline_not_yet_reached_is_kept_waiting_however_near() -> None:
    """On the watchdog's own clock, standing still a tenth of a second before the
    deadline: the callback is not called, however often the watchdog looks."""
    looked_again = threading.Event()
    readings: list[float] = []

    def clock() -> float:
        readings.append(1000.0)
        if len(readings) >= 2:
            looked_again.set()
        return 1000.0

    watchdog = Watchdog(clock)
    called: list[str] = []
    number = watchdog.watch(1000.1, lambda: called.append("cut"))
    assert looked_again.wait(10), "the watchdog never looked at its clock again"
    assert called == []
    watchdog.cancel(number)
