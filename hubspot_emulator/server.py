"""The emulator's HTTP side: a real server on loopback that answers as HubSpot does.

It behaves as `docs/hubspot-api.md` describes HubSpot, ugly parts included: 207s
with `errors[]`, results in shuffled order, numeric `toObjectId`, per-id paging with
opaque cursors, a rolling rate-limit window with HubSpot's 429 body and headers,
expiring OAuth tokens, CRM search (sorted by `hs_object_id` either way, filtered by
`GT`/`GTE`/`LT`/`LTE`, with `total`) with its 10,000-result cap, its own 5/s limit
(HubSpot's `SECONDLY` 429) and an index that lags writes (and, as a test asks, is
empty, partial, ignores the sort, repeats answers or refuses searches:
`hubspot_emulator.SearchIndex`), a `Date` header by its clock, latency on every API
call, records with modification times and archiving, and injected faults
(`hubspot_emulator.faults`). The data it serves is an `Account`
(`hubspot_emulator.account`). It keeps time by the account's `Clock`, which tests move
forward instead of sleeping, and logs every exchange with the times it saw, so that
tests measure what a client did (how long it waited, what it sent) by the server's
account of it, not the client's.
"""

from __future__ import annotations

import base64
import json
import random
import select
import threading
import time
import uuid
from bisect import bisect_left, bisect_right
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.message import Message
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from hubspot_emulator.account import Account, singular
from hubspot_emulator.clock import Clock
from hubspot_emulator.dialect import Dialect
from hubspot_emulator.faults import Faults, RateLimit, SearchIndex

MAX_INPUTS = 1000
BAD_GATEWAY_PAGE = (
    b"<html><head><title>502 Bad Gateway</title></head><body>Bad Gateway</body></html>"
)

SEARCH_CAP = 10_000
SEARCH_PAGE_MAX = 200


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


class Emulator:
    """Serves one `Account` over HTTP on loopback until `stop()`."""

    def __init__(
        self,
        account: Account,
        *,
        page_size: int = 500,
        faults: Faults | None = None,
        rate_limit: RateLimit | None = None,
        tokens: Mapping[str, frozenset[str] | None] | None = None,
        oauth_clients: Mapping[str, tuple[str, str]] | None = None,
        token_ttl: float = 1800,
        token_ttl_claimed: float | None = None,
        seed: int = 0,
        search_cap: int = SEARCH_CAP,
        search_per_second: int = 5,
        search_lag_seconds: float = 2.0,
        search_index: SearchIndex | None = None,
        clock: Clock | None = None,
        dialect: Dialect | None = None,
    ) -> None:
        self.account = account
        self.dialect = dialect or Dialect()
        self._pending_left = self.dialect.pending_answers
        self._daily_answered = 0
        self._second: deque[float] = deque()
        self.clock = clock or account.clock
        """The emulator's time (the account's unless given): `clock.advance()` lets time
        pass for rate windows, search's lag and token expiry without waiting."""
        self.page_size = page_size
        self.faults = faults or Faults()
        self.rate_limit = rate_limit or RateLimit()
        self.tokens: dict[str, frozenset[str] | None] = dict(tokens or {"pat-test-token": None})
        self.oauth_clients = dict(oauth_clients or {})
        self.token_ttl = token_ttl
        self.token_ttl_claimed = token_ttl if token_ttl_claimed is None else token_ttl_claimed
        self.search_cap = search_cap
        self.search_per_second = search_per_second
        self.search_lag_seconds = search_lag_seconds
        self.search_index = search_index or SearchIndex()
        self._last_search: bytes | None = None
        self.stats = Stats()
        self._oauth_tokens: dict[str, float] = {}
        self._seed = seed
        self._rng = random.Random(seed)
        self._route_rngs: dict[str, random.Random] = {}
        self._lock = threading.Lock()
        self._window: deque[float] = deque()
        self._daily_used = 0
        self._scripted: Counter[str] = Counter()
        self._listing: dict[str, tuple[int, list[int]]] = {}
        self._search_window: deque[float] = deque()
        self._stop_stalls = threading.Event()
        self._connections = 0
        self._answered_any = False
        self._idle = threading.Condition(self._lock)
        self.first_request_at: float | None = None
        self.last_request_at: float | None = None
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the emulator first"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self._server = _Server((host, port), _Handler)
        self._server.emulator = self
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self.url

    def release_stalls(self) -> None:
        """Answer every stalled and slow request now, and stall none from now on."""
        self._stop_stalls.set()

    def stop(self) -> None:
        self._stop_stalls.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Emulator:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    # Request handling, called from the server's threads.

    def handle(self, method: str, target: str, headers: Message, body: bytes) -> _Reply:
        url = urlsplit(target)
        path = url.path
        with self._lock:
            self.stats.requests[path] += 1
            self.last_request_at = self.clock.monotonic()
            self.first_request_at = self.first_request_at or self.last_request_at
        if method == "POST" and path == "/oauth/v1/token":
            return self._token(body)
        route = _route(method, path)
        if route is None:
            return _error(404, "NOT_FOUND", f"No route for {method} {path}")
        kind, given = route
        unknown = next((t for t in given if self.account.path_type_id(t) is None), None)
        types = [self.account.path_type_id(t) or t for t in given]
        scopes = (
            ["crm.schemas.custom.read"]
            if kind == "schemas"
            else [_scope(self.account, t) for t in types]
        )
        denied = self._authorize(headers, scopes)
        if denied is not None:
            return denied
        rate_headers: dict[str, str] = {}
        if kind == "search":
            limited = self._search_rate_limited()
        else:
            limited, rate_headers = self._rate_limited()
            limited = limited or self._secondly_limited()
        if limited is not None:
            return limited
        with self._lock:
            first = not self._answered_any
            self._answered_any = True
        if first and self.faults.first_answer_seconds:
            self._stop_stalls.wait(self.faults.first_answer_seconds)
        self._wait_latency()
        if unknown is not None:
            reply = _error(400, "VALIDATION_ERROR", f"Unable to infer object type from: {unknown}")
        elif kind == "batch_read":
            fault = self._pick_fault(kind)
            reply = (
                self._fault(fault, headers)
                or self._rate_limit_fault(fault)
                or self._batch_read(types[0], types[1], body)
            )
            if reply.status in (200, 207):
                self._mangle(reply, fault)
        elif kind in ("list", "search"):
            fault = self._pick_fault(kind)
            reply = self._fault(fault, headers) or (
                self._list(types[0], parse_qs(url.query))
                if kind == "list"
                else self._search(types[0], body)
            )
            if reply.status == 200 and fault == "truncated":
                self._mangle(reply, fault)
        elif kind == "labels" and self.dialect.labels_status is not None:
            reply = _error(self.dialect.labels_status, "MISSING_SCOPES", "This app lacks a scope")
        elif kind == "labels":
            reply = self._labels(types[0], types[1])
        else:
            reply = self._schemas()
        reply.headers.update(rate_headers)
        reply.headers.update(self._dialect_headers())
        return reply

    def _dialect_headers(self) -> dict[str, str]:
        """The daily and per-second rate-limit headers, where the dialect sends them."""
        headers: dict[str, str] = {}
        dialect = self.dialect
        with self._lock:
            if dialect.daily_allowance is not None:
                self._daily_answered += 1
                remaining = max(dialect.daily_allowance - self._daily_answered, 0)
                headers["X-HubSpot-RateLimit-Daily"] = str(dialect.daily_allowance)
                headers["X-HubSpot-RateLimit-Daily-Remaining"] = str(remaining)
            if dialect.secondly_limit is not None:
                now = self.clock.monotonic()
                recent = sum(1 for at in self._second if at > now - 1.0)
                headers["X-HubSpot-RateLimit-Secondly"] = str(dialect.secondly_limit)
                headers["X-HubSpot-RateLimit-Secondly-Remaining"] = str(
                    max(dialect.secondly_limit - recent, 0)
                )
        return headers

    def _secondly_limited(self) -> _Reply | None:
        """The legacy per-second limit: a 429 `SECONDLY` beyond it, without Retry-After."""
        limit = self.dialect.secondly_limit
        if limit is None:
            return None
        refused = _per_second(
            self._lock, self._second, limit, self.clock.monotonic(), self.rate_limit.arrival_grace
        )
        if refused is not None:
            refused["groupName"] = "publicapi"
            self.count_status(429)
            return _Reply(429, body=_json(refused))
        return None

    def _list(self, object_type: str, query: dict[str, list[str]]) -> _Reply:
        limit = min(int(query.get("limit", ["10"])[0]), 100)
        ids = self._sorted_objects(self.account.type_id(object_type) or "")
        start = 0
        if "after" in query:
            try:
                start = int(base64.b64decode(unquote(query["after"][0]), validate=True))
            except ValueError:
                return _error(400, "VALIDATION_ERROR", "Invalid after cursor")
        page = ids[start : start + limit]
        body: dict[str, Any] = {
            "results": [
                {"id": str(i), "properties": {"hs_object_id": str(i)}, "archived": False}
                for i in page
            ]
        }
        if start + limit < len(ids):
            after = base64.b64encode(str(start + limit).encode()).decode()
            body["paging"] = {"next": {"after": after, "link": "?after=" + after}}
        return _Reply(200, body=_json(body))

    def _sorted_objects(self, type_id: str) -> list[int]:
        """The live records of a type in id order (sorted again only after a change)."""
        account = self.account
        with self._lock:
            changes, cached = self._listing.get(type_id, (-1, []))
            if changes != account.changes:
                cached = sorted(account.objects.get(type_id, {}))
                self._listing[type_id] = (account.changes, cached)
        return cached

    def _search(self, object_type: str, raw: bytes) -> _Reply:
        """CRM search as HubSpot runs it: AND within a filter group, OR between groups,
        at most `search_cap` results a query, an index that lags writes."""
        type_id = self.account.type_id(object_type) or ""
        modified_property = "lastmodifieddate" if type_id == "0-1" else "hs_lastmodifieddate"
        try:
            request = json.loads(raw)
            groups = request.get("filterGroups") or []
            limit = int(request.get("limit", 10))
            offset = int(request.get("after") or 0)
            sorts = request.get("sorts") or []
            tests = [
                [_search_test(f, modified_property) for f in group["filters"]] for group in groups
            ]
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            return _error(400, "VALIDATION_ERROR", f"Invalid search request: {exc}")
        with self._lock:
            self.stats.searches.append(request)
            searches = len(self.stats.searches)
        index = self.search_index
        if index.refused_status is not None:
            return _error(
                index.refused_status, "NOT_FOUND", f"Search is not available for {object_type}"
            )
        if not 0 < limit <= SEARCH_PAGE_MAX:
            return _error(400, "VALIDATION_ERROR", f"limit must be 1 to {SEARCH_PAGE_MAX}")
        if len(groups) > 5 or any(len(group) > 6 for group in tests):
            return _error(400, "VALIDATION_ERROR", "Too many filter groups or filters")
        if offset + limit > self.search_cap:
            return _error(
                400,
                "VALIDATION_ERROR",
                f"Search results are limited to {self.search_cap} per query; "
                f"after {offset} with limit {limit} exceeds it",
            )
        by_id = [{"propertyName": "hs_object_id", "direction": d} for d in _DIRECTIONS]
        if sorts not in ([], *([s] for s in by_id)):
            return _error(400, "VALIDATION_ERROR", "The emulator sorts by hs_object_id only")
        now_ms = self.clock.time_ms()
        lag_ms = int(self.search_lag_seconds * 1000)
        matches = []
        for id_ in _id_slice(self._sorted_objects(type_id), groups):
            if index.empty or id_ in index.missing:
                continue
            modified = self.account.objects[type_id].get(id_)
            if modified is not None and now_ms - modified < lag_ms:
                modified = self.account.previously_modified.get((type_id, id_))
            if modified is None:
                continue
            values = {"hs_object_id": id_, modified_property: modified}
            if not tests or any(all(test(values) for test in group) for group in tests):
                matches.append(id_)
        if sorts and sorts[0]["direction"] == "DESCENDING" and not index.ignores_sort:
            matches.reverse()
        page = matches[offset : offset + limit]
        body: dict[str, Any] = {
            "total": len(matches),
            "results": [
                {"id": str(i), "properties": {"hs_object_id": str(i)}, "archived": False}
                for i in page
            ],
        }
        if offset + limit < len(matches):
            body["paging"] = {"next": {"after": str(offset + limit)}}
        answer = _json(body)
        with self._lock:
            repeat = index.repeats_every and searches % index.repeats_every == 0
            if repeat and self._last_search is not None:
                answer = self._last_search
            self._last_search = answer
        return _Reply(200, body=answer)

    def _search_rate_limited(self) -> _Reply | None:
        """Search's own limit: `search_per_second` in any second, with no headers."""
        refused = _per_second(
            self._lock,
            self._search_window,
            self.search_per_second,
            self.clock.monotonic(),
            self.rate_limit.arrival_grace,
        )
        if refused is None:
            return None
        refused["requestId"] = uuid.uuid4().hex
        return _Reply(429, body=_json(refused))

    def _labels(self, from_type: str, to_type: str) -> _Reply:
        kinds = sorted(self.account.labels(from_type, to_type), key=lambda k: (k[0], k[1]))
        results = [{"category": c, "typeId": t, "label": label} for c, t, label in kinds]
        return _Reply(200, body=_json({"results": results}))

    def _schemas(self) -> _Reply:
        account = self.account
        results = []
        for type_id, name in account.custom.items():
            # A schema lists its object's associations in both directions.
            associations = [
                {
                    "id": f"{from_id}_to_{to_id}",
                    "fromObjectTypeId": from_id,
                    "toObjectTypeId": to_id,
                    "name": f"{account.names[from_id]}_to_{account.names[to_id]}",
                }
                for from_id, to_id in account.edges
                if type_id in (from_id, to_id)
            ]
            results.append(
                {
                    "objectTypeId": type_id,
                    "name": name,
                    "fullyQualifiedName": f"p{account.portal_id}_{name}",
                    "labels": {"singular": name.rstrip("s"), "plural": name},
                    "associations": associations,
                }
            )
        return _Reply(200, body=_json({"results": results}))

    def _mangle(self, reply: _Reply, fault: str) -> None:
        if fault == "truncated":
            reply.body = reply.body[: self._rng_int(1, max(1, len(reply.body) - 1))]
        elif fault == "html_200":
            reply.body, reply.content_type = (
                b"<html><body>Service Unavailable</body></html>",
                "text/html",
            )
        elif fault in ("missing_results", "null_to", "extra_id"):
            body = json.loads(reply.body)
            if fault == "missing_results":
                del body["results"]
            elif fault == "null_to" and body["results"]:
                body["results"][0]["to"] = None
            elif fault == "extra_id":
                body["results"].append(
                    {
                        "from": {"id": "1"},
                        "to": [
                            {
                                "toObjectId": 2,
                                "associationTypes": [
                                    {"category": "HUBSPOT_DEFINED", "typeId": 1, "label": None}
                                ],
                            }
                        ],
                    }
                )
            reply.body = _json(body)

    def _authorize(self, headers: Message, needed: list[str]) -> _Reply | None:
        auth = headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else ""
        with self._lock:
            expires = self._oauth_tokens.get(token)
        if expires is not None:
            late = self.clock.monotonic() - expires
            if late >= 0:
                return _error(
                    401,
                    "EXPIRED_AUTHENTICATION",
                    f"The OAuth token used to make this call expired {int(late) + 1} second(s) "
                    "ago.",
                    context={"expire time": [str(expires)]},
                )
            return None
        if token not in self.tokens:
            return _error(
                401,
                "INVALID_AUTHENTICATION",
                "Authentication credentials not found. This API supports OAuth 2.0 "
                "authentication and you can find more details at "
                "https://developers.hubspot.com/docs/methods/auth/oauth-overview",
            )
        scopes = self.tokens[token]
        if scopes is not None and not set(needed) <= scopes:
            body = _error_body(
                "MISSING_SCOPES",
                "This app hasn't been granted all required scopes to make this call.",
            )
            scopes_key = "requiredScopes" if self.dialect.older_scopes else "requiredGranularScopes"
            body["errors"] = [
                {
                    "message": "One or more of the following scopes are required.",
                    "context": {scopes_key: sorted(set(needed))},
                }
            ]
            return _Reply(403, body=_json(body))
        return None

    def _token(self, body: bytes) -> _Reply:
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        client = self.oauth_clients.get(form.get("client_id", ""))
        if (
            form.get("grant_type") != "refresh_token"
            or client is None
            or client != (form.get("client_secret"), form.get("refresh_token"))
        ):
            return _Reply(
                400,
                body=_json(
                    {
                        "status": "BAD_REFRESH_TOKEN",
                        "message": "missing or unknown refresh token",
                        "correlationId": str(uuid.uuid4()),
                    }
                ),
            )
        token = f"oat-{uuid.uuid4().hex}"
        with self._lock:
            self._oauth_tokens[token] = self.clock.monotonic() + self.token_ttl
            self.stats.tokens_issued += 1
        return _Reply(
            200,
            body=_json(
                {
                    "access_token": token,
                    "refresh_token": client[1],
                    "expires_in": self.token_ttl_claimed,
                    "token_type": "bearer",
                }
            ),
        )

    def _rate_limited(self) -> tuple[_Reply | None, dict[str, str]]:
        """A 429 when the window or the day is spent, and the rate-limit headers."""
        limit = self.rate_limit
        with self._lock:
            now = self.clock.monotonic()
            horizon = now - limit.interval_ms / 1000 + limit.arrival_grace
            while self._window and self._window[0] <= horizon:
                self._window.popleft()
            headers: dict[str, str] = {}
            if limit.send_headers:
                headers = {
                    "X-HubSpot-RateLimit-Max": str(limit.max_requests),
                    "X-HubSpot-RateLimit-Interval-Milliseconds": str(limit.interval_ms),
                }
            if limit.daily is not None and self._daily_used >= limit.daily:
                policy, message = "DAILY", "You have reached your daily limit."
            elif len(self._window) + limit.taken_by_others >= limit.max_requests:
                policy = "TEN_SECONDLY_ROLLING"
                message = "You have reached your ten_secondly_rolling limit."
            else:
                self._window.append(now)
                self._daily_used += 1
                if limit.send_headers:
                    remaining = limit.max_requests - len(self._window) - limit.taken_by_others
                    headers["X-HubSpot-RateLimit-Remaining"] = str(remaining)
                return None, headers
        if limit.retry_after is not None:
            headers["Retry-After"] = str(limit.retry_after)
        body = {
            "status": "error",
            "message": message,
            "errorType": "RATE_LIMIT",
            "correlationId": str(uuid.uuid4()),
            "policyName": policy,
            "requestId": uuid.uuid4().hex,
        }
        return _Reply(429, body=_json(body), headers=headers), {}

    def _pick_fault(self, route: str) -> str:
        """The fault of this request: its route's script's next one, else one at the
        configured rates, drawn from the route's own random sequence (listing and search
        send one request at a time, so their faults come in a reproducible order)."""
        faults = self.faults
        script = {"batch_read": faults.script, "search": faults.search_script}.get(route, ())
        with self._lock:
            rng = self._route_rngs.setdefault(route, random.Random(f"{self._seed}:{route}"))
            index = self._scripted[route]
            self._scripted[route] += 1
        if index < len(script):
            return script[index]
        rates = (
            ("stall", faults.stall),
            ("server_error", faults.server_error),
            ("locked", faults.locked),
            ("html_502", faults.html_502),
            ("truncated", faults.truncated_body),
        )
        with self._lock:
            return next((kind for kind, rate in rates if rate > 0 and rng.random() < rate), "none")

    def _wait_latency(self) -> None:
        faults = self.faults
        if faults.latency_seconds:
            spread = faults.latency_spread
            with self._lock:
                factor = self._rng.uniform(1 - spread, 1 + spread)
            time.sleep(faults.latency_seconds * factor)

    def _rate_limit_fault(self, kind: str) -> _Reply | None:
        """A scripted 429 "rate_limited", whatever the window holds: HubSpot's body and
        headers, with `Retry-After` (and no slot left, which `Retry-After` overrides)."""
        if kind != "rate_limited":
            return None
        limit = self.rate_limit
        body = {
            "status": "error",
            "message": "You have reached your ten_secondly_rolling limit.",
            "errorType": "RATE_LIMIT",
            "correlationId": str(uuid.uuid4()),
            "policyName": "TEN_SECONDLY_ROLLING",
            "requestId": uuid.uuid4().hex,
        }
        headers = {
            "Retry-After": f"{self.faults.rate_limited_retry_after:g}",
            "X-HubSpot-RateLimit-Max": str(limit.max_requests),
            "X-HubSpot-RateLimit-Interval-Milliseconds": str(limit.interval_ms),
            "X-HubSpot-RateLimit-Remaining": "0",
        }
        return _Reply(429, body=_json(body), headers=headers)

    def _expire_token(self, headers: Message) -> _Reply | None:
        """A scripted "expired_token": the request's OAuth token expires now, as if its
        lifetime had run out on the way, and HubSpot answers 401."""
        auth = headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ").strip()
        with self._lock:
            if token not in self._oauth_tokens:
                return None  # static tokens never expire
            self._oauth_tokens[token] = self.clock.monotonic()
        return _error(
            401,
            "EXPIRED_AUTHENTICATION",
            "The OAuth token used to make this call expired 1 second(s) ago.",
            context={"expire time": [str(self.clock.monotonic())]},
        )

    def _fault(self, kind: str, headers: Message) -> _Reply | None:
        faults = self.faults
        if kind == "stall":
            self._stop_stalls.wait(faults.stall_seconds)
        elif kind == "expired_token":
            return self._expire_token(headers)
        elif kind == "server_error":
            status = self._choice([500, 502, 503, 504])
            return _error(status, "INTERNAL_ERROR", "internal error, please retry")
        elif kind == "locked":
            return _error(423, "LOCKED", "Resource is locked, try again in a few seconds")
        elif kind == "migrating":
            reply = _error(477, "MIGRATION_IN_PROGRESS", "Portal is being migrated")
            reply.headers["Retry-After"] = "1"
            return reply
        elif kind == "html_502":
            return _Reply(502, body=BAD_GATEWAY_PAGE, content_type="text/html")
        elif kind == "reset":
            return _Reply(0)
        elif kind == "bad_request":
            return _error(400, "VALIDATION_ERROR", "Invalid input JSON on line 1 : Unexpected")
        return None

    def _batch_read(self, from_type: str, to_type: str, raw: bytes) -> _Reply:
        try:
            request = json.loads(raw)
            inputs = request["inputs"]
            parsed = [(str(item["id"]), item.get("after")) for item in inputs]
        except (ValueError, KeyError, TypeError):
            return _error(400, "VALIDATION_ERROR", "Invalid input JSON on line 1")
        if len(parsed) > MAX_INPUTS:
            return _error(
                400,
                "VALIDATION_ERROR",
                f"Batch input size {len(parsed)} exceeds the limit of {MAX_INPUTS}",
            )
        with self._lock:
            self.stats.batches.append(parsed)
        if self.faults.slow_ids & {int(i) for i, _ in parsed if i.isdigit()}:
            self._stop_stalls.wait(self.faults.slow_seconds)
        results: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        for from_id, after in parsed:
            offset = 0 if after is None else _decode_cursor(after, from_id)
            if offset is None:
                return _error(400, "VALIDATION_ERROR", f"Invalid paging cursor for {from_id}")
            if not from_id.isdigit():
                errors.append(_id_error("VALIDATION_ERROR", f"Invalid id {from_id}", from_id))
                continue
            if int(from_id) in self.faults.failing_ids or self._chance(self.faults.id_error):
                errors.append(
                    _id_error("INTERNAL_ERROR", f"Could not read {from_id}, try again", from_id)
                )
                continue
            targets = self.account.targets(from_type, to_type, int(from_id))
            page = targets[offset : offset + self.page_size]
            if not page:
                errors.append(self._no_associations(from_type, to_type, from_id))
                continue
            result: dict[str, Any] = {
                "from": {"id": from_id},
                "to": [
                    {
                        "toObjectId": to_id,
                        "associationTypes": [
                            self._association_type(c, t, label) for c, t, label in kinds
                        ],
                    }
                    for to_id, kinds in page
                ],
            }
            if offset + self.page_size < len(targets):
                cursor = _encode_cursor(from_id, offset + self.page_size)
                result["paging"] = {
                    "next": {"after": cursor, "link": f"/crm/v4/objects/{from_type}?after={cursor}"}
                }
            results.append(result)
        with self._lock:
            self._rng.shuffle(results)
        started = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
        body: dict[str, Any] = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": started,
            "completedAt": started,
        }
        status = 200
        with self._lock:
            pending = self._pending_left > 0
            self._pending_left -= pending
        if pending:
            return _Reply(200, body=_json({**body, "status": "PENDING", "results": []}))
        if errors:
            body["numErrors"] = len(errors)
            body["errors"] = [self._in_dialect(error) for error in errors]
            status = 200 if self.faults.errors_in_200 else 207
        return _Reply(status, body=_json(body))

    def _association_type(self, category: str, type_id: int, label: str | None) -> dict[str, Any]:
        if self.dialect.omit_category:
            return {"typeId": type_id, "label": label}
        return {"category": category, "typeId": type_id, "label": label}

    def _in_dialect(self, error: dict[str, Any]) -> dict[str, Any]:
        """An error entry of a batch read, shaped as the dialect says."""
        if self.dialect.error_input_as_id:
            context = dict(error.get("context", {}))
            error = {**error, "id": context.pop("fromObjectId")[0], "context": context}
        if self.dialect.sub_category_object and "subCategory" in error:
            error = {**error, "subCategory": {"name": error["subCategory"]}}
        return error

    def _no_associations(self, from_type: str, to_type: str, from_id: str) -> dict[str, Any]:
        singular_from = _singular(self.account, from_type)
        singular_to = _singular(self.account, to_type)
        return {
            "status": "error",
            "category": "OBJECT_NOT_FOUND",
            "subCategory": "crm.associations.NO_ASSOCIATIONS_FOUND",
            "message": f"No {singular_to} is associated with {singular_from} {from_id}.",
            "context": {
                "fromObjectId": [from_id],
                "fromObjectType": [singular_from],
                "toObjectType": [singular_to],
            },
        }

    def issued_tokens(self) -> list[str]:
        with self._lock:
            return list(self._oauth_tokens)

    def count_status(self, status: int) -> None:
        with self._lock:
            self.stats.statuses[status] += 1

    def log_exchange(
        self, method: str, target: str, arrived: float, answered: float, status: int
    ) -> None:
        """Log one exchange once its answer is written (or its connection dropped)."""
        exchange = Exchange(method, urlsplit(target).path, arrived, answered, status)
        with self._lock:
            self.stats.log.append(exchange)

    def connection_opened(self) -> None:
        with self._lock:
            self._connections += 1

    def connection_closed(self) -> None:
        with self._lock:
            self._connections -= 1
            self._idle.notify_all()

    def wait_idle(self, timeout: float = 30.0) -> None:
        """Wait until no connection waits to be accepted or is open: after a client is
        killed, the requests it had sent (some not read yet) are answered and logged
        before a test counts them, as a connection closes only once served."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._connections or self._connection_waiting():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{self._connections} connections still open")
                self._idle.wait(min(left, 0.05))

    def _connection_waiting(self) -> bool:
        """A connection the server has not accepted yet."""
        assert self._server is not None, "start() the emulator first"
        return bool(select.select([self._server.socket], [], [], 0)[0])

    def _chance(self, rate: float) -> bool:
        if rate <= 0:
            return False
        with self._lock:
            return self._rng.random() < rate

    def _choice(self, options: list[int]) -> int:
        with self._lock:
            return self._rng.choice(options)

    def _rng_int(self, low: int, high: int) -> int:
        with self._lock:
            return self._rng.randint(low, high)


@dataclass
class _Reply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json;charset=utf-8"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    emulator: Emulator

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


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes
    server: _Server

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


def _route(method: str, path: str) -> tuple[str, list[str]] | None:
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


_OPERATORS: dict[str, Callable[[int, int], bool]] = {
    "EQ": lambda a, b: a == b,
    "NEQ": lambda a, b: a != b,
    "LT": lambda a, b: a < b,
    "LTE": lambda a, b: a <= b,
    "GT": lambda a, b: a > b,
    "GTE": lambda a, b: a >= b,
}


_DIRECTIONS = ("ASCENDING", "DESCENDING")


def _id_slice(ids: list[int], groups: list[Any]) -> list[int]:
    """The part of the sorted `ids` a single filter group's `hs_object_id` bounds allow
    (all of them otherwise): a search over a range of ids need not test every record.
    Every filter is still tested on what is left."""
    if len(groups) != 1:
        return ids
    low, high = 0, len(ids)
    for search_filter in groups[0]["filters"]:
        if search_filter["propertyName"] != "hs_object_id":
            continue
        value, operator = int(search_filter["value"]), search_filter["operator"]
        if operator in ("GT", "GTE"):
            low = max(low, (bisect_right if operator == "GT" else bisect_left)(ids, value))
        elif operator in ("LT", "LTE"):
            high = min(high, (bisect_left if operator == "LT" else bisect_right)(ids, value))
    return ids[low:high]


def _search_test(
    search_filter: Mapping[str, Any], modified_property: str
) -> Callable[[Mapping[str, int]], bool]:
    """One filter of a search request as a test of a record's values; bad ones raise."""
    name = search_filter["propertyName"]
    if name not in ("hs_object_id", modified_property):
        raise ValueError(f"Property {name!r} does not exist or cannot be searched here")
    compare = _OPERATORS[search_filter["operator"]]
    value = int(search_filter["value"])
    return lambda values: compare(values[name], value)


def _per_second(
    lock: threading.Lock, window: deque[float], limit: int, now: float, grace: float
) -> dict[str, Any] | None:
    """Take a slot of a one-second window; HubSpot's `SECONDLY` 429 body when it is full.
    `grace`: `RateLimit.arrival_grace`."""
    with lock:
        while window and window[0] <= now - 1.0 + grace:
            window.popleft()
        if len(window) < limit:
            window.append(now)
            return None
    return {
        "status": "error",
        "message": "You have reached your secondly limit.",
        "errorType": "RATE_LIMIT",
        "correlationId": str(uuid.uuid4()),
        "policyName": "SECONDLY",
    }


def _json(value: object) -> bytes:
    return json.dumps(value).encode()


def _error_body(category: str, message: str, **extra: Any) -> dict[str, Any]:
    return {
        "status": "error",
        "message": message,
        "correlationId": str(uuid.uuid4()),
        "category": category,
        **extra,
    }


def _error(status: int, category: str, message: str, **extra: Any) -> _Reply:
    return _Reply(status, body=_json(_error_body(category, message, **extra)))


def _id_error(category: str, message: str, from_id: str) -> dict[str, Any]:
    return {
        "status": "error",
        "category": category,
        "message": message,
        "context": {"fromObjectId": [from_id]},
    }


def _encode_cursor(from_id: str, offset: int) -> str:
    raw = json.dumps({"id": from_id, "offset": offset}).encode()
    return quote(base64.b64encode(raw).decode(), safe="")


def _decode_cursor(cursor: object, from_id: str) -> int | None:
    try:
        state = json.loads(base64.b64decode(unquote(str(cursor)), validate=True))
        offset = state["offset"]
    except (ValueError, KeyError, TypeError):
        return None
    return offset if state.get("id") == from_id and isinstance(offset, int) else None


def _singular(account: Account, given: str) -> str:
    return singular(account.names.get(account.path_type_id(given) or "", given))


def _scope(account: Account, given: str) -> str:
    type_id = account.path_type_id(given) or ""
    if type_id.startswith("2-"):
        return "crm.objects.custom.read"
    name = account.names.get(type_id, given)
    return "tickets" if name == "tickets" else f"crm.objects.{name}.read"
