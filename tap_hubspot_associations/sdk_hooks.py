"""The singer-sdk internals the tap relies on, in one place.

singer-sdk 0.54 has no public way to do these things the tap needs:

- write STATE right after a batch (the SDK writes it every 10,000 records):
  `Stream._write_state_message` with `state_manager.is_flushed` cleared;
- send ACTIVATE_VERSION when a pass is complete, not when it starts:
  `Stream._stream_version` and `Stream._write_activate_version_message`;
- write a batch of records at once, past the SDK's per-record loop, when nothing it does
  per record would change them: the tap's writer (`Stream._tap`), and the SDK's record
  counter (`Stream.get_record_counter`, kept to count them);
- act after every stream has synced: `Tap.sync_all`, which is final;
- stop at once on SIGTERM and SIGINT, with a non-zero exit: the SDK's
  `_handle_termination` exits 0 and then waits for every worker thread;
- know the `.env` file the SDK loads with `--config ENV` (it searches from its own
  module's folder up), so that its secrets are redacted from the first line;
- say what is wrong with the settings in one line: `Tap._validate_config`;
- drop the SDK's "An unhandled error occurred while syncing" line: the tap's own ERROR
  line says it all; and its "Skipping deselected stream" line for each stream not read
  (dozens with every offered pair): the tap says in one line what it reads;
- give stream maps the whole schema of a stream the catalog deselects, as singer-sdk
  gives them the schema its selection masks, so that a map naming such a stream fails
  every run (meltano/sdk issue #1942): `Tap.setup_mapper`.

Every use goes through this module; `broken_hooks()` names any that an SDK upgrade
changed, and a test fails with those names.
"""

from __future__ import annotations

import gc
import inspect
import logging
import os
import re
import signal
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Any

from dotenv import dotenv_values
from singer_sdk import Stream, Tap, metrics
from singer_sdk.configuration import _dict_config as dict_config
from singer_sdk.contrib.msgspec import encoder as message_encoder
from singer_sdk.exceptions import ConfigValidationError, MapExpressionError, MappingError
from singer_sdk.helpers._catalog import get_selected_schema
from singer_sdk.mapper import CustomStreamMap, SameRecordTransform
from singer_sdk.plugin_base import PluginBase

from tap_hubspot_associations.errors import ConfigError, TapError
from tap_hubspot_associations.writer import RecordBufferingWriter

if sys.version_info >= (3, 12):
    from typing import override
else:
    from typing_extensions import override

_METHODS: dict[type, dict[str, tuple[str, ...]]] = {
    Stream: {
        "_write_state_message": ("self",),
        "_write_activate_version_message": ("self", "full_table_version"),
        "get_record_counter": ("self", "endpoint", "log_interval"),
    },
    Tap: {
        "sync_all": ("self",),
        "_handle_termination": ("self", "signum", "frame"),
        "_validate_config": ("self", "raise_errors"),
        "setup_mapper": ("self",),
    },
    PluginBase: {"setup_mapper": ("self",)},
}
UNHANDLED_ERROR_MESSAGE = "An unhandled error occurred while syncing '%s'"
"""What `Stream.sync` logs, inside its `except`, before re-raising any error."""
SKIPPED_STREAM_MESSAGE = "Skipping deselected stream '%s'."
"""What `Tap.sync_all` logs for each stream the catalog does not select."""


UNPARSED = re.compile(r"Failed to parse expression (.*)\.", flags=re.DOTALL)
"""singer-sdk's message for a map expression that is not Python."""


def broken_hooks(stream: Stream) -> list[str]:
    """The hooks this SDK no longer offers as the tap uses them; `stream` is any stream
    of the tap, for the attributes set on instances."""
    broken = [
        f"{owner.__name__}.{name}({', '.join(params)})"
        for owner, methods in _METHODS.items()
        for name, params in methods.items()
        if not _has_method(owner, name, params)
    ]
    for attribute in ("_stream_version", "_tap"):
        if not hasattr(stream, attribute):
            broken.append(f"Stream.{attribute}")
    if not hasattr(stream.state_manager, "is_flushed"):
        broken.append("Stream.state_manager.is_flushed")
    for owner, method, message in (
        (Stream, Stream.sync, UNHANDLED_ERROR_MESSAGE),
        (Tap, Tap.sync_all, SKIPPED_STREAM_MESSAGE),
    ):
        if message not in inspect.getsource(method):
            broken.append(f"{owner.__name__}.{method.__name__} logging {message!r}")
    return broken


def _has_method(owner: type, name: str, params: tuple[str, ...]) -> bool:
    method = getattr(owner, name, None)
    if not callable(method):
        return False
    return tuple(inspect.signature(method).parameters) == params


def dotenv_settings() -> dict[str, str]:
    """The settings of the `.env` file the SDK will load with `--config ENV`: the first
    one in the SDK's own folder or a folder above it (in a Meltano project, the
    project's). Its secrets must be known before the SDK logs anything."""
    folder = Path(os.path.abspath(dict_config.__file__)).parent
    for candidate in (folder, *folder.parents):
        path = candidate / ".env"
        if path.is_file():
            return {k: v for k, v in dotenv_values(path).items() if v is not None}
    return {}


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


class HookedStream(Stream):
    """A stream that writes its records a batch at a time, and whose expected failures
    the tap reports alone.

    The SDK's per-record loop (`Stream._sync_records`: the record limit, post-processing,
    child contexts, a message object, a copy to drop deselected fields, type conformance,
    the stream maps, the counter) took 40% of the tap's CPU. Records built with exactly
    the schema's fields and types come out of it unchanged unless a field is deselected,
    a stream map or flattening is configured or a dry run limits the records; in every
    other case `write_records` writes them at once, as the SDK would have.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.logger.addFilter(_DropLines(UNHANDLED_ERROR_MESSAGE))
        self._record_counter: metrics.Counter | None = None

    @override
    def get_record_counter(
        self, *, endpoint: str | None = None, log_interval: float = metrics.DEFAULT_LOG_INTERVAL
    ) -> metrics.Counter:
        """The SDK's counter of this sync, kept to count the records written at once."""
        counter = super().get_record_counter(endpoint=endpoint, log_interval=log_interval)
        self._record_counter = counter
        return counter

    def write_records(self, records: list[dict[str, Any]], *, time_extracted: datetime) -> bool:
        """Write `records` as RECORD messages at once; False, writing nothing, when the
        SDK's path would change them: the caller then yields them to it."""
        writer = self._tap.message_writer
        counter = self._record_counter
        if counter is None or not isinstance(writer, RecordBufferingWriter):
            return False
        if not self._records_unchanged_by_sdk():
            return False
        head: dict[str, Any] = {"type": "RECORD", "stream": self.name}
        version = table_version(self)
        if version is not None:
            head["version"] = version
        head["time_extracted"] = time_extracted
        messages = [{**head, "record": record} for record in records]
        writer.write_record_lines(message_encoder.encode_lines(messages))
        counter.increment(len(records))
        return True

    def _records_unchanged_by_sdk(self) -> bool:
        maps = self.stream_maps
        return (
            self.selected
            and self.ABORT_AT_RECORD_COUNT is None
            and len(maps) == 1
            and type(maps[0]) is SameRecordTransform
            and not maps[0].flattening_enabled
            and maps[0].stream_alias == self.name
            and all(self.mask[("properties", name)] for name in self.schema["properties"])
        )


class EndOfRunTap(Tap):
    """A tap with hooks before the first stream syncs and after the last one, that stops
    at once on a signal."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._syncing = False
        self.logger.addFilter(_DropLines(SKIPPED_STREAM_MESSAGE))

    @override
    def setup_mapper(self) -> None:
        """Register every catalog stream with the stream maps, a deselected one with its
        whole schema.

        singer-sdk registers each with the schema its selection masks, which for a
        deselected stream has no property left, so a map naming it fails the run
        before anything is read ("Invalid key properties ... not detected in schema",
        meltano/sdk issue #1942, unfixed in 0.54). Meltano writes such an entry for
        every stream not (yet) selected. A deselected stream emits nothing, so its map
        is only checked, against the schema it would have.

        Also: each stream is registered under its `tap_stream_id`, the name it looks its
        maps up by (a catalog may rename `stream`); flattening settings singer-sdk
        refuses here are a settings error; a map singer-sdk refuses names its stream,
        and the property whose expression does not parse (`_map_named`); and a user's
        map that fails on a record names its stream (`_failures_named`).
        """
        try:
            PluginBase.setup_mapper(self)
            for entry in self.catalog.streams:
                name = entry.tap_stream_id  # the name each stream looks its maps up by
                schema = entry.schema.to_dict()
                mask = entry.metadata.resolve_selection()
                if mask[()]:
                    schema = get_selected_schema(name, schema, mask)
                try:
                    self.mapper.register_raw_stream_schema(name, schema, entry.key_properties)
                except MappingError as exc:
                    where = _map_named(self.config, name, str(exc))
                    raise MappingError(f"{where}: {exc}") from None
        except ConfigValidationError as exc:  # flattening settings, checked here
            raise ConfigError(f"settings: {'; '.join(exc.errors) or exc}") from None
        for name, maps in self.mapper.stream_maps.items():
            for stream_map in maps:
                if isinstance(stream_map, CustomStreamMap):
                    for method in ("transform", "get_filter_result"):
                        guarded = _failures_named(getattr(stream_map, method), name)
                        setattr(stream_map, method, guarded)

    def before_sync(self) -> None:
        """Checks that must pass before anything is emitted."""

    def after_sync(self) -> None:
        """Work once every stream has synced (the run as a whole)."""

    def release(self) -> None:
        """Free what the run held, whether it succeeded or failed."""

    @override  # type: ignore[misc]  # sync_all is final, but the SDK has no end-of-run hook
    def sync_all(self) -> None:
        """Sync every stream between the two hooks.

        Everything alive when syncing starts (the SDK's modules, the catalog, the
        settings) lives to the end: frozen out of the garbage collector, it is no
        longer traversed by every full collection, which took a fifth of the tap's CPU
        (docs/performance.md).
        """
        self._syncing = True
        try:
            self.before_sync()
            gc.freeze()
            try:
                super().sync_all()
            finally:
                gc.unfreeze()  # for a tap run in process, as the SDK's tests do
            self.after_sync()
        finally:
            self.release()

    @override
    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        """The SDK logs each schema error on a line of its own and then another: the
        tap's own error names them all in one line instead."""
        try:
            return super()._validate_config(raise_errors=raise_errors)
        except ConfigValidationError as exc:
            raise ConfigError(f"settings: {'; '.join(exc.errors)}") from None

    @override
    def _handle_termination(self, signum: int, frame: FrameType | None) -> None:
        """Write the STATE of everything emitted, say so, and exit 128 + the signal's
        number (143 for SIGTERM, 130 for SIGINT) without waiting for requests in flight.

        A signal that interrupts a write to stdout writes nothing more: the line cut
        there would be followed by another. The last STATE written before then stands.
        """
        name = signal.Signals(signum).name
        mid_write = bool(getattr(self.message_writer, "writing", False))
        try:
            if self._syncing and not mid_write:
                self._state_writer.write_state(self.state)
            if not mid_write:
                sys.stdout.flush()
        except (OSError, ValueError, TapError):
            pass
        self.logger.error("Stopped by %s; the last STATE written marks where a run resumes", name)
        sys.stderr.flush()
        os._exit(128 + signum)


def _map_named(config: Any, stream: str, message: str) -> str:
    """Where the map singer-sdk refused with `message` while registering `stream` is:
    the map and property holding the expression it could not parse (its message quotes
    the expression but names neither; the map may be an alias of the stream, under any
    key), else the stream."""
    unparsed = UNPARSED.fullmatch(message)
    maps = config.get("stream_maps")
    if unparsed is not None and isinstance(maps, dict):
        for key, mapping in maps.items():
            for name, expression in mapping.items() if isinstance(mapping, dict) else ():
                if expression == unparsed.group(1):
                    return f"{key}.{name}"
    return stream


def _failures_named(
    method: Callable[[dict[str, Any]], Any], stream: str
) -> Callable[[dict[str, Any]], Any]:
    """`method` of a user's stream map, whose expressions may fail on a record in any
    way Python can (singer-sdk only names those that fail to parse): any failure
    becomes a `MapExpressionError` naming the stream, the command line's one line."""

    def guarded(record: dict[str, Any]) -> Any:
        try:
            return method(record)
        except MappingError:
            raise
        except Exception as exc:
            raise MapExpressionError(
                f"the map of {stream} failed on a record: {type(exc).__name__}: {exc}"
            ) from None

    return guarded


class _DropLines(logging.Filter):
    """Drops the SDK's log lines made from `message`, which the tap says better itself."""

    def __init__(self, message: str) -> None:
        super().__init__()
        self._message = message

    def filter(self, record: logging.LogRecord) -> bool:
        return record.msg != self._message
