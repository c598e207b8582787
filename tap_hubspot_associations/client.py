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

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import msgspec
import requests

from tap_hubspot_associations.auth import Auth
from tap_hubspot_associations.errors import (
    BadRequest,
    Cancelled,
    HubSpotError,
    Renewed,
    Transient,
)
from tap_hubspot_associations.metrics import HubSpotClock, RequestMetrics, RequestStats
from tap_hubspot_associations.outcomes import Outcome, describe, judge, required_scopes
from tap_hubspot_associations.rate_budget import (
    RateBudget,
    WaitNotices,
    announced_wait,
)
from tap_hubspot_associations.retry import Retries
from tap_hubspot_associations.transport import Reply, json_object, send_once
from tap_hubspot_associations.values import one_line

T = TypeVar("T")
LOCKED_MIN_WAIT_SECONDS = 2.0
"""HubSpot asks clients to wait at least this long after a 423 (locked)."""
MAX_RATE_LIMITED_WAITS = 30
MAX_RENEWALS = 3
"""Token renewals one request may ask for: tokens can expire again while a request
waits for its turn, but a token HubSpot calls expired at once, every time, is not one."""


@dataclass
class _Answer:
    reply: Reply
    body: dict[str, Any] | None
    token: str
    """The token the request was sent with: renewal replaces it only if still current."""
    typed: Any = None
    """The answer decoded into the type the caller asked for, when it fits (else None)."""


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
        max_wait: float,
        request_metrics: RequestMetrics | None = None,
        waits: WaitNotices,
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
        self.waits = waits
        """Retries' waits, said aloud while they last."""
        self._clock = clock

    def post_typed(
        self,
        path: str,
        body: Mapping[str, Any],
        answer_type: type[T],
        *,
        list_key: str,
        cancel: threading.Event | None = None,
    ) -> T | dict[str, Any]:
        """POST JSON; a 200 or 207 answer that fits `answer_type` is decoded straight into
        it (msgspec, in one pass in C: most of what reading a large answer costs). One
        that does not fit comes back as plain JSON, judged as `post` judges it, for the
        caller to read part by part."""
        answer: T | dict[str, Any] = self._send(
            "POST", path, body, list_key, cancel or threading.Event(), (), answer_type
        )
        return answer

    def search(
        self, path: str, body: Mapping[str, Any], *, cancel: threading.Event | None = None
    ) -> dict[str, Any]:
        """POST a CRM search, paced by search's own per-second limit as well."""
        answer: dict[str, Any] = self._send(
            "POST", path, body, "results", cancel or threading.Event(), (self.search_budget,)
        )
        return answer

    def get(
        self, path: str, *, list_key: str, cancel: threading.Event | None = None
    ) -> dict[str, Any]:
        """GET `path` (query included); the answer must hold a list at `list_key`."""
        answer: dict[str, Any] = self._send(
            "GET", path, None, list_key, cancel or threading.Event(), ()
        )
        return answer

    def _send(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None,
        list_key: str,
        cancel: threading.Event,
        own_limits: tuple[RateBudget, ...],
        answer_type: type | None = None,
    ) -> Any:
        """Send until an answer comes, paced by `own_limits` (an endpoint's own limits)
        and then by the app's budget; the body as plain JSON, or as `answer_type`."""
        url = self.api_url + path
        budgets = (*own_limits, self.budget)
        retries = Retries(self.max_retries)
        rate_limited = 0
        renewals = 0
        while True:
            try:
                answer = self._exchange(method, url, body, budgets, cancel, answer_type)
                if answer.typed is not None:
                    return answer.typed  # a complete answer of the expected shape
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
                wait = retries.wait_after(exc.wait, counted=not exc.rate_limited)
                if wait is None:
                    raise HubSpotError(
                        f"{method} {path} still failing after {self.max_retries} retries: {exc}"
                    ) from None
                if not exc.rate_limited:
                    self.stats.retried()
                self.logger.warning("%s %s: %s; retrying in %.1f s", method, path, exc, wait)
                reason, key = f"{method} {path} after {exc}", f"{method} {path.split('?')[0]}"
                if self.waits.wait(wait, reason, cancel, key=key):
                    raise Cancelled from None

    def _exchange(
        self,
        method: str,
        url: str,
        body: Mapping[str, Any] | None,
        budgets: tuple[RateBudget, ...],
        cancel: threading.Event,
        answer_type: type | None = None,
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
        if answer_type is not None and reply.status in (200, 207):
            try:
                typed: Any = msgspec.json.decode(reply.content, type=answer_type)
            except (ValueError, RecursionError):
                pass  # read as plain JSON and judged below
            else:
                return _Answer(reply, None, token, typed)
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
        said = describe(reply.reason, reply.headers, body)
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
                f"HubSpot rejected the credentials (401){after}: {said}",
                status=401,
            )
        if outcome is Outcome.FORBIDDEN:
            scopes = required_scopes(body)
            hint = f"; grant the scopes {', '.join(scopes)}" if scopes else ""
            raise HubSpotError(
                f"HubSpot refused access (403): {said}{hint}",
                status=403,
            )
        if outcome is Outcome.DAILY_LIMIT:
            self.stats.refused_by_rate_limit()
            raise HubSpotError(
                "HubSpot's daily request limit for this account is spent (429 DAILY); "
                f"run again after the account's midnight: {said}"
            )
        if outcome is Outcome.RATE_LIMITED:
            self.stats.refused_by_rate_limit()
            policy = body.get("policyName") if body else None
            wait = budget.wait_after_429(reply.headers, policy=policy)
            named = one_line(policy)[:60] if isinstance(policy, str) else "no policy"
            raise Transient(f"429 rate limited ({named or 'no policy'})", wait, rate_limited=True)
        if outcome is Outcome.TRANSIENT:
            asked = announced_wait(reply.headers, "Retry-After", self.max_wait)
            if status == 423:
                asked = max(asked or 0.0, LOCKED_MIN_WAIT_SECONDS)
            raise Transient(f"HTTP {status} {said}", asked)
        error = BadRequest if outcome is Outcome.BAD_REQUEST else HubSpotError
        raise error(
            f"HubSpot rejected {reply.method} {reply.path} ({status}): {said}",
            status=status,
        )
