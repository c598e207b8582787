"""HubSpot's limits and the faults a test injects: the rolling window with its 429 body and
headers, the per-second and daily limits, and answers broken on purpose."""

from __future__ import annotations

import bisect
import json
import random
import threading
import uuid
from collections import deque
from email.message import Message
from typing import Any

from hubspot_emulator.base import BAD_GATEWAY_PAGE, EmulatorBase
from hubspot_emulator.http import Reply, error_reply, to_json


def per_second(
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


class Limits(EmulatorBase):
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

    def _secondly_limited(self) -> Reply | None:
        """The legacy per-second limit: a 429 `SECONDLY` beyond it, without Retry-After."""
        limit = self.dialect.secondly_limit
        if limit is None:
            return None
        refused = per_second(
            self._lock, self._second, limit, self.clock.monotonic(), self.rate_limit.arrival_grace
        )
        if refused is not None:
            refused["groupName"] = "publicapi"
            self.count_status(429)
            return Reply(429, body=to_json(refused))
        return None

    def _rate_limited(self) -> tuple[Reply | None, dict[str, str]]:
        """A 429 when the window or the day is spent, and the rate-limit headers."""
        limit = self.rate_limit
        with self._lock:
            now = self.clock.monotonic()
            start = now - limit.interval_ms / 1000
            while self._window and self._window[0] <= start:
                self._window.popleft()
            # The grace spares a late arrival a 429, but `Remaining` counts the whole
            # window, as HubSpot does: a client reads other clients' share off it.
            counted = len(self._window) - bisect.bisect_right(
                self._window, start + limit.arrival_grace
            )
            headers: dict[str, str] = {}
            if limit.send_headers:
                headers = {
                    "X-HubSpot-RateLimit-Max": str(limit.max_requests),
                    "X-HubSpot-RateLimit-Interval-Milliseconds": str(limit.interval_ms),
                }
            if limit.daily is not None and self._daily_used >= limit.daily:
                policy, message = "DAILY", "You have reached your daily limit."
            elif counted + limit.taken_by_others >= limit.max_requests:
                policy = "TEN_SECONDLY_ROLLING"
                message = "You have reached your ten_secondly_rolling limit."
            else:
                self._window.append(now)
                self._daily_used += 1
                if limit.send_headers:
                    used = len(self._window) + limit.taken_by_others
                    remaining = max(0, limit.max_requests - used)
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
        return Reply(429, body=to_json(body), headers=headers), {}

    def _rate_limit_fault(self, kind: str) -> Reply | None:
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
        return Reply(429, body=to_json(body), headers=headers)

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

    def _fault(self, kind: str, headers: Message) -> Reply | None:
        faults = self.faults
        if kind == "stall":
            self._stop_stalls.wait(faults.stall_seconds)
        elif kind == "expired_token":
            return self._expire_token(headers)
        elif kind == "server_error":
            status = self._choice([500, 502, 503, 504])
            return error_reply(status, "INTERNAL_ERROR", "internal error, please retry")
        elif kind == "locked":
            return error_reply(423, "LOCKED", "Resource is locked, try again in a few seconds")
        elif kind == "migrating":
            reply = error_reply(477, "MIGRATION_IN_PROGRESS", "Portal is being migrated")
            reply.headers["Retry-After"] = "1"
            return reply
        elif kind == "html_502":
            return Reply(502, body=BAD_GATEWAY_PAGE, content_type="text/html")
        elif kind == "reset":
            return Reply(0)
        elif kind == "bad_request":
            return error_reply(400, "VALIDATION_ERROR", "Invalid input JSON on line 1 : Unexpected")
        return None

    def _mangle(self, reply: Reply, fault: str) -> None:
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
            reply.body = to_json(body)

    def _expire_token(self, headers: Message) -> Reply | None:
        """A scripted "expired_token": the request's OAuth token expires now, as if its
        lifetime had run out on the way, and HubSpot answers 401."""
        auth = headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ").strip()
        with self._lock:
            if token not in self._oauth_tokens:
                return None  # static tokens never expire
            self._oauth_tokens[token] = self.clock.monotonic()
        return error_reply(
            401,
            "EXPIRED_AUTHENTICATION",
            "The OAuth token used to make this call expired 1 second(s) ago.",
            context={"expire time": [str(self.clock.monotonic())]},
        )
