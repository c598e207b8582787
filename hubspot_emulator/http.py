"""The HTTP plumbing of the emulator: the server, the handler that reads a request and
writes an answer, the routes, and how errors look on the wire. What each route answers
is in the modules named after it."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

if TYPE_CHECKING:
    from hubspot_emulator.base import EmulatorBase


@dataclass
class Reply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json;charset=utf-8"


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    emulator: EmulatorBase

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up (a timeout, a killed tap) is normal here, not news."""

    def process_request(self, request: Any, client_address: Any) -> None:
        self.emulator.connection_opened()
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        """Called once per connection, when its thread has served it."""
        try:
            super().shutdown_request(request)
        finally:
            self.emulator.connection_closed()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes
    server: Server

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        emulator = self.server.emulator
        arrived = emulator.clock.monotonic()
        try:
            reply = emulator.handle(method, self.path, self.headers, body)
        except BaseException:
            emulator.log_exchange(method, self.path, arrived, emulator.clock.monotonic(), 0)
            raise
        answered = emulator.clock.monotonic()
        if reply.status == 0:
            self.close_connection = True
            emulator.log_exchange(method, self.path, arrived, answered, 0)
            return
        emulator.count_status(reply.status)
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        correlation = str(uuid.uuid4())
        self.send_header("X-HubSpot-Correlation-Id", correlation)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        try:
            self.end_headers()
            self.wfile.write(reply.body)
            self.wfile.flush()
        finally:  # a client gone away is logged too
            emulator.log_exchange(method, self.path, arrived, answered, reply.status)

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: request lines would carry nothing a test reads."""

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The `Date` header by the emulator's clock, which may be off the machine's."""
        return formatdate(self.server.emulator.clock.time(), usegmt=True)


def route_of(method: str, path: str) -> tuple[str, list[str]] | None:
    """What a request asks for, and the object types in its path."""
    parts = [unquote(part) for part in path.strip("/").split("/")]
    versions = (["crm", "associations", "2026-03"], ["crm", "v4", "associations"])
    if (
        method == "POST"
        and len(parts) == 7
        and parts[:3] in versions
        and parts[5:]
        == [
            "batch",
            "read",
        ]
    ):
        return "batch_read", parts[3:5]
    if method == "GET" and len(parts) == 6 and parts[:3] in versions and parts[5] == "labels":
        return "labels", parts[3:5]
    if (
        method == "GET"
        and len(parts) == 4
        and parts[:3]
        in (
            ["crm", "objects", "2026-03"],
            ["crm", "v3", "objects"],
        )
    ):
        return "list", parts[3:4]
    if (
        method == "POST"
        and len(parts) == 5
        and parts[:3] in (["crm", "objects", "2026-03"], ["crm", "v3", "objects"])
        and parts[4] == "search"
    ):
        return "search", parts[3:4]
    if method == "GET" and parts in (
        ["crm-object-schemas", "2026-03", "schemas"],
        ["crm-object-schemas", "v3", "schemas"],
    ):
        return "schemas", []
    return None


def to_json(value: object) -> bytes:
    return json.dumps(value).encode()


def error_body(category: str, message: str, **extra: Any) -> dict[str, Any]:
    return {
        "status": "error",
        "message": message,
        "correlationId": str(uuid.uuid4()),
        "category": category,
        **extra,
    }


def error_reply(status: int, category: str, message: str, **extra: Any) -> Reply:
    return Reply(status, body=to_json(error_body(category, message, **extra)))


def id_error(category: str, message: str, from_id: str) -> dict[str, Any]:
    return {
        "status": "error",
        "category": category,
        "message": message,
        "context": {"fromObjectId": [from_id]},
    }


@dataclass(frozen=True)
class Exchange:
    """One request as the emulator saw it, with its answer."""

    method: str
    path: str
    arrived: float
    """When the request was read, by the emulator's clock (`Clock.monotonic()`)."""
    answered: float
    """When its answer began to be written, so that a client's next request arrives
    after it (for a connection reset: when it was dropped)."""
    status: int
    """The answer's status; 0 for a connection dropped without one."""


@dataclass
class Stats:
    """What the emulator saw; tests read it."""

    requests: Counter[str] = field(default_factory=Counter)
    """Requests by path, counted on arrival (refused ones included)."""
    statuses: Counter[int] = field(default_factory=Counter)
    batches: list[list[tuple[str, str | None]]] = field(default_factory=list)
    """The inputs of each batch read the emulator served, as (id, after)."""
    tokens_issued: int = 0
    log: list[Exchange] = field(default_factory=list)
    """Every exchange in the order its answer was written."""
    searches: list[dict[str, Any]] = field(default_factory=list)
    """The body of every search request the emulator ran (not those it refused first)."""

    def answered(self, path: str, status: int = 200) -> int:
        """Requests to `path` answered with `status`: unlike `requests`, refused ones
        (429s, faults) are not counted."""
        return sum(1 for e in list(self.log) if e.path == path and e.status == status)
