"""The tap: settings into streams, one shared HubSpot client, one clear line on failure."""

from __future__ import annotations

import json
import sys
from functools import cached_property
from pathlib import Path
from typing import ClassVar

import requests
from requests.adapters import HTTPAdapter
from singer_sdk import Stream
from singer_sdk.helpers.capabilities import (
    CapabilitiesEnum,
    PluginCapabilities,
    TapCapabilities,
)

from tap_hubspot_associations.auth import Auth, OAuthToken, StaticToken
from tap_hubspot_associations.client import CONNECT_TIMEOUT_SECONDS, HubSpotClient
from tap_hubspot_associations.errors import (
    ConfigError,
    HubSpotError,
    IncompleteSyncError,
    TapError,
)
from tap_hubspot_associations.object_types import COMMON_PAIRS, ObjectTypes
from tap_hubspot_associations.paths import TOKEN_PATH
from tap_hubspot_associations.progress import coverage_table
from tap_hubspot_associations.rate_budget import SEARCH_PER_SECOND, RateBudget
from tap_hubspot_associations.sdk_hooks import EndOfRunTap
from tap_hubspot_associations.settings import CONFIG_SCHEMA, AssociationPair, Settings
from tap_hubspot_associations.streams import AssociationLabelsStream, AssociationsStream
from tap_hubspot_associations.writer import RecordBufferingWriter

if sys.version_info >= (3, 12):
    from typing import override
else:
    from typing_extensions import override


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
        session = requests.Session()
        session.headers["User-Agent"] = f"{self.name}/{self.plugin_version}"
        pool = HTTPAdapter(pool_connections=4, pool_maxsize=settings.max_concurrency + 2)
        session.mount("https://", pool)
        session.mount("http://", pool)
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
                timeout=(CONNECT_TIMEOUT_SECONDS, settings.request_timeout),
            )
        return HubSpotClient(
            api_url=settings.api_url,
            auth=auth,
            session=session,
            max_retries=settings.max_retries,
            read_timeout=settings.request_timeout,
            logger=self.logger,
            budget=RateBudget(max_requests=settings.max_requests_per_10s),
            search_budget=RateBudget(max_requests=SEARCH_PER_SECOND, window=1.0),
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
                selected_by_default=configured,
            )
            for pair in self.settings.pairs or self._offered_pairs()
        ]
        labels = AssociationLabelsStream(
            self, pair_streams=pairs, settings=self.settings, client=self.client
        )
        return [*pairs, labels]

    def _offered_pairs(self) -> list[AssociationPair]:
        """With no pairs configured: the common ones and those of custom object schemas,
        each reading every id of its `from` type, none selected until the catalog says."""
        offered = list(COMMON_PAIRS)
        types = ObjectTypes(self.client, self.settings.api_version)
        try:
            offered += [
                (custom.fully_qualified_name, types.name_of(to_id))
                for custom in types.custom()
                for to_id in custom.associated_type_ids
            ]
        except HubSpotError as exc:
            self.logger.warning("Custom object pairs are not offered: %s", exc)
        return [AssociationPair(f"offered pair {f} -> {t}", f, t, None) for f, t in offered]

    @property
    def _selected_pair_streams(self) -> list[AssociationsStream]:
        return [
            s for s in self.streams.values() if isinstance(s, AssociationsStream) and s.selected
        ]

    @override
    def before_sync(self) -> None:
        """Check every object type and id list before anything is emitted."""
        streams = self._selected_pair_streams
        types = ObjectTypes(self.client, self.settings.api_version)
        for stream in streams:
            for end, given in (("from", stream.pair.from_type), ("to", stream.pair.to_type)):
                types.type_id(given, setting=f"{stream.pair.setting}.{end}")
            if stream.pair.ids is not None and stream.pair.ids.validate() == 0:
                self.logger.warning(
                    "%s lists no ids: %s reads nothing", stream.pair.setting, stream.name
                )

    @override
    def after_sync(self) -> None:
        """The coverage table; fail if any id could not be read."""
        streams = self._selected_pair_streams
        for stream in streams:
            stream.end_run()
        if streams:
            table = coverage_table([(s.name, s.pass_kind, s.coverage) for s in streams])
            self.logger.info("Coverage of this run:\n%s", "\n".join(table))
        failed = [(s.name, s.coverage.ids_failed, s.failures) for s in streams if s.failures]
        if failed:
            details = "; ".join(
                f"{name}: {count} ids, {', '.join(listed)}{' ...' if count > len(listed) else ''}"
                for name, count, listed in failed
            )
            raise IncompleteSyncError(
                f"some ids could not be read after every retry (all else was emitted): {details}"
            )


def main() -> None:
    """Console entry point: a `TapError` ends the run with one line and exit code 1."""
    try:
        check_input_files(sys.argv[1:])
        TapHubSpotAssociations.cli()
    except TapError as exc:
        sys.stderr.write(f"{TapHubSpotAssociations.name}: error: {exc}\n")
        sys.exit(1)


def check_input_files(argv: list[str]) -> None:
    """Read the --config, --state and --catalog files first: a broken one would otherwise
    end in a traceback inside the SDK."""
    for flag, path in _file_arguments(argv):
        where = f"{flag} {path}"
        try:
            value = json.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"{where}: cannot be read ({exc.strerror})") from None
        except UnicodeDecodeError:
            raise ConfigError(f"{where}: not UTF-8 text") from None
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"{where}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
            ) from None
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: must hold a JSON object")
        bookmarks = value.get("bookmarks", {}) if flag == "--state" else {}
        if not isinstance(bookmarks, dict) or not all(
            isinstance(b, dict) for b in bookmarks.values()
        ):
            raise ConfigError(f"{where}: `bookmarks` must map stream names to objects")


def _file_arguments(argv: list[str]) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for index, arg in enumerate(argv):
        flag, _, inline = arg.partition("=")
        if flag not in ("--config", "--state", "--catalog"):
            continue
        path = inline or (argv[index + 1] if index + 1 < len(argv) else "")
        if path and not (flag == "--config" and path == "ENV"):
            found.append((flag, path))
    return found
