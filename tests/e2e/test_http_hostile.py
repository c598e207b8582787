"""Hostile servers on real sockets: what the in-process transport cannot show.

Each test starts a small HTTP server on 127.0.0.1 that misbehaves on purpose (drips,
bombs, never ends, redirects) and stops it after. Nothing leaves loopback.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import requests

from tap_hubspot_associations.auth import OAuthToken
from tap_hubspot_associations.errors import HubSpotError, Transient
from tap_hubspot_associations.transport import hubspot_session, send_once
from tests.fakes import RecordingEvent, gzip_bomb

NO_HANG = 30.0
"""Seconds past which a test calls it a hang; far above what any of them needs."""
OK = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n"
    b'{"results": []}'
)

Behaviour = Callable[[socket.socket], bool]
"""Answers one request on the socket; True keeps the connection for the next one."""


class RawServer:
    """A loopback HTTP server answering every request with `behave`."""

    def __init__(self, behave: Behaviour) -> None:
        self.behave = behave
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.listener.settimeout(0.1)
        self.connections = 0
        self.sockets: list[socket.socket] = []
        self.requests: list[bytes] = []
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._accept, daemon=True)]
        self.threads[0].start()

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            self.sockets.append(conn)
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self.threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            conn.settimeout(NO_HANG)
            while not self.stopping.is_set():
                request = _read_request(conn)
                if not request:
                    return
                self.requests.append(request)
                if not self.behave(conn):
                    return

    def stop(self) -> None:
        self.stopping.set()
        for conn in self.sockets:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        for thread in self.threads:
            thread.join(timeout=NO_HANG)
        self.listener.close()


def _read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return b""
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        body += conn.recv(65536)
    return head + b"\r\n\r\n" + body


@pytest.fixture
def serve() -> Iterator[Callable[[Behaviour], RawServer]]:
    started: list[RawServer] = []

    def start(behave: Behaviour) -> RawServer:
        server = RawServer(behave)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def get(url: str, *, session: requests.Session | None = None, timeout: float = NO_HANG) -> bytes:
    reply = send_once(session or requests.Session(), "GET", url + "/x", headers={}, timeout=timeout)
    return reply.content


def test_a_server_dripping_the_body_is_cut_off_at_the_deadline(serve) -> None:
    def drip(conn: socket.socket) -> bool:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
        for _ in range(100000):
            conn.sendall(b" ")
            time.sleep(0.05)
        return False

    server = serve(drip)
    started = time.monotonic()
    with pytest.raises(Transient, match="timed out"):
        get(server.url, timeout=1.0)
    assert time.monotonic() - started < NO_HANG


def test_a_server_dripping_its_headers_is_cut_off_at_the_deadline(serve) -> None:
    """A read timeout restarts with every byte: only the tap's session keeps one deadline
    for the status line and headers too."""
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Padding: " + b"x" * 2000

    def drip(conn: socket.socket) -> bool:
        for byte in head:
            try:
                conn.sendall(bytes([byte]))
            except OSError:
                return False
            time.sleep(0.05)
        return False

    server = serve(drip)
    session = hubspot_session(pool_size=2, user_agent="test")
    started = time.monotonic()
    with pytest.raises(Transient, match="timed out"):
        get(server.url, session=session, timeout=1.0)
    assert time.monotonic() - started < NO_HANG  # the drip alone takes 100 s


def test_a_gzip_bomb_stops_at_the_cap(serve) -> None:
    bomb = gzip_bomb(80 * 1024 * 1024)

    def explode(conn: socket.socket) -> bool:
        head = f"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: {len(bomb)}\r\n\r\n"
        conn.sendall(head.encode() + bomb)
        return False

    with pytest.raises(Transient, match="larger than 64 MiB"):
        get(serve(explode).url, timeout=NO_HANG)


def test_an_endless_chunked_body_stops_at_the_cap(serve) -> None:
    def endless(conn: socket.socket) -> bool:
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b"10000\r\n" + b" " * 0x10000 + b"\r\n"
        while True:
            conn.sendall(chunk)

    with pytest.raises(Transient, match="larger than 64 MiB"):
        get(serve(endless).url, timeout=NO_HANG)


def test_connections_are_reused_after_a_whole_body_and_closed_after_a_cut_one(serve) -> None:
    answers = [OK, OK, b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n", OK]

    def script(conn: socket.socket) -> bool:
        answer = answers.pop(0)
        conn.sendall(answer)
        if answer is not OK:
            conn.recv(1)  # the rest never comes: wait until the client hangs up
            return False
        return True

    server = serve(script)
    session = requests.Session()
    get(server.url, session=session)
    get(server.url, session=session)
    assert server.connections == 1, "the connection went back to the pool"
    with pytest.raises(Transient, match="timed out"):
        get(server.url, session=session, timeout=1.0)
    get(server.url, session=session)
    assert server.connections == 2, "the cut connection was closed, a new one opened"


def test_the_token_refresh_is_never_redirected_to_another_host(serve) -> None:
    collector = serve(lambda conn: False)

    def redirect(conn: socket.socket) -> bool:
        location = f"{collector.url}/collect"
        conn.sendall(
            f"HTTP/1.1 307 Temporary Redirect\r\nLocation: {location}\r\n"
            "Content-Length: 0\r\n\r\n".encode()
        )
        return False

    token_endpoint = serve(redirect)
    token = OAuthToken(
        token_url=token_endpoint.url + "/oauth/v1/token",
        client_id="id",
        client_secret="hostile-test-client-secret",
        refresh_token="hostile-test-refresh-token",
        session=requests.Session(),
        timeout=5,
        max_retries=5,
        max_wait=300,
    )
    with pytest.raises(HubSpotError, match="redirects are refused"):
        token.token(RecordingEvent())
    assert len(token_endpoint.requests) == 1
    assert collector.connections == 0, "nothing, least of all the secret, went elsewhere"
