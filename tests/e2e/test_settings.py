"""Settings: each mistake gives one clear line and a non-zero exit; env vars work too."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.helpers import (
    CLIENT_ID,
    CLIENT_SECRET,
    REFRESH_TOKEN,
    ROOT,
    TOKEN,
    config_for,
    oauth_config,
    seeded_account,
    truth_of,
)

PAIR = {"from": "contacts", "to": "companies", "ids": ["1"]}


def with_pair(**changes: object) -> dict:
    return {
        "access_token": TOKEN,
        "api_url": "http://127.0.0.1:9",
        "associations": [{**PAIR, **changes}],
    }


BAD_SETTINGS = {
    "both ids and ids_file": (with_pair(ids_file="ids.txt"), "associations[0]: set `ids` or"),
    "no credentials": (
        {"api_url": "http://127.0.0.1:9", "associations": [PAIR]},
        "no credentials",
    ),
    "half of oauth": (
        {"client_id": CLIENT_ID, "refresh_token": REFRESH_TOKEN, "associations": [PAIR]},
        "OAuth needs client_secret",
    ),
    "batch_size 0": ({**with_pair(), "batch_size": 0}, "config['batch_size']"),
    "batch_size 1001": ({**with_pair(), "batch_size": 1001}, "config['batch_size']"),
    "missing ids_file": (
        with_pair(ids=None, ids_file="/nonexistent/ids.txt"),
        "ids_file /nonexistent/ids.txt: no such file",
    ),
    "non-digit id": (with_pair(ids=["12", "12a"]), "associations[0].ids[1]: '12a' is not"),
    "plain http to a remote host": (
        {**with_pair(), "api_url": "http://api.hubapi.com"},
        "plain http to a remote host",
    ),
    "api_url with a path": ({**with_pair(), "api_url": "https://x.example/crm"}, "no path"),
    "api_url without a scheme": ({**with_pair(), "api_url": "api.hubapi.com"}, "api_url"),
    "unknown api_version": ({**with_pair(), "api_version": "v3"}, "config['api_version']"),
    "start_date not a date": (
        {**with_pair(), "start_date": "last tuesday"},
        "start_date 'last tuesday' is not an ISO 8601 date-time",
    ),
    "start_date without a zone": (
        {**with_pair(), "start_date": "2026-01-01T00:00:00"},
        "start_date '2026-01-01T00:00:00' is not an ISO 8601 date-time with a time zone",
    ),
    "start_date in the future": (
        {**with_pair(), "start_date": "2999-01-01T00:00:00Z"},
        "start_date 2999-01-01T00:00:00Z is in the future",
    ),
    "full_pass_every_days negative": (
        {**with_pair(), "full_pass_every_days": -1},
        "config['full_pass_every_days']",
    ),
    "two pairs with one stream name": (
        {"access_token": TOKEN, "associations": [PAIR, {**PAIR, "from": "Contacts"}]},
        "stream name 'contacts_to_companies'",
    ),
}


@pytest.mark.parametrize("case", BAD_SETTINGS, ids=list(BAD_SETTINGS))
def test_bad_settings_give_one_clear_line(case: str, run_tap) -> None:
    config, expected = BAD_SETTINGS[case]
    config = {k: v for k, v in config.items() if v is not None}
    config["associations"] = [
        {k: v for k, v in pair.items() if v is not None} for pair in config["associations"]
    ]
    run = run_tap(config)
    assert run.returncode != 0
    assert "Traceback" not in run.stderr
    assert any(expected in line for line in run.error_lines()), run.stderr
    assert not any(m["type"] == "RECORD" for m in run.messages)


def test_a_bad_line_in_ids_file_is_named_before_anything_is_emitted(tmp_path: Path, run_tap):
    ids_file = tmp_path / "ids.txt"
    ids_file.write_text("  101\n\n102\r\n103 \n1O4\n105\n")
    config = with_pair(ids=None)
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


def test_about_marks_every_credential_secret(run_tap) -> None:
    run = run_tap(None, args=["--about", "--format", "json"])
    assert run.returncode == 0, run.stderr
    settings = json.loads(run.stdout)["settings"]["properties"]
    secret = {name for name, schema in settings.items() if schema.get("secret")}
    assert secret == {"access_token", "client_secret", "refresh_token"}


def test_oauth_secrets_never_reach_the_output(start_emulator, run_tap) -> None:
    account, pairs = seeded_account({("contacts", "companies"): 10})
    emulator = start_emulator(account, oauth_clients={CLIENT_ID: (CLIENT_SECRET, REFRESH_TOKEN)})
    config = oauth_config(emulator, pairs)
    run = run_tap(config, emulator=emulator)
    assert run.returncode == 0, run.stderr
    assert emulator.stats.tokens_issued == 1
    refused = run_tap({**config, "client_secret": "client-secret-wrong-value"}, emulator=emulator)
    assert refused.returncode == 1
    assert "client-secret-wrong-value" not in refused.stderr


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
