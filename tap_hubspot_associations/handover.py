"""One bounded hand-over from worker threads to the thread that reads, with cancel and
errors carried across.

The chains that find ids and the batch reads both run requests in worker threads, while
records, STATE and bookmarks belong to one thread: the one reading. Workers `put` what
they got (waiting while `capacity` items are waiting already) or `fail` with what went
wrong; the reader `take`s items in order and gets the failure raised in its own thread,
after the items put before it. `cancel()` (the reader gave up) ends every wait at once:
`put` answers False, and `cancelled` is the event requests wait on, so that a request
waiting for a rate-limit slot or a retry stops too.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class Finished(Exception):
    """`take()` after the last item: the workers said there is no more."""


class HandOver(Generic[T]):
    """A bounded queue from workers to one reader (see the module's docstring)."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._items: deque[T | _Failure | _End] = deque()
        self._ready = threading.Condition()
        self.cancelled = threading.Event()

    def put(self, items: Iterable[T]) -> bool:
        """Hand `items` over, waiting for room; False once the reader cancelled."""
        with self._ready:
            for item in items:
                self._ready.wait_for(
                    lambda: len(self._items) < self._capacity or self.cancelled.is_set()
                )
                if self.cancelled.is_set():
                    return False
                self._items.append(item)
                self._ready.notify_all()
        return not self.cancelled.is_set()

    def fail(self, error: BaseException) -> None:
        """The reader raises `error` once it has taken what was put before it (room or
        not: a failure never waits)."""
        self._push(_Failure(error))

    def finish(self) -> None:
        """No more items: `take()` raises `Finished` once the reader has taken them all."""
        self._push(_End())

    def cancel(self) -> None:
        """The reader stops: workers' waits end, `put` answers False from now on."""
        with self._ready:
            self.cancelled.set()
            self._ready.notify_all()

    def take(self) -> T:
        """The next item, waiting for one; the failure a worker handed over, raised; or
        `Finished`."""
        with self._ready:
            self._ready.wait_for(lambda: bool(self._items))
            item = self._items[0]
            if not isinstance(item, _End):
                self._items.popleft()
            self._ready.notify_all()
        if isinstance(item, _End):
            raise Finished
        if isinstance(item, _Failure):
            raise item.error
        return item

    def __len__(self) -> int:
        """Items waiting to be taken."""
        with self._ready:
            return sum(1 for item in self._items if not isinstance(item, (_Failure, _End)))

    def __iter__(self) -> Iterator[T]:
        """Every item until `Finished`."""
        while True:
            try:
                yield self.take()
            except Finished:
                return

    def _push(self, marker: _Failure | _End) -> None:
        with self._ready:
            self._items.append(marker)
            self._ready.notify_all()


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error


class _End:
    pass
