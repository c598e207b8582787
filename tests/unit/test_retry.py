"""The one retry policy: backoff waits, and the retries of one task."""

from __future__ import annotations

from tap_hubspot_associations.retry import Retries, retry_delay, retry_delays


def test_backoff_doubles_from_half_a_second_up_to_30_seconds_with_full_jitter() -> None:
    ceilings = [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    delays = retry_delays()
    for attempt, ceiling in enumerate(ceilings, start=1):
        assert 0 <= next(delays) <= ceiling
        assert 0 <= retry_delay(attempt) <= ceiling
    waits = [retry_delay(7) for _ in range(200)]
    assert max(waits) > 15 and min(waits) < 15, "jitter spreads waits over the whole range"


def test_a_task_is_retried_max_retries_times_then_given_up() -> None:
    retries = Retries(max_retries=2)
    first, second = retries.wait_after(None), retries.wait_after(None)
    assert first is not None and 0 <= first <= 0.5
    assert second is not None and 0 <= second <= 1.0
    assert retries.wait_after(None) is None
    assert retries.failures == 3


def test_an_announced_wait_is_kept_and_still_counts() -> None:
    retries = Retries(max_retries=1)
    assert retries.wait_after(7.0) == 7.0
    assert retries.wait_after(7.0) is None


def test_failures_not_counted_only_wait() -> None:
    """A 429 waits as told but spends none of `max_retries` (it has a cap of its own)."""
    retries = Retries(max_retries=0)
    for _ in range(5):
        assert retries.wait_after(2.0, counted=False) == 2.0
    wait = retries.wait_after(None, counted=False)
    assert wait is not None and 0 <= wait <= 0.5, "announced waits took no step of the backoff"
    assert retries.wait_after(None) is None
