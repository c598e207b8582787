"""The rate budget's reading of announced waits, with the clock under the test's control."""

from __future__ import annotations

import logging
import threading

import pytest

from tap_hubspot_associations.errors import HubSpotError
from tap_hubspot_associations.rate_budget import (
    WINDOW_HEADER,
    RateBudget,
    WaitNotices,
    announced_wait,
)
from tap_hubspot_associations.tap import TapHubSpotAssociations
from tests.fakes import Clock, GivingUp, RecordingEvent, free_slots_now
from tests.helpers import TOKEN


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("7", 7.0),
        (" 2.5 ", 2.5),
        ("0", 0.0),
        ("inf", None),
        ("Infinity", None),
        ("nan", None),
        ("1e308", None),
        ("-5", None),
        ("1_0", None),
        ("soon", None),
        ("", None),
        ("Wed, 21 Oct 2015 07:28:00 GMT", None),
    ],
)
def test_only_a_plain_number_is_a_wait(value: str, seconds: float | None) -> None:
    assert announced_wait({"Retry-After": value}, "Retry-After", 300) == seconds


def test_a_wait_beyond_the_cap_names_the_header_the_value_and_the_setting() -> None:
    with pytest.raises(HubSpotError) as raised:
        announced_wait({"Retry-After": "1000000000"}, "Retry-After", 300)
    message = str(raised.value)
    assert "Retry-After: 1000000000 (1000000000 s)" in message
    assert "max_wait_seconds (300 s)" in message


def test_an_announced_window_beyond_the_cap_is_refused_after_freeing_the_slot() -> None:
    clock = Clock()
    budget = RateBudget(max_requests=100, max_wait=300, clock=clock)
    sent = budget.acquire(threading.Event())
    assert sent is not None
    with pytest.raises(HubSpotError, match=f"{WINDOW_HEADER}: 100000000"):
        budget.release(sent, {WINDOW_HEADER: "100000000"})
    assert budget.window == 10.0, "the window is not adopted"
    assert budget.acquire(threading.Event()) is not None, "the slot was freed"


def test_a_window_that_is_not_a_number_is_ignored() -> None:
    clock = Clock()
    budget = RateBudget(max_wait=300, max_requests=100, clock=clock)
    for value in ("inf", "nan", "1e308", "-1000"):
        sent = budget.acquire(threading.Event())
        assert sent is not None
        budget.release(sent, {WINDOW_HEADER: value, "X-HubSpot-RateLimit-Max": value})
    assert budget.window == 10.0
    assert budget.limit == 100


def test_a_window_shorter_than_a_second_is_not_adopted() -> None:
    """HubSpot's shortest window is a second; a window of a millisecond would still allow
    one request each, so `max_requests_per_10s` would no longer bound anything."""
    clock = Clock()
    budget = RateBudget(max_wait=300, max_requests=10, clock=clock)
    for value in ("1", "999"):
        sent = budget.acquire(threading.Event())
        assert sent is not None
        budget.release(sent, {WINDOW_HEADER: value})
        assert budget.window == 10.0
    sent = budget.acquire(threading.Event())
    assert sent is not None
    budget.release(sent, {WINDOW_HEADER: "1000"})
    assert (budget.window, budget.limit) == (1.0, 1)


def test_the_budget_never_sleeps_longer_than_the_cap_without_a_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    budget = RateBudget(max_requests=1, window=10.0, max_wait=2, clock=clock)
    sent = budget.acquire(threading.Event())
    assert sent is not None
    budget.release(sent, {})

    class Passing(RecordingEvent):
        """Each wait lets its time pass on the clock."""

        def wait(self, timeout: float | None = None) -> bool:
            super().wait(timeout)
            clock.now += timeout or 0
            return False

    cancel = Passing()
    with caplog.at_level(logging.WARNING, logger="tap_hubspot_associations.rate_budget"):
        assert budget.acquire(cancel) is not None
    assert cancel.waits and max(cancel.waits) <= 2
    assert [r.getMessage() for r in caplog.records if "waiting" in r.getMessage()] != []


def answered_budget(clock: Clock, **headers: str) -> RateBudget:
    """A budget that has seen one answer with `headers`, sent at the clock's time."""
    budget = RateBudget(max_requests=100, max_wait=300, clock=clock)
    sent = budget.acquire(threading.Event())
    assert sent is not None
    budget.release(sent, headers)
    return budget


def free_now(budget: RateBudget) -> bool:
    """Whether a request may go at once (it then takes its slot)."""
    return budget.acquire(GivingUp()) is not None


def test_a_429s_remaining_count_is_not_other_clients_share() -> None:
    clock = Clock()
    budget = RateBudget(max_requests=100, max_wait=300, clock=clock)
    sent = budget.acquire(threading.Event())
    assert sent is not None
    headers = {"X-HubSpot-RateLimit-Max": "100", "X-HubSpot-RateLimit-Remaining": "0"}
    budget.release(sent, {**headers, "Retry-After": "1"}, refused=True)
    assert budget.wait_after_429({**headers, "Retry-After": "1"}) == 1.0
    clock.now += 1.0
    assert free_now(budget)


def test_a_legacy_secondly_429_waits_one_second() -> None:
    budget = answered_budget(Clock())
    assert budget.wait_after_429({}, policy="SECONDLY") == 1.0
    assert budget.wait_after_429({}, policy="TEN_SECONDLY_ROLLING") > 1.0


def test_an_announced_per_second_limit_is_kept() -> None:
    clock = Clock()
    budget = answered_budget(clock, **{"X-HubSpot-RateLimit-Secondly": "2"})
    clock.now += 1.0
    assert free_now(budget)
    budget.release(clock.now, {})
    assert free_now(budget)
    budget.release(clock.now, {})
    assert not free_now(budget)
    clock.now += 1.0
    assert free_now(budget)


def test_no_request_of_this_second_remaining_pauses_for_a_second() -> None:
    clock = Clock()
    budget = answered_budget(clock, **{"X-HubSpot-RateLimit-Secondly-Remaining": "0"})
    assert not free_now(budget)
    clock.now += 1.0
    assert free_now(budget)


def test_only_our_requests_in_the_window_count_as_ours() -> None:
    """Three of ours aged out of the 2 s window, one in it: HubSpot's `Remaining: 7` of
    10 then leaves 2 to others (and one more while they share), 6 to us."""
    clock = Clock()
    budget = RateBudget(max_requests=100, max_wait=300, clock=clock)
    window = {"X-HubSpot-RateLimit-Max": "10", "X-HubSpot-RateLimit-Interval-Milliseconds": "2000"}
    first = budget.acquire(threading.Event())
    assert first is not None
    budget.release(first, window)
    for _ in range(2):
        sent = budget.acquire(threading.Event())
        assert sent is not None
        budget.release(sent, window)
    clock.now += 2.5
    sent = budget.acquire(threading.Event())
    assert sent is not None
    budget.release(sent, {**window, "X-HubSpot-RateLimit-Remaining": "7"})
    assert free_slots_now(budget) == 6


def test_other_clients_share_is_forgotten_after_a_window() -> None:
    clock = Clock()
    window = {"X-HubSpot-RateLimit-Max": "10", "X-HubSpot-RateLimit-Interval-Milliseconds": "1000"}
    budget = answered_budget(clock, **{**window, "X-HubSpot-RateLimit-Remaining": "2"})
    clock.now += 1.5
    assert free_slots_now(budget) == 10


def test_an_announced_limit_of_zero_is_not_one() -> None:
    clock = Clock()
    budget = answered_budget(clock, **{"X-HubSpot-RateLimit-Max": "0"})
    assert budget.limit == 100


def test_a_wait_of_exactly_the_cap_is_obeyed() -> None:
    assert announced_wait({"Retry-After": "300"}, "Retry-After", 300) == 300.0


def test_a_429_waits_at_least_50_ms_when_the_window_frees_at_once() -> None:
    clock = Clock()
    budget = answered_budget(clock)
    clock.now += 9.9  # the one request, answered at once, ages out of the window in 0.1 s
    assert budget.wait_after_429({}) == pytest.approx(0.1)
    clock.now += 0.09
    assert budget.wait_after_429({}) == 0.05


def test_no_slot_is_held_back_when_no_other_client_shares_the_window() -> None:
    clock = Clock()
    window = {"X-HubSpot-RateLimit-Max": "10", "X-HubSpot-RateLimit-Interval-Milliseconds": "1000"}
    budget = answered_budget(clock, **{**window, "X-HubSpot-RateLimit-Remaining": "9"})
    assert free_slots_now(budget) == 9


# -- long waits said while they last -----------------------------------------------------


class Sleeper(threading.Event):
    """A cancel event that is never set: each wait moves the test's clock on instead."""

    def __init__(self, clock: Clock) -> None:
        super().__init__()
        self.clock = clock
        self.waits: list[float] = []

    def wait(self, timeout: float | None = None) -> bool:
        assert timeout is not None
        self.waits.append(timeout)
        self.clock.now += timeout
        return False


def test_a_long_wait_says_every_interval_how_long_is_left_and_why(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    notices = WaitNotices(interval=10, logger=logging.getLogger("waits"), clock=clock)
    sleeper = Sleeper(clock)
    with caplog.at_level(logging.INFO, logger="waits"):
        assert notices.wait(35, "HubSpot answered 429, Retry-After 35", sleeper) is False
    assert sleeper.waits == [10, 10, 10, 5]
    assert caplog.messages == [
        f"still waiting {left} s of 35 s: HubSpot answered 429, Retry-After 35"
        for left in (25, 15, 5)
    ]


def test_waits_of_one_key_are_said_once_whatever_their_reasons(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Retries of one request each carry their own correlation id: keyed by the request,
    eight threads waiting at once are said once."""
    clock = Clock()
    notices = WaitNotices(interval=10, logger=logging.getLogger("waits"), clock=clock)
    with caplog.at_level(logging.INFO, logger="waits"):
        for correlation in range(8):
            reason = f"POST /batch/read after 502 (correlation id c-{correlation})"
            notices.wait(15, reason, Sleeper(Clock()), key="POST /batch/read")
    assert len(caplog.messages) == 1, caplog.messages


def test_threads_waiting_for_one_reason_are_said_once(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    notices = WaitNotices(interval=10, logger=logging.getLogger("waits"), clock=clock)
    with caplog.at_level(logging.INFO, logger="waits"):
        for _ in range(8):
            notices.say("still waiting 20 s of 30 s: 429", "429")
        notices.say("still waiting 20 s of 30 s: another reason", "another reason")
        clock.now += 10
        notices.say("still waiting 10 s of 30 s: 429", "429")
    assert caplog.messages == [
        "still waiting 20 s of 30 s: 429",
        "still waiting 20 s of 30 s: another reason",
        "still waiting 10 s of 30 s: 429",
    ]


def test_a_short_wait_is_one_step_and_silent(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    notices = WaitNotices(interval=10, logger=logging.getLogger("waits"), clock=clock)
    sleeper = Sleeper(clock)
    with caplog.at_level(logging.INFO, logger="waits"):
        assert notices.wait(7, "503", sleeper) is False
    assert sleeper.waits == [7] and caplog.messages == []


def test_a_cancelled_wait_stops_at_once() -> None:
    notices = WaitNotices(interval=10, logger=logging.getLogger("waits"), clock=Clock())
    assert notices.wait(300, "429", GivingUp()) is True


def test_a_long_wait_for_a_slot_is_said_while_it_lasts(caplog: pytest.LogCaptureFixture) -> None:
    """Other clients of the app fill the window: the wait for a slot says so every
    interval, long before `max_wait` is reached."""
    clock = Clock()
    notices = WaitNotices(interval=10, logger=logging.getLogger("waits"), clock=clock)
    budget = RateBudget(max_wait=300, max_requests=1, window=10.0, clock=clock, notices=notices)
    sent = budget.acquire(RecordingEvent())
    assert sent is not None
    budget.release(sent, {"X-HubSpot-RateLimit-Max": "1"})

    class StopAfter(Sleeper):
        def wait(self, timeout: float | None = None) -> bool:
            super().wait(timeout)
            if self.clock.now >= 1000 + 25:
                self.set()
            return self.is_set()

    with caplog.at_level(logging.INFO, logger="waits"):
        budget._done = [clock.now + 1000]  # a request that never ages out of the window
        stopper = StopAfter(clock)
        assert budget.acquire(stopper) is None
    assert max(stopper.waits) <= 10, "no step longer than the interval"
    assert len(caplog.messages) == 2, caplog.messages
    assert caplog.messages[0].startswith("waited 10 s so far for a free slot of the rate budget")


# The budget inside the client ---------------------------------------------------------


def test_wait_after_429_without_retry_after_lasts_until_the_window_frees() -> None:
    now = [100.0]
    budget = RateBudget(max_wait=300, max_requests=100, clock=lambda: now[0])
    never = threading.Event()
    sent = budget.acquire(never)
    assert sent == 100.0
    now[0] = 100.05
    budget.release(sent, {})  # answered at once: dated by its response
    now[0] = 102.0
    sent = budget.acquire(never)
    assert sent is not None
    now[0] = 103.0
    budget.release(sent, {})  # slow answer: dated by its arrival, 100 ms after sending
    headers = {"X-HubSpot-RateLimit-Interval-Milliseconds": "4000"}
    assert budget.wait_after_429(headers) == pytest.approx(1.05)
    now[0] = 104.5
    assert budget.wait_after_429(headers) == pytest.approx(1.6)
    assert budget.wait_after_429({"Retry-After": "7"}) == 7.0
    now[0] = 200.0
    assert budget.wait_after_429({}) == 10.0


def test_searches_keep_to_5_a_second_of_their_own() -> None:
    """docs/hubspot-api.md: CRM search allows 5 requests a second, announced by no header. The
    "no 429" tests against the emulator tolerate late arrivals (`ARRIVAL_GRACE`), so the
    pacing the tap sets up is pinned here: 5 requests, a 1-second window."""
    config = {
        "access_token": TOKEN,
        "associations": [{"from": "contacts", "to": "companies", "ids": ["1"]}],
    }
    budget = TapHubSpotAssociations(config=config, parse_env_config=False).client.search_budget
    budget.release(budget.acquire(GivingUp()) or 0.0, {})
    assert (budget.limit, budget.window) == (5, 1.0)


def test_the_budget_keeps_under_every_announced_limit() -> None:
    now = [0.0]
    budget = RateBudget(max_wait=300, max_requests=100, clock=lambda: now[0])
    never = threading.Event()
    assert budget.limit == 1, "one request alone until HubSpot tells its limits"
    budget.release(budget.acquire(never) or 0.0, {})
    assert budget.limit == 100
    budget.release(
        budget.acquire(never) or 0.0,
        {"X-HubSpot-RateLimit-Max": "190", "X-HubSpot-RateLimit-Interval-Milliseconds": "2000"},
    )
    assert budget.limit == 20, "the user's 100 per 10 s, on HubSpot's 2 s window"
    headers = {
        "X-HubSpot-RateLimit-Max": "10",
        "X-HubSpot-RateLimit-Interval-Milliseconds": "2000",
        "X-HubSpot-RateLimit-Remaining": "2",
    }
    budget.release(budget.acquire(never) or 0.0, headers)
    assert budget.limit == 10
    # 3 of ours in the window, 2 remaining of 10: others hold 5, and one more is left
    # to them while they share the window (arrival order is uncertain by one).
    assert free_slots_now(budget) == 1, "slots other clients hold stay free, with one to spare"
