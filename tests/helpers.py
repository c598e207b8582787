"""Shared test plumbing: constants, the tap run as users run it, accounts, output checks.

Tests import from here, never from `conftest` (pytest imports that itself; importing it
again would make a second copy of the suite-wide lists such as `CAPTURED_OUTPUT`). The
fixtures built on this live in `conftest.py`.
"""

from __future__ import annotations

import calendar
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from hubspot_emulator import Account, Emulator, TruthRecord

ROOT = Path(__file__).resolve().parent.parent
"""The repository's top directory."""
TOKEN = "pat-na1-test-0000-secret-token"
CLIENT_ID = "client-id-1234"
CLIENT_SECRET = "client-secret-never-printed"
REFRESH_TOKEN = "refresh-token-never-printed"
SECRETS = (TOKEN, CLIENT_SECRET, REFRESH_TOKEN)
RUN_TIMEOUT = 120
LABELS_STREAM = "association_labels"
CAPTURED_OUTPUT: list[str] = []
"""Everything every tap run of the session printed, for the suite-wide secret scan."""
ISSUED_TOKENS: set[str] = set()
"""Every OAuth access token the emulators handed out."""
FAST_RATE = 1000
"""Requests per 10 s in tests that are not about rate limits, so they run at full speed."""
ARRIVAL_GRACE = 0.3
"""Arrival delays on a busy machine the "no 429" tests tolerate (`RateLimit.arrival_grace`)."""


@dataclass
class TapRun:
    """What one run of the tap printed and how it ended."""

    returncode: int
    stdout: str
    stderr: str

    @property
    def messages(self) -> list[dict[str, Any]]:
        return parse_messages(self.stdout)

    def records(self, stream: str | None = None) -> list[dict[str, Any]]:
        """Records of one stream, or of every association stream."""
        return [
            m["record"]
            for m in self.messages
            if m["type"] == "RECORD"
            and (m["stream"] == stream if stream else m["stream"] != LABELS_STREAM)
        ]

    def record_set(self, stream: str | None = None) -> set[TruthRecord]:
        return {as_truth(r) for r in self.records(stream)}

    def states(self) -> list[dict[str, Any]]:
        return [m["value"] for m in self.messages if m["type"] == "STATE"]

    def error_lines(self) -> list[str]:
        """Error lines; the tap's own one-line verdict comes last."""
        return [line for line in self.stderr.splitlines() if "| ERROR" in line]


def as_truth(record: dict[str, Any]) -> TruthRecord:
    return (
        record["from_object_type"],
        record["from_id"],
        record["to_object_type"],
        record["to_id"],
        record["category"],
        record["type_id"],
        record["label"],
    )


def association_records(messages: list[dict[str, Any]]) -> list[TruthRecord]:
    """The association records among Singer messages, as truth tuples."""
    return [
        as_truth(m["record"])
        for m in messages
        if m["type"] == "RECORD" and m["stream"] != LABELS_STREAM
    ]


def batch_reads(emulator: Emulator) -> int:
    """How many batch read requests the emulator received."""
    return sum(n for path, n in emulator.stats.requests.items() if path.endswith("/batch/read"))


def last_state(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The value of the last STATE among Singer messages: what a target would keep."""
    return [m["value"] for m in messages if m["type"] == "STATE"][-1]


def parse_messages(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def assert_no_secrets(*outputs: str, extra: tuple[str, ...] = ()) -> None:
    for secret in SECRETS + extra:
        for output in outputs:
            assert secret not in output, "a secret appeared in the tap's output"


def tap_command(config_path: Path | str, state_path: Path | None = None) -> list[str]:
    """The tap's command line; `config_path` "ENV" reads settings from the environment."""
    command = [sys.executable, "-m", "tap_hubspot_associations", "--config", str(config_path)]
    if state_path is not None:
        command += ["--state", str(state_path)]
    return command


def clean_env() -> dict[str, str]:
    """The environment without any TAP_HUBSPOT_ASSOCIATIONS_* setting from outside."""
    return {k: v for k, v in os.environ.items() if not k.startswith("TAP_HUBSPOT_ASSOCIATIONS_")}


def start_tap(
    command: list[str], *, env: Mapping[str, str] | None = None, **popen: Any
) -> subprocess.Popen[Any]:
    """Start the tap's command line (`tap_command`, and any flags after it) as a user
    would, with no setting from outside the test (`clean_env`) but `env`: the one way
    the tests and the benchmarks start it. `popen`: where its output goes."""
    return subprocess.Popen(command, env={**clean_env(), **(env or {})}, **popen)


def run_tap_command(
    command: list[str],
    *,
    stdin: str | None = None,
    env: Mapping[str, str] | None = None,
    emulator: Emulator | None = None,
) -> TapRun:
    """Run the tap's command line to its end, `stdin` given; what it printed joins the
    suite-wide secret scan and is checked now for every secret, the tokens `emulator`
    issued (during the run too) included."""
    with start_tap(
        command,
        env=env,
        stdin=subprocess.PIPE if stdin is not None else None,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        try:
            stdout, stderr = process.communicate(stdin, timeout=RUN_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    CAPTURED_OUTPUT.extend((stdout, stderr))
    issued = tuple(emulator.issued_tokens()) if emulator is not None else ()
    assert_no_secrets(stdout, stderr, extra=issued)
    return TapRun(process.returncode, stdout, stderr)


def assert_one_clear_error(run: TapRun, *expected: str, before_any_output: bool = False) -> None:
    """The run failed (exit code 1) with exactly one ERROR line, holding each of
    `expected`, and no traceback; `before_any_output`: and wrote nothing to stdout (no
    SCHEMA, STATE or RECORD before its one ERROR)."""
    assert run.returncode == 1, run.stderr[-2000:]
    assert "Traceback" not in run.stderr
    errors = run.error_lines()
    assert len(errors) == 1, run.stderr[-2000:]
    for text in expected:
        assert text in errors[0], errors[0]
    if before_any_output:
        assert run.stdout == "", "no SCHEMA, STATE or RECORD before the run's one ERROR"


def offline_config(**pair: object) -> dict[str, Any]:
    """A config of one pair, contacts to companies with id 1 (changed as given; None
    removes a key), whose `api_url` answers nothing: for runs that must stop before
    they would reach HubSpot."""
    listed = {"from": "contacts", "to": "companies", "ids": ["1"], **pair}
    return {
        "access_token": TOKEN,
        "api_url": "http://127.0.0.1:9",
        "associations": [{k: v for k, v in listed.items() if v is not None}],
    }


def run_and_kill(
    command: list[str], kill_when: Callable[[dict[str, Any]], bool]
) -> tuple[list[dict[str, Any]], bool]:
    """Run the tap and SIGKILL it as soon as `kill_when` holds for a message it wrote.

    Returns every message it wrote (a target would have read them all), and whether it
    was killed.
    """
    messages: list[dict[str, Any]] = []
    with (
        tempfile.TemporaryFile("w+") as stderr,
        start_tap(command, stdout=subprocess.PIPE, stderr=stderr, text=True) as process,
    ):
        assert process.stdout is not None
        for line in process.stdout:
            messages.append(json.loads(line))
            if kill_when(messages[-1]):
                process.send_signal(signal.SIGKILL)
                break
        # A line the kill cut short never reaches a target as a message.
        messages += [json.loads(line) for line in process.stdout if line.endswith("\n")]
        process.wait(timeout=RUN_TIMEOUT)
        stderr.seek(0)
        CAPTURED_OUTPUT.extend((json.dumps(messages), stderr.read()))
    assert process.returncode in (0, -signal.SIGKILL), process.returncode
    return messages, process.returncode == -signal.SIGKILL


def config_for(
    emulator: Emulator, pairs: dict[tuple[str, str], list[int]], **settings: Any
) -> dict[str, Any]:
    """A config reading `pairs` from the emulator with a private app token."""
    return {
        "access_token": TOKEN,
        "api_url": emulator.url,
        "max_requests_per_10s": FAST_RATE,
        "associations": [
            {"from": from_type, "to": to_type, "ids": [str(i) for i in ids]}
            for (from_type, to_type), ids in pairs.items()
        ],
        **settings,
    }


def oauth_config(
    emulator: Emulator, pairs: dict[tuple[str, str], list[int]], **settings: Any
) -> dict[str, Any]:
    """A config reading `pairs` from the emulator with OAuth credentials."""
    config = config_for(emulator, pairs, **settings)
    del config["access_token"]
    return {
        **config,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "refresh_token": REFRESH_TOKEN,
    }


def truth_of(account: Account, pairs: dict[tuple[str, str], list[int]]) -> set[TruthRecord]:
    return set().union(*(account.truth(f, t, ids) for (f, t), ids in pairs.items()))


def seeded_account(
    pairs: dict[tuple[str, str], int], *, seed: int = 1, max_targets: int = 40
) -> tuple[Account, dict[tuple[str, str], list[int]]]:
    """An account where each pair has `count` from-ids with random associations."""
    account = Account(custom_objects={"2-4242": "cars"})
    ids: dict[tuple[str, str], list[int]] = {}
    for index, ((from_type, to_type), count) in enumerate(pairs.items()):
        first = 10**11 + index * 10**6
        ids[(from_type, to_type)] = list(range(first, first + count))
        account.seed(
            from_type, to_type, ids[(from_type, to_type)], seed=seed, max_targets=max_targets
        )
    return account, ids


Answer = tuple[int, dict[str, str], bytes]
"""Status, headers and body of one answer of a `HostileServer`."""


class HostileServer:
    """A small HTTP server on loopback answering as a test says, for behaviours the
    emulator never shows (a faithful HubSpot would not). `answer` gets the method,
    path, headers and body of each request and returns status, headers and body."""

    def __init__(self, answer: Callable[[str, str, dict[str, str], bytes], Answer]) -> None:
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                headers = dict(self.headers.items())
                server.requests.append((self.command, self.path, headers, body))
                status, extra, content = answer(self.command, self.path, headers, body)
                self.send_response(status)
                for name, value in extra.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            do_GET = do_POST = _serve

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def __enter__(self) -> HostileServer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def json_answer(status: int, body: object, **headers: str) -> Answer:
    return status, {"Content-Type": "application/json", **headers}, json.dumps(body).encode()


def leaked(outputs: list[str], secrets: tuple[str, ...]) -> list[str]:
    """The secrets found in any of `outputs`."""
    return [secret for secret in secrets if any(secret in output for output in outputs)]


# Times written and read by the tests themselves, never by the tap's helpers: a bug that
# shifts the tap's writing and reading alike would otherwise cancel out in the tests.

HOUR_MS = 3_600_000
DAY_MS = 86_400_000


def iso_utc(ms: int) -> str:
    """Epoch milliseconds as `2026-01-31T00:00:00.000Z`, the form the docs give."""
    seconds, millis = divmod(ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


def ms_of(text: str) -> int:
    """Epoch milliseconds of a `...Z` time the tap wrote (UTC, with or without ms)."""
    assert text.endswith("Z"), f"{text!r} is not a UTC time"
    whole, _, fraction = text[:-1].partition(".")
    seconds = calendar.timegm(time.strptime(whole, "%Y-%m-%dT%H:%M:%S"))
    return seconds * 1000 + (int(fraction.ljust(3, "0")[:3]) if fraction else 0)


def wall_ms() -> int:
    return int(time.time() * 1000)


def run_and_kill_when(
    command: list[str], kill_when: Callable[[], bool], *, poll: float = 0.05
) -> tuple[list[dict[str, Any]], bool]:
    """Run the tap and SIGKILL it as soon as `kill_when()` holds, polled in time rather
    than per message (a tap waiting on a slow request writes nothing). Returns every
    complete message it wrote, and whether it was killed."""
    with (
        tempfile.TemporaryFile("w+") as stdout,
        tempfile.TemporaryFile("w+") as stderr,
        start_tap(command, stdout=stdout, stderr=stderr, text=True) as process,
    ):
        deadline = time.monotonic() + RUN_TIMEOUT
        killed = False
        while process.poll() is None and time.monotonic() < deadline:
            if kill_when():
                process.send_signal(signal.SIGKILL)
                killed = True
                break
            time.sleep(poll)
        process.wait(timeout=RUN_TIMEOUT)
        stdout.seek(0)
        stderr.seek(0)
        lines = stdout.read().splitlines(keepends=True)
        messages = [json.loads(line) for line in lines if line.endswith("\n")]
        CAPTURED_OUTPUT.extend((json.dumps(messages), stderr.read()))
    assert process.returncode in (0, -signal.SIGKILL), process.returncode
    return messages, killed
