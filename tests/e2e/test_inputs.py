"""What the tap is given: settings (a file, a pipe, the environment), ids files, state and
catalog files. A mistake is one ERROR line naming the setting or file, and a non-zero
exit, before anything is written; good input in every form is read exactly."""

from __future__ import annotations

import json
import os
import re
import threading
from pathlib import Path
from typing import Any

import pytest

from hubspot_emulator import Emulator
from tests.helpers import (
    CLIENT_ID,
    REFRESH_TOKEN,
    ROOT,
    TOKEN,
    assert_one_clear_error,
    config_for,
    offline_config,
    run_tap_command,
    seeded_account,
    tap_command,
    truth_of,
)

STREAM = "contacts_to_companies"
PAIR = offline_config()["associations"][0]

BAD_SETTINGS = {
    "both ids and ids_file": (offline_config(ids_file="ids.txt"), "associations[0]: set `ids` or"),
    "no credentials": (
        {"api_url": "http://127.0.0.1:9", "associations": [PAIR]},
        "no credentials",
    ),
    "half of oauth": (
        {"client_id": CLIENT_ID, "refresh_token": REFRESH_TOKEN, "associations": [PAIR]},
        "OAuth needs client_secret",
    ),
    "batch_size 0": ({**offline_config(), "batch_size": 0}, "config['batch_size']"),
    "batch_size 1001": ({**offline_config(), "batch_size": 1001}, "config['batch_size']"),
    "missing ids_file": (
        offline_config(ids=None, ids_file="/nonexistent/ids.txt"),
        "ids_file /nonexistent/ids.txt: no such file",
    ),
    "non-digit id": (offline_config(ids=["12", "12a"]), "associations[0].ids[1]: '12a' is not"),
    "plain http to a remote host": (
        {**offline_config(), "api_url": "http://api.hubapi.com"},
        "plain http to a remote host",
    ),
    "api_url with a path": ({**offline_config(), "api_url": "https://x.example/crm"}, "no path"),
    "api_url without a scheme": ({**offline_config(), "api_url": "api.hubapi.com"}, "api_url"),
    "unknown api_version": ({**offline_config(), "api_version": "v3"}, "config['api_version']"),
    "start_date not a date": (
        {**offline_config(), "start_date": "last tuesday"},
        "start_date 'last tuesday' is not an ISO 8601 date-time",
    ),
    "start_date without a zone": (
        {**offline_config(), "start_date": "2026-01-01T00:00:00"},
        "start_date '2026-01-01T00:00:00' is not an ISO 8601 date-time with a time zone",
    ),
    "start_date in the future": (
        {**offline_config(), "start_date": "2999-01-01T00:00:00Z"},
        "start_date 2999-01-01T00:00:00Z is in the future",
    ),
    "progress_interval beyond an hour": (
        {**offline_config(), "progress_interval": 86400},
        "config['progress_interval']",
    ),
    "full_pass_every_days negative": (
        {**offline_config(), "full_pass_every_days": -1},
        "config['full_pass_every_days']",
    ),
    "associations not a list": (
        {**offline_config(), "associations": "contacts"},
        "settings: 'contacts' is not of type 'array'",
    ),
    "ids neither strings nor integers": (
        {**offline_config(), "associations": [{**PAIR, "ids": [1.5, None]}]},
        "in config['associations'][0]['ids'][1]",
    ),
    "two pairs with one stream name": (
        {"access_token": TOKEN, "associations": [PAIR, {**PAIR, "from": "Contacts"}]},
        "stream name 'contacts_to_companies'",
    ),
}


@pytest.mark.parametrize("case", BAD_SETTINGS, ids=list(BAD_SETTINGS))
def test_bad_settings_give_one_clear_line(case: str, run_tap) -> None:
    config, expected = BAD_SETTINGS[case]
    run = run_tap(config)
    assert_one_clear_error(run, expected, before_any_output=True)


def test_settings_from_environment_variables(start_emulator, run_tap) -> None:
    account, pairs = seeded_account({("contacts", "companies"): 20})
    emulator = start_emulator(account, page_size=4)
    env = {
        "TAP_HUBSPOT_ASSOCIATIONS_ACCESS_TOKEN": TOKEN,
        "TAP_HUBSPOT_ASSOCIATIONS_API_URL": emulator.url,
        "TAP_HUBSPOT_ASSOCIATIONS_BATCH_SIZE": "7",
        "TAP_HUBSPOT_ASSOCIATIONS_ASSOCIATIONS": json.dumps(
            config_for(emulator, pairs)["associations"]
        ),
    }
    run = run_tap(None, env=env, emulator=emulator)
    assert run.returncode == 0, run.stderr
    assert run.record_set() == truth_of(account, pairs)
    assert max(len(batch) for batch in emulator.stats.batches) == 7


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"TAP_HUBSPOT_ASSOCIATIONS_BATCH_SIZE": "abc"}, "BATCH_SIZE: 'abc' is not a whole"),
        ({"TAP_HUBSPOT_ASSOCIATIONS_ASSOCIATIONS": "not json"}, "ASSOCIATIONS: not valid JSON"),
        ({"TAP_HUBSPOT_ASSOCIATIONS_REQUEST_TIMEOUT": "nan"}, "not a finite number"),
    ],
)
def test_a_bad_setting_in_the_environment_is_one_line(env, expected):
    settings = {
        "TAP_HUBSPOT_ASSOCIATIONS_ACCESS_TOKEN": TOKEN,
        "TAP_HUBSPOT_ASSOCIATIONS_API_URL": "http://127.0.0.1:9",
        **env,
    }
    run = run_tap_command(tap_command("ENV"), env=settings)
    assert_one_clear_error(run, expected)


def test_an_sdk_setting_in_the_environment_that_is_not_json_is_one_line():
    settings = {
        "TAP_HUBSPOT_ASSOCIATIONS_ACCESS_TOKEN": TOKEN,
        "TAP_HUBSPOT_ASSOCIATIONS_STREAM_MAPS": "{x",
    }
    run = run_tap_command(tap_command("ENV"), env=settings)
    assert_one_clear_error(run, "STREAM_MAPS: not valid JSON")


def test_config_given_as_a_pipe_is_read_once(start_emulator):
    account, pairs = seeded_account({("contacts", "companies"): 10})
    emulator = start_emulator(account)
    config = config_for(emulator, pairs)
    run = run_tap_command(tap_command("/dev/stdin"), stdin=json.dumps(config))
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.record_set() == truth_of(account, pairs)


def test_an_endless_config_file_stops_at_the_cap():
    run = run_tap_command(tap_command("/dev/zero"))
    assert_one_clear_error(run, "--config /dev/zero: larger than 64 MiB")


SDK_SETTINGS = ("stream_maps", "stream_map_config", "faker_config", "flattening_")


def our_settings(run_tap) -> dict[str, object]:
    """The tap's own settings and their defaults, as --about tells them."""
    about = json.loads(run_tap(None, args=["--about", "--format", "json"]).stdout)
    return {
        name: schema.get("default")
        for name, schema in about["settings"]["properties"].items()
        if not name.startswith(SDK_SETTINGS)
    }


def test_readme_settings_table_matches_about(run_tap) -> None:
    ours = our_settings(run_tap)
    readme = (ROOT / "README.md").read_text()
    table = readme.split("## Configuration", 1)[1].split("\n\n", 2)[1]
    rows = re.findall(r"^\| `(\w+)` \|\s*(?:`([^`]*)`)?\s*\|", table, flags=re.MULTILINE)
    documented = {name: default or None for name, default in rows}
    assert documented == {k: None if v is None else str(v) for k, v in ours.items()}


# Ids files ----------------------------------------------------------------------------


def test_a_bad_line_in_ids_file_is_named_before_anything_is_emitted(tmp_path: Path, run_tap):
    ids_file = tmp_path / "ids.txt"
    ids_file.write_text("  101\n\n102\r\n103 \n1O4\n105\n")
    config = offline_config(ids=None)
    config["associations"] = [{"from": "contacts", "to": "companies", "ids_file": str(ids_file)}]
    run = run_tap(config)
    assert run.returncode == 1
    assert f"ids_file {ids_file}, line 5: '1O4' is not a HubSpot record id" in run.error_lines()[-1]
    assert not any(m["type"] in ("RECORD", "STATE") for m in run.messages)


def test_ids_file_ignores_whitespace_and_blank_lines(tmp_path: Path, start_emulator, run_tap):
    account, pairs = seeded_account({("contacts", "companies"): 30})
    ids = pairs[("contacts", "companies")]
    ids_file = tmp_path / "ids.txt"
    ids_file.write_text("\n".join(f"  {i}\t" if n % 3 else f"\n{i}\r" for n, i in enumerate(ids)))
    emulator = start_emulator(account, page_size=4)
    config = config_for(emulator, {})
    config["associations"] = [{"from": "contacts", "to": "companies", "ids_file": str(ids_file)}]
    run = run_tap(config, emulator=emulator)
    assert run.returncode == 0, run.stderr
    assert run.record_set() == truth_of(account, pairs)


def written(content: bytes):
    def make(path: Path) -> Path:
        path.write_bytes(content)
        return path

    return make


def directory(path: Path) -> Path:
    path.mkdir()
    return path


BAD_FILES = {
    "a directory": (directory, "is a directory"),
    "binary": (written(b"\x00\x01\x02\xff\xfe"), "not UTF-8 text"),
    "latin-1": (written(b"101\n10\xe92\n"), "not UTF-8 text"),
    "a 1 MB line": (written(b"1" * 1_000_000 + b"\n"), "line 1: longer than 1024 bytes"),
    "an id too long": (written(b"101\n" + b"9" * 21 + b"\n"), "line 2"),
}


@pytest.mark.parametrize("case", BAD_FILES, ids=list(BAD_FILES))
def test_hostile_ids_files_are_named(case: str, tmp_path: Path, run_tap) -> None:
    make, expected = BAD_FILES[case]
    path = make(tmp_path / "ids.txt")
    config = {
        "access_token": "pat-na1-test-0000-secret-token",
        "api_url": "http://127.0.0.1:9",
        "associations": [{"from": "contacts", "to": "companies", "ids_file": str(path)}],
    }
    run = run_tap(config)
    assert run.returncode == 1
    last = run.error_lines()[-1]
    assert f"ids_file {path}" in last and expected in last
    assert len(last) < 300
    assert "Traceback" not in run.stderr


def test_an_empty_ids_file_reads_nothing_with_a_warning(tmp_path: Path, start_emulator, run_tap):
    account, _ = seeded_account({("contacts", "companies"): 5})
    emulator = start_emulator(account)
    path = tmp_path / "ids.txt"
    path.write_text("\n  \n")
    config = config_for(emulator, {})
    config["associations"] = [{"from": "contacts", "to": "companies", "ids_file": str(path)}]
    run = run_tap(config, emulator=emulator)
    assert run.returncode == 0, run.stderr
    assert "associations[0] lists no ids" in run.stderr
    assert not run.records() and not emulator.stats.batches


def test_an_ids_file_that_is_a_pipe_is_read_once(start_emulator, tmp_path):
    account, pairs = seeded_account({("contacts", "companies"): 40})
    emulator = start_emulator(account)
    config = config_for(emulator, pairs, emit_activate_version_messages=True)
    config["associations"][0].pop("ids")
    config["associations"][0]["ids_file"] = "/dev/stdin"
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(config))
    ids_text = "".join(f"{i}\n" for i in pairs[("contacts", "companies")])
    run = run_tap_command(tap_command(config_path), stdin=ids_text)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.record_set() == truth_of(account, pairs)


def test_an_ids_file_that_is_a_fifo_does_not_hang(start_emulator, tmp_path):
    account, pairs = seeded_account({("contacts", "companies"): 40})
    emulator = start_emulator(account)
    fifo = tmp_path / "ids.fifo"
    os.mkfifo(fifo)
    config = config_for(emulator, pairs)
    config["associations"][0].pop("ids")
    config["associations"][0]["ids_file"] = str(fifo)
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(config))

    def feed() -> None:
        with fifo.open("w") as writer:
            writer.writelines(f"{i}\n" for i in pairs[("contacts", "companies")])

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    run = run_tap_command(tap_command(config_path))
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.record_set() == truth_of(account, pairs)


# State and catalog files --------------------------------------------------------------


BROKEN_FILES = {
    "--state not JSON": ("--state", '{"bookm', "not valid JSON (line 1"),
    "--state a list": ("--state", "[]", "must hold a JSON object"),
    "--state bookmarks not an object": ("--state", '{"bookmarks": 5}', "`bookmarks` must map"),
    "--state Infinity": (
        "--state",
        '{"bookmarks": {"a": {"position": Infinity}}}',
        "Infinity is not a JSON",
    ),
    "--catalog not JSON": ("--catalog", "{", "not valid JSON"),
    "--catalog streams null": ("--catalog", '{"streams": null}', "`streams` must be a list"),
    "--config not JSON": ("--config", "{'access_token': 1}", "not valid JSON"),
    "--config NaN": (
        "--config",
        '{"access_token": "x", "max_retries": NaN}',
        "NaN is not a JSON number",
    ),
    "--config nested deep": ("--config", "[" * 100_000 + "]" * 100_000, "nested too deeply"),
}


@pytest.mark.parametrize("case", BROKEN_FILES, ids=list(BROKEN_FILES))
def test_a_broken_input_file_is_one_line_naming_it(case: str, tmp_path: Path, run_tap) -> None:
    flag, content, expected = BROKEN_FILES[case]
    path = tmp_path / "input.json"
    path.write_text(content)
    run = run_tap(None if flag == "--config" else offline_config(), args=[flag, str(path)])
    assert_one_clear_error(run, f"| tap-hubspot-associations       | {flag} {path}: ", expected)


def test_a_catalog_the_sdk_cannot_read_is_one_line(tmp_path: Path, run_tap) -> None:
    catalog = tmp_path / "catalog.json"
    stream = {"tap_stream_id": STREAM, "stream": STREAM, "schema": {}, "metadata": "x"}
    catalog.write_text(json.dumps({"streams": [stream]}))
    run = run_tap(offline_config(), args=["--catalog", str(catalog)])
    assert_one_clear_error(run)


# Adversarial: state, times, ids files and environment values the tap misreads -------


def listing_pair_config(
    emulator: Emulator, pairs: dict[tuple[str, str], list[int]], **settings: Any
) -> dict[str, Any]:
    """`config_for` with the pair's ids left to HubSpot's listing."""
    config = config_for(emulator, pairs, **settings)
    config["associations"][0].pop("ids")
    return config


def test_a_completed_flag_the_tap_never_writes_does_not_skip_the_stream(
    start_emulator, run_tap
) -> None:
    """The tap writes `completed_in_unfinished_run: true` only; "false" (a string, as a
    hand edit writes it) is no state this version wrote, yet it skipped the whole stream
    with exit 0 and no warning: every association of the pair silently missing."""
    account, pairs = seeded_account({("contacts", "companies"): 20})
    emulator = start_emulator(account)
    state = {"bookmarks": {STREAM: {"completed_in_unfinished_run": "false"}}}
    run = run_tap(config_for(emulator, pairs), state=state, emulator=emulator)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.record_set() == truth_of(account, pairs)


def test_a_saved_since_near_year_one_is_no_bug(start_emulator, run_tap) -> None:
    """`since` 3 minutes into year 1 parses; the pass's window starts 5 minutes before it,
    in year 0, which no ISO time can show: "unexpected ValueError: year 0 is out of range
    (a bug: please report it)" after SCHEMA and STATE were written."""
    account, pairs = seeded_account({("contacts", "companies"): 10})
    emulator = start_emulator(account)
    config = listing_pair_config(
        emulator, pairs, start_date="2026-01-01T00:00:00Z", full_pass_every_days=0
    )
    state = {"bookmarks": {STREAM: {"since": "0001-01-01T00:03:00Z"}}}
    run = run_tap(config, state=state, emulator=emulator)
    assert "a bug" not in run.stderr, run.error_lines()
    if run.returncode != 0:
        assert_one_clear_error(run, "since")


def test_a_start_date_in_year_one_with_an_offset_is_no_bug(start_emulator, run_tap) -> None:
    """`0001-01-01T00:00:00+00:01` is a minute before year 1 in UTC: accepted as a
    start_date, it ended the first incremental pass in "unexpected ValueError: year 0 is
    out of range (a bug ...)"."""
    account, pairs = seeded_account({("contacts", "companies"): 10})
    emulator = start_emulator(account)
    config = listing_pair_config(
        emulator, pairs, start_date="0001-01-01T00:00:00+00:01", full_pass_every_days=0
    )
    run = run_tap(config, emulator=emulator)
    assert "a bug" not in run.stderr, run.error_lines()
    if run.returncode != 0:
        assert_one_clear_error(run, "start_date", before_any_output=True)


def test_an_ids_file_path_with_a_nul_byte_is_one_line(run_tap) -> None:
    run = run_tap(offline_config(ids=None, ids_file="ids\u0000.txt"))
    assert_one_clear_error(run, "associations[0].ids_file", before_any_output=True)


def test_an_ids_file_that_fails_while_read_is_one_line(run_tap) -> None:
    """It opens, then every read fails (EIO), as a file on a failing disk or network
    share does: "unexpected OSError: [Errno 5] Input/output error (a bug ...)"."""
    run = run_tap(offline_config(ids=None, ids_file="/proc/self/mem"))
    assert_one_clear_error(run, "associations[0].ids_file /proc/self/mem", before_any_output=True)


@pytest.mark.parametrize("value", ["maybe", "ture", "enabled"])
def test_a_boolean_from_the_environment_that_is_no_boolean_is_one_line(value: str, run_tap) -> None:
    """singer-sdk reads any word but true/1/yes/on as false: a typo silently turned
    ACTIVATE_VERSION off (deletions never reach the warehouse), where a bad number in
    the environment is one clear line."""
    env = {
        "TAP_HUBSPOT_ASSOCIATIONS_ACCESS_TOKEN": TOKEN,
        "TAP_HUBSPOT_ASSOCIATIONS_API_URL": "http://127.0.0.1:9",
        "TAP_HUBSPOT_ASSOCIATIONS_ASSOCIATIONS": json.dumps([PAIR]),
        "TAP_HUBSPOT_ASSOCIATIONS_EMIT_ACTIVATE_VERSION_MESSAGES": value,
    }
    run = run_tap(None, env=env)
    assert_one_clear_error(
        run, "TAP_HUBSPOT_ASSOCIATIONS_EMIT_ACTIVATE_VERSION_MESSAGES", before_any_output=True
    )
