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

from email.message import Message
from urllib.parse import parse_qs, urlsplit

from hubspot_emulator.base import MAX_INPUTS, SEARCH_CAP
from hubspot_emulator.batch import BatchReads
from hubspot_emulator.http import Exchange, Reply, Stats, error_reply, route_of
from hubspot_emulator.limits import Limits
from hubspot_emulator.listing import Listing
from hubspot_emulator.oauth import OAuth, scope_of
from hubspot_emulator.schemas import Schemas
from hubspot_emulator.search import Search

__all__ = ["MAX_INPUTS", "SEARCH_CAP", "Emulator", "Exchange", "Stats"]


class Emulator(BatchReads, Listing, Search, OAuth, Schemas, Limits):
    """Serves one `Account` over HTTP on loopback until `stop()`: each route's answers
    come from the module named after it, the plumbing from `http`, the state from `base`."""

    def handle(self, method: str, target: str, headers: Message, body: bytes) -> Reply:
        url = urlsplit(target)
        path = url.path
        with self._lock:
            self.stats.requests[path] += 1
            self.last_request_at = self.clock.monotonic()
            self.first_request_at = self.first_request_at or self.last_request_at
        if method == "POST" and path == "/oauth/v1/token":
            return self._token(body)
        route = route_of(method, path)
        if route is None:
            return error_reply(404, "NOT_FOUND", f"No route for {method} {path}")
        kind, given = route
        unknown = next((t for t in given if self.account.path_type_id(t) is None), None)
        types = [self.account.path_type_id(t) or t for t in given]
        scopes = (
            ["crm.schemas.custom.read"]
            if kind == "schemas"
            else [scope_of(self.account, t) for t in types]
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
            reply = error_reply(
                400, "VALIDATION_ERROR", f"Unable to infer object type from: {unknown}"
            )
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
            reply = error_reply(
                self.dialect.labels_status, "MISSING_SCOPES", "This app lacks a scope"
            )
        elif kind == "labels":
            reply = self._labels(types[0], types[1])
        else:
            reply = self._schemas()
        reply.headers.update(rate_headers)
        reply.headers.update(self._dialect_headers())
        return reply

    def __enter__(self) -> Emulator:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()
