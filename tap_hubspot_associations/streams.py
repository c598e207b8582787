"""One stream per configured pair of object types: its schema, its records, its bookmark."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Literal, Protocol

from singer_sdk import typing as th
from singer_sdk.helpers.conform import TypeConformanceLevel

from tap_hubspot_associations import sdk_hooks
from tap_hubspot_associations.answers import association_type_fields
from tap_hubspot_associations.batch_reader import BatchReader, Coverage, Poster
from tap_hubspot_associations.enumerations import Enumerations
from tap_hubspot_associations.errors import MalformedAnswer, TapError
from tap_hubspot_associations.ids import Ids, IdSource
from tap_hubspot_associations.metrics import RequestStats
from tap_hubspot_associations.passes import PassLifecycle, activate_when_complete
from tap_hubspot_associations.paths import associations_path
from tap_hubspot_associations.progress import ProgressReporter
from tap_hubspot_associations.ranges import fingerprint_of
from tap_hubspot_associations.run_context import RunContext
from tap_hubspot_associations.state import (
    Pass,
)

if sys.version_info >= (3, 12):
    from typing import override
else:
    from typing_extensions import override

if TYPE_CHECKING:
    from singer_sdk import Tap
    from singer_sdk.helpers.types import Context

    from tap_hubspot_associations.settings import AssociationPair, Settings


class StreamClient(Poster, Protocol):
    """What a pair's stream needs of the client: batch reads, and the request statistics
    its progress lines show."""

    @property
    def stats(self) -> RequestStats: ...


UNKNOWN_CATEGORY = "UNKNOWN"
"""The category of an association type that HubSpot sent without one and whose label
definition is not found either."""

PassKind = Literal["not run", "full", "incremental", "skipped"]
"""What a run did of a stream: not run (yet), a full or incremental pass, or skipped
because the interrupted run this one resumes completed it."""

OBJECT_TYPE = "Object type as configured (name, type id or custom name)"
RECORD_ID = "HubSpot record id, as a string (ids exceed 32 bits)"

ASSOCIATION_SCHEMA = th.PropertiesList(
    th.Property("from_object_type", th.StringType, required=True, description=OBJECT_TYPE),
    th.Property("from_id", th.StringType, required=True, description=RECORD_ID),
    th.Property("to_object_type", th.StringType, required=True, description=OBJECT_TYPE),
    th.Property("to_id", th.StringType, required=True, description=RECORD_ID),
    th.Property(
        "category",
        th.StringType,
        required=True,
        description="HUBSPOT_DEFINED, USER_DEFINED, INTEGRATOR_DEFINED, WORK, ...",
    ),
    th.Property("type_id", th.IntegerType, required=True, description="Association type id"),
    th.Property("label", th.StringType, description="Label of the type; null when unlabeled"),
).to_dict()


LABEL_SCHEMA = th.PropertiesList(
    th.Property("from_object_type", th.StringType, required=True, description=OBJECT_TYPE),
    th.Property("to_object_type", th.StringType, required=True, description=OBJECT_TYPE),
    th.Property("category", th.StringType, required=True),
    th.Property("type_id", th.IntegerType, required=True, description="Association type id"),
    th.Property("label", th.StringType, description="Display text; null when unlabeled"),
).to_dict()


class VersionedStream(sdk_hooks.HookedStream):
    """A full-table stream that sends ACTIVATE_VERSION when its pass is complete.

    The SDK sends it when a pass starts: a target then drops the old rows at once, and a
    pass that dies leaves the table half empty.
    """

    @property
    @override
    def emit_activate_version_messages(self) -> bool:
        """False to the SDK: the stream sends ACTIVATE_VERSION itself, at the end."""
        return False

    _settings: Settings

    @property
    def _versioned(self) -> bool:
        return self._settings.emit_activate_version_messages

    def _use_version(self, saved: int | None) -> int | None:
        """The version of this pass: the saved one when resuming, else a new one."""
        if not self._versioned:
            return saved
        version = saved or time.time_ns() // 1_000_000
        sdk_hooks.set_table_version(self, version)
        return version

    def _activate(self, version: int) -> None:
        sdk_hooks.write_activate_version(self, version)


class AssociationsStream(VersionedStream):
    """Every association of the configured ids from one object type to another."""

    primary_keys = ("from_id", "to_id", "category", "type_id")
    replication_key = None
    # Records are built with exactly the schema's types: conforming them again is waste.
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE

    def __init__(
        self,
        tap: Tap,
        *,
        pair: AssociationPair,
        settings: Settings,
        client: StreamClient,
        run: RunContext,
        enumerations: Enumerations,
        selected_by_default: bool = True,
    ) -> None:
        self.selected_by_default = selected_by_default
        super().__init__(tap=tap, name=pair.stream_name, schema=ASSOCIATION_SCHEMA)
        self.pair = pair
        self._settings = settings
        self._client = client
        self._run = run
        self._enumerations = enumerations
        self.listed_ids = (
            IdSource(setting=pair.setting, ids=pair.ids, ids_file=pair.ids_file)
            if pair.lists_ids
            else None
        )
        """The ids the configuration lists; None when HubSpot's are enumerated."""
        self.coverage = Coverage()
        self.pass_kind: PassKind = "not run"
        self.failures: list[str] = []
        self._categories: dict[int, str] | None = None

    @property
    def batch_read_path(self) -> str:
        pair = self.pair
        return associations_path(
            self._settings.api_version, pair.from_type, pair.to_type, "batch/read"
        )

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        lifecycle = self._lifecycle()
        if lifecycle.completed_before:
            self.logger.info(
                "%s was completed by the interrupted run this one resumes: skipped", self.name
            )
            self.pass_kind = "skipped"
            return
        if self.listed_ids is None:
            self._label_categories()  # needed anyway; their answer tells HubSpot's time
        this_pass = lifecycle.plan()
        self.pass_kind = "full" if this_pass.full else "incremental"
        ids = self._ids_of(this_pass, resumes=lifecycle.resumes)
        self.logger.info("%s: %s", self.name, this_pass.describe())
        bookmark = lifecycle.resume_point(ids)
        reader = BatchReader(
            client=self._client,
            path=self.batch_read_path,
            from_type=self.pair.from_type,
            to_type=self.pair.to_type,
            ids=ids,
            batch_size=self._settings.batch_size,
            bookmark=bookmark,
            max_id_attempts=self._settings.max_retries + 1,
            max_concurrency=self._settings.max_concurrency,
            logger=self.logger,
            category_of=self._category_of,
        )
        self.coverage = reader.coverage
        progress = ProgressReporter(
            stream=self.name,
            total_ids=ids.validate(),
            start_position=bookmark.position,
            stats=self._client.stats,
            interval=self._settings.progress_interval,
            logger=self.logger,
        )
        for records in reader.batches():
            if not self.write_records(records, time_extracted=datetime.now(timezone.utc)):
                yield from records
            done = reader.bookmark()
            lifecycle.batch_done(done)
            progress.batch_done(done.position, reader.coverage)
        lifecycle.finish(complete=not reader.failures)
        self.failures = reader.failures
        self.logger.info("Coverage of %s: %s", self.name, reader.coverage.summary())

    def _lifecycle(self) -> PassLifecycle:
        """This stream's bookmark through a pass (passes.py)."""
        settings = self._settings
        return PassLifecycle(
            name=self.name,
            state=self.get_context_state(None),
            setting=self.pair.setting,
            lists_its_ids=self.listed_ids is not None,
            start_date_ms=settings.start_date_ms,
            full_pass_every_days=settings.full_pass_every_days,
            versioned=settings.emit_activate_version_messages,
            now_ms=self._run.started_ms,
            use_version=self._use_version,
            activate=self._activate,
            write_state=self._emit_state,
            logger=self.logger,
        )

    def _category_of(self, type_id: int) -> str:
        """The category of an association type that came without one, from the pair's
        label definitions; `UNKNOWN_CATEGORY` when they do not list it."""
        return self._label_categories().get(type_id, UNKNOWN_CATEGORY)

    def _label_categories(self) -> dict[int, str]:
        """The category of each association type the pair's label definitions list
        (read once a run, shared with the labels stream)."""
        if self._categories is None:
            self._categories = {}
            try:
                definitions = self._run.label_definitions(self.pair.from_type, self.pair.to_type)
            except TapError as exc:
                self.logger.warning("Label definitions of %s not read: %s", self.name, exc)
                definitions = []
            for kind in definitions:
                try:
                    fields = association_type_fields(kind)
                except (KeyError, ValueError):
                    continue
                self._categories[fields["type_id"]] = fields["category"]
        return self._categories

    @override
    def generate_child_contexts(
        self, record: dict[str, Any], context: Context | None
    ) -> Iterable[dict[str, Any] | None]:
        """None: this stream has no child streams, and the SDK copies each context."""
        return ()

    def end_run(self) -> None:
        """The whole run is over: the next one is a new pass of this stream."""
        self._lifecycle().end_run()

    def upcoming_enumeration(self) -> tuple[str, tuple[int, int] | None] | None:
        """What this stream's pass would enumerate if it started now: its `from` type
        and window; None when it will resume saved progress or skip (an enumeration
        started ahead of it must be the one its pass reads)."""
        next_pass = self._lifecycle().next_pass()
        return None if next_pass is None else (self.pair.from_type, next_pass.window)

    def _ids_of(self, this_pass: Pass, *, resumes: bool) -> Ids:
        pair = self.pair
        if self.listed_ids is not None:
            return self.listed_ids
        window = this_pass.window
        fingerprint = fingerprint_of(pair.from_type, window)
        return self._enumerations.ids(
            self.name, pair.from_type, window, fingerprint, resumes=resumes
        )

    def _emit_state(self) -> None:
        """Write STATE now: the SDK only writes it every 10,000 records and at the end."""
        sdk_hooks.write_state_now(self)


class AssociationLabelsStream(VersionedStream):
    """What each association type of the selected pairs means: its category and label.

    HubSpot calls `typeId` the stable key; labels are display text and get renamed, so
    they live here once instead of in every association record.
    """

    name = "association_labels"
    primary_keys = ("from_object_type", "to_object_type", "category", "type_id")
    replication_key = None

    def __init__(
        self,
        tap: Tap,
        *,
        pair_streams: list[AssociationsStream],
        settings: Settings,
        run: RunContext,
    ) -> None:
        super().__init__(tap=tap, name=self.name, schema=LABEL_SCHEMA)
        self._pair_streams = pair_streams
        self._settings = settings
        self.failure: str | None = None
        """Why the label definitions could not be read, if they could not."""
        self._run = run

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """Label definitions are secondary: when they cannot be read, the pair streams
        are read anyway, and the run ends naming this failure."""
        version = self._use_version(None)
        try:
            yield from self._labels()
        except TapError as exc:
            self.failure = str(exc)
            self.logger.warning("%s not read, the pairs are read anyway: %s", self.name, exc)
            return
        if version is not None and self._versioned:
            activate_when_complete(
                version, complete=True, name=self.name, activate=self._activate, logger=self.logger
            )

    def _labels(self) -> Iterable[dict[str, Any]]:
        for stream in self._pair_streams:
            if not stream.selected:
                continue
            pair = stream.pair
            path = associations_path(
                self._settings.api_version, pair.from_type, pair.to_type, "labels"
            )
            definitions = self._run.label_definitions(pair.from_type, pair.to_type)
            for index, kind in enumerate(definitions):
                try:
                    fields = association_type_fields(kind)
                except (KeyError, ValueError):
                    raise MalformedAnswer(
                        f"GET {path} answered a malformed label definition at results[{index}]: "
                        f"{str(kind)[:200]}"
                    ) from None
                yield {
                    "from_object_type": pair.from_type,
                    "to_object_type": pair.to_type,
                    **fields,
                }
