"""HubSpot failing: rate limits, transient failures, broken and malformed answers, cursors
that repeat, timeouts, auth and scope errors, and every fault at once. Each run ends
exact, or with one ERROR line that names the cause."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from itertools import pairwise
from typing import Any

import pytest

from hubspot_emulator import Faults, RateLimit
from tests.helpers import (
    ARRIVAL_GRACE,
    CLIENT_ID,
    CLIENT_SECRET,
    REFRESH_TOKEN,
    TOKEN,
    Answer,
    HostileServer,
    assert_one_clear_error,
    batch_reads,
    config_for,
    json_answer,
    oauth_config,
    offline_config,
    seeded_account,
    truth_of,
)

PAIRS = {("contacts", "companies"): 60, ("deals", "contacts"): 30}


def test_429_waits_as_retry_after_says(start_emulator, run_tap) -> None:
    """One request at a time, so that no request can lose the race for a freed slot 31
    times in a row (the end of a run): 4 slots a second and waits of 0.3 s refuse one
    request at most 4 times."""
    account, pairs = seeded_account(PAIRS)
    limit = RateLimit(max_requests=4, interval_ms=1000, send_headers=False, retry_after=0.3)
    emulator = start_emulator(account, page_size=5, rate_limit=limit)
    config = config_for(emulator, pairs, batch_size=10, max_concurrency=1)
    run = run_tap(config, emulator=emulator)
    assert run.returncode == 0, run.stderr
    assert emulator.stats.statuses[429] > 0
    assert run.record_set() == truth_of(account, pairs)


RETRY_AFTER = 2.0


def test_the_wait_after_a_429_is_retry_after_by_the_servers_clock(start_emulator, run_tap):
    """The 429 also says the window is 10 s with nothing remaining; `Retry-After` is the
    wait all the same (docs/hubspot-api.md#rate-limits-and-errors). Timed by the
    emulator: from writing the 429 to reading the request again, which is at least the
    tap's wait and at most that plus two trips on loopback."""
    account, pairs = seeded_account({("contacts", "companies"): 5})
    faults = Faults(script=("rate_limited",), rate_limited_retry_after=RETRY_AFTER)
    emulator = start_emulator(account, faults=faults)
    run = run_tap(config_for(emulator, pairs, max_concurrency=1), emulator=emulator)
    assert run.returncode == 0, run.stderr
    reads = [e for e in emulator.stats.log if e.path.endswith("/batch/read")]
    assert [e.status for e in reads][:1] == [429] and reads[1].status != 429
    waited = reads[1].arrived - reads[0].answered
    assert RETRY_AFTER - 0.01 <= waited < RETRY_AFTER + 1.5, waited
    assert run.record_set() == truth_of(account, pairs)


@pytest.mark.parametrize(("refusals", "returncode"), [(30, 0), (31, 1)])
def test_at_most_30_rate_limit_waits_in_a_row(
    start_emulator, run_tap, refusals: int, returncode: int
) -> None:
    """30 waits are retried, the 31st 429 in a row ends the run; none of them counts
    as a retry of a failure (`max_retries` 0)."""
    account, pairs = seeded_account({("contacts", "companies"): 5})
    faults = Faults(script=("rate_limited",) * refusals, rate_limited_retry_after=0)
    emulator = start_emulator(account, faults=faults)
    config = config_for(emulator, pairs, max_concurrency=1, max_retries=0)
    run = run_tap(config, emulator=emulator)
    assert run.returncode == returncode, run.stderr
    assert batch_reads(emulator) == 31
    assert emulator.stats.statuses[429] == refusals
    if returncode:
        assert "rate limited" in run.error_lines()[-1]
        assert "Traceback" not in run.stderr
    else:
        assert run.record_set() == truth_of(account, pairs)


def test_one_request_alone_until_the_first_answer(start_emulator, run_tap) -> None:
    """Until a response tells the limits, one request goes alone (rate-limits.md): the
    first answer takes a second, and nothing else reaches the emulator meanwhile;
    afterwards requests overlap."""
    account, pairs = seeded_account({("contacts", "companies"): 80})
    faults = Faults(first_answer_seconds=1.0, latency_seconds=0.2, latency_spread=0)
    emulator = start_emulator(account, page_size=4, faults=faults)
    config = config_for(emulator, pairs, batch_size=10, max_concurrency=8)
    run = run_tap(config, emulator=emulator)
    assert run.returncode == 0, run.stderr
    log = sorted(emulator.stats.log, key=lambda e: e.arrived)
    first, rest = log[0], log[1:]
    assert first.answered - first.arrived >= 1.0
    assert all(e.arrived >= first.answered for e in rest), "a request went before the first answer"
    assert any(b.arrived < a.answered for a, b in pairwise(rest)), "requests never overlapped"
    assert run.record_set() == truth_of(account, pairs)


def test_announced_limits_are_kept_without_429s(start_emulator, run_tap) -> None:
    account, pairs = seeded_account(PAIRS)
    limit = RateLimit(max_requests=10, interval_ms=1000, arrival_grace=ARRIVAL_GRACE)
    emulator = start_emulator(account, page_size=5, rate_limit=limit)
    run = run_tap(config_for(emulator, pairs, batch_size=10), emulator=emulator)
    assert run.returncode == 0, run.stderr
    assert sum(emulator.stats.requests.values()) > 15
    assert emulator.stats.statuses[429] == 0
    assert run.record_set() == truth_of(account, pairs)


def test_slots_other_clients_hold_are_left_to_them(start_emulator, run_tap) -> None:
    account, pairs = seeded_account(PAIRS)
    limit = RateLimit(
        max_requests=20, interval_ms=1000, taken_by_others=12, arrival_grace=ARRIVAL_GRACE
    )
    emulator = start_emulator(account, page_size=5, rate_limit=limit)
    run = run_tap(config_for(emulator, pairs, batch_size=10), emulator=emulator)
    assert run.returncode == 0, run.stderr
    assert sum(emulator.stats.requests.values()) > 12
    assert emulator.stats.statuses[429] == 0
    assert run.record_set() == truth_of(account, pairs)


def test_daily_limit_stops_the_run_at_once(start_emulator, run_tap) -> None:
    account, pairs = seeded_account(PAIRS)
    emulator = start_emulator(account, page_size=5, rate_limit=RateLimit(daily=3))
    run = run_tap(config_for(emulator, pairs, batch_size=10), emulator=emulator)
    assert run.returncode == 1
    assert "daily request limit" in run.error_lines()[-1]
    assert "correlation id" in run.error_lines()[-1]
    assert "retrying" not in run.stderr
    assert sum(emulator.stats.requests.values()) <= 3 + 8
    assert "Traceback" not in run.stderr


def test_transient_failures_and_broken_bodies_are_retried(start_emulator, run_tap) -> None:
    account, pairs = seeded_account(PAIRS)
    faults = Faults(server_error=0.15, html_502=0.1, truncated_body=0.15, locked=0.03)
    emulator = start_emulator(account, page_size=5, faults=faults)
    run = run_tap(config_for(emulator, pairs, batch_size=10, max_retries=10), emulator=emulator)
    assert run.returncode == 0, run.stderr
    statuses = emulator.stats.statuses
    assert statuses[502] + statuses[500] + statuses[503] + statuses[504] > 0
    assert run.record_set() == truth_of(account, pairs)


def test_each_kind_of_transient_failure_is_retried(start_emulator, run_tap) -> None:
    account, pairs = seeded_account(PAIRS)
    script = ("server_error", "locked", "migrating", "html_502", "truncated", "reset")
    emulator = start_emulator(account, page_size=5, faults=Faults(script=script))
    config = config_for(emulator, pairs, batch_size=10, max_retries=len(script), max_concurrency=1)
    run = run_tap(config, emulator=emulator)
    assert run.returncode == 0, run.stderr
    assert run.record_set() == truth_of(account, pairs)
    statuses = emulator.stats.statuses
    assert statuses[423] == statuses[477] == 1
    assert statuses[500] + statuses[502] + statuses[503] + statuses[504] == 2
    retries = [line for line in run.stderr.splitlines() if "retrying in" in line]
    assert len(retries) == len(script)
    assert "connection to 127.0.0.1:" in retries[-1] and "not the expected JSON" in retries[-2]


def test_a_server_that_does_not_answer_times_out_and_is_retried(start_emulator, run_tap) -> None:
    """Three requests stall (scripted: at a rate of one in two, a request stalled 11 times
    in a row about once in a hundred runs, and the backoff made the run last 20-80 s)."""
    account, pairs = seeded_account({("contacts", "companies"): 40})
    faults = Faults(script=("stall", "stall", "none", "stall"), stall_seconds=3)
    emulator = start_emulator(account, page_size=5, faults=faults)
    config = config_for(emulator, pairs, batch_size=5, request_timeout=1, max_retries=10)
    run = run_tap(config, emulator=emulator)
    assert run.returncode == 0, run.stderr
    assert run.stderr.count("timed out") >= 3
    assert run.record_set() == truth_of(account, pairs)


def test_persistent_server_errors_give_up_after_bounded_retries(start_emulator, run_tap) -> None:
    account, pairs = seeded_account({("contacts", "companies"): 5})
    emulator = start_emulator(account, faults=Faults(server_error=1.0))
    run = run_tap(config_for(emulator, pairs, max_retries=2), emulator=emulator)
    assert run.returncode == 1
    assert batch_reads(emulator) == 3
    assert "still failing after 2 retries" in run.error_lines()[-1]
    assert "Traceback" not in run.stderr


def test_invalid_token_is_fatal_and_clear(start_emulator, run_tap) -> None:
    account, pairs = seeded_account({("contacts", "companies"): 5})
    emulator = start_emulator(account)
    config = {**config_for(emulator, pairs), "access_token": "pat-na1-wrong-secret"}
    run = run_tap(config, emulator=emulator)
    assert run.returncode == 1
    last = run.error_lines()[-1]
    assert "401" in last and "Authentication credentials not found" in last
    assert "correlation id" in last
    assert "pat-na1-wrong-secret" not in run.stderr
    assert "Traceback" not in run.stderr
    assert len(run.error_lines()) == 1
    assert run.stdout == "", "the credentials are checked before anything is written"
    assert sum(emulator.stats.requests.values()) == 1, "by one request"


def test_missing_scopes_are_named(start_emulator, run_tap) -> None:
    account, pairs = seeded_account({("deals", "companies"): 5})
    emulator = start_emulator(account)
    emulator.tokens["pat-na1-scoped"] = frozenset({"crm.objects.deals.read"})
    config = {**config_for(emulator, pairs), "access_token": "pat-na1-scoped"}
    run = run_tap(config, emulator=emulator)
    assert run.returncode == 1
    assert "403" in run.error_lines()[-1]
    assert "crm.objects.companies.read" in run.error_lines()[-1]


def test_bad_request_shows_hubspots_message_and_correlation_id(start_emulator, run_tap) -> None:
    account, pairs = seeded_account({("contacts", "companies"): 5})
    emulator = start_emulator(account, faults=Faults(script=("bad_request",)))
    run = run_tap(config_for(emulator, pairs), emulator=emulator)
    assert run.returncode == 1
    last = run.error_lines()[-1]
    assert "(400)" in last and "Invalid input JSON on line 1" in last
    assert "correlation id" in last
    assert batch_reads(emulator) == 1


def test_an_unknown_object_type_is_named_with_the_nearest_one(start_emulator, run_tap) -> None:
    account, pairs = seeded_account({("contacts", "companies"): 5, ("p4242_cars", "deals"): 5})
    emulator = start_emulator(account)
    for wrong, nearest in (("contacs", "contacts"), ("p4242_car", "p4242_cars")):
        config = config_for(emulator, {**pairs, ("deals", wrong): [1, 2]})
        run = run_tap(config, emulator=emulator)
        assert run.returncode == 1
        assert run.error_lines()[-1].endswith(
            f"associations[2].to: {wrong!r} is not an object type of this account; "
            f"did you mean {nearest!r}?"
        )
        assert not any(m["type"] == "RECORD" for m in run.messages)
    config = config_for(emulator, {("2-4242", "0-3"): [1], ("p4242_cars", "deals"): [2]})
    assert run_tap(config, emulator=emulator).returncode == 0


def oauth_run(start_emulator, run_tap, faults: Faults, **token_lifetimes):
    """A run under OAuth tokens with the given lifetimes, one request at a time, with the
    faults given: the account, pairs, emulator and run."""
    account, pairs = seeded_account(PAIRS)
    emulator = start_emulator(
        account,
        page_size=3,
        faults=faults,
        oauth_clients={CLIENT_ID: (CLIENT_SECRET, REFRESH_TOKEN)},
        **token_lifetimes,
    )
    config = oauth_config(emulator, pairs, batch_size=5, max_concurrency=1)
    run = run_tap(config, emulator=emulator)
    return account, pairs, emulator, run


def test_oauth_tokens_are_refreshed_ahead_of_expiry(start_emulator, run_tap) -> None:
    """The token claims one second of life (and would really last a minute): the second
    batch read stalls 1.5 s, so every request after it must carry a new token, fetched
    by its claimed expiry alone, with no 401 to prompt it."""
    stalled = Faults(script=("none", "stall"), stall_seconds=1.5)
    account, pairs, emulator, run = oauth_run(
        start_emulator, run_tap, stalled, token_ttl=60, token_ttl_claimed=1.0
    )
    assert run.returncode == 0, run.stderr
    assert emulator.stats.tokens_issued >= 2
    assert emulator.stats.statuses[401] == 0
    assert run.record_set() == truth_of(account, pairs)


def test_an_expired_token_is_refreshed_once_on_401(start_emulator, run_tap) -> None:
    """HubSpot calls the token expired (401 EXPIRED_AUTHENTICATION) though its claimed
    life is half an hour: one new token, the request sent again, the run goes on."""
    expiring = Faults(script=("none", "expired_token"))
    account, pairs, emulator, run = oauth_run(start_emulator, run_tap, expiring)
    assert run.returncode == 0, run.stderr
    assert emulator.stats.statuses[401] == 1
    assert emulator.stats.tokens_issued == 2
    assert run.record_set() == truth_of(account, pairs)


def test_a_refused_refresh_token_is_fatal_and_clear(start_emulator, run_tap) -> None:
    account, pairs = seeded_account({("contacts", "companies"): 5})
    emulator = start_emulator(account, oauth_clients={CLIENT_ID: (CLIENT_SECRET, "other")})
    run = run_tap(oauth_config(emulator, pairs), emulator=emulator)
    assert run.returncode == 1
    assert "OAuth token refresh was refused (400)" in run.error_lines()[-1]
    assert "Traceback" not in run.stderr


# Malformed answers and cursors that repeat --------------------------------------------


MANGLED = {
    "results missing": ("missing_results", "not the expected JSON", True),
    "a 200 HTML page": ("html_200", "not the expected JSON", True),
    "to is null": ("null_to", "", True),
    "a result for an id not asked for": ("extra_id", "not requested", False),
}


@pytest.mark.parametrize("case", MANGLED, ids=list(MANGLED))
def test_mangled_answers_are_survived(case: str, start_emulator, run_tap) -> None:
    fault, logged, sent_again = MANGLED[case]
    account, pairs = seeded_account({("contacts", "companies"): 30})
    emulator = start_emulator(account, page_size=4, faults=Faults(script=(fault,) * 2))
    config = config_for(emulator, pairs, batch_size=10, max_concurrency=1)
    run = run_tap(config, emulator=emulator)
    assert run.returncode == 0, run.stderr
    assert run.record_set() == truth_of(account, pairs)
    assert logged in run.stderr
    first_pages = [i for batch in emulator.stats.batches for i, after in batch if after is None]
    assert (len(first_pages) > len(set(first_pages))) is sent_again


def test_endless_broken_answers_end_in_a_clear_error(start_emulator, run_tap) -> None:
    account, pairs = seeded_account({("contacts", "companies"): 10})
    emulator = start_emulator(account, faults=Faults(script=("truncated",) * 100))
    run = run_tap(config_for(emulator, pairs, max_retries=3), emulator=emulator)
    assert run.returncode == 1
    assert (
        "still failing after 3 retries: 207 response is not the expected JSON"
        in (run.error_lines()[-1])
    )
    assert batch_reads(emulator) == 4


def test_a_server_that_never_answers_ends_in_a_clear_error(start_emulator, run_tap) -> None:
    account, pairs = seeded_account({("contacts", "companies"): 10})
    emulator = start_emulator(account, faults=Faults(stall=1.0, stall_seconds=30))
    run = run_tap(config_for(emulator, pairs, max_retries=1, request_timeout=1), emulator=emulator)
    assert run.returncode == 1
    assert "still failing after 1 retries: timed out" in run.error_lines()[-1]


GOOD_KIND = {"category": "HUBSPOT_DEFINED", "typeId": 1, "label": None}


def batch_read_server(kind: dict[str, Any], to_id: object = 2002) -> HostileServer:
    """Answers every batch read with one association of `kind` per id."""

    def answer(method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        if path.endswith("/labels"):
            return json_answer(200, {"results": []})
        inputs = json.loads(body)["inputs"]
        results = [
            {"from": {"id": item["id"]}, "to": [{"toObjectId": to_id, "associationTypes": [kind]}]}
            for item in inputs
        ]
        return json_answer(200, {"status": "COMPLETE", "results": results})

    return HostileServer(answer)


@pytest.mark.parametrize(
    ("kind", "to_id"),
    [
        ({**GOOD_KIND, "typeId": 7.9}, 2002),
        ({**GOOD_KIND, "typeId": True}, 2002),
        ({**GOOD_KIND, "category": None}, 2002),
        ({**GOOD_KIND, "label": {"text": "Primary"}}, 2002),
        (GOOD_KIND, "not-an-id"),
        (GOOD_KIND, True),
    ],
)
def test_values_hubspot_never_sends_are_named_not_emitted(run_tap, kind, to_id):
    with batch_read_server(kind, to_id) as server:
        config = {
            "access_token": TOKEN,
            "api_url": server.url,
            "max_retries": 1,
            "associations": [{"from": "contacts", "to": "companies", "ids": ["101"]}],
        }
        run = run_tap(config)
    assert run.records() == []
    assert_one_clear_error(run, "101 (malformed result)")


def looping_cursor_server(listing: bool) -> HostileServer:
    """Pages forever with the same cursor: batch reads per id, or the listing."""

    def answer(method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        if path.endswith("/labels"):
            return json_answer(200, {"results": []})
        if path.endswith("/search"):  # the highest id, before the listing starts
            return json_answer(200, {"total": 1, "results": [{"id": "999"}]})
        if method == "GET":
            page = {"results": [{"id": "101"}], "paging": {"next": {"after": "same"}}}
            return json_answer(200, page if listing else {"results": [{"id": "101"}]})
        results = [
            {
                "from": {"id": item["id"]},
                "to": [{"toObjectId": 2002, "associationTypes": [GOOD_KIND]}],
                "paging": {"next": {"after": "same"}},
            }
            for item in json.loads(body)["inputs"]
        ]
        return json_answer(200, {"status": "COMPLETE", "results": results})

    return HostileServer(answer)


def test_a_batch_read_cursor_that_repeats_fails_its_id(run_tap):
    with looping_cursor_server(listing=False) as server:
        config = {
            "access_token": TOKEN,
            "api_url": server.url,
            "associations": [{"from": "contacts", "to": "companies", "ids": ["101"]}],
        }
        run = run_tap(config)
        requests = len(server.requests)
    assert_one_clear_error(run, "101 (HubSpot returned a paging cursor it had returned before)")
    assert requests <= 4
    assert len(run.records()) == 1


def test_a_listing_cursor_that_repeats_ends_the_pass(run_tap):
    with looping_cursor_server(listing=True) as server:
        config = {
            "access_token": TOKEN,
            "api_url": server.url,
            "associations": [{"from": "contacts", "to": "companies"}],
        }
        run = run_tap(config)
    assert_one_clear_error(run, "cursor it had returned before")


def test_malformed_label_definitions_are_one_line(run_tap):
    def answer(method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        if path.endswith("/labels"):
            return json_answer(200, {"results": [{"category": 5, "typeId": "x"}]})
        return json_answer(200, {"status": "COMPLETE", "results": []})

    with HostileServer(answer) as server:
        run = run_tap({**offline_config(), "api_url": server.url})
    assert_one_clear_error(run, "malformed label definition at results[0]")


def test_a_listing_whose_paging_is_a_string_is_one_line(run_tap):
    def answer(method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        if path.endswith("/labels"):
            return json_answer(200, {"results": []})
        return json_answer(200, {"results": [{"id": "1"}], "paging": "next"})

    with HostileServer(answer) as server:
        config = {
            **offline_config(),
            "api_url": server.url,
            "associations": [{"from": "contacts", "to": "deals"}],
        }
        run = run_tap(config)
    assert_one_clear_error(run, "malformed paging")


def test_malformed_schemas_during_discovery_are_one_line(run_tap):
    def answer(method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        schema = {"objectTypeId": "2-1", "name": "cars", "associations": "all of them"}
        return json_answer(200, {"results": [schema]})

    with HostileServer(answer) as server:
        config = {"access_token": TOKEN, "api_url": server.url}
        run = run_tap(config, args=["--discover"])
    assert_one_clear_error(run, "malformed schema (associations is not a list")


# Every fault at once ------------------------------------------------------------------


THREE_PAIRS = {
    ("contacts", "companies"): 250,
    ("deals", "contacts"): 120,
    ("p4242_cars", "0-1"): 60,
}


def test_soak_every_fault_at_once_gives_the_exact_truth(start_emulator, run_tap) -> None:
    """25 requests a second make the run's hundred-odd requests last over 3 s, so the
    first 3-second token is renewed at least once (the tap renews it at 2.4 s, four
    fifths of its life)."""
    account, pairs = seeded_account(THREE_PAIRS)
    faults = Faults(
        script=("html_502", "locked"),  # then at random, these among the rest
        server_error=0.05,
        locked=0.05,
        html_502=0.02,
        truncated_body=0.02,
        id_error=0.02,
        latency_seconds=0.03,
        latency_spread=0.9,
    )
    emulator = start_emulator(
        account,
        page_size=4,
        faults=faults,
        rate_limit=RateLimit(max_requests=25, interval_ms=1000, arrival_grace=ARRIVAL_GRACE),
        oauth_clients={CLIENT_ID: (CLIENT_SECRET, REFRESH_TOKEN)},
        token_ttl=3,
    )
    config = oauth_config(emulator, pairs, batch_size=20, max_retries=8)
    run = run_tap(config, emulator=emulator)
    assert run.returncode == 0, run.stderr
    assert run.record_set() == truth_of(account, pairs)
    statuses = emulator.stats.statuses
    assert statuses[423] and statuses[502] and emulator.stats.tokens_issued >= 2
    assert statuses[429] <= 0.05 * sum(emulator.stats.requests.values())


def test_soak_short_tokens_tight_window_faults_and_429s(start_emulator, run_tap):
    """Tokens live 2 s, the window is 20 requests a second and unannounced (429s with
    `Retry-After`), 6% faults and 3% truncated bodies: the run still ends exact, never
    failing on an expired token while the refresh token works. Whatever the machine's
    speed, the first requests meet a 429 and HubSpot's 401 for an expired token
    (scripted); the window's own 429s come as fast as the tap goes."""
    account, pairs = seeded_account({("contacts", "companies"): 300, ("deals", "contacts"): 100})
    faults = Faults(
        script=("rate_limited", "expired_token"),
        rate_limited_retry_after=1,
        server_error=0.04,
        locked=0.02,
        truncated_body=0.03,
        latency_seconds=0.02,
    )
    emulator = start_emulator(
        account,
        page_size=4,
        faults=faults,
        rate_limit=RateLimit(max_requests=20, interval_ms=1000, send_headers=False, retry_after=1),
        oauth_clients={CLIENT_ID: (CLIENT_SECRET, REFRESH_TOKEN)},
        token_ttl=2,
    )
    config = oauth_config(emulator, pairs, batch_size=10, max_concurrency=4, max_retries=8)
    run = run_tap(config, emulator=emulator)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.record_set() == truth_of(account, pairs)
    assert emulator.stats.statuses[429] and emulator.stats.tokens_issued >= 2


# Adversarial: answers that lose records, never end, or crash the tap -------------------


def test_a_second_result_for_one_id_loses_no_association(run_tap) -> None:
    """An answer holding two results for id 101, each with another company: the second
    was dropped with a WARNING ("results ... repeated; ignored") and the run exited 0,
    one association short. Either both are emitted or the id is named as failed."""

    def answer(method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        if path.endswith("/labels"):
            return json_answer(200, {"results": []})
        results = [
            {
                "from": {"id": item["id"]},
                "to": [{"toObjectId": to, "associationTypes": [GOOD_KIND]}],
            }
            for item in json.loads(body)["inputs"]
            for to in (2002, 3003)
        ]
        return json_answer(200, {"status": "COMPLETE", "results": results})

    with HostileServer(answer) as server:
        run = run_tap({**offline_config(ids=["101"]), "api_url": server.url, "max_retries": 1})
    if run.returncode == 0:
        assert {r["to_id"] for r in run.records()} == {"2002", "3003"}
    else:
        assert_one_clear_error(run, "101")


def test_a_batch_read_cursor_that_never_ends_ends_the_run(run_tap) -> None:
    """Every page of id 101 names a new cursor (1, 2, 3, ...) and the same association:
    no cursor repeats, so the run went on for ever, writing the same record again with
    every page (300 in 15 s)."""

    def answer(method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        if path.endswith("/labels"):
            return json_answer(200, {"results": []})
        results = [
            {
                "from": {"id": item["id"]},
                "to": [{"toObjectId": 2002, "associationTypes": [GOOD_KIND]}],
                "paging": {"next": {"after": str(int(item.get("after", "0")) + 1)}},
            }
            for item in json.loads(body)["inputs"]
        ]
        return json_answer(200, {"status": "COMPLETE", "results": results})

    with HostileServer(answer) as server:
        config = {
            **offline_config(ids=["101"]),
            "api_url": server.url,
            "max_requests_per_10s": 1000,
        }
        run = run_tap(config)
    assert_one_clear_error(run, "101")


def listing_answer(method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
    """A one-contact account: labels, search, listing and batch reads."""
    if path.endswith("/labels"):
        return json_answer(200, {"results": []})
    if path.endswith("/search"):
        return json_answer(200, {"total": 1, "results": [{"id": "101"}]})
    if method == "GET":
        return json_answer(200, {"results": [{"id": "101"}]})
    results = [
        {"from": {"id": item["id"]}, "to": [{"toObjectId": 2002, "associationTypes": [GOOD_KIND]}]}
        for item in json.loads(body)["inputs"]
    ]
    return json_answer(200, {"status": "COMPLETE", "results": results})


def test_a_date_header_beyond_year_9999_in_utc_is_no_bug(run_tap, monkeypatch) -> None:
    """`Fri, 31 Dec 9999 23:59:59 -2359` parses as a time in year 10000 UTC: the pass's
    end could not be written as ISO, "unexpected ValueError: year 10000 is out of range
    (a bug: please report it)". An unusable Date is no Date (the machine's clock, with
    a WARNING), or one clear line."""
    monkeypatch.setattr(
        BaseHTTPRequestHandler,
        "date_time_string",
        lambda self, timestamp=None: "Fri, 31 Dec 9999 23:59:59 -2359",
    )
    with HostileServer(listing_answer) as server:
        config = {**offline_config(ids=None), "api_url": server.url}
        run = run_tap(config)
    assert "a bug" not in run.stderr, run.error_lines()
    if run.returncode != 0:
        assert_one_clear_error(run, "Date")
