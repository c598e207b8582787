"""No association lost, no secret leaked, never a hang, never a traceback.

Each test here broke before the fix it stands for: the world as a hostile server, a
pipe, a broken state or a signal would show it to the tap.
"""

from __future__ import annotations

import array
import fcntl
import json
import os
import signal
import subprocess
import termios
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from hubspot_emulator import Account, Faults, RateLimit
from tests.helpers import (
    CAPTURED_OUTPUT,
    CLIENT_ID,
    CLIENT_SECRET,
    REFRESH_TOKEN,
    RUN_TIMEOUT,
    TOKEN,
    Answer,
    HostileServer,
    TapRun,
    assert_no_secrets,
    association_records,
    batch_reads,
    clean_env,
    config_for,
    json_answer,
    last_state,
    oauth_config,
    parse_messages,
    run_and_kill,
    seeded_account,
    tap_command,
    truth_of,
)

STREAM = "contacts_to_companies"


def run_command(
    command: list[str], *, stdin: str | None = None, env: dict[str, str] | None = None
) -> TapRun:
    """Run the tap's command line with `stdin` given; its output joins the secret scan."""
    completed = subprocess.run(
        command,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        env={**clean_env(), **(env or {})},
        check=False,
    )
    CAPTURED_OUTPUT.extend((completed.stdout, completed.stderr))
    assert_no_secrets(completed.stdout, completed.stderr)
    return TapRun(completed.returncode, completed.stdout, completed.stderr)


def assert_one_clear_error(run: TapRun, *expected: str) -> None:
    assert run.returncode != 0
    assert "Traceback" not in run.stderr
    errors = run.error_lines()
    assert len(errors) == 1, run.stderr[-2000:]
    for text in expected:
        assert text in errors[0], errors[0]


# 1. Data loss


def test_an_id_given_up_on_is_read_again_by_the_resumed_pass(start_emulator, run_tap, tmp_path):
    account, pairs = seeded_account({("contacts", "companies"): 200}, max_targets=3)
    ids = pairs[("contacts", "companies")]
    failing = next(i for i in ids[:20] if account.truth("contacts", "companies", [i]))
    emulator = start_emulator(
        account, faults=Faults(failing_ids=frozenset({failing}), latency_seconds=0.05)
    )
    config = config_for(
        emulator,
        pairs,
        batch_size=10,
        max_concurrency=1,
        max_retries=1,
        emit_activate_version_messages=True,
    )
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(config))

    def gave_up(message: dict[str, Any]) -> bool:
        progress = message.get("value", {}).get("bookmarks", {}).get(STREAM, {}).get("progress")
        return message["type"] == "STATE" and str(failing) in (progress or {}).get("failed", [])

    first, killed = run_and_kill(tap_command(config_path), gave_up)
    assert killed
    emulator.faults.failing_ids = frozenset()
    resumed = run_tap(config, state=last_state(first))
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    activated = [m["version"] for m in resumed.messages if m["type"] == "ACTIVATE_VERSION"]
    version = last_state(first)["bookmarks"][STREAM]["progress"]["version"]
    assert version in activated
    in_version = {
        record
        for run in (first, resumed.messages)
        for record, message in zip(
            association_records(run),
            [m for m in run if m["type"] == "RECORD" and m["stream"] == STREAM],
            strict=True,
        )
        if message.get("version") == version
    }
    assert in_version == truth_of(account, pairs)


def test_an_ids_file_that_is_a_pipe_is_read_once(start_emulator, tmp_path):
    account, pairs = seeded_account({("contacts", "companies"): 40})
    emulator = start_emulator(account)
    config = config_for(emulator, pairs, emit_activate_version_messages=True)
    config["associations"][0].pop("ids")
    config["associations"][0]["ids_file"] = "/dev/stdin"
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(config))
    ids_text = "".join(f"{i}\n" for i in pairs[("contacts", "companies")])
    run = run_command(tap_command(config_path), stdin=ids_text)
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
    run = run_command(tap_command(config_path))
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.record_set() == truth_of(account, pairs)


def test_config_given_as_a_pipe_is_read_once(start_emulator):
    account, pairs = seeded_account({("contacts", "companies"): 10})
    emulator = start_emulator(account)
    config = config_for(emulator, pairs)
    run = run_command(tap_command("/dev/stdin"), stdin=json.dumps(config))
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.record_set() == truth_of(account, pairs)


@pytest.mark.parametrize("position", [True, 10**9])
def test_a_saved_position_that_is_not_a_position_reads_from_the_start(
    start_emulator, run_tap, position
):
    account, pairs = seeded_account({("contacts", "companies"): 30})
    emulator = start_emulator(account)
    config = config_for(emulator, pairs, batch_size=10, max_concurrency=1)
    first = run_tap(config)
    saved = next(
        s["bookmarks"][STREAM]["progress"]
        for s in first.states()
        if "progress" in s["bookmarks"].get(STREAM, {})
    )
    state = {"bookmarks": {STREAM: {"progress": {**saved, "position": position, "pending": {}}}}}
    run = run_tap(config, state=state)
    assert run.returncode == 0
    assert run.record_set() == truth_of(account, pairs)


def batch_read_server(kind: dict[str, Any], to_id: object = 2002) -> HostileServer:
    """Answers every batch read with one association of `kind` per id."""

    def answer(method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        if path.endswith("/labels"):
            return json_answer(200, {"results": []})
        inputs = json.loads(body)["inputs"]
        results = [
            {"from": {"id": item["id"]}, "to": [{"toObjectId": to_id, "associationTypes": [kind]}]}
            for item in inputs
        ]
        return json_answer(200, {"status": "COMPLETE", "results": results})

    return HostileServer(answer)


GOOD_KIND = {"category": "HUBSPOT_DEFINED", "typeId": 1, "label": None}


@pytest.mark.parametrize(
    ("kind", "to_id"),
    [
        ({**GOOD_KIND, "typeId": 7.9}, 2002),
        ({**GOOD_KIND, "typeId": True}, 2002),
        ({**GOOD_KIND, "category": None}, 2002),
        ({**GOOD_KIND, "label": {"text": "Primary"}}, 2002),
        (GOOD_KIND, "not-an-id"),
        (GOOD_KIND, True),
    ],
)
def test_values_hubspot_never_sends_are_named_not_emitted(run_tap, kind, to_id):
    with batch_read_server(kind, to_id) as server:
        config = {
            "access_token": TOKEN,
            "api_url": server.url,
            "max_retries": 1,
            "associations": [{"from": "contacts", "to": "companies", "ids": ["101"]}],
        }
        run = run_tap(config)
    assert run.records() == []
    assert_one_clear_error(run, "101 (malformed result)")


# 2. Secrets


def echoing_server(status: int) -> HostileServer:
    """Echoes the Authorization header it was sent into every field of its error."""

    def answer(method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        sent = headers.get("Authorization", "")
        error = {
            "status": "error",
            "message": f"bad {sent}",
            "correlationId": sent,
            "category": sent,
            "errors": [{"context": {"requiredGranularScopes": [sent]}}],
        }
        return json_answer(status, error, **{"X-HubSpot-Correlation-Id": sent})

    return HostileServer(answer)


@pytest.mark.parametrize("status", [400, 401, 403, 500])
def test_a_server_echoing_the_token_never_gets_it_printed(run_tap, status):
    with echoing_server(status) as server:
        config = {
            "access_token": TOKEN,
            "api_url": server.url,
            "max_retries": 0,
            "associations": [{"from": "contacts", "to": "companies", "ids": ["101"]}],
        }
        run = run_tap(config)  # run_tap fails the test on any secret in the output
    assert run.returncode == 1
    assert len(server.requests) >= 1


def test_an_ids_file_that_is_the_config_shows_no_part_of_the_token(run_tap, tmp_path):
    config_path = tmp_path / "config.json"
    config = {
        "access_token": TOKEN,
        "api_url": "http://127.0.0.1:9",
        "associations": [{"from": "contacts", "to": "companies", "ids_file": str(config_path)}],
    }
    config_path.write_text(json.dumps(config))
    run = run_command(tap_command(config_path))
    assert_one_clear_error(run, "is not a HubSpot record id")
    excerpts = {TOKEN[i : i + 12] for i in range(len(TOKEN) - 11)}
    assert not [e for e in excerpts if e in run.stderr + run.stdout]


def test_a_secret_setting_of_the_wrong_type_is_not_echoed(run_tap):
    secret = 918273645546372819
    config = {
        "access_token": secret,
        "api_url": "http://127.0.0.1:9",
        "associations": [{"from": "contacts", "to": "companies", "ids": ["1"]}],
    }
    run = run_tap(config)
    assert run.returncode != 0
    assert str(secret) not in run.stderr + run.stdout


# Never a hang, never a traceback


def looping_cursor_server(listing: bool) -> HostileServer:
    """Pages forever with the same cursor: batch reads per id, or the listing."""

    def answer(method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        if path.endswith("/labels"):
            return json_answer(200, {"results": []})
        if path.endswith("/search"):  # the highest id, before the listing starts
            return json_answer(200, {"total": 1, "results": [{"id": "999"}]})
        if method == "GET":
            page = {"results": [{"id": "101"}], "paging": {"next": {"after": "same"}}}
            return json_answer(200, page if listing else {"results": [{"id": "101"}]})
        results = [
            {
                "from": {"id": item["id"]},
                "to": [{"toObjectId": 2002, "associationTypes": [GOOD_KIND]}],
                "paging": {"next": {"after": "same"}},
            }
            for item in json.loads(body)["inputs"]
        ]
        return json_answer(200, {"status": "COMPLETE", "results": results})

    return HostileServer(answer)


def test_a_batch_read_cursor_that_repeats_fails_its_id(run_tap):
    with looping_cursor_server(listing=False) as server:
        config = {
            "access_token": TOKEN,
            "api_url": server.url,
            "associations": [{"from": "contacts", "to": "companies", "ids": ["101"]}],
        }
        run = run_tap(config)
        requests = len(server.requests)
    assert_one_clear_error(run, "101 (HubSpot returned a paging cursor it had returned before)")
    assert requests <= 4
    assert len(run.records()) == 1


def test_a_listing_cursor_that_repeats_ends_the_pass(run_tap):
    with looping_cursor_server(listing=True) as server:
        config = {
            "access_token": TOKEN,
            "api_url": server.url,
            "associations": [{"from": "contacts", "to": "companies"}],
        }
        run = run_tap(config)
    assert_one_clear_error(run, "cursor it had returned before")


def emitted_positions(stdout: Path) -> list[int]:
    """The positions of the STATE messages written so far (complete lines)."""
    lines = [line for line in stdout.read_text().splitlines(keepends=True) if line.endswith("\n")]
    states = [m["value"] for m in map(json.loads, lines) if m["type"] == "STATE"]
    progress = [s["bookmarks"].get(STREAM, {}).get("progress", {}) for s in states]
    return [p.get("position", 0) for p in progress]


@pytest.mark.parametrize(("sent", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_stops_the_run_at_once_with_its_state(start_emulator, tmp_path, sent, code):
    """The first batch is emitted and the second stalls for 60 s when the signal comes:
    the run ends at once, its last message the STATE of what it emitted."""
    account, pairs = seeded_account({("contacts", "companies"): 50})
    emulator = start_emulator(account, faults=Faults(script=("none", "stall"), stall_seconds=60))
    config = config_for(emulator, pairs, batch_size=10, max_concurrency=1)
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(config))
    stdout_path = tmp_path / "stdout"
    with (
        stdout_path.open("w") as stdout_file,
        subprocess.Popen(
            tap_command(config_path),
            stdout=stdout_file,
            stderr=subprocess.PIPE,
            text=True,
            env=clean_env(),
        ) as process,
    ):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (
            batch_reads(emulator) >= 2 and 10 in emitted_positions(stdout_path)
        ):
            time.sleep(0.05)
        assert batch_reads(emulator) >= 2, "the stalled request never came"
        assert 10 in emitted_positions(stdout_path), "the first batch was never emitted"
        process.send_signal(sent)
        _, stderr = process.communicate(timeout=15)  # the stalled request waits 60 s
    stdout = stdout_path.read_text()
    CAPTURED_OUTPUT.extend((stdout, stderr))
    assert process.returncode == code
    messages = parse_messages(stdout)
    assert messages[-1]["type"] == "STATE"
    assert [m for m in messages if m["type"] == "RECORD"], "the first batch's records"
    progress = messages[-1]["value"]["bookmarks"][STREAM]["progress"]
    assert progress["position"] == 10
    assert f"Stopped by {sent.name}" in stderr
    assert "Traceback" not in stderr


def test_a_closed_stdout_is_named(start_emulator, tmp_path):
    account, pairs = seeded_account({("contacts", "companies"): 2000})
    emulator = start_emulator(account)
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(config_for(emulator, pairs, batch_size=100)))
    with subprocess.Popen(
        tap_command(config_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=clean_env(),
    ) as process:
        assert process.stdout is not None and process.stderr is not None
        process.stdout.read(1000)
        process.stdout.close()
        stderr = process.stderr.read().decode()
        process.wait(timeout=RUN_TIMEOUT)
    CAPTURED_OUTPUT.append(stderr)
    assert process.returncode == 1
    assert "the output pipe closed" in stderr
    assert "Traceback" not in stderr
    assert "An unhandled error occurred" not in stderr


PAIR = {"from": "contacts", "to": "companies", "ids": ["1"]}
BASE = {"access_token": TOKEN, "api_url": "http://127.0.0.1:9", "associations": [PAIR]}


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
    run = run_command(tap_command("ENV"), env=settings)
    assert_one_clear_error(run, expected)


@pytest.mark.parametrize(
    ("flag", "content", "expected"),
    [
        ("--config", '{"access_token": "x", "max_retries": NaN}', "NaN is not a JSON number"),
        ("--state", '{"bookmarks": {"a": {"position": Infinity}}}', "Infinity is not a JSON"),
        ("--catalog", '{"streams": null}', "`streams` must be a list"),
        ("--config", "[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ],
)
def test_a_broken_input_file_is_one_line(tmp_path, flag, content, expected):
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(BASE))
    broken = tmp_path / "broken.json"
    broken.write_text(content)
    command = tap_command(config_path)
    if flag == "--config":
        command = tap_command(broken)
    else:
        command += [flag, str(broken)]
    run = run_command(command)
    assert_one_clear_error(run, expected)


def test_an_endless_config_file_stops_at_the_cap():
    run = run_command(tap_command("/dev/zero"))
    assert_one_clear_error(run, "--config /dev/zero: larger than 64 MiB")


def test_malformed_label_definitions_are_one_line(run_tap):
    def answer(method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        if path.endswith("/labels"):
            return json_answer(200, {"results": [{"category": 5, "typeId": "x"}]})
        return json_answer(200, {"status": "COMPLETE", "results": []})

    with HostileServer(answer) as server:
        run = run_tap({**BASE, "api_url": server.url})
    assert_one_clear_error(run, "malformed label definition at results[0]")


def test_a_listing_whose_paging_is_a_string_is_one_line(run_tap):
    def answer(method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        if path.endswith("/labels"):
            return json_answer(200, {"results": []})
        return json_answer(200, {"results": [{"id": "1"}], "paging": "next"})

    with HostileServer(answer) as server:
        config = {
            **BASE,
            "api_url": server.url,
            "associations": [{"from": "contacts", "to": "deals"}],
        }
        run = run_tap(config)
    assert_one_clear_error(run, "malformed paging")


def test_malformed_schemas_during_discovery_are_one_line(run_tap):
    def answer(method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        schema = {"objectTypeId": "2-1", "name": "cars", "associations": "all of them"}
        return json_answer(200, {"results": [schema]})

    with HostileServer(answer) as server:
        config = {"access_token": TOKEN, "api_url": server.url}
        run = run_tap(config, args=["--discover"])
    assert_one_clear_error(run, "malformed schema (associations is not a list")


def test_a_fatal_error_is_exactly_one_error_line_with_hubspots_message(start_emulator, run_tap):
    account, pairs = seeded_account({("contacts", "companies"): 3})
    emulator = start_emulator(account)
    run = run_tap({**config_for(emulator, pairs), "access_token": "pat-na1-not-this-one-x"})
    assert_one_clear_error(run, "HubSpot rejected the credentials (401): Authentication")


def test_a_listing_resume_finds_its_place_by_id_when_records_were_archived(start_emulator, run_tap):
    """The saved page is found again, and in it the last id the bookmark covers; records
    archived meanwhile in that page must not make the resume skip unread ids."""
    account = Account()
    ids = list(range(1, 301))
    account.seed("contacts", "companies", ids, seed=3)
    emulator = start_emulator(account)
    config = {
        **config_for(emulator, {}),
        "associations": [{"from": "contacts", "to": "companies"}],
        "batch_size": 10,
        "max_concurrency": 1,
    }
    first = run_tap(config)
    assert first.returncode == 0, first.stderr[-2000:]
    saved = next(
        state
        for state in first.states()
        if state["bookmarks"].get(STREAM, {}).get("progress", {}).get("position", 0) >= 140
    )
    position = saved["bookmarks"][STREAM]["progress"]["position"]
    account.archive("contacts", range(110, 120))
    resumed = run_tap(config, state=saved)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    read = {r["from_id"] for r in resumed.records(STREAM)}
    unread = [i for i in ids[position:] if account.targets("contacts", "companies", i)]
    assert {str(i) for i in unread} <= read


def pipe_is_full(reader: int) -> bool:
    """Less than a page free: a writer of whole lines now waits for the reader."""
    waiting = array.array("i", [0])
    fcntl.ioctl(reader, termios.FIONREAD, waiting)
    return waiting[0] > fcntl.fcntl(reader, fcntl.F_GETPIPE_SZ) - 4096


def test_a_signal_during_a_blocked_write_cuts_no_line_in_two(start_emulator, tmp_path):
    """The target stops reading, stdout's pipe fills, SIGTERM comes while a write is
    blocked: every whole line written is one message, the cut one ends the output."""
    account, pairs = seeded_account({("contacts", "companies"): 3000})
    emulator = start_emulator(account)
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(config_for(emulator, pairs, batch_size=100)))
    reader, writer = os.pipe()
    stderr_path = tmp_path / "stderr"
    with (
        stderr_path.open("wb") as stderr_file,
        subprocess.Popen(
            tap_command(config_path), stdout=writer, stderr=stderr_file, env=clean_env()
        ) as process,
    ):
        os.close(writer)
        deadline = time.monotonic() + 30
        while not pipe_is_full(reader) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert pipe_is_full(reader), "the tap never filled the pipe"
        process.send_signal(signal.SIGTERM)
        # The tap ends while the target still reads nothing: it writes nothing more.
        assert process.wait(timeout=30) == 143
    output = b""
    while chunk := os.read(reader, 1 << 16):
        output += chunk
    os.close(reader)
    stderr = stderr_path.read_text()
    CAPTURED_OUTPUT.append(stderr)
    lines = output.split(b"\n")
    for line in lines[:-1]:
        assert isinstance(json.loads(line), dict)  # a line cut and continued would not parse


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"associations": "contacts"}, "settings: 'contacts' is not of type 'array'"),
        (
            {"associations": [{"from": "contacts", "to": "companies", "ids": [1.5, None]}]},
            "in config['associations'][0]['ids'][1]",
        ),
    ],
)
def test_settings_against_their_schema_are_one_line(settings, expected):
    config = {"access_token": TOKEN, "api_url": "http://127.0.0.1:9", **settings}
    run = run_command(tap_command("/dev/stdin"), stdin=json.dumps(config))
    assert_one_clear_error(run, expected)


def test_an_sdk_setting_in_the_environment_that_is_not_json_is_one_line():
    settings = {
        "TAP_HUBSPOT_ASSOCIATIONS_ACCESS_TOKEN": TOKEN,
        "TAP_HUBSPOT_ASSOCIATIONS_STREAM_MAPS": "{x",
    }
    run = run_command(tap_command("ENV"), env=settings)
    assert_one_clear_error(run, "STREAM_MAPS: not valid JSON")


def test_a_catalog_the_sdk_cannot_read_is_one_line(tmp_path):
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(BASE))
    catalog = tmp_path / "catalog.json"
    stream = {"tap_stream_id": STREAM, "stream": STREAM, "schema": {}, "metadata": "x"}
    catalog.write_text(json.dumps({"streams": [stream]}))
    run = run_command([*tap_command(config_path), "--catalog", str(catalog)])
    assert_one_clear_error(run)


def test_a_closed_stdout_from_the_start_is_one_line(tmp_path):
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(BASE))
    completed = subprocess.run(
        tap_command(config_path),
        stdout=None,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
        timeout=RUN_TIMEOUT,
        check=False,
        preexec_fn=lambda: os.close(1),
    )
    CAPTURED_OUTPUT.append(completed.stderr)
    assert_one_clear_error(TapRun(completed.returncode, "", completed.stderr), "output pipe")


def test_discovery_into_a_closed_pipe_is_one_line(start_emulator):
    account, _ = seeded_account({("contacts", "companies"): 3})
    emulator = start_emulator(account)
    config = json.dumps({"access_token": TOKEN, "api_url": emulator.url})
    with subprocess.Popen(
        [*tap_command("/dev/stdin"), "--discover"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=clean_env(),
    ) as process:
        assert process.stdin and process.stdout and process.stderr
        process.stdin.write(config.encode())
        process.stdin.close()
        process.stdout.read(10)
        process.stdout.close()
        stderr = process.stderr.read().decode()
        code = process.wait(timeout=RUN_TIMEOUT)
    CAPTURED_OUTPUT.append(stderr)
    assert_one_clear_error(TapRun(code, "", stderr), "output pipe closed")


def test_soak_short_tokens_tight_window_faults_and_429s(start_emulator, run_tap):
    """Tokens live 2 s, the window is 20 requests a second and unannounced (429s with
    `Retry-After`), 6% faults and 3% truncated bodies: the run still ends exact, never
    failing on an expired token while the refresh token works. Whatever the machine's
    speed, the first requests meet a 429 and HubSpot's 401 for an expired token
    (scripted); the window's own 429s come as fast as the tap goes."""
    account, pairs = seeded_account({("contacts", "companies"): 300, ("deals", "contacts"): 100})
    faults = Faults(
        script=("rate_limited", "expired_token"),
        rate_limited_retry_after=1,
        server_error=0.04,
        locked=0.02,
        truncated_body=0.03,
        latency_seconds=0.02,
    )
    emulator = start_emulator(
        account,
        page_size=4,
        faults=faults,
        rate_limit=RateLimit(max_requests=20, interval_ms=1000, send_headers=False, retry_after=1),
        oauth_clients={CLIENT_ID: (CLIENT_SECRET, REFRESH_TOKEN)},
        token_ttl=2,
    )
    config = oauth_config(emulator, pairs, batch_size=10, max_concurrency=4, max_retries=8)
    run = run_tap(config, emulator=emulator)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.record_set() == truth_of(account, pairs)
    assert emulator.stats.statuses[429] and emulator.stats.tokens_issued >= 2
