"""`send_once` and `json_object` in process: what one HTTP exchange may and may not do.

The test doubles here (a scripted transport, a clock, a cancel event that records waits
instead of sleeping) are shared with `test_client.py` and `test_auth.py`: nothing leaves
the process and no test sleeps.
"""

from __future__ import annotations

import gzip
import io
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
import urllib3
from requests.adapters import BaseAdapter, HTTPAdapter

from tap_hubspot_associations.client import MAX_BODY_BYTES, json_object, send_once
from tap_hubspot_associations.errors import HubSpotError, Transient

API = "https://api.test"
RESULTS = b'{"results": []}'


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class RecordingEvent(threading.Event):
    """A cancel event that is never set: waits are recorded, nothing sleeps."""

    def __init__(self) -> None:
        super().__init__()
        self.waits: list[float] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(-1.0 if timeout is None else timeout)
        return False


class DripBody(io.RawIOBase):
    """A body that arrives one byte per read, each read taking a second of `clock`."""

    def __init__(self, clock: Clock, length: int = 1_000_000) -> None:
        self.clock = clock
        self.left = length

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.left == 0:
            return 0
        self.clock.now += 1.0
        self.left -= 1
        buffer[0] = ord("x")
        return 1

    def read1(self, size: int = -1) -> bytes:
        return self.read(1)


class EndlessBody(io.RawIOBase):
    """A body that never ends."""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        buffer[:] = b" " * len(buffer)
        return len(buffer)

    def read1(self, size: int = -1) -> bytes:
        return b" " * (size if size > 0 else 65536)


@dataclass
class Canned:
    """One scripted answer (or `error`, raised instead of answering)."""

    status: int = 200
    body: bytes | io.IOBase = RESULTS
    headers: dict[str, str] = field(default_factory=dict)
    reason: str = "OK"
    error: Exception | None = None


class Transport(BaseAdapter):
    """A scripted server: answers each request with the next `Canned` (the last one is
    repeated), and records every request with its sending options."""

    def __init__(self, *script: Canned | Callable[[requests.PreparedRequest], Canned]) -> None:
        super().__init__()
        self.script = list(script) or [Canned()]
        self.requests: list[requests.PreparedRequest] = []
        self.options: list[dict[str, Any]] = []
        self.builder = HTTPAdapter()

    def send(  # type: ignore[override]  # the options are recorded, not typed
        self, request: requests.PreparedRequest, **options: Any
    ) -> requests.Response:
        self.requests.append(request)
        self.options.append(options)
        step = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        canned = step(request) if callable(step) else step
        if canned.error is not None:
            raise canned.error
        body = canned.body if isinstance(canned.body, io.IOBase) else io.BytesIO(canned.body)
        raw = urllib3.HTTPResponse(
            body=body,
            headers=canned.headers,
            status=canned.status,
            reason=canned.reason,
            preload_content=False,
            decode_content=True,
        )
        return self.builder.build_response(request, raw)

    def close(self) -> None: ...


def session_with(transport: Transport) -> requests.Session:
    session = requests.Session()
    session.mount("https://", transport)
    session.mount("http://", transport)
    return session


def gzip_bomb(decoded_bytes: int) -> bytes:
    """A small gzip body that decodes to `decoded_bytes` zeros."""
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=9) as packed:
        block = bytes(1024 * 1024)
        for _ in range(decoded_bytes // len(block)):
            packed.write(block)
    return out.getvalue()


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
    failing = Transport(Canned(error=requests.ConnectionError("refused")))
    with pytest.raises(Transient, match=r"connection failed \(ConnectionError\)"):
        send(failing)
    slow = Transport(Canned(error=requests.ReadTimeout("slow")))
    with pytest.raises(Transient, match="timed out"):
        send(slow)


def test_a_truncated_body_is_transient() -> None:
    transport = Transport(Canned(body=b'{"results": [', headers={"Content-Length": "100"}))
    with pytest.raises(Transient, match="reading the body failed"):
        send(transport)


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
