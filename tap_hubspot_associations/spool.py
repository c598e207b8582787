"""Ids enumerated once a run, kept on disk for the other pairs of the same type.

Several pairs often start from one object type (contacts to companies, to deals, to
tickets...). The first pair's enumeration (`chains.RangedIds`) writes every id it hands
out here; the other pairs read them back (`SpooledIds`) instead of asking HubSpot again.

Chains hand out ids in ascending order, each within its own range, and ranges never
overlap: kept by chain and read back chain after chain in the order of their ranges,
the ids come back in ascending order. So a pair reading them has a safe point like a
chain's (every id up to it completed), and its bookmark holds ranges as an enumeration's
does: a resumed run reads them by search, whichever pair enumerated first.
"""

from __future__ import annotations

import tempfile
import threading
from array import array
from collections import deque
from collections.abc import Iterator, Mapping
from typing import Any

from tap_hubspot_associations.ranges import END, saved_ranges

MAX_SPOOLED_ID = 2**63 - 1
"""Ids are kept as signed 64-bit integers; HubSpot's ids fit, the tap's 20 digits may not."""
BLOCK_IDS = 4096
"""Ids a chain keeps in memory before they go to disk: memory stays flat."""


class IdSpool:
    """The ids of one enumeration on disk, by chain; complete once it ended."""

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile()  # noqa: SIM115 (open until `close()`)
        self._size = 0
        self._blocks: dict[int, list[tuple[int, int]]] = {}
        """Per chain (by the lower end of its range): (offset, count) of its blocks."""
        self._buffers: dict[int, array[int]] = {}
        self.complete = False
        """Every id of the enumeration is here, in order: other pairs may read them."""
        self.finished = False
        """The enumeration ended (complete or not)."""
        self._spoiled = False
        self._lock = threading.Lock()
        """Chains add from their threads; the run's end closes the file from another."""

    def add(self, chain_low: int, ids: list[int]) -> None:
        """`ids` were handed out by the chain whose range starts above `chain_low`
        (ascending, and above every id it handed out before). Ignored once closed: an
        enumeration stopped at the run's end may still hand out a page."""
        with self._lock:
            if ids and ids[-1] > MAX_SPOOLED_ID:
                self._spoiled = True  # a 20-digit id does not fit: no pair shares these
            if self._file.closed or self._spoiled:
                return
            buffer = self._buffers.setdefault(chain_low, array("q"))
            buffer.extend(ids)
            if len(buffer) >= BLOCK_IDS:
                self._flush(chain_low, buffer)

    def spoil(self) -> None:
        """The enumeration cannot stand for the type (ids came twice, or out of order):
        no other pair reads it, and nothing more is written."""
        with self._lock:
            self._spoiled = True

    def finish(self) -> None:
        """The enumeration handed out its last id."""
        self.seal()
        with self._lock:
            self._buffers.clear()
            self.complete, self.finished = not self._spoiled, True

    def __iter__(self) -> Iterator[int]:
        """Every id, ascending."""
        assert self.complete
        return self.ids_after(-1)

    def seal(self) -> None:
        """Every id added so far to disk, so that `ids_after` reads them all (the
        enumeration is checked before it finishes)."""
        with self._lock:
            for chain_low, buffer in self._buffers.items():
                self._flush(chain_low, buffer)

    def ids_after(self, after: int) -> Iterator[int]:
        """The ids on disk above `after`, ascending."""
        for chain_low in sorted(self._blocks):
            for offset, count in list(self._blocks[chain_low]):
                with self._lock:
                    self._file.seek(offset)
                    data = self._file.read(count * 8)
                block = array("q")
                block.frombytes(data)
                if block and block[-1] > after:
                    yield from (id_ for id_ in block if id_ > after)

    def close(self) -> None:
        with self._lock:
            self._file.close()

    def __enter__(self) -> IdSpool:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _flush(self, chain_low: int, buffer: array[int]) -> None:
        if not buffer:
            return
        self._file.seek(self._size)
        data = buffer.tobytes()
        self._file.write(data)
        self._blocks.setdefault(chain_low, []).append((self._size, len(buffer)))
        self._size += len(data)
        del buffer[:]


class SpooledIds:
    """The ids of a complete `IdSpool`, as the `Ids` of one more pair of the type."""

    def __init__(self, *, setting: str, spool: IdSpool, fingerprint: str) -> None:
        self.setting = setting
        self._spool = spool
        self._fingerprint = fingerprint
        self._ranges: list[tuple[int, int]] = [(-1, END)]
        self._consumed: deque[tuple[int, int]] = deque()
        self._safe: int | None = None

    def validate(self) -> None:
        return None

    def fingerprint(self) -> str:
        """The enumeration's: saved ranges of either are resumed by the other."""
        return self._fingerprint

    def read_from(self, position: int, resume: Mapping[str, Any]) -> Iterator[str]:
        """The spooled ids within the saved ranges (every id without any)."""
        saved = saved_ranges(resume)
        self._ranges = [(-1, END)] if saved is None else [(c.low, c.high) for c in saved]
        return self._read(position)

    def _read(self, position: int) -> Iterator[str]:
        ranges = iter(sorted(self._ranges))
        low, high = next(ranges, (0, -1))
        index = position
        for id_ in self._spool:
            while id_ > high:
                following = next(ranges, None)
                if following is None:
                    return
                low, high = following
            if id_ <= low:
                continue
            self._consumed.append((index, id_))
            index += 1
            yield str(id_)

    def close(self) -> None:
        """Nothing runs: the spool is the enumeration's, closed with the run."""

    def resume_at(self, position: int) -> dict[str, Any]:
        """The ranges left above the safe point: the highest id with every id before it
        in this order completed (the reader's first `position` ids)."""
        while self._consumed and self._consumed[0][0] < position:
            self._safe = self._consumed.popleft()[1]
        safe = self._safe
        if safe is None:
            left = self._ranges
        else:
            left = [(max(low, safe), high) for low, high in self._ranges if high > safe]
        return {"ranges": [[str(low), str(high)] for low, high in left]}
