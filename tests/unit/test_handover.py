"""The hand-over from worker threads to the reader: bounded, cancellable, errors carried.

Nothing here asserts a time: each test waits for what it needs to have happened."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from tap_hubspot_associations.handover import Finished, HandOver


def test_items_arrive_in_order_and_then_the_end() -> None:
    handover: HandOver[int] = HandOver(capacity=10)
    assert handover.put([1, 2, 3])
    handover.finish()
    assert list(handover) == [1, 2, 3]
    with pytest.raises(Finished):
        handover.take()


def test_a_worker_waits_while_capacity_items_wait() -> None:
    handover: HandOver[int] = HandOver(capacity=3)
    finished_putting = threading.Event()

    def work() -> None:
        handover.put(range(10))
        finished_putting.set()

    threading.Thread(target=work, daemon=True).start()
    assert wait_until(lambda: len(handover) == 3)
    assert not finished_putting.is_set(), "7 items cannot fit until the reader takes"
    assert len(handover) == 3
    assert [handover.take() for _ in range(10)] == list(range(10))
    assert finished_putting.wait(10)


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Whether `condition` came true within `timeout` (polled: no timing is asserted)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.001)
    return True


def test_a_failure_is_raised_in_the_reader_after_what_came_before() -> None:
    handover: HandOver[str] = HandOver(capacity=1)
    handover.put(["first"])
    handover.fail(ValueError("HubSpot said no"))
    assert handover.take() == "first"
    with pytest.raises(ValueError, match="HubSpot said no"):
        handover.take()


def test_cancel_ends_a_workers_wait_and_every_later_put() -> None:
    handover: HandOver[int] = HandOver(capacity=2)
    handover.put([1])
    answered: list[bool] = []
    waiting = threading.Thread(target=lambda: answered.append(handover.put([2, 3])), daemon=True)
    waiting.start()
    assert wait_until(lambda: len(handover) == 2), "the worker put 2 and waits to put 3"
    assert answered == []
    handover.cancel()
    waiting.join(10)
    assert answered == [False]
    assert handover.put([4]) is False
    assert handover.cancelled.is_set()
