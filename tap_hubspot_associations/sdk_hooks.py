"""The singer-sdk internals the tap relies on, in one place.

singer-sdk 0.54 has no public way to do four things the tap needs:

- write STATE right after a batch (the SDK writes it every 10,000 records):
  `Stream._write_state_message` with `state_manager.is_flushed` cleared;
- send ACTIVATE_VERSION when a pass is complete, not when it starts:
  `Stream._stream_version` and `Stream._write_activate_version_message`;
- skip the SDK's per-record copy, conformance and mapping when none of it would change
  a record: `Stream._generate_record_messages`;
- act after every stream has synced: `Tap.sync_all`, which is final.

Every use goes through this module; `broken_hooks()` names any that an SDK upgrade
changed, and a test fails with those names.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Generator
from typing import Any

from singer_sdk import Stream, Tap
from singer_sdk.singerlib import RecordMessage

if sys.version_info >= (3, 12):
    from typing import override
else:
    from typing_extensions import override

_METHODS: dict[type, dict[str, tuple[str, ...]]] = {
    Stream: {
        "_write_state_message": ("self",),
        "_write_activate_version_message": ("self", "full_table_version"),
        "_generate_record_messages": ("self", "record"),
    },
    Tap: {"sync_all": ("self",)},
}


def broken_hooks(stream: Stream) -> list[str]:
    """The hooks this SDK no longer offers as the tap uses them; `stream` is any stream
    of the tap, for the attributes set on instances."""
    broken = [
        f"{owner.__name__}.{name}({', '.join(params)})"
        for owner, methods in _METHODS.items()
        for name, params in methods.items()
        if not _has_method(owner, name, params)
    ]
    if not hasattr(stream, "_stream_version"):
        broken.append("Stream._stream_version")
    if not hasattr(stream.state_manager, "is_flushed"):
        broken.append("Stream.state_manager.is_flushed")
    return broken


def _has_method(owner: type, name: str, params: tuple[str, ...]) -> bool:
    method = getattr(owner, name, None)
    if not callable(method):
        return False
    return tuple(inspect.signature(method).parameters) == params


def write_state_now(stream: Stream) -> None:
    """Write STATE now, with what the stream's bookmark holds."""
    stream.state_manager.is_flushed = False
    stream._write_state_message()


def table_version(stream: Stream) -> int | None:
    """The table version the stream's records carry (None: none)."""
    version: int | None = stream._stream_version
    return version


def set_table_version(stream: Stream, version: int | None) -> None:
    stream._stream_version = version


def write_activate_version(stream: Stream, version: int) -> None:
    stream._write_activate_version_message(version)


class PassThroughStream(Stream):
    """A stream that may hand its records to the writer as they are.

    `pass_through_message` returns the message for a record when nothing the SDK does
    per record would change it, else None and the SDK's own path runs.
    """

    def pass_through_message(self, record: dict[str, Any]) -> RecordMessage | None:
        return None

    @override
    def _generate_record_messages(
        self, record: dict[str, Any]
    ) -> Generator[RecordMessage, None, None]:
        message = self.pass_through_message(record)
        if message is None:
            yield from super()._generate_record_messages(record)
        else:
            yield message


class EndOfRunTap(Tap):
    """A tap with hooks before the first stream syncs and after the last one."""

    def before_sync(self) -> None:
        """Checks that must pass before anything is emitted."""

    def after_sync(self) -> None:
        """Work once every stream has synced (the run as a whole)."""

    @override  # type: ignore[misc]  # sync_all is final, but the SDK has no end-of-run hook
    def sync_all(self) -> None:
        self.before_sync()
        super().sync_all()
        self.after_sync()
