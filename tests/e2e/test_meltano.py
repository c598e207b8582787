"""Meltano as users drive it: the plugin definition, settings, selection, the README's
commands, jobs and schedules, and `meltano run` from the emulator into a real PostgreSQL.

Two kinds of project: this repository's own (meltano.yml, the tap installed from the
checkout, target-postgres from PyPI), and a fresh one made by `meltano init` and
`meltano add --from-ref` of the plugin definition, as a user without a clone does (there
the tap is this checkout's, so no install is needed; tests/e2e/test_packaging.py installs it
from the wheel).
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
import yaml

from hubspot_emulator import Account, Emulator, RateLimit, TruthRecord
from tap_hubspot_associations.state import DAY_MS
from tap_hubspot_associations.values import iso
from tests.helpers import (
    CAPTURED_OUTPUT,
    LABELS_STREAM,
    ROOT,
    TOKEN,
    assert_no_secrets,
    batch_reads,
    parse_messages,
    seeded_account,
)
from tests.pipelines import (
    DEFINITION,
    TAP_EXECUTABLE,
    Postgres,
    Project,
    about,
    meltano,
    meltano_env,
    new_project,
    postgres_cluster,
)

TAP = "tap-hubspot-associations"
PAIRS = {("contacts", "companies"): 150, ("deals", "contacts"): 60}
PIPELINE = ("run", TAP, "target-postgres")
JOB = "hubspot-associations-to-postgres"
DELETIONS = {
    "TAP_HUBSPOT_ASSOCIATIONS_EMIT_ACTIVATE_VERSION_MESSAGES": "true",
    "TARGET_POSTGRES_ACTIVATE_VERSION": "true",
    "TARGET_POSTGRES_HARD_DELETE": "true",
    "TARGET_POSTGRES_ADD_RECORD_METADATA": "true",
}
"""Settings under which a complete full pass removes what HubSpot no longer has."""
HUB_ONLY = ("variant", "label", "description", "docs", "repo", "keywords", "pip_url")
"""Fields of the plugin definition that meltano.yml's extractor entry leaves out."""


# -- the plugin definition and meltano.yml against the tap's --about ---------------------


def expected_kind(schema: dict[str, Any]) -> str:
    """The Meltano kind a JSON schema needs: the wrong one breaks `config set` and env vars."""
    if "enum" in schema:
        return "options"
    types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    (kind,) = [t for t in types if t != "null"]
    if kind == "string" and schema.get("format") in ("date-time", "date"):
        return "date_iso8601"
    return {"number": "decimal"}.get(kind, kind)


def expected_setting(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    """What a setting's entry must say, from the tap's schema (the one source of truth)."""
    entry: dict[str, Any] = {"name": name, "kind": expected_kind(schema)}
    if schema.get("secret"):
        entry["sensitive"] = True
    if "default" in schema:
        entry["value"] = schema["default"]
    if "enum" in schema:
        entry["options"] = [{"label": v, "value": v} for v in schema["enum"]]
    entry["description"] = schema["description"]
    if "title" in schema:
        entry["label"] = schema["title"]
    return entry


@pytest.fixture(scope="module")
def tap_settings() -> dict[str, dict[str, Any]]:
    properties: dict[str, dict[str, Any]] = about()["settings"]["properties"]
    return properties


def test_the_definition_lists_every_setting_of_the_tap_with_its_kind(tap_settings) -> None:
    """A setting missing from the definition, or of the wrong kind, never reaches the tap
    from Meltano's env vars and `config set` in its JSON type."""
    definition = yaml.safe_load(DEFINITION.read_text())
    declared = {s["name"]: s for s in definition["settings"]}
    missing = [name for name in tap_settings if name not in declared]
    assert not missing, (
        f"{DEFINITION.name} lacks settings the tap has; add them:\n"
        + yaml.safe_dump([expected_setting(n, tap_settings[n]) for n in missing], sort_keys=False)
    )
    assert set(declared) == set(tap_settings), "the definition has settings the tap has not"
    for name, schema in tap_settings.items():
        entry, expected = declared[name], expected_setting(name, schema)
        assert entry.get("label"), f"{name}: no label"
        shown = {key: entry.get(key) for key in expected}
        assert shown == expected, f"{name} differs from the tap's --about"
        assert bool(entry.get("sensitive")) == bool(schema.get("secret")), name


def test_the_definition_names_both_credential_sets(tap_settings) -> None:
    definition = yaml.safe_load(DEFINITION.read_text())
    groups = definition["settings_group_validation"]
    assert groups == [["access_token"], ["client_id", "client_secret", "refresh_token"]]
    assert {name for group in groups for name in group} <= set(tap_settings)


def test_the_capabilities_are_the_taps(tap_settings) -> None:
    definition = yaml.safe_load(DEFINITION.read_text())
    assert set(definition["capabilities"]) == set(about()["capabilities"])


def test_meltano_yml_declares_the_extractor_as_the_definition_does() -> None:
    """meltano.yml's entry is the definition with the checkout's pip_url: they cannot drift."""
    definition = yaml.safe_load(DEFINITION.read_text())
    project = yaml.safe_load((ROOT / "meltano.yml").read_text())
    (extractor,) = project["plugins"]["extractors"]
    assert extractor["pip_url"] == "-e ."
    assert {k: v for k, v in extractor.items() if k != "pip_url"} == {
        k: v for k, v in definition.items() if k not in HUB_ONLY
    }


def test_the_definition_names_the_wheel_of_this_version_for_a_package_index() -> None:
    """The tap is on no public index: the definition's pip_url is this very version from
    an index the user names (a placeholder that fails closed until then), so that the
    name never resolves from a public index where anyone may publish under it."""
    definition = yaml.safe_load(DEFINITION.read_text())
    index, requirement = definition["pip_url"].split(" ")
    assert index == "--index-url=https://packages.example.com/simple"
    assert requirement == f"{TAP}=={version(TAP)}"
    assert not {"docs", "repo"} & set(definition), "no address that does not exist"


@pytest.mark.parametrize("loader", ["target-jsonl", "target-postgres"])
def test_each_loader_definition_is_meltano_ymls_entry(loader: str) -> None:
    definition = yaml.safe_load((ROOT / "meltano-plugins" / f"{loader}.yml").read_text())
    project = yaml.safe_load((ROOT / "meltano.yml").read_text())
    (entry,) = [e for e in project["plugins"]["loaders"] if e["name"] == loader]
    assert definition == entry


# -- a fresh project with the plugin added from the definition ---------------------------


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    """`meltano init`, then `meltano add --from-ref` of the definition. The extractor then
    runs this checkout's tap instead of installing from its pip_url (no network)."""
    project = new_project(tmp_path_factory.mktemp("fresh"))
    project.ok(
        "add", "--plugin-type", "extractor", "--from-ref", str(DEFINITION), "--no-install", TAP
    )
    project.edit_extractor(pip_url=None, executable=str(TAP_EXECUTABLE))
    return project


@pytest.fixture
def clean_config(project: Project) -> Iterator[Project]:
    """The fresh project, its extractor's configuration cleared after the test."""
    yield project
    reset(project)


def reset(project: Project) -> None:
    """`meltano config reset`, confirmed."""
    result = project.run("config", "reset", TAP, stdin="y\n")
    assert result.returncode == 0, result.stderr[-2000:]


def dumped_config(project: Project, **env: str) -> dict[str, Any]:
    """The configuration file Meltano hands the tap."""
    config: dict[str, Any] = json.loads(project.ok("invoke", "--dump=config", TAP, **env))
    return config


EVERY_KIND: list[tuple[str, str, Any]] = [
    ("request_timeout", "2.5", 2.5),
    ("api_version", "v4", "v4"),
    ("associations", '[{"from": "contacts", "to": "companies", "ids": ["1"]}]', None),
    ("stream_maps", '{"association_labels": {"label": "str(label).upper()"}}', None),
    ("emit_activate_version_messages", "true", True),
    ("access_token", TOKEN, TOKEN),
    ("max_retries", "3", 3),
    ("start_date", "2026-01-31T00:00:00Z", "2026-01-31T00:00:00Z"),
]
"""(setting, as typed, as the tap must get it: None for the JSON of what was typed)."""


def as_received(typed: str, expected: Any) -> Any:
    return json.loads(typed) if expected is None else expected


def test_config_set_gives_the_tap_each_kind_in_its_json_type(clean_config: Project) -> None:
    for name, typed, _ in EVERY_KIND:
        clean_config.ok("config", "set", TAP, name, typed)
    config = dumped_config(clean_config)
    for name, typed, expected in EVERY_KIND:
        assert config[name] == as_received(typed, expected), name
    assert TOKEN not in (clean_config.path / "meltano.yml").read_text(), "a secret in meltano.yml"


def test_config_set_refuses_a_value_that_is_no_option(clean_config: Project) -> None:
    result = clean_config.run("config", "set", TAP, "api_version", "v5")
    assert result.returncode != 0
    assert "not a valid choice" in result.stderr


def test_env_vars_give_the_tap_each_kind_in_its_json_type(project: Project) -> None:
    env = {
        f"TAP_HUBSPOT_ASSOCIATIONS_{name.upper()}": typed
        for name, typed, _ in EVERY_KIND
        if name != "request_timeout"  # see the next test
    }
    config = dumped_config(project, **env)
    for name, typed, expected in EVERY_KIND:
        if name != "request_timeout":
            assert config[name] == as_received(typed, expected), name
    listed = project.ok("config", "list", TAP, TAP_HUBSPOT_ASSOCIATIONS_PROGRESS_INTERVAL="0.5")
    assert "progress_interval [env: TAP_HUBSPOT_ASSOCIATIONS_PROGRESS_INTERVAL]" in listed
    assert "current value: Decimal('0.5')" in listed


@pytest.mark.xfail(
    strict=True,
    reason="Meltano 4.4.1 cannot write a decimal setting taken from the environment into "
    "the tap's config (Object of type Decimal is not JSON serializable): README says so",
)
def test_a_decimal_env_var_reaches_the_tap(project: Project) -> None:
    config = dumped_config(project, TAP_HUBSPOT_ASSOCIATIONS_PROGRESS_INTERVAL="0.5")
    assert config["progress_interval"] == 0.5


def test_config_list_shows_every_setting_with_its_description(
    project: Project, tap_settings
) -> None:
    listed = project.ok("config", "list", "--all", TAP)
    definition = {s["name"]: s for s in yaml.safe_load(DEFINITION.read_text())["settings"]}
    for name, schema in tap_settings.items():
        assert f"{name} " in listed, name
        assert f"{definition[name]['label']}: {schema['description']}" in listed, name
    assert "Group 1: access_token" in listed
    assert "Group 2: client_id, client_secret, refresh_token" in listed


def invoke_tap(
    project: Project, emulator: Emulator, **env: str
) -> tuple[list[dict[str, Any]], str]:
    """`meltano invoke` the tap (Meltano's catalog and select rules) against the emulator."""
    result = project.run(
        "invoke",
        TAP,
        TAP_HUBSPOT_ASSOCIATIONS_ACCESS_TOKEN=TOKEN,
        TAP_HUBSPOT_ASSOCIATIONS_API_URL=emulator.url,
        TAP_HUBSPOT_ASSOCIATIONS_MAX_REQUESTS_PER_10S="1000",
        **env,
    )
    CAPTURED_OUTPUT.extend((result.stdout, result.stderr))
    assert_no_secrets(result.stdout, result.stderr)
    assert result.returncode == 0, result.stderr[-3000:]
    return parse_messages(result.stdout), result.stderr


def test_with_only_a_token_nothing_heavy_is_read(project: Project, start_emulator) -> None:
    """Meltano selects `*.*` by default, and an offered pair reads every record of its type:
    a first run with only a token reads none of them, and says how to select."""
    account, _ = seeded_account({("contacts", "companies"): 30, ("deals", "contacts"): 10})
    emulator = start_emulator(account, page_size=4)
    assert "select" not in project.config["plugins"]["extractors"][0]
    messages, log = invoke_tap(project, emulator)
    assert batch_reads(emulator) == 0
    assert not [p for p in emulator.stats.requests if "/objects/" in p], emulator.stats.requests
    assert not [m for m in messages if m["type"] == "RECORD" and m["stream"] != LABELS_STREAM]
    assert f"meltano select {TAP} contacts_to_companies" in log


def test_meltano_select_adds_a_pair(project: Project, start_emulator) -> None:
    account, pairs = seeded_account({("contacts", "companies"): 30})
    emulator = start_emulator(account, page_size=4)
    ids = [str(i) for i in pairs[("contacts", "companies")]]
    associations = json.dumps([{"from": "contacts", "to": "companies", "ids": ids}])
    selected = project.config["plugins"]["extractors"][0].get("select")
    project.ok("select", TAP, "contacts_to_companies", "*")
    project.ok("select", TAP, LABELS_STREAM, "*")
    try:
        listed = project.ok(
            "select",
            TAP,
            "--list",
            TAP_HUBSPOT_ASSOCIATIONS_ACCESS_TOKEN=TOKEN,
            TAP_HUBSPOT_ASSOCIATIONS_API_URL=emulator.url,
            TAP_HUBSPOT_ASSOCIATIONS_ASSOCIATIONS=associations,
        )
        assert "[selected   ] contacts_to_companies.label" in listed, listed
        messages, _ = invoke_tap(
            project, emulator, TAP_HUBSPOT_ASSOCIATIONS_ASSOCIATIONS=associations
        )
    finally:
        project.edit_extractor(select=selected)
    streams = Counter(m["stream"] for m in messages if m["type"] == "RECORD")
    truth = account.truth("contacts", "companies", pairs[("contacts", "companies")])
    assert streams["contacts_to_companies"] == len(truth)
    assert streams[LABELS_STREAM] == len(account.labels("contacts", "companies"))


def test_configured_pairs_none_selected_say_so_once(project: Project, start_emulator) -> None:
    """Select rules that leave out every configured pair: one WARNING names them and the
    command that selects them, and no line per stream skipped."""
    account, pairs = seeded_account({("contacts", "companies"): 5, ("deals", "contacts"): 5})
    emulator = start_emulator(account)
    associations = [{"from": f, "to": t} for f, t in pairs]
    messages, log = invoke_tap(
        project,
        emulator,
        TAP_HUBSPOT_ASSOCIATIONS_ASSOCIATIONS=json.dumps(associations),
        TAP_HUBSPOT_ASSOCIATIONS__SELECT=json.dumps([f"{LABELS_STREAM}.*"]),
    )
    assert batch_reads(emulator) == 0
    warnings = [line for line in log.splitlines() if "No pair is read" in line]
    assert len(warnings) == 1, log[-3000:]
    assert "configured pairs (contacts_to_companies, deals_to_contacts)" in warnings[0]
    for name in ("contacts_to_companies", "deals_to_contacts"):
        assert f"`meltano select {TAP} {name} '*'`" in warnings[0]
    assert "Skipping deselected stream" not in log
    assert not [m for m in messages if m["type"] == "RECORD" and m["stream"] != LABELS_STREAM]


def test_a_stream_map_naming_a_deselected_pair_does_not_fail_the_run(
    project: Project, start_emulator
) -> None:
    """Meltano writes every stream not selected into the catalog as deselected; a map of
    such a stream failed every run at singer-sdk's mapper setup (meltano/sdk issue #1942)."""
    account, pairs = seeded_account({("contacts", "companies"): 6, ("deals", "contacts"): 4})
    emulator = start_emulator(account, page_size=4)
    associations = [{"from": f, "to": t} for f, t in pairs]
    maps = {
        "deals_to_contacts": {"label": "str(label).upper()"},
        "contacts_to_companies": {"label": "str(label).lower()", "note": "'mapped'"},
    }
    messages, _ = invoke_tap(
        project,
        emulator,
        TAP_HUBSPOT_ASSOCIATIONS_ASSOCIATIONS=json.dumps(associations),
        TAP_HUBSPOT_ASSOCIATIONS_STREAM_MAPS=json.dumps(maps),
        TAP_HUBSPOT_ASSOCIATIONS__SELECT=json.dumps(["contacts_to_companies.*"]),
    )
    records = [m["record"] for m in messages if m["type"] == "RECORD"]
    assert {m["stream"] for m in messages if m["type"] == "RECORD"} == {"contacts_to_companies"}
    truth = account.truth("contacts", "companies", pairs[("contacts", "companies")])
    assert len(records) == len(truth)
    assert {r["note"] for r in records} == {"mapped"}
    assert {r["label"] for r in records} == {str(t[6]).lower() for t in truth}


# -- the README's commands -------------------------------------------------------------


def readme_meltano_commands() -> list[str]:
    """Every `meltano ...` line of the shell blocks of the README and of its Meltano page,
    comments dropped."""
    documents = "".join((ROOT / name).read_text() for name in ("README.md", "docs/meltano.md"))
    blocks = re.findall(r"```sh\n(.*?)```", documents, flags=re.DOTALL)
    lines = [line.split("  #")[0].strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if line.startswith("meltano ")]


PLACEHOLDERS = {
    "pat-na1-...": TOKEN,
    "../tap-hubspot-associations/dist/tap-hubspot-associations.yml": str(DEFINITION),
    "../tap-hubspot-associations/meltano-plugins/": str(ROOT / "meltano-plugins") + "/",
}
IN_THE_FRESH_PROJECT = ("meltano config set tap-", "meltano select tap-")
IN_THIS_REPOSITORY = ("meltano job list", "meltano schedule list")
"""Commands run as written; the others (they install from the network, need a loader the
fresh project lacks, or load into a database) are checked against Meltano 4's command
line with --help, and run for real by the pipeline and packaging tests."""


def test_every_meltano_command_of_the_readme_works_in_meltano_4(
    project: Project, tmp_path: Path, start_emulator
) -> None:
    account, _ = seeded_account({("contacts", "companies"): 5})
    emulator = start_emulator(account)
    commands = readme_meltano_commands()
    assert len(commands) >= 8, commands
    selected = project.config["plugins"]["extractors"][0].get("select")
    checked: set[tuple[str, ...]] = set()
    try:
        for command in commands:
            for placeholder, value in PLACEHOLDERS.items():
                command = command.replace(placeholder, value)
            args = shlex.split(command)[1:]
            if command.startswith(IN_THE_FRESH_PROJECT):
                result = project.run(*args, TAP_HUBSPOT_ASSOCIATIONS_API_URL=emulator.url)
            elif command.startswith(IN_THIS_REPOSITORY):
                result = meltano(*args, env=meltano_env(tmp_path / "meltano.db"))
            elif tuple(args[:2]) in checked:
                continue  # the same command, other arguments: its syntax is checked
            else:
                checked.add(tuple(args[:2]))
                result = project.run(*args, "--help")
            assert result.returncode == 0, f"{command}:\n{result.stderr[-2000:]}"
            assert "No such command" not in result.stderr
    finally:
        reset(project)
        project.edit_extractor(select=selected)


# -- this repository's project: jobs, schedules, and runs into PostgreSQL ----------------


def test_the_job_and_the_daily_schedule_are_listed(tmp_path: Path) -> None:
    env = meltano_env(tmp_path / "meltano.db")
    jobs = meltano("job", "list", env=env)
    assert jobs.returncode == 0, jobs.stderr
    assert f"{JOB}: ['{TAP} target-postgres']" in jobs.stdout
    schedules = meltano("schedule", "list", env=env)
    assert schedules.returncode == 0, schedules.stderr
    assert f"[@daily] job daily-{JOB}: {JOB}" in schedules.stdout


@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres]:
    with postgres_cluster() as cluster:
        yield cluster


@pytest.fixture(scope="module")
def meltano_installed(tmp_path_factory: pytest.TempPathFactory) -> None:
    database = tmp_path_factory.mktemp("meltano") / "meltano.db"
    result = meltano("install", env=meltano_env(database))
    assert result.returncode == 0, result.stderr


def pipeline_env(
    emulator: Emulator, pairs: dict, postgres: Postgres, tmp_path: Path, **settings: str
) -> dict[str, str]:
    """Settings as Meltano takes them from the environment; state in a database of its own.
    meltano.yml has no select rules: the configured pairs are what is read."""
    associations = [
        {"from": f, "to": t, "ids": [str(i) for i in ids]} for (f, t), ids in pairs.items()
    ]
    return {
        **meltano_env(tmp_path / "meltano.db"),
        "TAP_HUBSPOT_ASSOCIATIONS_ACCESS_TOKEN": TOKEN,
        "TAP_HUBSPOT_ASSOCIATIONS_API_URL": emulator.url,
        "TAP_HUBSPOT_ASSOCIATIONS_ASSOCIATIONS": json.dumps(associations),
        "TAP_HUBSPOT_ASSOCIATIONS_BATCH_SIZE": "20",
        "TAP_HUBSPOT_ASSOCIATIONS_MAX_REQUESTS_PER_10S": "1000",
        "TARGET_POSTGRES_SQLALCHEMY_URL": postgres.sqlalchemy_url,
        "TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA": f"hubspot_{uuid.uuid4().hex[:8]}",
        **settings,
    }


def loaded(postgres: Postgres, env: dict[str, str], account: Account, pairs: dict) -> None:
    """Each table holds exactly the emulator's truth for its pair, each row once."""
    for (from_type, to_type), ids in pairs.items():
        holds(postgres, env, (from_type, to_type), account.truth(from_type, to_type, ids))


def holds(
    postgres: Postgres, env: dict[str, str], pair: tuple[str, str], expected: set[TruthRecord]
) -> None:
    """The pair's table holds exactly `expected`, each row once."""
    schema = env["TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA"]
    rows = postgres.query(
        "select from_object_type, from_id, to_object_type, to_id, category, type_id::text, "
        f"coalesce(label, '<null>') from {schema}.{pair[0]}_to_{pair[1]}"
    )
    assert max(Counter(rows).values()) == 1, "a row is in the table twice"
    assert set(rows) == {(*r[:5], str(r[5]), "<null>" if r[6] is None else r[6]) for r in expected}


def run_pipeline(
    env: dict[str, str], *options: str, succeed: bool = True, args: tuple[str, ...] = PIPELINE
) -> subprocess.CompletedProcess[str]:
    """`meltano run` the pipeline; its output joins the suite-wide secret scan."""
    result = meltano(*args, *options, env=env)
    CAPTURED_OUTPUT.extend((result.stdout, result.stderr))
    assert_no_secrets(result.stdout, result.stderr)
    if succeed:
        assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_the_job_runs_into_postgres_twice_giving_each_row_once(
    meltano_installed: None, postgres: Postgres, start_emulator, tmp_path: Path
) -> None:
    account, pairs = seeded_account(PAIRS)
    emulator = start_emulator(account, page_size=4)
    env = pipeline_env(emulator, pairs, postgres, tmp_path)
    run_pipeline(env, args=("run", JOB))
    loaded(postgres, env, account, pairs)
    run_pipeline(env)
    loaded(postgres, env, account, pairs)
    schema = env["TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA"]
    labels = postgres.query(f"select count(*) from {schema}.{LABELS_STREAM}")
    expected = sum(len(account.labels(f, t)) for f, t in pairs)
    assert labels == [(str(expected),)]


def test_a_run_with_only_a_token_reads_no_pair(
    meltano_installed: None, postgres: Postgres, start_emulator, tmp_path: Path
) -> None:
    """This repository's project, as shipped: no pair configured, none selected."""
    account, _ = seeded_account(PAIRS)
    emulator = start_emulator(account, page_size=4)
    env = pipeline_env(emulator, {}, postgres, tmp_path)
    del env["TAP_HUBSPOT_ASSOCIATIONS_ASSOCIATIONS"]
    result = run_pipeline(env)
    assert batch_reads(emulator) == 0
    assert not [p for p in emulator.stats.requests if "/objects/" in p], emulator.stats.requests
    warnings = [line for line in result.stderr.splitlines() if "No pair is read" in line]
    assert len(warnings) == 1, result.stderr[-3000:]
    assert f"`meltano select {TAP} contacts_to_companies '*'`" in warnings[0]
    assert f"`meltano select {TAP} {LABELS_STREAM} '*'`" in warnings[0], (
        "Meltano's first select replaces `*.*`: the labels need a rule of their own"
    )
    assert "Skipping deselected stream" not in result.stderr


def test_a_deleted_association_disappears_after_the_next_full_pass(
    meltano_installed: None, postgres: Postgres, start_emulator, tmp_path: Path
) -> None:
    account, pairs = seeded_account(PAIRS)
    emulator = start_emulator(account, page_size=4)
    env = pipeline_env(emulator, pairs, postgres, tmp_path, **DELETIONS)
    run_pipeline(env)
    loaded(postgres, env, account, pairs)

    ids = pairs[("contacts", "companies")]
    emptied = next(i for i in ids if account.targets("contacts", "companies", i))
    trimmed = next(i for i in ids if len(account.targets("contacts", "companies", i)) > 2)
    account.associate("contacts", "companies", emptied, [])
    account.associate(
        "contacts", "companies", trimmed, account.targets("contacts", "companies", trimmed)[1:]
    )
    run_pipeline(env)
    loaded(postgres, env, account, pairs)


def test_meltano_keeps_the_state_of_an_interrupted_run_and_resumes(
    meltano_installed: None, postgres: Postgres, start_emulator, tmp_path: Path
) -> None:
    account, pairs = seeded_account(PAIRS)
    emulator = start_emulator(
        account, page_size=4, rate_limit=RateLimit(max_requests=1000, daily=12)
    )
    env = pipeline_env(
        emulator, pairs, postgres, tmp_path, TAP_HUBSPOT_ASSOCIATIONS_MAX_CONCURRENCY="1"
    )
    failed = run_pipeline(env, succeed=False)
    assert failed.returncode != 0
    assert "daily request limit" in failed.stderr
    saved = meltano("state", "get", f"dev:{TAP}-to-target-postgres", env=env)
    assert '"progress"' in saved.stdout, saved.stdout + saved.stderr
    first_reads = len(emulator.stats.batches)

    emulator.rate_limit.daily = None
    log = run_pipeline(env).stderr
    assert "Resuming contacts_to_companies after" in log
    resumed = [i for b in emulator.stats.batches[first_reads:] for i, after in b if after is None]
    assert len(resumed) < sum(len(ids) for ids in pairs.values())
    loaded(postgres, env, account, pairs)


def test_incremental_passes_then_a_full_one_leave_exactly_the_live_associations(
    meltano_installed: None, postgres: Postgres, start_emulator, tmp_path: Path
) -> None:
    pair = ("contacts", "companies")
    account, pairs = seeded_account({pair: 150})
    ids = pairs[pair]
    emulator = start_emulator(account, page_size=4, search_lag_seconds=0)
    env = pipeline_env(
        emulator,
        {pair: ids},
        postgres,
        tmp_path,
        TAP_HUBSPOT_ASSOCIATIONS_ASSOCIATIONS=json.dumps([{"from": pair[0], "to": pair[1]}]),
        TAP_HUBSPOT_ASSOCIATIONS_START_DATE=iso(int(time.time() * 1000) - DAY_MS),
        **DELETIONS,
    )
    run_pipeline(env)
    before = account.truth(*pair, ids)
    holds(postgres, env, pair, before)

    changed = [i for i in ids[:40] if len(account.targets(*pair, i)) > 1]
    for id_ in changed:
        account.associate(*pair, id_, account.targets(*pair, id_)[1:])
    account.modify("contacts", changed)
    account.archive("contacts", ids[100:105])
    time.sleep(0.01)
    log = run_pipeline(env).stderr
    assert "incremental pass" in log, log[-6000:]
    holds(postgres, env, pair, before | account.truth(*pair, changed))

    log = run_pipeline(env, "--full-refresh").stderr
    assert "full pass" in log
    holds(postgres, env, pair, account.truth(*pair, account.objects["0-1"]))


def test_a_fatal_error_shows_at_meltanos_warning_level(
    meltano_installed: None, postgres: Postgres, start_emulator, tmp_path: Path
) -> None:
    """The tap's one fatal line is logged at ERROR, so `--log-level=warning` keeps it,
    and the SDK's "unhandled error" line does not stand in for it."""
    account, pairs = seeded_account({("contacts", "companies"): 3})
    emulator = start_emulator(account)
    env = {
        **pipeline_env(emulator, pairs, postgres, tmp_path),
        "TAP_HUBSPOT_ASSOCIATIONS_ACCESS_TOKEN": "pat-na1-revoked-token-0000",
    }
    result = run_pipeline(env, succeed=False, args=("--log-level=warning", *PIPELINE))
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "HubSpot rejected the credentials (401): Authentication credentials not found" in (
        output
    )
    assert "An unhandled error occurred" not in output
