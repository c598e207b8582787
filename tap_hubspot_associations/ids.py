"""Where the record ids of a pair come from: an inline list or a file read line by line
(here), or HubSpot itself (`tap_hubspot_associations.chains`)."""

from __future__ import annotations

import hashlib
import itertools
import os
import stat
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from tap_hubspot_associations.errors import ConfigError
from tap_hubspot_associations.values import RECORD_ID

MAX_ID_LINE_BYTES = 1024
"""An id has at most 20 digits; a line this long holds none."""


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

    def close(self) -> None:
        """The reader is done: stop whatever fetches ids for it."""
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

    def close(self) -> None:
        """Nothing runs for a list or a file: each read is its own iteration."""

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
        except ValueError:  # a NUL byte, which no path holds
            raise ConfigError(f"{self.setting}.ids_file: not a path of a file") from None
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
            try:
                raw = handle.readline(MAX_ID_LINE_BYTES + 1)
            except OSError as exc:
                raise ConfigError(
                    f"{where}, line {line_number}: cannot be read ({exc.strerror or exc})"
                ) from None
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
