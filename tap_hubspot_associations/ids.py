"""Where the record ids of a pair come from: an inline list, a file read line by line,
HubSpot's list of every record of the `from` type, or a search for those modified lately."""

from __future__ import annotations

import hashlib
import itertools
import os
import queue
import re
import stat
import tempfile
import threading
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol
from urllib.parse import urlencode

from tap_hubspot_associations.errors import Cancelled, ConfigError, HubSpotError, MalformedAnswer
from tap_hubspot_associations.paths import objects_path, search_path

if TYPE_CHECKING:
    from tap_hubspot_associations.client import HubSpotClient

RECORD_ID = re.compile(r"0|[1-9][0-9]{0,19}")
"""A HubSpot record id as the tap keeps it: up to 20 decimal digits (ids exceed 32 bits),
without leading zeros, so that one record has one id (`0001` would be a second key)."""
LIST_PAGE_SIZE = 100
SEARCH_PAGE_SIZE = 200
MAX_ID_LINE_BYTES = 1024
"""An id has at most 20 digits; a line this long holds none."""
FETCH_AHEAD = 3000
"""Ids fetched ahead of the batches that will read them."""


def is_record_id(value: object) -> bool:
    """Whether `value` is a record id as the tap keeps them: a string of digits."""
    return isinstance(value, str) and RECORD_ID.fullmatch(value) is not None


class Ids(Protocol):
    """The ordered ids of one pair, and how to find a position among them again."""

    setting: str

    def validate(self) -> int | None:
        """Check the ids before anything is read; how many there are, if known."""
        ...

    def fingerprint(self) -> str:
        """What saved progress must match to be resumed with these ids."""
        ...

    def read_from(self, position: int, resume: Mapping[str, Any]) -> Iterator[str]:
        """The ids from `position` on; `resume` is what `resume_at` said of it."""
        ...

    def resume_at(self, position: int) -> dict[str, Any]:
        """What a later run needs, beyond `position`, to read from there."""
        ...


class IdSource:
    """The ordered ids of one pair; reading a file never holds more than one line."""

    def __init__(self, *, setting: str, ids: Sequence[object] | None, ids_file: str | None) -> None:
        """`ids` as configured: strings or numbers, each checked when read."""
        self.setting = setting
        self._ids = ids
        self._ids_file = Path(ids_file) if ids_file is not None else None
        self._fingerprint: str | None = None
        self._count: int | None = None
        self._spool: BinaryIO | None = None
        self._spooling = False

    def __iter__(self) -> Iterator[str]:
        if self._ids is not None:
            for index, raw in enumerate(self._ids):
                yield self._checked(raw, f"{self.setting}.ids[{index}]")
            return
        assert self._ids_file is not None
        yield from self._read_file(self._ids_file)

    def validate(self) -> int:
        """Read every id once so a bad one stops the run before anything is emitted;
        return how many there are."""
        self.fingerprint()
        assert self._count is not None
        return self._count

    def read_from(self, position: int, resume: Mapping[str, Any]) -> Iterator[str]:
        return itertools.islice(iter(self), position, None)

    def resume_at(self, position: int) -> dict[str, Any]:
        return {}

    def fingerprint(self) -> str:
        """A digest of the whole list: saved progress counts positions in this list only."""
        if self._fingerprint is None:
            digest = hashlib.sha256()
            count = 0
            for id_ in self:
                digest.update(id_.encode() + b"\n")
                count += 1
            self._fingerprint, self._count = digest.hexdigest()[:16], count
        return self._fingerprint

    def _read_file(self, path: Path) -> Iterator[str]:
        """The ids of the file, a line at a time: a line longer than any id line could be
        (one endless line, as `/dev/zero` gives) stops at `MAX_ID_LINE_BYTES`.

        The file is read more than once (checked, then read). A pipe (`/dev/stdin`,
        `<(...)`, a FIFO) can be read only once, so the first reading spools it into an
        anonymous temporary file, and later readings read that.
        """
        where = f"{self.setting}.ids_file {path}"
        if self._spool is not None:
            self._spool.seek(0)
            yield from self._ids_in(self._spool, where, None)
            return
        if self._spooling:
            raise ConfigError(f"{where}: a pipe, and its one reading stopped before its end")
        try:
            handle = path.open("rb")
        except FileNotFoundError:
            raise ConfigError(f"{where}: no such file") from None
        except IsADirectoryError:
            raise ConfigError(f"{where}: is a directory, not a file of ids") from None
        except OSError as exc:
            raise ConfigError(f"{where}: cannot be read ({exc.strerror})") from None
        with handle:
            if stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                yield from self._ids_in(handle, where, None)
            else:
                self._spooling = True
                # The spool lives as long as this source; closing it deletes it.
                spool = tempfile.TemporaryFile()  # noqa: SIM115
                yield from self._ids_in(handle, where, spool)
                self._spool = spool

    def _ids_in(self, handle: BinaryIO, where: str, copy: BinaryIO | None) -> Iterator[str]:
        for line_number in itertools.count(1):
            raw = handle.readline(MAX_ID_LINE_BYTES + 1)
            if not raw:
                return
            if len(raw) > MAX_ID_LINE_BYTES:
                raise ConfigError(
                    f"{where}, line {line_number}: longer than {MAX_ID_LINE_BYTES} bytes, "
                    "not a line of one record id"
                )
            if copy is not None:
                copy.write(raw)
            try:
                stripped = raw.decode("utf-8").strip()
            except UnicodeDecodeError:
                raise ConfigError(f"{where}, line {line_number}: not UTF-8 text") from None
            if stripped:
                yield self._checked(stripped, f"{where}, line {line_number}")

    @staticmethod
    def _checked(raw: object, where: str) -> str:
        text = str(raw).strip() if isinstance(raw, (str, int)) else None
        if text is None or not RECORD_ID.fullmatch(text):
            shown = repr(raw) if len(repr(raw)) <= 40 else repr(raw)[:37] + "..."
            raise ConfigError(
                f"{where}: {shown} is not a HubSpot record id "
                "(up to 20 decimal digits, no leading zero)"
            )
        return text


class PagedIds(ABC):
    """Ids HubSpot hands out a page at a time, fetched ahead of the batches that read them.

    Pages are a chain of cursors, one per response, so a thread of its own keeps the
    chain going while batch reads run. Each page handed out is kept (its cursor, and the
    ids it gave) until the bookmark passes it, so an interrupted pass resumes at that
    page. Within the page, the resume skips the ids up to the last one the bookmark
    covers, found by identity, never by count: records archived meanwhile shift the
    page, and a count would then skip unread ids. When that id is gone from the page,
    the whole page is read again. Subclasses say how a page is fetched.
    """

    def __init__(self, *, setting: str, object_type: str, client: HubSpotClient) -> None:
        self.setting = setting
        self._object_type = object_type
        self._client = client
        self._lock = threading.Lock()
        self._pages: deque[tuple[int, str | None, list[str]]] = deque()
        """(position of the page's first id handed out, its cursor, the ids handed out)"""

    def validate(self) -> None:
        return None

    @abstractmethod
    def fingerprint(self) -> str: ...

    @abstractmethod
    def _fetch(self, cursor: str | None, cancel: threading.Event) -> tuple[list[str], str | None]:
        """The ids of the page at `cursor` (None: the first), and the next page's cursor."""

    def read_from(self, position: int, resume: Mapping[str, Any]) -> Iterator[str]:
        """The ids after the saved point; ids are numbered from `position` on."""
        cursor, last_id = resume.get("page_cursor"), resume.get("last_id")
        if not (cursor is None or isinstance(cursor, str)) or not (
            last_id is None or is_record_id(last_id)
        ):
            cursor, last_id = None, None
        fetched: queue.Queue[str | BaseException | None] = queue.Queue(FETCH_AHEAD)
        stop = threading.Event()
        fetcher = threading.Thread(
            target=self._fetch_pages,
            args=(position, cursor, last_id, fetched, stop),
            daemon=True,
        )
        fetcher.start()
        try:
            while (item := fetched.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()

    def _fetch_pages(
        self,
        position: int,
        cursor: str | None,
        last_id: str | None,
        fetched: queue.Queue[str | BaseException | None],
        stop: threading.Event,
    ) -> None:
        def hand_over(item: str | BaseException | None) -> bool:
            while not stop.is_set():
                try:
                    fetched.put(item, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False

        seen: set[str] = set()
        try:
            while not stop.is_set():
                page_cursor = cursor
                ids, cursor = self._fetch(cursor, stop)
                if cursor is not None and cursor in seen:
                    raise HubSpotError(
                        f"{self.setting}: HubSpot's paging of {self._object_type} returned a "
                        "cursor it had returned before; the listing would never end"
                    )
                if cursor is not None:
                    seen.add(cursor)
                if last_id is not None and last_id in ids:
                    ids = ids[ids.index(last_id) + 1 :]
                last_id = None
                with self._lock:
                    self._pages.append((position, page_cursor, ids))
                for id_ in ids:
                    if not hand_over(id_):
                        return
                position += len(ids)
                if cursor is None:
                    break
            hand_over(None)
        except Cancelled:
            return
        except BaseException as exc:  # handed to the reading thread, which raises it
            hand_over(exc)

    def resume_at(self, position: int) -> dict[str, Any]:
        """The page holding the first id not yet covered (where it began, among the ids
        handed out, and its cursor), and the id before that one in the page."""
        with self._lock:
            while len(self._pages) > 1 and self._pages[1][0] <= position:
                self._pages.popleft()
            if not self._pages:
                return {}
            start, cursor, ids = self._pages[0]
        covered = position - start
        last_id = ids[covered - 1] if 0 < covered <= len(ids) else None
        return {"page_start": start, "page_cursor": cursor, "last_id": last_id}

    def _next_cursor(self, body: Mapping[str, Any], source: str) -> str | None:
        """`paging.next.after` of a page: a string (or a number) while pages follow,
        absent on the last page; any other shape is HubSpot's error, named."""
        paging = body.get("paging")
        following = paging.get("next") if isinstance(paging, Mapping) else paging
        if following is None:
            return None
        after = following.get("after") if isinstance(following, Mapping) else None
        if isinstance(after, int) and not isinstance(after, bool):
            after = str(after)
        if not isinstance(after, str) or not after:
            raise MalformedAnswer(
                f"{source} {self._object_type} returned malformed paging: {str(paging)[:100]}"
            )
        return after

    def _checked_ids(self, results: object, source: str) -> list[str]:
        ids = []
        for result in results if isinstance(results, list) else []:
            id_ = str(result.get("id", "")) if isinstance(result, dict) else ""
            if not RECORD_ID.fullmatch(id_):
                raise MalformedAnswer(
                    f"{source} {self._object_type} returned {id_[:40]!r}, not a record id"
                )
            ids.append(id_)
        return ids


class ListedIds(PagedIds):
    """Every live id of an object type, listed by HubSpot 100 at a time."""

    def __init__(
        self, *, setting: str, object_type: str, client: HubSpotClient, api_version: str
    ) -> None:
        super().__init__(setting=setting, object_type=object_type, client=client)
        self._path = objects_path(api_version, object_type)

    def fingerprint(self) -> str:
        return f"list:{self._object_type}"

    def _fetch(self, cursor: str | None, cancel: threading.Event) -> tuple[list[str], str | None]:
        query = {"limit": LIST_PAGE_SIZE, "properties": "hs_object_id", "archived": "false"}
        if cursor is not None:
            query["after"] = cursor
        body = self._client.get(
            f"{self._path}?{urlencode(query)}", list_key="results", cancel=cancel
        )
        return self._checked_ids(body["results"], "listing"), self._next_cursor(body, "listing")


class SearchedIds(PagedIds):
    """The ids of an object type last modified in [since, until), found by CRM search.

    Search answers at most 10,000 results a query, and a bulk update can stamp more
    records than that with one time. So every page is a query of its own for the ids
    above the last one seen, in id order: no query ever nears the cap, and the last id
    seen is the cursor.
    """

    def __init__(
        self,
        *,
        setting: str,
        object_type: str,
        client: HubSpotClient,
        api_version: str,
        since_ms: int,
        until_ms: int,
    ) -> None:
        super().__init__(setting=setting, object_type=object_type, client=client)
        self._path = search_path(api_version, object_type)
        self._since_ms = since_ms
        self._until_ms = until_ms

    def fingerprint(self) -> str:
        return f"search:{self._object_type}:{self._since_ms}:{self._until_ms}"

    def _fetch(self, cursor: str | None, cancel: threading.Event) -> tuple[list[str], str | None]:
        modified = last_modified_property(self._object_type)
        filters = [
            {"propertyName": modified, "operator": "GTE", "value": str(self._since_ms)},
            {"propertyName": modified, "operator": "LT", "value": str(self._until_ms)},
        ]
        if cursor is not None:
            filters.append({"propertyName": "hs_object_id", "operator": "GT", "value": cursor})
        request = {
            "filterGroups": [{"filters": filters}],
            "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
            "properties": ["hs_object_id"],
            "limit": SEARCH_PAGE_SIZE,
        }
        body = self._client.search(self._path, request, cancel=cancel)
        ids = self._checked_ids(body["results"], "searching")
        numbers = [int(id_) for id_ in ids]
        if cursor is not None:
            numbers.insert(0, int(cursor))
        if any(later <= earlier for earlier, later in itertools.pairwise(numbers)):
            raise HubSpotError(
                f"searching {self._object_type} returned ids out of order: ids would be missed"
            )
        more = self._next_cursor(body, "searching") is not None
        return ids, ids[-1] if ids and more else None


def last_modified_property(object_type: str) -> str:
    """Contacts keep their last-modified time in `lastmodifieddate`, the rest in
    `hs_lastmodifieddate`."""
    return (
        "lastmodifieddate"
        if object_type.lower() in ("contacts", "contact", "0-1")
        else "hs_lastmodifieddate"
    )
