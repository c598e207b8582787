"""The tap: settings into streams, one shared HubSpot client, one clear line on failure."""

from __future__ import annotations

import os
import re
import sys
import threading
from functools import cached_property, partial
from typing import ClassVar

from singer_sdk import Stream
from singer_sdk.helpers.capabilities import (
    CapabilitiesEnum,
    PluginCapabilities,
    TapCapabilities,
)

from tap_hubspot_associations.auth import Auth, OAuthToken, StaticToken
from tap_hubspot_associations.chains import RangedIds
from tap_hubspot_associations.client import HubSpotClient
from tap_hubspot_associations.enumerations import Enumerations
from tap_hubspot_associations.errors import (
    ConfigError,
    HubSpotError,
    IncompleteSyncError,
    MalformedAnswer,
)
from tap_hubspot_associations.metrics import RequestMetrics
from tap_hubspot_associations.object_types import COMMON_PAIRS, LEAD_PAIRS, ObjectTypes
from tap_hubspot_associations.paths import TOKEN_PATH, schemas_path
from tap_hubspot_associations.progress import coverage_table
from tap_hubspot_associations.rate_budget import SEARCH_PER_SECOND, RateBudget, WaitNotices
from tap_hubspot_associations.run_context import RunContext
from tap_hubspot_associations.sdk_hooks import EndOfRunTap
from tap_hubspot_associations.settings import CONFIG_SCHEMA, AssociationPair, Settings
from tap_hubspot_associations.streams import AssociationLabelsStream, AssociationsStream
from tap_hubspot_associations.transport import hubspot_session
from tap_hubspot_associations.writer import RecordBufferingWriter

if sys.version_info >= (3, 12):
    from typing import override
else:
    from typing_extensions import override

COMMON_PAIR_STREAM = "contacts_to_companies"
"""The offered pair a hint names when the user has chosen none."""
PLUGIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


def meltano_plugin_name() -> str | None:
    """The extractor's name in the Meltano project running the tap (Meltano tells its
    plugins `MELTANO_EXTRACTOR_NAME`; an inherited plugin has a name of its own), so
    that a hint names the `meltano select` command that works; None outside Meltano or
    for a name no plugin could have."""
    name = os.environ.get("MELTANO_EXTRACTOR_NAME", "")
    return name if PLUGIN_NAME.fullmatch(name) else None


class TapHubSpotAssociations(EndOfRunTap):
    """Extracts HubSpot CRM associations through the batch read API."""

    name = "tap-hubspot-associations"
    config_jsonschema = CONFIG_SCHEMA
    message_writer_class = RecordBufferingWriter
    # Not offered: BATCH files would bypass per-batch bookmarks.
    capabilities: ClassVar[list[CapabilitiesEnum]] = [
        TapCapabilities.CATALOG,
        TapCapabilities.STATE,
        TapCapabilities.DISCOVER,
        TapCapabilities.ACTIVATE_VERSION,
        PluginCapabilities.ABOUT,
        PluginCapabilities.STREAM_MAPS,
        PluginCapabilities.FLATTENING,
        PluginCapabilities.STRUCTURED_LOGGING,
    ]

    @cached_property
    def settings(self) -> Settings:
        return Settings.from_config(self.config)

    @cached_property
    def client(self) -> HubSpotClient:
        """The one client every stream shares: one token, one rate budget."""
        settings = self.settings
        session = hubspot_session(
            pool_size=settings.max_concurrency + 2,
            user_agent=f"{self.name}/{self.plugin_version}",
        )
        metrics = RequestMetrics(logger=self.metrics_logger)
        waits = WaitNotices(interval=settings.progress_interval, logger=self.logger)
        auth: Auth
        if settings.access_token is not None:
            auth = StaticToken(settings.access_token)
        else:
            assert settings.oauth is not None
            client_id, client_secret, refresh_token = settings.oauth
            auth = OAuthToken(
                token_url=settings.api_url + TOKEN_PATH,
                client_id=client_id,
                client_secret=client_secret,
                refresh_token=refresh_token,
                session=session,
                timeout=settings.request_timeout,
                max_retries=settings.max_retries,
                max_wait=settings.max_wait_seconds,
                logger=self.logger,
                request_metrics=metrics,
            )
        return HubSpotClient(
            api_url=settings.api_url,
            auth=auth,
            session=session,
            max_retries=settings.max_retries,
            read_timeout=settings.request_timeout,
            logger=self.logger,
            budget=RateBudget(
                max_requests=settings.max_requests_per_10s,
                max_wait=settings.max_wait_seconds,
                logger=self.logger,
                notices=waits,
            ),
            search_budget=RateBudget(
                max_requests=SEARCH_PER_SECOND,
                window=1.0,
                max_wait=settings.max_wait_seconds,
                logger=self.logger,
                notices=waits,
            ),
            max_wait=settings.max_wait_seconds,
            request_metrics=metrics,
            waits=waits,
        )

    @cached_property
    def run_context(self) -> RunContext:
        """What the streams of this run share."""
        return RunContext(
            client=self.client, api_version=self.settings.api_version, logger=self.logger
        )

    @cached_property
    def enumerations(self) -> Enumerations:
        """Every enumeration of this run: once per type, ahead of its pass. When full
        passes are activated, their enumerations are checked against a listing to its
        last page (`RangedIds(verify=...)`)."""
        return Enumerations(
            partial(
                RangedIds,
                client=self.client,
                api_version=self.settings.api_version,
                verify=self.settings.emit_activate_version_messages,
            )
        )

    @override
    def discover_streams(self) -> list[Stream]:
        configured = bool(self.settings.pairs)
        pairs = [
            AssociationsStream(
                self,
                pair=pair,
                settings=self.settings,
                client=self.client,
                run=self.run_context,
                enumerations=self.enumerations,
                selected_by_default=configured,
            )
            for pair in self.settings.pairs or self._offered_pairs()
        ]
        labels = AssociationLabelsStream(
            self, pair_streams=pairs, settings=self.settings, run=self.run_context
        )
        return [*pairs, labels]

    def _offered_pairs(self) -> list[AssociationPair]:
        """With no pairs configured: the common ones, leads' where the account has them,
        and those each custom object's schema defines, each reading every id of its
        `from` type, none selected until the catalog says."""
        offered = list(COMMON_PAIRS)
        types = ObjectTypes(self.client, self.settings.api_version)
        if types.has_leads():
            offered += LEAD_PAIRS
        try:
            offered += [
                (custom.fully_qualified_name, types.name_of(to_id))
                for custom in types.custom()
                for to_id in custom.associated_type_ids
            ]
        except MalformedAnswer:
            raise
        except HubSpotError as exc:
            self.logger.warning("Custom object pairs are not offered: %s", exc)
        return [AssociationPair(f"offered pair {f} -> {t}", f, t) for f, t in offered]

    def _refuse_blanket_selection(self) -> bool:
        """Offered pairs each list every record of their type. Meltano selects `*.*`
        unless told otherwise, so a catalog selecting every one of them was most likely
        not chosen by anyone: read none of them (True when so)."""
        if self.settings.pairs:
            return False
        offered = self._pair_streams
        if len(offered) < 2 or not all(s.selected for s in offered):
            return False
        for stream in offered:
            stream.selected = False
        return True

    def _say_no_pair_is_read(self, *, blanket: bool) -> None:
        """A run that reads no pair says why, in one WARNING, and how to read one: the
        configured pairs, or with none configured, a common offered one."""
        pairs = [s.name for s in self._pair_streams]
        if self.settings.pairs:
            why = f"the catalog selects none of the configured pairs ({', '.join(pairs)})"
            wanted = pairs
        elif blanket:
            why = (
                f"every one of the {len(pairs)} offered pairs is selected, as Meltano's "
                "default `*.*` selects them, and each would list every record of its type"
            )
            wanted = [COMMON_PAIR_STREAM]
        else:
            why = (
                "no `associations` are configured, and no pair offered instead "
                "(each listing every record of its type) is selected"
            )
            wanted = [COMMON_PAIR_STREAM]
        labels = self.streams.get(AssociationLabelsStream.name)
        if labels is not None and (blanket or not labels.selected):
            # Meltano's first `select` replaces its default `*.*`: labels need one too.
            wanted.append(labels.name)
        plugin = meltano_plugin_name()
        if plugin is not None:
            how = " and ".join(f"`meltano select {plugin} {name} '*'`" for name in wanted)
        else:
            how = f"select {', '.join(wanted)} in a catalog (`--catalog`)"
            if self.settings.pairs:
                how += ", or run without one"
        if not self.settings.pairs:
            how = (
                f'configure `associations` ([{{"from": "contacts", "to": "companies"}}]), or {how}'
            )
        self.logger.warning("No pair is read: %s. To read one: %s", why, how)

    @property
    def _pair_streams(self) -> list[AssociationsStream]:
        return [s for s in self.streams.values() if isinstance(s, AssociationsStream)]

    @property
    def _selected_pair_streams(self) -> list[AssociationsStream]:
        return [s for s in self._pair_streams if s.selected]

    @override
    def before_sync(self) -> None:
        """Check the selection, every object type and id list, and the credentials
        before anything is emitted; then say what is not read."""
        blanket = self._refuse_blanket_selection()
        streams = self._selected_pair_streams
        labels = self.streams.get(AssociationLabelsStream.name)
        self._check_key_properties()
        types = ObjectTypes(self.client, self.settings.api_version)
        for stream in streams:
            for end, given in (("from", stream.pair.from_type), ("to", stream.pair.to_type)):
                types.type_id(given, setting=f"{stream.pair.setting}.{end}")
            if stream.listed_ids is None:
                self.enumerations.plan(
                    name=stream.name,
                    setting=stream.pair.setting,
                    object_type=stream.pair.from_type,
                    upcoming=stream.upcoming_enumeration,
                    logger=stream.logger,
                )
            self.run_context.will_read_labels(stream.pair.from_type, stream.pair.to_type)
            if stream.listed_ids is not None and stream.listed_ids.validate() == 0:
                self.logger.warning(
                    "%s lists no ids: %s reads nothing", stream.pair.setting, stream.name
                )
        self._check_credentials(streams)
        if not streams:
            self._say_no_pair_is_read(blanket=blanket)
            if labels is not None:
                # The label definitions of no pair: a version of them activated now would
                # make a target delete every label row it holds.
                labels.selected = False
            return
        skipped = [s.name for s in self._pair_streams if not s.selected]
        if skipped and self.settings.pairs:
            self.logger.info("Configured but not selected, so not read: %s", ", ".join(skipped))

    def _check_key_properties(self) -> None:
        """A selected stream whose catalog deselects a key property would write records
        without it (or, with no stream-level metadata, records with no field at all)."""
        for stream in self.streams.values():
            if not stream.selected:
                continue
            missing = [k for k in stream.primary_keys or () if not stream.mask[("properties", k)]]
            if missing:
                raise ConfigError(
                    f"catalog: {stream.name} is selected without its key properties "
                    f"{', '.join(missing)}; select them too (or give the stream's metadata "
                    "a `selected` entry with the breadcrumb [])"
                )

    def _check_credentials(self, streams: list[AssociationsStream]) -> None:
        """One cheap request before anything is written, so that a wrong credential or
        an api_url that does not answer ends the run with one ERROR line whatever the
        run would read: the selected pairs' label definitions, read now rather than
        later (any other refusal of them is the labels stream's to report), or with
        none selected, the custom object schemas (a 403 for a missing scope proves the
        credential good)."""
        self.client.auth.token(threading.Event())  # an OAuth refresh refused ends here
        try:
            if streams:
                pair = streams[0].pair
                self.run_context.label_definitions(pair.from_type, pair.to_type)
            else:
                self.client.get(schemas_path(self.settings.api_version), list_key="results")
        except HubSpotError as exc:
            if exc.status in (None, 401) or (not streams and exc.status != 403):
                raise  # no answer at all, or one refusing the credentials

    @override
    def release(self) -> None:
        """Enumerations no pass took over stop; spooled ids go (if any ever began)."""
        if "enumerations" in self.__dict__:  # a cached_property, set once used
            self.enumerations.close()

    @override
    def after_sync(self) -> None:
        """The coverage table; fail if any id could not be read."""
        self.client.metrics.flush()
        daily = self.client.stats.daily_summary()
        if daily is not None:
            line, heavy = daily
            if heavy:
                self.logger.warning("%s: more than a tenth of the day's allowance", line)
            else:
                self.logger.info("%s", line)
        streams = self._selected_pair_streams
        for stream in streams:
            stream.end_run()
        if streams:
            table = coverage_table([(s.name, s.pass_kind, s.coverage) for s in streams])
            self.logger.info("Coverage of this run:\n%s", "\n".join(table))
        failed = [(s.name, s.coverage.ids_failed, s.failures) for s in streams if s.failures]
        problems = [
            f"some ids could not be read after every retry, {name}: {count} ids, "
            f"{', '.join(listed)}{' ...' if count > len(listed) else ''}"
            for name, count, listed in failed
        ]
        labels = self.streams.get(AssociationLabelsStream.name)
        if isinstance(labels, AssociationLabelsStream) and labels.failure is not None:
            problems.append(f"{labels.name} could not be read: {labels.failure}")
        if problems:
            raise IncompleteSyncError(
                f"the run is incomplete (all else was emitted): {'; '.join(problems)}"
            )
