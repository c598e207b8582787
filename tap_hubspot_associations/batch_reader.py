"""The batch-read engine: ids into batch requests, every per-id cursor followed.

Every id sent is accounted for in the response: as a result (whose `after` cursor,
if any, joins a later request), as "no associations", or as an error to retry.
Results are matched to inputs by `from.id`, never by position. Several requests are
in flight at once; responses are absorbed, and records handed out, by the calling
thread alone, and the bookmark only ever covers batches complete along with every
batch before them.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections import Counter, deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from tap_hubspot_associations.answers import (
    BatchAnswer,
    Record,
    error_ids,
    error_text,
    is_no_associations,
    next_after,
    records_of,
    results_of,
)
from tap_hubspot_associations.errors import BadRequest, Cancelled, HubSpotError
from tap_hubspot_associations.handover import HandOver
from tap_hubspot_associations.ids import Ids
from tap_hubspot_associations.retry import retry_delay
from tap_hubspot_associations.state import Bookmark

T = TypeVar("T")
MAX_PAGES_PER_ID = 10_000
"""Pages of one id's associations followed at most: millions of associations (pages are
hundreds), beyond any record's; a cursor that never ends is given up, not followed for
ever."""


class Poster(Protocol):
    """What the batch reader needs of the client: a POST whose answer comes back typed
    when it fits (`HubSpotClient.post_typed`)."""

    def post_typed(
        self,
        path: str,
        body: Mapping[str, Any],
        answer_type: type[T],
        *,
        list_key: str,
        cancel: threading.Event | None = None,
    ) -> T | dict[str, Any]: ...


Answer = BatchAnswer | dict[str, Any]
"""A batch-read answer: typed when it fits, else plain JSON read part by part."""
REORDER_WINDOW = 2
_LISTED_FAILURES = 20
MAX_FAILED_IDS = 1000
"""More ids given up on than this, and the pass is broken, not unlucky: it stops (the
bookmark keeps every failed id, and STATE must stay small)."""


@dataclass
class Coverage:
    """What one stream's pass did; logged at its end."""

    ids_requested: int = 0
    ids_with_associations: int = 0
    ids_without_associations: int = 0
    extra_pages: int = 0
    records: int = 0
    ids_failed: int = 0

    def summary(self) -> str:
        return (
            f"ids requested {self.ids_requested}, with associations "
            f"{self.ids_with_associations}, without {self.ids_without_associations}, "
            f"extra pages followed {self.extra_pages}, records emitted {self.records}, "
            f"ids failed {self.ids_failed}"
        )


@dataclass
class _Input:
    id: str
    after: str | None
    attempts: int = 0
    cursors_seen: frozenset[str] = frozenset()
    """Cursors this id was read with: one coming back means HubSpot pages in a loop."""
    last_page: frozenset[tuple[Any, ...]] = frozenset()
    """The associations of the page before: the same again, under a new cursor, is a
    loop too."""
    first_read: bool = False
    """Read from the list for its first page: a resume finds it again through `position`."""
    saved: bool = False
    """Its cursor comes from saved state, which HubSpot may no longer accept."""


@dataclass
class _Batch:
    inputs: list[_Input]
    position: int
    """List entries consumed once this batch was formed."""
    done: bool = False


class BatchReader:
    """Reads every association of a list of ids for one pair of object types."""

    def __init__(
        self,
        *,
        client: Poster,
        path: str,
        from_type: str,
        to_type: str,
        ids: Ids,
        batch_size: int,
        bookmark: Bookmark,
        max_id_attempts: int,
        max_concurrency: int,
        logger: logging.Logger,
        category_of: Callable[[int], str],
    ) -> None:
        self._client = client
        self._category_of = category_of
        self._path = path
        self._from_type = from_type
        self._to_type = to_type
        self._ids = ids
        self._fresh = ids.read_from(bookmark.position, bookmark.source)
        self._batch_size = batch_size
        self._consumed = bookmark.position
        self._queued = {id_: _Input(id_, None) for id_ in bookmark.failed}
        self._queued.update(
            (id_, _Input(id_, after, saved=True)) for id_, after in bookmark.pending.items()
        )
        self._failed: dict[str, str] = {}
        """Ids given up on in this run, with the last problem."""
        self._ids_fingerprint = bookmark.ids_fingerprint
        self._version = bookmark.version
        self._in_flight: dict[str, _Input] = {}
        self._unfinished: deque[_Batch] = deque()
        self._completed_position = bookmark.position
        self._max_id_attempts = max_id_attempts
        self._max_concurrency = max_concurrency
        self._cancel = threading.Event()
        self._logger = logger
        self.coverage = Coverage()
        self.failures: list[str] = []

    def bookmark(self) -> Bookmark:
        """The point to resume from: list entries up to the last batch complete along with
        every batch before it, and every id read only in part (queued or in flight).

        Ids read for their first page in unfinished batches lie past that position, so a
        resume finds them again in the list.
        """
        pending = {item.id: item.after for item in self._queued.values()}
        for item in self._in_flight.values():
            if not item.first_read:
                pending[item.id] = item.after
        return Bookmark(
            position=self._completed_position,
            pending=pending,
            failed=list(self._failed),
            ids_fingerprint=self._ids_fingerprint,
            version=self._version,
            source=self._ids.resume_at(self._completed_position),
        )

    def batches(self) -> Iterator[list[Record]]:
        """Yield the records of each batch request as it completes."""
        answers: HandOver[tuple[_Batch, Answer]] = HandOver(self._max_concurrency)
        self._cancel = answers.cancelled
        executor = ThreadPoolExecutor(self._max_concurrency, thread_name_prefix="batch-read")
        running = 0
        try:
            while True:
                while self._may_start(running) and (batch := self._next_batch()):
                    executor.submit(self._answer, batch, answers)
                    running += 1
                if not running:
                    return
                batch, body = answers.take()
                running -= 1
                yield self._absorb(batch, body)
        finally:
            answers.cancel()
            executor.shutdown(wait=False, cancel_futures=True)
            self._ids.close()  # whatever fetches ids stops too

    def _answer(self, batch: _Batch, answers: HandOver[tuple[_Batch, Answer]]) -> None:
        """One batch request, in a worker thread: its answer or its failure handed over."""
        try:
            answers.put([(batch, self._request(batch.inputs))])
        except Cancelled:
            return
        except BaseException as exc:  # raised in the reading thread
            answers.fail(exc)

    def _may_start(self, running: int) -> bool:
        """Another request fits, and a slow one has not held the bookmark back too long.

        Batches completed behind an unfinished one are read again on resume, so at most
        `REORDER_WINDOW` times the concurrency may be outstanding.
        """
        return (
            running < self._max_concurrency
            and len(self._unfinished) < REORDER_WINDOW * self._max_concurrency
        )

    def _request(self, inputs: list[_Input]) -> Answer:
        if all(item.attempts for item in inputs):
            attempt = max(item.attempts for item in inputs)
            self._cancel.wait(retry_delay(attempt))
        try:
            return self._post(inputs)
        except BadRequest:
            stale = [item for item in inputs if item.saved and item.after is not None]
            if not stale:
                raise
            self._logger.warning(
                "HubSpot rejected a request holding %d paging cursors from the saved state "
                "(ids %s); reading those ids again from their first page",
                len(stale),
                ", ".join(item.id for item in stale[:5]) + (" ..." if len(stale) > 5 else ""),
            )
            for item in stale:
                item.after, item.saved = None, False
            return self._post(inputs)

    def _post(self, inputs: list[_Input]) -> Answer:
        return self._client.post_typed(
            self._path,
            {"inputs": [_input_json(item) for item in inputs]},
            BatchAnswer,
            list_key="results",
            cancel=self._cancel,
        )

    def _next_batch(self) -> _Batch | None:
        """Ids read in part first, then fresh ids from the list, each id once a batch."""
        taken = list(itertools.islice(self._queued, self._batch_size))
        inputs = [self._queued.pop(id_) for id_ in taken]
        in_batch = set(taken)
        while len(inputs) < self._batch_size:
            id_ = next(self._fresh, None)
            if id_ is None:
                break
            self._consumed += 1
            if id_ in in_batch or id_ in self._queued or id_ in self._in_flight:
                continue
            in_batch.add(id_)
            inputs.append(_Input(id_, None, first_read=True))
            self.coverage.ids_requested += 1
        if not inputs:
            return None
        self._in_flight.update((item.id, item) for item in inputs)
        batch = _Batch(inputs, self._consumed)
        self._unfinished.append(batch)
        return batch

    def _complete(self, batch: _Batch) -> None:
        for item in batch.inputs:
            del self._in_flight[item.id]
        batch.done = True
        while self._unfinished and self._unfinished[0].done:
            self._completed_position = self._unfinished.popleft().position

    def _absorb(self, batch: _Batch, answer: Answer) -> list[Record]:
        self._complete(batch)
        sent = {item.id: item for item in batch.inputs}
        done: set[str] = set()
        problems: dict[str, str] = {}
        records: list[Record] = []
        looping: dict[str, str] = {}
        unexpected = 0
        results, errors = results_of(answer)
        answered = Counter(from_id for from_id, _ in results)
        for from_id, result in results:
            if from_id is None or from_id not in sent:
                unexpected += 1
                continue
            if answered[from_id] > 1:  # which one holds what, and which cursor goes on?
                problems[from_id] = f"HubSpot returned {answered[from_id]} results for it"
                continue
            item = sent[from_id]
            try:
                if result is None:
                    raise ValueError(from_id)
                found = records_of(
                    result, from_id, self._from_type, self._to_type, self._category_of
                )
                after = next_after(result)
            except ValueError:
                problems[from_id] = "malformed result"
                continue
            page: frozenset[tuple[Any, ...]] = frozenset()
            if after is not None or item.after is not None:
                page = frozenset((r["to_id"], r["category"], r["type_id"]) for r in found)
            if after is not None and after in item.cursors_seen | {item.after}:
                looping[from_id] = "HubSpot returned a paging cursor it had returned before"
                continue
            if page and page == item.last_page:
                looping[from_id] = "HubSpot returned the same page again under a new cursor"
                continue
            if after is not None and len(item.cursors_seen) >= MAX_PAGES_PER_ID:
                looping[from_id] = f"HubSpot paged it more than {MAX_PAGES_PER_ID:,} times"
                continue
            done.add(from_id)
            records += found
            if item.after is not None:
                self.coverage.extra_pages += 1
            elif found:
                self.coverage.ids_with_associations += 1
            else:
                self.coverage.ids_without_associations += 1
            if after is not None:
                self._queued[from_id] = _Input(
                    from_id, after, cursors_seen=item.cursors_seen | {after}, last_page=page
                )
        for error in errors:
            for from_id in error_ids(error):
                if from_id not in sent or from_id in done:
                    continue
                if is_no_associations(error):
                    done.add(from_id)
                    problems.pop(from_id, None)
                    if sent[from_id].after is None:
                        self.coverage.ids_without_associations += 1
                else:
                    problems[from_id] = error_text(error)
        if unexpected:
            self._logger.warning(
                "%d results of a batch were for ids not requested; ignored",
                unexpected,
            )
        for from_id, item in sent.items():
            if from_id in looping:
                self._give_up(item, looping[from_id])
            elif from_id not in done:
                self._retry(item, problems.get(from_id, "missing from the response"))
        self.coverage.records += len(records)
        return records

    def _retry(self, item: _Input, problem: str) -> None:
        item.attempts += 1
        item.first_read = False
        if item.attempts < self._max_id_attempts:
            self._queued[item.id] = item
        else:
            self._give_up(item, problem)

    def _give_up(self, item: _Input, problem: str) -> None:
        """Stop reading `item` in this run; the bookmark keeps it for a resumed pass."""
        item.first_read = False
        self._failed[item.id] = problem
        self.coverage.ids_failed += 1
        if len(self.failures) < _LISTED_FAILURES:
            self.failures.append(f"{item.id} ({problem})")
        self._logger.warning(
            "id %s failed %d times, last: %s; giving up on it in this run",
            item.id,
            max(item.attempts, 1),
            problem,
        )
        if len(self._failed) > MAX_FAILED_IDS:
            raise HubSpotError(
                f"more than {MAX_FAILED_IDS} ids of {self._path} failed after every retry "
                f"(the last: {item.id}, {problem}); stopping the pass"
            )


def _input_json(item: _Input) -> dict[str, str]:
    return {"id": item.id} if item.after is None else {"id": item.id, "after": item.after}
