"""Every enumeration of a run: each `from` type's ids found once, ahead of the pass that
reads them, for every pair that starts from the type.

Search's 5 requests a second bound how fast ids are found, and passes run one after
another: left alone, search would idle while a pass starts, while its chains run out of
ranges to split, and while it reads its last batches. So as a pass starts, the next
pass that needs a fresh enumeration gets it started in the background
(`Enumeration.start`; `chains.RangedIds` reads at most `completeness.FETCH_AHEAD` ids
ahead of its reader), and finds
its first ids waiting. A pass whose type was enumerated earlier in the run reads the spooled ids
instead (`spool`). A pass that resumes saved progress enumerates what its bookmark
holds, on its own.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from tap_hubspot_associations.ids import Ids
from tap_hubspot_associations.spool import IdSpool, SpooledIds

Window = tuple[int, int] | None
"""(since, until) in epoch ms of an incremental pass; None for every id."""
Key = tuple[str, Window]
"""What an enumeration finds: the ids of an object type, all or in a window."""
AHEAD = 2
"""Enumerations started ahead of their pass at once, besides the running pass's."""


@dataclass
class _Planned:
    """A selected pair that will read ids found by enumeration, in the run's order."""

    name: str
    setting: str
    object_type: str
    upcoming: Callable[[], Key | None]
    """What its pass would enumerate if it started now; None if it resumes saved
    progress (its bookmark decides) or is skipped."""
    logger: logging.Logger
    started: bool = False


class Enumeration(Ids, Protocol):
    """The ids of one object type, found in HubSpot (`chains.RangedIds`)."""

    def start(self) -> None:
        """Start finding ids now, before the pass reads them."""
        ...


class NewEnumeration(Protocol):
    """Makes the enumeration of `object_type`'s ids (in `window`, if any) for the pair
    `setting`: it logs to `logger`, keeps each id in `spool` if given, and calls
    `when_done` once every id was read."""

    def __call__(
        self,
        *,
        setting: str,
        object_type: str,
        window: Window,
        logger: logging.Logger,
        spool: IdSpool | None,
        when_done: Callable[[], None],
    ) -> Enumeration: ...


class Enumerations:
    """The enumerations of one run (see the module's docstring)."""

    def __init__(self, new_enumeration: NewEnumeration) -> None:
        self._new_enumeration = new_enumeration
        self._planned: list[_Planned] = []
        self._spools: dict[Key, IdSpool] = {}
        self._ahead: dict[str, tuple[Key, Enumeration]] = {}
        """Enumerations started ahead, by the pair whose pass will take them over."""

    def plan(
        self,
        *,
        name: str,
        setting: str,
        object_type: str,
        upcoming: Callable[[], Key | None],
        logger: logging.Logger,
    ) -> None:
        """A selected pair without ids, in the order the run syncs them."""
        self._planned.append(_Planned(name, setting, object_type, upcoming, logger))

    def ids(
        self, name: str, object_type: str, window: Window, fingerprint: str, *, resumes: bool
    ) -> Ids:
        """The ids for the pass of pair `name`: spooled by an earlier pass, found ahead
        of it, or found now. A pass that `resumes` saved progress enumerates its saved
        ranges on its own, and keeps no spool (it would hold those ranges only)."""
        planned = next(p for p in self._planned if p.name == name)
        planned.started = True
        key = (object_type, window)
        ahead = self._ahead.pop(name, None)
        if ahead is not None and (ahead[0] != key or resumes):
            ahead[1].close()
            ahead = None
        spool = self._spools.get(key)
        ids: Ids
        if ahead is not None:
            ids = ahead[1]
        elif spool is not None and spool.complete:
            planned.logger.info(
                "%s: the ids of %s as enumerated earlier in this run", name, object_type
            )
            ids = SpooledIds(setting=planned.setting, spool=spool, fingerprint=fingerprint)
        else:
            ids = self._enumeration(planned, key, spooled=not resumes)
        self._start_next()
        return ids

    def close(self) -> None:
        """The run is over: enumerations no pass took over stop, spools' files go."""
        for _, enumeration in self._ahead.values():
            enumeration.close()
        self._ahead.clear()
        for spool in self._spools.values():
            spool.close()
        self._spools.clear()

    def _enumeration(self, planned: _Planned, key: Key, *, spooled: bool) -> Enumeration:
        """A new enumeration for `planned`'s pass, `spooled` if a later pair of the run
        starts from the same type (no pair pays for keeping ids no one reads)."""
        object_type, window = key
        spool = None
        old = self._spools.get(key)
        later = any(p.object_type == object_type for p in self._waiting(planned))
        if spooled and later and (old is None or old.finished):
            if old is not None:
                old.close()
            spool = self._spools[key] = IdSpool()
        return self._new_enumeration(
            setting=planned.setting,
            object_type=object_type,
            window=window,
            logger=planned.logger,
            spool=spool,
            when_done=self._start_next,
        )

    def _waiting(self, besides: _Planned | None = None) -> list[_Planned]:
        """Planned pairs whose pass has not started, in the run's order."""
        return [p for p in self._planned if not p.started and p is not besides]

    def _start_next(self) -> None:
        """Start the enumeration the next pass will need, unless one runs ahead already
        or an earlier one serves it: called as a pass starts and as its enumeration
        ends, so that search always has the next type to work on."""
        for planned in self._waiting():
            if len(self._ahead) >= AHEAD:
                return
            key = planned.upcoming()
            if key is None or planned.name in self._ahead:
                continue
            spool = self._spools.get(key)
            if spool is not None and (spool.complete or not spool.finished):
                continue  # read from it, or it is being filled
            if any(started == key for started, _ in self._ahead.values()):
                continue  # the pair started ahead fills a spool of it
            enumeration = self._enumeration(planned, key, spooled=True)
            enumeration.start()
            self._ahead[planned.name] = (key, enumeration)
