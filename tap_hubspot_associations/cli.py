"""The command line: input files read once, secrets known first, one clear line on failure.

Before the SDK sees anything, `run()`:
- routes stderr through the redaction and learns every configured secret, from the
  files and the environment, so that no message (not even a schema error echoing a
  setting) can show one;
- reads each `--config`, `--state` and `--catalog` file once, within `MAX_INPUT_BYTES`,
  and checks it, then hands the SDK an in-memory copy: a pipe (`<(...)`, `/dev/stdin`)
  cannot be read twice, and a broken file would end in a traceback inside the SDK;
- checks the settings given as environment variables, which the SDK would parse with a
  traceback.
A `TapError` then ends the run with one ERROR line and exit code 1.
"""

from __future__ import annotations

import atexit
import contextlib
import copy
import json
import os
import sys
import tempfile
from collections.abc import Mapping
from typing import Any

from jsonschema.exceptions import SchemaError  # type: ignore[import-untyped]
from jsonschema.validators import validator_for  # type: ignore[import-untyped]
from singer_sdk import Tap
from singer_sdk.exceptions import ConfigValidationError, MappingError

from tap_hubspot_associations import sdk_hooks
from tap_hubspot_associations.errors import ConfigError, OutputClosed, TapError
from tap_hubspot_associations.redaction import SECRETS, redact_stderr
from tap_hubspot_associations.settings import CONFIG_SCHEMA

MAX_INPUT_BYTES = 64 << 20
"""A config, state or catalog file larger than this is not one the tap wrote or needs."""
ENV_PREFIX = "TAP_HUBSPOT_ASSOCIATIONS_"
FILE_FLAGS = ("--config", "--state", "--catalog")
MAP_CONFIG_VARIABLE = ENV_PREFIX + "STREAM_MAP_CONFIG"
BOOLEAN_WORDS = ("true", "1", "yes", "on", "false", "0", "no", "off")
"""What a boolean setting from the environment may say: singer-sdk reads the first four
as true and anything else as false, so a typo would turn a setting off without a word."""
SECRET_SETTINGS = tuple(
    name for name, spec in CONFIG_SCHEMA["properties"].items() if spec.get("secret")
)


def run(tap: type[Tap]) -> None:
    """Run `tap`'s command line as the module's docstring says, and exit."""
    redact_stderr()
    environment = {**sdk_hooks.dotenv_settings(), **os.environ}
    for name in SECRET_SETTINGS:
        SECRETS.add(environment.get(ENV_PREFIX + name.upper()))
    with contextlib.suppress(ConfigError):
        map_config = parse_json(environment.get(MAP_CONFIG_VARIABLE, "{}"), MAP_CONFIG_VARIABLE)
        learn_map_config_secrets(map_config)
    command = tap.cli  # sets up logging
    logger = tap.logger
    code: int | str | None = 0
    try:
        if sys.stdout is None:
            raise OutputClosed
        argv = hand_on_input_files(sys.argv[1:])
        if any(flag == "--config" and path == "ENV" for flag, path in file_arguments(argv)):
            check_environment(tap, environment)
        try:
            command(argv)
        except SystemExit as done:  # click's way of ending a command
            code = done.code
        if type(sys.stdout).__name__.endswith("PacifyFlushWrapper"):  # click: pipe closed
            raise OutputClosed
        sys.stdout.flush()
    except TapError as exc:
        logger.error("%s", exc)
        code = 1
    except MappingError as exc:  # the SDK's word on `stream_maps` and its expressions
        logger.error("stream_maps: %s", exc)
        code = 1
    except ConfigValidationError as exc:  # the SDK's word on its own settings
        logger.error("settings: %s", "; ".join(exc.errors) or exc)
        code = 1
    except BrokenPipeError:
        logger.error("%s", OutputClosed())
        code = 1
    except Exception as exc:  # a bug: still one line, the traceback only at DEBUG
        logger.error("unexpected %s: %s (a bug: please report it)", type(exc).__name__, exc)
        logger.debug("traceback", exc_info=True)
        code = 1
    _exit(code)


def learn_map_config_secrets(map_config: object) -> None:
    """Values given to stream map expressions (`stream_map_config`) are often secrets,
    such as a salt for hashing: each string and number in it is masked in log lines.
    Not in records: a map may write them there on purpose."""
    pending = [map_config]
    while pending:
        value = pending.pop()
        if isinstance(value, (str, int, float)):
            SECRETS.add(value, on_stdout=False)
        elif isinstance(value, dict):
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)


def _exit(code: int | str | None) -> None:
    """Exit now; stdout is pointed at /dev/null first when its reader has gone, so the
    interpreter's last flush cannot fail again."""
    try:
        if sys.stdout is not None:
            sys.stdout.flush()
    except (BrokenPipeError, ValueError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    sys.exit(code)


def hand_on_input_files(argv: list[str]) -> list[str]:
    """`argv` with each input file read, checked and replaced by an in-memory copy."""
    copies: dict[str, str] = {}
    for flag, path in file_arguments(argv):
        if path == "ENV":
            continue
        where = f"{flag} {path}"
        content = _read_capped(path, where)
        value = parse_json(content, where)
        _check_shape(flag, value, where)
        if flag == "--config":
            for name in SECRET_SETTINGS:
                SECRETS.add(value.get(name))
            learn_map_config_secrets(value.get("stream_map_config"))
        copies[path] = _in_memory_copy(content)
    replaced: list[str] = []
    for arg in argv:
        flag, equals, inline = arg.partition("=")
        if equals and flag in FILE_FLAGS and inline in copies:
            replaced.append(f"{flag}={copies[inline]}")
        elif arg in copies and replaced and replaced[-1] in FILE_FLAGS:
            replaced.append(copies[arg])
        else:
            replaced.append(arg)
    return replaced


def file_arguments(argv: list[str]) -> list[tuple[str, str]]:
    """The (flag, path) of each input file given; `--config ENV` is no file."""
    found: list[tuple[str, str]] = []
    for index, arg in enumerate(argv):
        flag, equals, inline = arg.partition("=")
        if flag not in FILE_FLAGS:
            continue
        path = inline if equals else (argv[index + 1] if index + 1 < len(argv) else "")
        if path:
            found.append((flag, path))
    return found


def _read_capped(path: str, where: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            content = handle.read(MAX_INPUT_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{where}: cannot be read ({exc.strerror})") from None
    if len(content) > MAX_INPUT_BYTES:
        raise ConfigError(f"{where}: larger than {MAX_INPUT_BYTES >> 20} MiB")
    return content


def parse_json(content: bytes | str, where: str) -> Any:
    """Strict JSON: NaN and Infinity are not JSON, and nesting has a limit."""

    def refuse(constant: str) -> Any:
        raise ConfigError(f"{where}: {constant} is not a JSON number")

    try:
        text = content.decode("utf-8") if isinstance(content, bytes) else content
        return json.loads(text, parse_constant=refuse)
    except UnicodeDecodeError:
        raise ConfigError(f"{where}: not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{where}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    except RecursionError:
        raise ConfigError(f"{where}: JSON nested too deeply") from None


def _check_shape(flag: str, value: object, where: str) -> None:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: must hold a JSON object")
    if flag == "--config":
        check_stream_maps(value.get("stream_maps"), where)
    if flag == "--state":
        bookmarks = value.get("bookmarks", {})
        if not isinstance(bookmarks, dict) or not all(
            isinstance(b, dict) for b in bookmarks.values()
        ):
            raise ConfigError(f"{where}: `bookmarks` must map stream names to objects")
    if flag == "--catalog":
        streams = value.get("streams")
        if not isinstance(streams, list) or not all(isinstance(s, dict) for s in streams):
            raise ConfigError(f"{where}: `streams` must be a list of stream objects")
        seen: set[str] = set()
        for index, entry in enumerate(streams):
            _check_catalog_entry(entry, f"{where}: streams[{index}]")
            if entry["tap_stream_id"] in seen:
                raise ConfigError(
                    f"{where}: streams[{index}] repeats the stream {entry['tap_stream_id']!r}"
                )
            seen.add(entry["tap_stream_id"])


def check_stream_maps(maps: object, where: str) -> None:
    """singer-sdk's settings schema allows a map's `__else__` only as null or "__NULL__",
    and its check of anything else ends in a traceback."""
    if not isinstance(maps, dict):
        return  # the settings schema names it
    for prefix, mapping in [("", maps), *((f"{k}.", v) for k, v in maps.items())]:
        if isinstance(mapping, dict) and mapping.get("__else__", None) not in (None, "__NULL__"):
            raise ConfigError(f'{where}: stream_maps: {prefix}__else__ must be null or "__NULL__"')


def _check_catalog_entry(entry: dict[str, Any], where: str) -> None:
    """What singer-sdk reads of a catalog entry has the types it expects: a wrong type
    would end in a traceback, and a `selected` of "false" (a string) would select."""
    if not isinstance(entry.get("tap_stream_id"), str) or not entry["tap_stream_id"]:
        raise ConfigError(f"{where}: `tap_stream_id` must be a stream name")
    if "stream" in entry and not isinstance(entry["stream"], str):
        raise ConfigError(f"{where}: `stream` must be a string")
    schema = entry.get("schema")
    if not isinstance(schema, dict) or not isinstance(schema.get("properties"), dict):
        raise ConfigError(f"{where}: `schema` must be a JSON schema object with `properties`")
    try:
        validator_for(schema).check_schema(schema)
    except SchemaError as exc:
        raise ConfigError(f"{where}: `schema` is not a JSON schema: {exc.message[:120]}") from None
    if entry.get("replication_key") not in (None, ""):
        raise ConfigError(
            f"{where}: `replication_key` must be null: the tap's streams keep bookmarks of "
            "their own"
        )
    keys = entry.get("key_properties", [])
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise ConfigError(f"{where}: `key_properties` must be a list of property names")
    unknown = [key[:40] for key in keys if key not in schema["properties"]]
    if unknown:
        raise ConfigError(f"{where}: `key_properties` {unknown} are not in its schema")
    metadata = entry.get("metadata", [])
    if not isinstance(metadata, list):
        raise ConfigError(f"{where}: `metadata` must be a list")
    for index, item in enumerate(metadata):
        here = f"{where}.metadata[{index}]"
        if (
            not isinstance(item, dict)
            or not isinstance(item.get("breadcrumb"), list)
            or not all(isinstance(step, str) for step in item["breadcrumb"])
            or not isinstance(item.get("metadata"), dict)
        ):
            raise ConfigError(
                f"{here}: must hold a `breadcrumb` list of names and a `metadata` object"
            )
        for flag in ("selected", "selected-by-default"):
            given = item["metadata"].get(flag)
            if given is not None and not isinstance(given, bool):
                raise ConfigError(
                    f"{here}.metadata.{flag}: must be true or false, not {str(given)[:40]!r}"
                )


def _in_memory_copy(content: bytes) -> str:
    """A path the SDK can open to read `content`: an anonymous in-memory file where the
    system has them, else a private temporary file removed at exit."""
    if hasattr(os, "memfd_create"):
        descriptor = os.memfd_create("tap-input")
        os.write(descriptor, content)
        return f"/proc/self/fd/{descriptor}"
    handle, path = tempfile.mkstemp(prefix="tap-hubspot-associations-")
    with os.fdopen(handle, "wb") as copy:
        copy.write(content)
    atexit.register(os.unlink, path)
    return path


def check_environment(tap: type[Tap], environ: Mapping[str, str]) -> None:
    """Settings from environment variables parse as their schema types, or one clear
    line names the variable (the SDK would stop with a traceback)."""
    schema = copy.deepcopy(CONFIG_SCHEMA)
    tap.append_builtin_config(schema)  # stream_maps and the like
    for name, spec in schema["properties"].items():
        variable = ENV_PREFIX + name.upper()
        raw = environ.get(variable)
        if raw is None:
            continue
        kinds = spec.get("type")
        kinds = set(kinds) if isinstance(kinds, list) else {kinds}
        if kinds & {"array", "object"}:
            value = parse_json(raw, variable)
            wanted = list if "array" in kinds else dict
            if not isinstance(value, wanted):
                kind = "array" if wanted is list else "object"
                raise ConfigError(f"{variable}: must be a JSON {kind}")
            if name == "stream_maps":
                check_stream_maps(value, variable)
        elif "boolean" in kinds:
            if raw.lower() not in BOOLEAN_WORDS:
                raise ConfigError(
                    f"{variable}: {raw[:40]!r} is not true or false ({', '.join(BOOLEAN_WORDS)})"
                )
        elif "integer" in kinds:
            try:
                int(raw)
            except ValueError:
                raise ConfigError(f"{variable}: {raw[:40]!r} is not a whole number") from None
        elif "number" in kinds:
            try:
                number = float(raw)
            except ValueError:
                number = float("nan")
            if number != number or number in (float("inf"), float("-inf")):
                raise ConfigError(f"{variable}: {raw[:40]!r} is not a finite number")
