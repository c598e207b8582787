"""In-process fakes for the unit layer: nothing leaves the process.

- `Transport` and `Canned`: a scripted HTTP server behind a `requests` session, for the
  client, the token refresh and sending; `RecordingAdapter` keeps what reaches the wire.
- `Clock`, `RecordingEvent`, `GivingUp`: time under the test's control.
- `FakeHubSpot`: list and search of one object type as HubSpot answers them, for the id
  chains (`Untrustworthy` misbehaves as told).
"""

from __future__ import annotations

import bisect
import gzip
import io
import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

import requests
import requests.adapters
import urllib3
from requests.adapters import BaseAdapter, HTTPAdapter

from tap_hubspot_associations.chains import RangedIds
from tap_hubspot_associations.client import HubSpotClient
from tap_hubspot_associations.errors import Cancelled, HubSpotError
from tap_hubspot_associations.rate_budget import RateBudget


class RecordingAdapter(requests.adapters.BaseAdapter):
    """A transport that answers every request with `{"results": []}` and keeps what it
    was asked to send with: the settings that reach the wire, not the session's."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[dict[str, Any]] = []

    def send(  # type: ignore[override]
        self, request: requests.PreparedRequest, **kwargs: Any
    ) -> requests.Response:
        self.sent.append({"method": request.method, "url": request.url, **kwargs})
        response = requests.Response()
        response.status_code = 200
        content = json.dumps(
            {"results": [], "access_token": "oat-recorded-token-0001", "expires_in": 1800}
        ).encode()
        response.raw = urllib3.HTTPResponse(
            body=io.BytesIO(content), status=200, preload_content=False
        )
        response.headers["Content-Type"] = "application/json"
        response.request = request
        response.url = request.url or ""
        return response

    def close(self) -> None:
        return None


# An in-process HTTP transport, for the client's unit tests: nothing leaves the process.

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


class GivingUp(threading.Event):
    """A cancel event set by the first wait on it: `RateBudget.acquire` with it takes a
    slot that is free now or gives up at once, with no real time passing."""

    def wait(self, timeout: float | None = None) -> bool:
        self.set()
        return True


def free_slots_now(budget: RateBudget) -> int:
    """How many requests could go now, each taking its slot (the test's clock stands
    still, so none frees meanwhile)."""
    taken = 0
    while taken <= 1000 and budget.acquire(GivingUp()) is not None:
        taken += 1
    return taken


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
        self.pool: Any = None
        self.connection: Any = None
        """The pool and connection each answer comes over (none: no pool)."""

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
            decode_content=False,  # as requests' HTTPAdapter opens every response
            pool=self.pool,
            connection=self.connection,
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


# List and search of one object type, for the id chains ------------------------------

SEARCH = "/crm/objects/2026-03/contacts/search"


LIST = "/crm/objects/2026-03/contacts"


class FakeHubSpot:
    """List and search over a fixed set of ids, as HubSpot answers them, each answer
    after a short random delay so that chains interleave."""

    def __init__(self, ids: list[int], *, seed: int = 0) -> None:
        self.ids = sorted(ids)
        self.indexed = self.ids
        """The ids search's index holds (those listed, unless a variant says)."""
        self.searches: list[dict[str, Any]] = []
        self.listed = 0
        self.cancels: list[threading.Event] = []
        """The `cancel` of every request: each must be the reader's stop."""
        self.answered = 0
        """Requests answered so far."""
        self.silent = threading.Event()
        """While set, requests wait for an answer (cancelled when their `cancel` is)."""
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    def _pause(self, cancel: threading.Event | None) -> None:
        with self._lock:
            delay = self._rng.uniform(0, 0.003)
        time.sleep(delay)
        while self.silent.is_set():
            assert cancel is not None
            if cancel.wait(0.01):
                raise Cancelled
        with self._lock:
            self.answered += 1

    def search(
        self, path: str, body: dict[str, Any], *, cancel: threading.Event | None = None
    ) -> dict[str, Any]:
        self._pause(cancel)
        assert path == SEARCH, path
        assert isinstance(cancel, threading.Event)
        with self._lock:
            self.searches.append(body)
            self.cancels.append(cancel)
        assert set(body) <= {"filterGroups", "sorts", "properties", "limit", "after"}, body
        assert body["properties"] == ["hs_object_id"], body
        direction = body["sorts"][0]["direction"]
        assert body["sorts"] == [{"propertyName": "hs_object_id", "direction": direction}]
        assert direction in ("ASCENDING", "DESCENDING"), body
        assert body["limit"] in (1, 200), body
        groups = body["filterGroups"]
        assert groups == [] or (len(groups) == 1 and groups[0]["filters"]), body
        filters = groups[0]["filters"] if groups else []
        assert {f["propertyName"] for f in filters} <= {"hs_object_id", "lastmodifieddate"}
        filters = [f for f in filters if f["propertyName"] == "hs_object_id"]
        indexed = self.indexed
        low, high = 0, len(indexed)  # the ids sorted: each filter bounds a slice
        for f in filters:
            value, operator = int(f["value"]), f["operator"]
            if operator in ("GT", "GTE"):
                bound = bisect.bisect_right if operator == "GT" else bisect.bisect_left
                low = max(low, bound(indexed, value))
            else:
                assert operator in ("LT", "LTE"), f
                bound = bisect.bisect_left if operator == "LT" else bisect.bisect_right
                high = min(high, bound(indexed, value))
        matches = indexed[low:high]
        if direction == "DESCENDING":
            matches.reverse()
        offset, limit = int(body.get("after") or 0), body["limit"]
        assert offset + limit <= 10_000, "past search's cap"
        page = matches[offset : offset + limit]
        answer: dict[str, Any] = {
            "total": len(matches),
            "results": [{"id": str(i)} for i in page],
        }
        if offset + limit < len(matches):
            answer["paging"] = {"next": {"after": str(offset + limit)}}
        return self.search_answer(body, answer)

    def search_answer(self, body: dict[str, Any], answer: dict[str, Any]) -> dict[str, Any]:
        """The answer to a search for `body`: as HubSpot gives it, unless a variant says."""
        return answer

    def get(
        self, path: str, *, list_key: str, cancel: threading.Event | None = None
    ) -> dict[str, Any]:
        self._pause(cancel)
        assert urlsplit(path).path == LIST, path
        assert isinstance(cancel, threading.Event)
        assert list_key == "results"
        with self._lock:
            self.listed += 1
            self.cancels.append(cancel)
        query = parse_qs(urlsplit(path).query)
        assert query["limit"] in (["100"], ["1"]), "a page, or one id to see any is listed"
        assert {k: v for k, v in query.items() if k not in ("after", "limit")} == {
            "properties": ["hs_object_id"],
            "archived": ["false"],
        }, query
        start = int(query.get("after", ["0"])[0])
        limit = int(query["limit"][0])
        page = self.ids[start : start + limit]
        answer: dict[str, Any] = {"results": [{"id": str(i)} for i in page]}
        if start + limit < len(self.ids):
            answer["paging"] = {"next": {"after": str(start + limit)}}
        return self.listing_answer(path, answer)

    def listing_answer(self, path: str, answer: dict[str, Any]) -> dict[str, Any]:
        """The answer to listing `path`: as HubSpot gives it, unless a variant says."""
        return answer


def ranged(fake: FakeHubSpot, **options: Any) -> RangedIds:
    """Every contact (or, with `window`, those modified in it) from `fake`; `verify`:
    a full pass to be activated, checked against a listing to its last page."""
    return RangedIds(
        setting="associations[0]",
        object_type="contacts",
        client=cast(HubSpotClient, fake),
        api_version="2026-03",
        **options,
    )


def uneven_ids(seed: int) -> list[int]:
    """Dense runs, sparse stretches and wide gaps, ids beyond 32 bits."""
    rng = random.Random(seed)
    ids: set[int] = set()
    base = 10**11
    for _ in range(6):
        start = base + rng.randint(0, 10**9)
        ids.update(range(start, start + rng.randint(50, 900)))
    ids.update(rng.sample(range(base, base + 10**9), 700))
    ids.update(range(base + 10**10, base + 10**10 + 300))  # far above the rest
    return sorted(ids)


class Untrustworthy(FakeHubSpot):
    """Search misbehaving as `kind` names it (listing answers as HubSpot does)."""

    def __init__(self, ids: list[int], kind: str, *, hidden: frozenset[int] = frozenset()):
        """`hidden`: ids search's index does not hold (listing does)."""
        super().__init__(ids)
        self.kind = kind
        self.indexed = [i for i in self.ids if i not in hidden]
        self.previous: dict[str, Any] | None = None

    def search(
        self, path: str, body: dict[str, Any], *, cancel: threading.Event | None = None
    ) -> dict[str, Any]:
        if self.kind.startswith("refused "):
            status = int(self.kind.split()[1])
            raise HubSpotError(f"HubSpot rejected POST {path} ({status}): no", status=status)
        return super().search(path, body, cancel=cancel)

    def search_answer(self, body: dict[str, Any], answer: dict[str, Any]) -> dict[str, Any]:
        descending = body["sorts"][0]["direction"] == "DESCENDING"
        if self.kind == "empty index":
            return {"total": 0, "results": []}
        if self.kind == "ignored sort" and descending:
            answer = dict(answer, results=sorted(answer["results"], key=lambda r: int(r["id"])))
            if body["limit"] == 1:  # the lowest id instead of the highest
                answer["results"] = [{"id": str(self.ids[0])}]
        if self.kind == "repeated page" and len(self.searches) % 7 == 0 and self.previous:
            answer = self.previous
        if self.kind == "beyond its limit" and len(answer["results"]) > body["limit"] - 1:
            answer = dict(answer, results=[*answer["results"], {"id": str(self.ids[-1])}])
        first = body["limit"] == 1 and descending
        if self.kind == "count without ids" and first:
            answer = dict(answer, results=[])
        if self.kind == "no count" and first:
            answer = {k: v for k, v in answer.items() if k != "total"}
        if self.kind == "short of its total" and body["limit"] == 200 and not descending:
            answer = dict(answer, results=answer["results"][::2])
        self.previous = answer
        return answer


def settled(count: Callable[[], int]) -> int:
    """The count once it has not changed for a second (threads that wait for room or
    for an answer change nothing)."""
    last = -1
    while last != count():
        last = count()
        time.sleep(1)
    return last
