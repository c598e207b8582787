"""Where the record ids of a pair come from: an inline list or a file read line by line."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

from tap_hubspot_associations.errors import ConfigError

_RECORD_ID = re.compile(r"[0-9]{1,20}")


class IdSource:
    """The ordered ids of one pair; reading a file never holds more than one line."""

    def __init__(self, *, setting: str, ids: Sequence[str] | None, ids_file: str | None) -> None:
        self.setting = setting
        self._ids = ids
        self._ids_file = Path(ids_file) if ids_file is not None else None
        self._fingerprint: str | None = None
        self._count: int | None = None

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
        where = f"{self.setting}.ids_file {path}"
        try:
            handle = path.open(encoding="utf-8", newline=None)
        except FileNotFoundError:
            raise ConfigError(f"{where}: no such file") from None
        except IsADirectoryError:
            raise ConfigError(f"{where}: is a directory, not a file of ids") from None
        except OSError as exc:
            raise ConfigError(f"{where}: cannot be read ({exc.strerror})") from None
        line_number = 0
        with handle:
            try:
                for line_number, line in enumerate(handle, start=1):
                    stripped = line.strip()
                    if stripped:
                        yield self._checked(stripped, f"{where}, line {line_number}")
            except UnicodeDecodeError:
                raise ConfigError(f"{where}, line {line_number + 1}: not UTF-8 text") from None

    @staticmethod
    def _checked(raw: object, where: str) -> str:
        text = str(raw).strip() if isinstance(raw, (str, int)) else None
        if text is None or not _RECORD_ID.fullmatch(text):
            shown = repr(raw) if len(repr(raw)) <= 40 else repr(raw)[:37] + "..."
            raise ConfigError(
                f"{where}: {shown} is not a HubSpot record id (up to 20 decimal digits)"
            )
        return text
