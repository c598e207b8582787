"""The tap's settings: their schema, and the checks the schema cannot express."""

from __future__ import annotations

import ipaddress
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from singer_sdk import typing as th

from tap_hubspot_associations.errors import ConfigError
from tap_hubspot_associations.values import is_header_safe, parse_iso

DEFAULT_API_URL = "https://api.hubapi.com"
API_VERSIONS = ("2026-03", "v4")
MAX_BATCH_SIZE = 1000
MAX_WAIT_SECONDS_LIMIT = 86400
"""The largest `max_wait_seconds` allowed: a day, past which no run should sit still."""
MAX_PROGRESS_INTERVAL = 3600
"""The largest `progress_interval` allowed: a run silent for longer looks hung."""
CREDENTIALS = ("access_token", "client_id", "client_secret", "refresh_token")

PAIR_SCHEMA = th.ObjectType(
    th.Property("from", th.StringType, required=True, description="From object type"),
    th.Property("to", th.StringType, required=True, description="To object type"),
    th.Property(
        "ids",
        th.ArrayType(th.CustomType({"type": ["string", "integer"]})),
        description="Record ids of the `from` type",
    ),
    th.Property("ids_file", th.StringType, description="File with one `from` record id a line"),
    additional_properties=False,
)

CONFIG_SCHEMA = th.PropertiesList(
    th.Property(
        "access_token",
        th.StringType,
        secret=True,
        description="Private app token or service key, sent as a Bearer token",
    ),
    th.Property("client_id", th.StringType, description="OAuth app client id"),
    th.Property("client_secret", th.StringType, secret=True, description="OAuth client secret"),
    th.Property("refresh_token", th.StringType, secret=True, description="OAuth refresh token"),
    th.Property(
        "api_url",
        th.StringType,
        default=DEFAULT_API_URL,
        description="HubSpot API base URL; plain http only for loopback hosts",
    ),
    th.Property(
        "api_version",
        th.StringType(allowed_values=list(API_VERSIONS)),
        default=API_VERSIONS[0],
        description="Associations API: date version 2026-03, or the legacy v4 paths",
    ),
    th.Property(
        "associations",
        th.ArrayType(PAIR_SCHEMA),
        description="Pairs of object types to read, each with `ids` or `ids_file`",
    ),
    th.Property(
        "batch_size",
        th.IntegerType(minimum=1, maximum=MAX_BATCH_SIZE),
        default=MAX_BATCH_SIZE,
        description="Ids per batch read request (HubSpot allows at most 1000)",
    ),
    th.Property(
        "max_concurrency",
        th.IntegerType(minimum=1, maximum=64),
        default=8,
        description="Batch read requests in flight at once, per stream",
    ),
    th.Property(
        "max_requests_per_10s",
        th.IntegerType(minimum=1, maximum=1000),
        default=100,
        description=(
            "Requests per 10 s the tap may make: 100 for Free and Starter, 190 for "
            "Professional and Enterprise, 250 with the API limit increase; HubSpot's "
            "announced limits lower it further"
        ),
    ),
    th.Property(
        "progress_interval",
        th.NumberType(minimum=1, maximum=MAX_PROGRESS_INTERVAL),
        default=10,
        description="Seconds between progress lines on stderr during a run (at most 3600)",
    ),
    th.Property(
        "start_date",
        th.DateTimeType,
        description=(
            "Turns on incremental passes for pairs without id lists: each reads only the "
            "ids whose record changed since the last complete pass (the first, since this "
            "time)"
        ),
    ),
    th.Property(
        "full_pass_every_days",
        th.IntegerType(minimum=0),
        default=7,
        description=(
            "With start_date: a full pass, which sees every change and deletion, replaces "
            "the incremental one when the last full pass is this many days old (or there "
            "has been none); 0 for never"
        ),
    ),
    th.Property(
        "emit_activate_version_messages",
        th.BooleanType,
        default=False,
        description=(
            "Send ACTIVATE_VERSION when a stream's pass is complete (never before), so a "
            "target that honours it drops the associations HubSpot no longer has"
        ),
    ),
    th.Property(
        "max_retries",
        th.IntegerType(minimum=0, maximum=20),
        default=5,
        description="Retries of a failed request or id before the run gives up on it",
    ),
    th.Property(
        "request_timeout",
        th.NumberType(minimum=1, maximum=600),
        default=60,
        description=(
            "Seconds a whole response may take (connecting, waiting and reading the body) "
            "before it is retried"
        ),
    ),
    th.Property(
        "max_wait_seconds",
        th.NumberType(minimum=1, maximum=MAX_WAIT_SECONDS_LIMIT),
        default=300,
        description=(
            "Longest wait the tap obeys when HubSpot announces one (Retry-After, a rate "
            "limit window); a longer announced wait ends the run with a clear error "
            "instead of sleeping"
        ),
    ),
).to_dict()

DEFAULTS: dict[str, Any] = {
    name: spec["default"] for name, spec in CONFIG_SCHEMA["properties"].items() if "default" in spec
}
"""The schema's defaults: the SDK fills them into the config, and only they exist."""


@dataclass(frozen=True)
class AssociationPair:
    """One configured pair of object types and where its ids come from."""

    setting: str
    from_type: str
    to_type: str
    ids: tuple[object, ...] | None = None
    """The configured ids, each checked when read (`ids.IdSource`)."""
    ids_file: str | None = None
    """A file of ids, one per line; with `ids` unset too, every record of the `from`
    type is found in HubSpot."""

    @property
    def lists_ids(self) -> bool:
        """Whether the configuration lists the ids (`ids` or `ids_file`)."""
        return self.ids is not None or self.ids_file is not None

    @property
    def stream_name(self) -> str:
        return re.sub(r"[^a-z0-9]+", "_", f"{self.from_type}_to_{self.to_type}".lower()).strip("_")


@dataclass(frozen=True)
class Settings:
    """Validated settings: anything wrong here is a one-line `ConfigError`."""

    api_url: str
    api_version: str
    access_token: str | None
    oauth: tuple[str, str, str] | None
    pairs: tuple[AssociationPair, ...]
    batch_size: int
    max_concurrency: int
    max_requests_per_10s: int
    max_retries: int
    request_timeout: float
    max_wait_seconds: float
    progress_interval: float
    start_date_ms: int | None
    full_pass_every_days: int
    emit_activate_version_messages: bool

    @classmethod
    def from_config(cls, given: Mapping[str, Any]) -> Settings:
        # A setting given as null is a setting not given (the schema lets null through).
        config = {**DEFAULTS, **{k: v for k, v in given.items() if v is not None}}
        _check_credentials(config)
        access_token = config.get("access_token") or None
        oauth_values = tuple(
            config.get(k) or None for k in ("client_id", "client_secret", "refresh_token")
        )
        oauth: tuple[str, str, str] | None = None
        if access_token is None:
            missing = [
                name
                for name, value in zip(
                    ("client_id", "client_secret", "refresh_token"), oauth_values, strict=False
                )
                if value is None
            ]
            if len(missing) == 3:
                raise ConfigError(
                    "no credentials: set access_token, or client_id, client_secret and "
                    "refresh_token"
                )
            if missing:
                raise ConfigError(f"OAuth needs {', '.join(missing)} as well")
            oauth = (str(oauth_values[0]), str(oauth_values[1]), str(oauth_values[2]))
        return cls(
            api_url=_checked_api_url(str(config["api_url"])),
            api_version=str(config["api_version"]),
            access_token=access_token,
            oauth=oauth,
            pairs=_pairs(config.get("associations")),
            batch_size=int(config["batch_size"]),
            max_concurrency=int(config["max_concurrency"]),
            max_requests_per_10s=int(config["max_requests_per_10s"]),
            max_retries=int(config["max_retries"]),
            request_timeout=float(config["request_timeout"]),
            max_wait_seconds=float(config["max_wait_seconds"]),
            progress_interval=float(config["progress_interval"]),
            start_date_ms=_start_date(config.get("start_date")),
            full_pass_every_days=int(config["full_pass_every_days"]),
            emit_activate_version_messages=bool(config["emit_activate_version_messages"]),
        )


def _start_date(value: object) -> int | None:
    if value is None or value == "":
        return None
    start_date_ms = parse_iso(value)
    if start_date_ms is None:
        raise ConfigError(
            f"start_date {str(value)[:40]!r} is not an ISO 8601 date-time with a time zone "
            "(like 2026-01-31T00:00:00Z) or a date, from 1970 on"
        )
    if start_date_ms > time.time() * 1000:
        raise ConfigError(f"start_date {value} is in the future")
    return start_date_ms


def _check_credentials(config: Mapping[str, Any]) -> None:
    """Each credential set must be sendable as it is; the message never shows a value."""
    for name in CREDENTIALS:
        value = config.get(name)
        if value and not is_header_safe(str(value)):
            raise ConfigError(
                f"{name} contains whitespace, a line break or another character that cannot "
                "be sent in an HTTP request; set it again without them"
            )


def _checked_api_url(url: str) -> str:
    # Checked before parsing: urlsplit silently drops surrounding blanks, tabs and line
    # breaks, and the request would then go to a URL the user never wrote.
    if url != url.strip():
        raise ConfigError(f"api_url {url!r} has whitespace around it: remove it")
    if " " in url or not url.isprintable():
        raise ConfigError(f"api_url {url!r} contains a space or a control character")
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0:
        raise ConfigError(f"api_url {url!r} has an invalid port: use a number from 1 to 65535")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"api_url {url!r} must look like https://api.hubapi.com")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ConfigError(f"api_url {url!r} must be a scheme and host only, with no path")
    if parts.username or parts.password:
        raise ConfigError("api_url must not carry credentials")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise ConfigError(
            f"api_url {url!r} is plain http to a remote host: use https (http is only for "
            "loopback hosts such as the emulator)"
        )
    return url.rstrip("/")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _pairs(value: object) -> tuple[AssociationPair, ...]:
    """The configured pairs; none means the tap offers the common ones for selection."""
    if not value:
        return ()
    assert isinstance(value, list)
    pairs: list[AssociationPair] = []
    names: dict[str, str] = {}
    for index, item in enumerate(value):
        setting = f"associations[{index}]"
        from_type, to_type = str(item["from"]).strip(), str(item["to"]).strip()
        if not from_type or not to_type:
            raise ConfigError(f"{setting}: `from` and `to` must name object types")
        ids, ids_file = item.get("ids"), item.get("ids_file")
        if ids is not None and ids_file is not None:
            raise ConfigError(f"{setting}: set `ids` or `ids_file`, not both")
        if ids is not None and not isinstance(ids, list):
            raise ConfigError(f"{setting}.ids: must be a list of record ids")
        if ids_file is not None and not isinstance(ids_file, str):
            raise ConfigError(f"{setting}.ids_file: must be the path of a file of ids")
        listed = tuple(ids) if ids is not None else None
        pair = AssociationPair(setting, from_type, to_type, listed, ids_file)
        if pair.stream_name in names:
            raise ConfigError(
                f"{setting} gives the stream name {pair.stream_name!r} that "
                f"{names[pair.stream_name]} already has"
            )
        names[pair.stream_name] = setting
        pairs.append(pair)
    return tuple(pairs)
