"""The client in process: its table from status and body to outcome, and its handling of
retries, announced waits, redirects, broken bodies, token renewals and request metrics
against a scripted transport (`tests.helpers`)."""

from __future__ import annotations

import itertools
import json
import logging
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import pytest
import requests

from tap_hubspot_associations.answers import BatchAnswer
from tap_hubspot_associations.auth import Auth, StaticToken
from tap_hubspot_associations.client import HubSpotClient
from tap_hubspot_associations.errors import BadRequest, HubSpotError
from tap_hubspot_associations.metrics import RequestMetrics, RequestStats
from tap_hubspot_associations.outcomes import Outcome, judge, judge_token, required_scopes
from tap_hubspot_associations.rate_budget import RateBudget, WaitNotices
from tap_hubspot_associations.retry import retry_delays
from tests.fakes import API, Canned, Clock, EndlessBody, RecordingEvent, Transport, session_with

RESULT: dict[str, Any] = {"results": []}
RESULTS = json.dumps(RESULT).encode()


@pytest.mark.parametrize(
    ("status", "body", "outcome"),
    [
        (200, RESULT, Outcome.ANSWER),
        (207, {"results": [], "errors": []}, Outcome.ANSWER),
        (200, None, Outcome.BROKEN_BODY),
        (200, {"results": {}}, Outcome.BROKEN_BODY),
        (207, {"status": "COMPLETE"}, Outcome.BROKEN_BODY),
        (200, {"status": "COMPLETE", "results": []}, Outcome.ANSWER),
        (200, {"status": "PENDING", "results": []}, Outcome.NOT_FINAL),
        (200, {"status": "PROCESSING", "results": []}, Outcome.NOT_FINAL),
        (207, {"status": "CANCELED", "results": [], "errors": []}, Outcome.NOT_FINAL),
        (401, {"category": "EXPIRED_AUTHENTICATION"}, Outcome.EXPIRED_TOKEN),
        (401, {"category": "INVALID_AUTHENTICATION"}, Outcome.UNAUTHORIZED),
        (401, None, Outcome.UNAUTHORIZED),
        (403, {"category": "MISSING_SCOPES"}, Outcome.FORBIDDEN),
        (429, {"policyName": "TEN_SECONDLY_ROLLING"}, Outcome.RATE_LIMITED),
        (429, None, Outcome.RATE_LIMITED),
        (429, {"policyName": "DAILY"}, Outcome.DAILY_LIMIT),
        (423, None, Outcome.TRANSIENT),
        (477, None, Outcome.TRANSIENT),
        (500, None, Outcome.TRANSIENT),
        (502, None, Outcome.TRANSIENT),
        (521, None, Outcome.TRANSIENT),
        (524, None, Outcome.TRANSIENT),
        (400, {"category": "VALIDATION_ERROR"}, Outcome.BAD_REQUEST),
        (404, None, Outcome.REFUSED),
        (307, None, Outcome.REFUSED),
    ],
)
def test_status_and_body_decide_the_outcome(
    status: int, body: dict[str, Any] | None, outcome: Outcome
) -> None:
    assert judge(status, body, "results") is outcome


def test_required_scopes_of_a_403() -> None:
    body = {
        "category": "MISSING_SCOPES",
        "errors": [{"context": {"requiredGranularScopes": ["crm.objects.contacts.read"]}}],
    }
    assert required_scopes(body) == ["crm.objects.contacts.read"]
    assert required_scopes(None) == []


# The client with a scripted transport: retries, waits, redirects, tokens and metrics.

API_PATH = "/crm/objects/2026-03/contacts"
EXPIRED = Canned(
    401,
    json.dumps(
        {
            "category": "EXPIRED_AUTHENTICATION",
            "message": "The OAuth token used to make this call expired 1 second(s) ago.",
        }
    ).encode(),
)


class Tokens:
    """An Auth that counts: each renewal issues a new token; `events` orders the calls."""

    def __init__(self, events: list[str] | None = None) -> None:
        self.issued = 1
        self.events = events if events is not None else []

    def token(self, cancel: threading.Event | None = None) -> str:
        assert isinstance(cancel, threading.Event), "a token wait must stop with the request"
        self.events.append("token")
        return f"token-{self.issued}"

    def renew(self, rejected: str, cancel: threading.Event | None = None) -> bool:
        self.issued += 1
        return True


class OrderedBudget(RateBudget):
    """A rate budget that notes when a request takes its slot."""

    def __init__(self, events: list[str]) -> None:
        super().__init__(max_requests=1000, max_wait=300)
        self.events = events

    def acquire(self, cancel: threading.Event) -> float | None:
        self.events.append("slot")
        return super().acquire(cancel)


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextmanager
def lines_of(name: str) -> Iterator[tuple[logging.Logger, Lines]]:
    """The logger `name` and what it writes at INFO and above while the block runs."""
    logger, lines = logging.getLogger(name), Lines()
    level, propagate = logger.level, logger.propagate
    logger.addHandler(lines)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield logger, lines
    finally:
        logger.removeHandler(lines)
        logger.setLevel(level)
        logger.propagate = propagate


def client_with(
    transport: Transport,
    *,
    auth: Auth | None = None,
    budget: RateBudget | None = None,
    max_retries: int = 2,
    max_wait: float = 300,
    request_metrics: RequestMetrics | None = None,
) -> HubSpotClient:
    return HubSpotClient(
        api_url=API,
        auth=auth or StaticToken("pat-na1-client-test"),
        session=session_with(transport),
        max_retries=max_retries,
        read_timeout=5,
        logger=logging.getLogger("tests.client"),
        budget=budget or RateBudget(max_requests=1000, max_wait=max_wait),
        search_budget=RateBudget(max_requests=5, window=1.0, max_wait=max_wait),
        max_wait=max_wait,
        request_metrics=request_metrics,
        waits=WaitNotices(interval=10, logger=logging.getLogger("tests.client")),
        clock=Clock(),
    )


@pytest.mark.parametrize(
    "broken",
    [b'{"results": ["\xff"]}', b"[" * 100_000 + b"]" * 100_000],
    ids=["invalid utf-8", "deeply nested"],
)
def test_a_broken_body_is_retried_like_any_other(broken: bytes) -> None:
    transport = Transport(Canned(body=broken), Canned())
    client = client_with(transport)
    assert client.get(API_PATH, list_key="results", cancel=RecordingEvent()) == {"results": []}
    assert client.stats.retries == 1


def test_a_body_still_broken_after_every_retry_is_named() -> None:
    transport = Transport(Canned(body=b"\xff\xfe"))
    with pytest.raises(HubSpotError, match="still failing after 2 retries: 200 response is not"):
        client_with(transport).get(API_PATH, list_key="results", cancel=RecordingEvent())


def test_a_body_beyond_the_cap_is_retried_then_named() -> None:
    transport = Transport(lambda request: Canned(body=EndlessBody()))
    with pytest.raises(HubSpotError, match=r"still failing after 1 retries: .*larger than 64 MiB"):
        client_with(transport, max_retries=1).get(
            API_PATH, list_key="results", cancel=RecordingEvent()
        )
    assert len(transport.requests) == 2


def test_a_redirect_ends_the_run_at_once() -> None:
    transport = Transport(Canned(302, b"", {"Location": "https://elsewhere.test/"}, "Found"))
    with pytest.raises(HubSpotError, match=r"302 Found, a redirect to .*redirects are refused"):
        client_with(transport).get(API_PATH, list_key="results", cancel=RecordingEvent())
    assert len(transport.requests) == 1


@pytest.mark.parametrize("value", ["inf", "nan", "1e308", "-5", "soon", "1_0", "Infinity"])
def test_an_invalid_retry_after_counts_as_absent(value: str) -> None:
    transport = Transport(Canned(503, b"", {"Retry-After": value}, "Unavailable"), Canned())
    cancel = RecordingEvent()
    assert client_with(transport).get(API_PATH, list_key="results", cancel=cancel)
    assert len(cancel.waits) == 1
    assert 0 <= cancel.waits[0] <= 0.5, "the first backoff step, as if nothing was announced"


def test_an_announced_wait_within_the_cap_is_obeyed() -> None:
    transport = Transport(Canned(429, b"", {"Retry-After": "7"}, "Too Many Requests"), Canned())
    cancel = RecordingEvent()
    assert client_with(transport).get(API_PATH, list_key="results", cancel=cancel)
    assert cancel.waits == [7.0]


@pytest.mark.parametrize(
    ("status", "header", "value"),
    [
        (429, "Retry-After", "1000000000"),
        (503, "Retry-After", "301"),
        (477, "Retry-After", "86400"),
        (429, "X-HubSpot-RateLimit-Interval-Milliseconds", "100000000"),
        (200, "X-HubSpot-RateLimit-Interval-Milliseconds", "100000000"),
        (207, "X-HubSpot-RateLimit-Interval-Milliseconds", "301000"),
    ],
)
def test_an_announced_wait_beyond_the_cap_ends_the_run_with_one_clear_line(
    status: int, header: str, value: str
) -> None:
    transport = Transport(Canned(status, RESULTS, {header: value}), Canned())
    cancel = RecordingEvent()
    with pytest.raises(HubSpotError) as raised:
        client_with(transport).get(API_PATH, list_key="results", cancel=cancel)
    message = str(raised.value)
    assert f"{header}: {value}" in message
    assert "max_wait_seconds (300 s)" in message
    assert cancel.waits == [], "nothing was waited for"
    assert len(transport.requests) == 1


def test_the_token_is_taken_after_the_request_holds_its_slot() -> None:
    events: list[str] = []
    client = client_with(Transport(Canned()), auth=Tokens(events), budget=OrderedBudget(events))
    client.get(API_PATH, list_key="results", cancel=RecordingEvent())
    assert events == ["slot", "token"]


def test_a_token_that_expires_again_is_renewed_again() -> None:
    tokens = Tokens()
    transport = Transport(EXPIRED, EXPIRED, EXPIRED, Canned())
    client = client_with(transport, auth=tokens)
    assert client.get(API_PATH, list_key="results", cancel=RecordingEvent())
    sent = [request.headers["Authorization"] for request in transport.requests]
    assert sent == [f"Bearer token-{n}" for n in (1, 2, 3, 4)]
    assert client.stats.retries == 0, "a renewal is not a failed attempt"


def test_renewals_per_request_are_bounded() -> None:
    transport = Transport(EXPIRED)
    with pytest.raises(HubSpotError, match=r"\(401\) \(after 3 token renewals\): The OAuth"):
        client_with(transport, auth=Tokens()).get(
            API_PATH, list_key="results", cancel=RecordingEvent()
        )
    assert len(transport.requests) == 4


def test_each_request_logs_the_sdk_request_metrics() -> None:
    with lines_of("tests.client.metrics") as (logger, lines):
        transport = Transport(Canned(503, b"", {"Retry-After": "0"}, "Unavailable"), Canned())
        client = client_with(transport, request_metrics=RequestMetrics(logger=logger))
        client.get(API_PATH + "?limit=100&after=5", list_key="results", cancel=RecordingEvent())
        client.metrics.flush()
    points = [json.loads(m.removeprefix("METRIC: ")) for m in lines.messages]
    durations = [p for p in points if p["metric"] == "http_request_duration"]
    counts = [p for p in points if p["metric"] == "http_request_count"]
    assert [p["value"] for p in durations] == [0.0, 0.0], "timed by the client's clock"
    assert [(p["type"], p["tags"]) for p in durations] == [
        ("timer", {"endpoint": API_PATH, "status": "failed", "http_status_code": 503}),
        ("timer", {"endpoint": API_PATH, "status": "succeeded", "http_status_code": 200}),
    ]
    assert sorted((p["type"], p["value"], p["tags"]["http_status_code"]) for p in counts) == [
        ("counter", 1, 200),
        ("counter", 1, 503),
    ]


def test_required_scopes_in_the_older_form_too() -> None:
    older = {"errors": [{"context": {"requiredScopes": ["tickets", "crm.objects.deals.read"]}}]}
    assert required_scopes(older) == ["tickets", "crm.objects.deals.read"]


def test_the_daily_allowance_is_summed_up_and_a_heavy_run_flagged() -> None:
    stats = RequestStats()
    assert stats.daily_summary() is None
    stats.answered(
        {"X-HubSpot-RateLimit-Daily": "250000", "X-HubSpot-RateLimit-Daily-Remaining": "200000"}
    )
    stats.answered({"X-HubSpot-RateLimit-Daily-Remaining": "199000"})
    assert stats.daily_summary() == (
        "HubSpot's daily allowance: 199,000 requests remaining of 250,000; "
        "this run spent about 1,001",
        False,
    )
    stats.answered({"X-HubSpot-RateLimit-Daily-Remaining": "170000"})
    summary = stats.daily_summary()
    assert summary is not None and summary[1]


CORRELATION = {"X-HubSpot-Correlation-Id": "hdr-7f3a"}
REJECTED = f"HubSpot rejected GET {API_PATH}"


def body_of(value: dict[str, Any]) -> bytes:
    return json.dumps(value).encode()


@pytest.mark.parametrize(
    ("canned", "message"),
    [
        (
            Canned(400, body_of({"message": "Bad\n  input", "correlationId": "b-1"}), CORRELATION),
            f"{REJECTED} (400): Bad input (correlation id b-1)",
        ),
        (
            Canned(404, body_of({"category": "OBJECT_NOT_FOUND"}), CORRELATION),
            f"{REJECTED} (404): OBJECT_NOT_FOUND (correlation id hdr-7f3a)",
        ),
        (Canned(400, body_of({"status": "error"})), f"{REJECTED} (400): no message"),
        (
            Canned(401, body_of({"category": "INVALID_AUTHENTICATION", "message": "bad"})),
            "HubSpot rejected the credentials (401): bad",
        ),
        (
            Canned(404, b"<html>", {"Content-Type": "text/html; charset=utf-8", **CORRELATION}),
            f"{REJECTED} (404): OK, text/html body (correlation id hdr-7f3a)",
        ),
        (Canned(404, b"", {}, ""), f"{REJECTED} (404): no reason, no content type body"),
        (
            Canned(400, body_of({"message": "m" * 600, "correlationId": "c\n" * 150})),
            f"{REJECTED} (400): {'m' * 500} (correlation id {'c ' * 100})",
        ),
    ],
    ids=["message", "category", "neither", "401", "not json", "nothing", "long"],
)
def test_an_error_names_hubspots_message_and_correlation_id(canned: Canned, message: str) -> None:
    with pytest.raises(HubSpotError) as raised:
        client_with(Transport(canned)).get(API_PATH, list_key="results", cancel=RecordingEvent())
    assert str(raised.value) == message


def test_the_header_names_are_matched_as_http_has_them_case_blind() -> None:
    headers = {"x-hubspot-correlation-id": "lower-1", "content-type": "text/plain"}
    with pytest.raises(HubSpotError) as raised:
        client_with(Transport(Canned(404, b"x", headers, "Not Found"))).get(
            API_PATH, list_key="results", cancel=RecordingEvent()
        )
    assert str(raised.value).endswith("(404): Not Found, text/plain body (correlation id lower-1)")


def test_every_request_carries_the_token_and_asks_for_json() -> None:
    transport = Transport(Canned())
    client = client_with(transport)
    client.post_typed(
        API_PATH + "/search", {"limit": 1}, BatchAnswer, list_key="results", cancel=RecordingEvent()
    )
    client.get(API_PATH, list_key="results")
    for request in transport.requests:
        assert request.headers["Authorization"] == "Bearer pat-na1-client-test"
        assert request.headers["Accept"] == "application/json"
    assert [(r.method, r.url) for r in transport.requests] == [
        ("POST", f"{API}{API_PATH}/search"),
        ("GET", f"{API}{API_PATH}"),
    ]
    assert json.loads(transport.requests[0].body or b"") == {"limit": 1}


def test_a_policy_name_cannot_forge_a_log_line() -> None:
    """HubSpot's `policyName` is text from the server: a line break in it would start a
    line of its own in the log (an ERROR, say), and its length is the server's."""
    forged = "X\n2026-01-01 00:00:00,000 | ERROR | tap | injected" + "y" * 200_000
    with lines_of("tests.client") as (_, lines):
        transport = Transport(
            Canned(429, body_of({"policyName": forged}), {"Retry-After": "1"}), Canned()
        )
        client = client_with(transport)
        assert client.get(API_PATH, list_key="results", cancel=RecordingEvent()) == RESULT
    (line,) = lines.messages
    assert "\n" not in line and len(line) < 200, line[:300]
    assert "429 rate limited (X 2026-01-01 00:00:00,000 | ERROR | tap | injected" in line


def test_retries_are_logged_with_their_cause_and_wait_and_counted() -> None:
    with lines_of("tests.client") as (_, lines):
        transport = Transport(
            Canned(429, body_of({"policyName": "TEN_SECONDLY_ROLLING"}), {"Retry-After": "7"}),
            Canned(429, b"", {"Retry-After": "2"}),
            Canned(503, b"", {"Retry-After": "3", **CORRELATION}, "Unavailable"),
            Canned(423, b"", {}, "Locked"),
            Canned(),
        )
        client = client_with(transport, max_retries=2)
        cancel = RecordingEvent()
        assert client.get(API_PATH, list_key="results", cancel=cancel) == RESULT
    assert lines.messages == [
        f"GET {API_PATH}: 429 rate limited (TEN_SECONDLY_ROLLING); retrying in 7.0 s",
        f"GET {API_PATH}: 429 rate limited (no policy); retrying in 2.0 s",
        f"GET {API_PATH}: HTTP 503 Unavailable, no content type body (correlation id "
        "hdr-7f3a); retrying in 3.0 s",
        f"GET {API_PATH}: HTTP 423 Locked, no content type body; retrying in 2.0 s",
    ]
    assert cancel.waits == [7.0, 2.0, 3.0, 2.0]
    stats = client.stats
    assert (stats.requests, stats.retries, stats.rate_limited) == (5, 2, 2)


def test_the_api_url_may_end_with_a_slash() -> None:
    transport = Transport(Canned())
    client = HubSpotClient(
        api_url=API + "/",
        auth=StaticToken("pat-na1-client-test"),
        session=session_with(transport),
        max_retries=0,
        read_timeout=5,
        logger=logging.getLogger("tests.client"),
        budget=RateBudget(max_wait=300, max_requests=10),
        search_budget=RateBudget(max_wait=300, max_requests=5, window=1.0),
        max_wait=300,
        waits=WaitNotices(interval=10, logger=logging.getLogger("tests.client")),
    )
    client.get(API_PATH, list_key="results")
    assert transport.requests[0].url == API + API_PATH


def test_a_run_that_spent_exactly_a_tenth_of_the_daily_allowance_is_not_flagged() -> None:
    stats = RequestStats()
    stats.answered(
        {"X-HubSpot-RateLimit-Daily": "250000", "X-HubSpot-RateLimit-Daily-Remaining": "200000"}
    )
    assert stats.daily_summary() == (
        "HubSpot's daily allowance: 200,000 requests remaining of 250,000; this run spent about 1",
        False,
    )
    stats.answered({"X-HubSpot-RateLimit-Daily-Remaining": "175001"})
    summary = stats.daily_summary()
    assert summary is not None and summary[0].endswith("spent about 25,000")
    assert summary[1] is False


def test_more_than_30_rate_limit_waits_in_a_row_end_the_request() -> None:
    transport = Transport(Canned(429, b"", {"Retry-After": "1"}))
    cancel = RecordingEvent()
    client = client_with(transport)
    with pytest.raises(HubSpotError, match=f"GET {API_PATH} was rate limited 31 times in a row"):
        client.get(API_PATH, list_key="results", cancel=cancel)
    assert cancel.waits == [1.0] * 30
    assert len(transport.requests) == 31
    assert client.stats.retries == 0, "a rate-limit wait is not a failed attempt"


class RecordingBudget(RateBudget):
    """A rate budget that notes how each slot is given back."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.released: list[tuple[bool, int]] = []

    def release(self, sent_at: float, headers: Mapping[str, str], *, refused: bool = False) -> None:
        self.released.append((refused, len(headers)))
        super().release(sent_at, headers, refused=refused)


def test_a_search_holds_a_slot_of_both_budgets_and_only_the_apps_reads_the_headers() -> None:
    app = RecordingBudget(max_requests=1000, max_wait=300)
    search = RecordingBudget(max_requests=5, window=1.0, max_wait=300)
    client = HubSpotClient(
        api_url=API,
        auth=StaticToken("pat-na1-client-test"),
        session=session_with(
            Transport(
                Canned(429, b"", {"Retry-After": "0", "X-Other": "1"}),
                Canned(headers={"X-Other": "1"}),
            )
        ),
        max_retries=0,
        read_timeout=5,
        logger=logging.getLogger("tests.client"),
        budget=app,
        search_budget=search,
        max_wait=300,
        waits=WaitNotices(interval=10, logger=logging.getLogger("tests.client")),
    )
    assert client.search(API_PATH + "/search", {"limit": 1}, cancel=RecordingEvent()) == RESULT
    assert [refused for refused, _ in app.released] == [True, False]
    assert [refused for refused, _ in search.released] == [True, False]
    assert all(count > 0 for _, count in app.released)
    assert all(count == 0 for _, count in search.released)


def test_a_rejected_post_names_its_method() -> None:
    transport = Transport(Canned(400, body_of({"message": "bad filter"})))
    with pytest.raises(HubSpotError, match=f"^HubSpot rejected POST {API_PATH} \\(400\\): bad"):
        client_with(transport).post_typed(API_PATH, {"x": 1}, BatchAnswer, list_key="results")


def test_a_renewal_names_the_token_that_was_rejected() -> None:
    class Renewals(Tokens):
        def __init__(self) -> None:
            super().__init__()
            self.rejected: list[str] = []

        def renew(self, rejected: str, cancel: threading.Event | None = None) -> bool:
            assert isinstance(cancel, threading.Event)
            self.rejected.append(rejected)
            return super().renew(rejected, cancel)

    tokens = Renewals()
    client = client_with(Transport(EXPIRED, EXPIRED, Canned()), auth=tokens)
    assert client.get(API_PATH, list_key="results", cancel=RecordingEvent()) == RESULT
    assert tokens.rejected == ["token-1", "token-2"]


def test_request_metrics_time_each_request_and_count_by_endpoint_and_status() -> None:
    clock = Clock()
    with lines_of("tests.client.metrics.counts") as (logger, lines):
        request_metrics = RequestMetrics(interval=60, clock=clock, logger=logger)
        request_metrics.record("/a", 200, 0.25)
        request_metrics.record("/a", None, 1.5)
        request_metrics.record("/a", 400, 0.5)
        clock.now += 59.9
        request_metrics.record("/b", 200, 0.1)
        counted_early = [m for m in lines.messages if "http_request_count" in m]
        clock.now += 0.1
        request_metrics.record("/a", 200, 0.1)
        clock.now += 1
        request_metrics.record("/b", 200, 0.2)
    points = [json.loads(m.removeprefix("METRIC: ")) for m in lines.messages]
    assert counted_early == []
    assert [p["value"] for p in points if p["metric"] == "http_request_duration"] == [
        0.25,
        1.5,
        0.5,
        0.1,
        0.1,
        0.2,
    ]
    counts = [
        (p["tags"]["endpoint"], p["tags"]["status"], p["tags"].get("http_status_code"), p["value"])
        for p in points
        if p["metric"] == "http_request_count"
    ]
    assert sorted(counts, key=str) == sorted(
        [
            ("/a", "succeeded", 200, 2),
            ("/a", "failed", None, 1),
            ("/a", "failed", 400, 1),
            ("/b", "succeeded", 200, 1),
        ],
        key=str,
    )


def test_required_scopes_skip_what_is_not_a_scope_and_name_each_once() -> None:
    body = {
        "errors": [
            "not an object",
            {"context": {"requiredGranularScopes": ["crm.objects.contacts.read", 7]}},
            {"context": {"requiredScopes": ["crm.objects.contacts.read", "tickets"]}},
        ]
    }
    assert required_scopes(body) == ["crm.objects.contacts.read", "tickets"]


def test_retry_backoff_doubles_from_half_a_second_up_to_30_seconds_with_full_jitter() -> None:
    """Each wait is drawn from [0, cap]; the caps are docs/reliability.md's: 0.5 s doubling, 30 s
    at most."""
    samples = [list(itertools.islice(retry_delays(), 10)) for _ in range(2000)]
    for step, cap in enumerate([0.5, 1, 2, 4, 8, 16, 30, 30, 30, 30]):
        waits = [sample[step] for sample in samples]
        assert all(0 <= wait <= cap for wait in waits), step
        assert max(waits) > 0.9 * cap, "the whole range is drawn from"


def test_a_secondly_429_without_retry_after_waits_one_second() -> None:
    transport = Transport(Canned(429, body_of({"policyName": "SECONDLY"})), Canned())
    cancel = RecordingEvent()
    assert client_with(transport).get(API_PATH, list_key="results", cancel=cancel) == RESULT
    assert cancel.waits == [1.0]


def test_a_retried_answer_names_hubspots_message() -> None:
    with lines_of("tests.client") as (_, lines):
        transport = Transport(Canned(502, body_of({"message": "upstream busy"}), {}), Canned())
        client_with(transport).get(API_PATH, list_key="results", cancel=RecordingEvent())
    assert len(lines.messages) == 1
    assert lines.messages[0].startswith(f"GET {API_PATH}: HTTP 502 upstream busy; retrying in ")


def test_a_request_that_got_no_answer_gives_its_slot_back_as_not_refused() -> None:
    budget = RecordingBudget(max_requests=1000, max_wait=300)
    transport = Transport(Canned(error=requests.ConnectionError("reset")), Canned())
    client = client_with(transport, budget=budget)
    assert client.get(API_PATH, list_key="results", cancel=RecordingEvent()) == RESULT
    assert budget.released == [(False, 0), (False, 0)]


def test_a_search_posts_its_body_and_waits_on_the_callers_cancel() -> None:
    transport = Transport(Canned(429, b"", {"Retry-After": "2"}), Canned())
    cancel = RecordingEvent()
    client = client_with(transport)
    assert client.search(API_PATH + "/search", {"limit": 1}, cancel=cancel) == RESULT
    assert cancel.waits == [2.0]
    assert [json.loads(r.body or b"") for r in transport.requests] == [{"limit": 1}] * 2
    transport = Transport(Canned(400, body_of({"message": "bad sort"})))
    with pytest.raises(HubSpotError, match=f"^HubSpot rejected POST {API_PATH}/search "):
        client_with(transport).search(API_PATH + "/search", {"limit": 1})


@pytest.mark.parametrize(("status", "refused_input"), [(400, True), (404, False), (409, False)])
def test_only_a_400_is_a_bad_request(status: int, refused_input: bool) -> None:
    transport = Transport(Canned(status, body_of({"message": "no"})))
    with pytest.raises(HubSpotError) as raised:
        client_with(transport).get(API_PATH, list_key="results")
    assert isinstance(raised.value, BadRequest) is refused_input


@pytest.mark.parametrize(
    ("canned", "said"),
    [
        (
            Canned(300, b"", {"Location": "https://elsewhere.test/x"}, "Multiple Choices"),
            "300 Multiple Choices, a redirect to 'https://elsewhere.test/x'",
        ),
        (Canned(307, b"", {}, ""), "307, a redirect to 'nowhere'"),
    ],
)
def test_a_redirect_names_the_request_with_its_query_and_where_it_pointed(
    canned: Canned, said: str
) -> None:
    with pytest.raises(HubSpotError) as raised:
        client_with(Transport(canned)).get(API_PATH + "?limit=100", list_key="results")
    assert str(raised.value).startswith(f"GET {API_PATH}?limit=100 was answered {said}: ")


def test_a_rejection_names_the_request_with_its_query() -> None:
    transport = Transport(Canned(404, body_of({"message": "gone"})))
    with pytest.raises(HubSpotError, match=rf"^HubSpot rejected GET {API_PATH}\?after=5 \(404\)"):
        client_with(transport).get(API_PATH + "?after=5", list_key="results")


# Typed answers: batch reads decoded straight into their structures --------------------

BATCH_PATH = "/crm/associations/2026-03/contacts/companies/batch/read"
ONE_RESULT = {
    "results": [
        {
            "from": {"id": "101"},
            "to": [{"toObjectId": 7, "associationTypes": [{"category": "WORK", "typeId": 5}]}],
        }
    ]
}


def test_a_complete_answer_comes_back_typed_and_is_counted() -> None:
    date = "Sun, 06 Dec 2026 08:00:00 GMT"
    transport = Transport(Canned(207, body_of(ONE_RESULT), {"Date": date}))
    client = client_with(transport)
    answer = client.post_typed(BATCH_PATH, {"inputs": []}, BatchAnswer, list_key="results")
    assert isinstance(answer, BatchAnswer)
    assert answer.results[0].from_.id == "101"
    assert client.stats.requests == 1
    assert client.hubspot_clock.now_ms() is not None, "HubSpot's time read off a typed answer"


def test_an_answer_not_final_is_retried_however_it_is_decoded() -> None:
    """`status` other than COMPLETE does not fit the typed answer: judged as plain JSON, it
    is a passing failure, retried."""
    pending = {**ONE_RESULT, "status": "PENDING"}
    transport = Transport(Canned(207, body_of(pending)), Canned(207, body_of(ONE_RESULT)))
    cancel = RecordingEvent()
    answer = client_with(transport).post_typed(
        BATCH_PATH, {"inputs": []}, BatchAnswer, list_key="results", cancel=cancel
    )
    assert isinstance(answer, BatchAnswer)
    assert len(transport.requests) == 2 and len(cancel.waits) == 1


def test_an_answer_that_does_not_fit_comes_back_as_plain_json() -> None:
    """One malformed result: the caller reads the answer part by part."""
    broken = {"results": [*ONE_RESULT["results"], {"from": {"id": "102"}, "to": "none"}]}
    transport = Transport(Canned(200, body_of(broken)))
    answer = client_with(transport).post_typed(
        BATCH_PATH, {"inputs": []}, BatchAnswer, list_key="results"
    )
    assert answer == broken


def test_a_typed_request_without_its_list_is_a_broken_body() -> None:
    transport = Transport(
        Canned(200, body_of({"status": "COMPLETE"})), Canned(200, body_of(ONE_RESULT))
    )
    cancel = RecordingEvent()
    answer = client_with(transport).post_typed(
        BATCH_PATH, {"inputs": []}, BatchAnswer, list_key="results", cancel=cancel
    )
    assert isinstance(answer, BatchAnswer) and len(transport.requests) == 2


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (200, {"access_token": "x"}, Outcome.ANSWER),
        (200, None, Outcome.BROKEN_BODY),
        (400, {"status": "BAD_REFRESH_TOKEN"}, Outcome.UNAUTHORIZED),
        (401, {"message": "invalid client"}, Outcome.UNAUTHORIZED),
        (400, None, Outcome.TRANSIENT),
        (401, None, Outcome.TRANSIENT),
        (429, {"policyName": "TEN_SECONDLY_ROLLING"}, Outcome.TRANSIENT),
        (423, None, Outcome.TRANSIENT),
        (477, None, Outcome.TRANSIENT),
        (500, None, Outcome.TRANSIENT),
        (502, None, Outcome.TRANSIENT),
        (403, {"message": "no"}, Outcome.REFUSED),
        (404, None, Outcome.REFUSED),
    ],
)
def test_the_token_endpoints_table(
    status: int, body: dict[str, Any] | None, expected: Outcome
) -> None:
    """The OAuth refresh's own table, beside the API's in outcomes.py: a refusal with a
    body is fatal, the rest of HubSpot's passing failures are retried."""
    assert judge_token(status, body) is expected


def test_only_a_200_or_207_answer_comes_back_typed() -> None:
    """A 502 is a passing failure, retried, whatever its body holds: even one that
    would fit the typed answer."""
    transport = Transport(Canned(502, body_of(ONE_RESULT)), Canned(207, body_of(ONE_RESULT)))
    cancel = RecordingEvent()
    answer = client_with(transport).post_typed(
        BATCH_PATH, {"inputs": []}, BatchAnswer, list_key="results", cancel=cancel
    )
    assert isinstance(answer, BatchAnswer)
    assert len(transport.requests) == 2 and len(cancel.waits) == 1


@pytest.mark.parametrize(
    ("canned", "status"),
    [
        (Canned(401, body_of({"category": "INVALID_AUTHENTICATION"})), 401),
        (EXPIRED, 401),
        (Canned(403, body_of({"category": "MISSING_SCOPES"})), 403),
        (Canned(400, body_of({"message": "bad sort"})), 400),
        (Canned(404, body_of({"message": "gone"})), 404),
    ],
    ids=["credentials", "expired after every renewal", "scopes", "bad request", "not found"],
)
def test_a_refusal_carries_hubspots_status(canned: Canned, status: int) -> None:
    """Callers decide by it: a search refused with 400, 403 or 404 is given up for the
    type, a credential refused with 401 ends the run at its first request."""
    with pytest.raises(HubSpotError) as raised:
        client_with(Transport(canned), auth=Tokens()).get(API_PATH, list_key="results")
    assert raised.value.status == status
