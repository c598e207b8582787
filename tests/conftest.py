"""Fixtures: an emulator per test, the tap run as users run it with its output checked,
and the suite-wide secret scan.

Everything else shared by the tests lives in `tests.helpers`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hubspot_emulator import Account, Emulator, RateLimit
from tests.helpers import (
    CAPTURED_OUTPUT,
    FAST_RATE,
    ISSUED_TOKENS,
    SECRETS,
    TOKEN,
    TapRun,
    leaked,
    run_tap_command,
    tap_command,
)


@pytest.fixture(scope="session", autouse=True)
def no_secret_in_any_output() -> Iterator[None]:
    """The suite-wide secret scan, after the last test of the session (of each worker,
    when the suite runs in several: each scans what it ran): nothing any tap, Meltano or
    install command printed (`CAPTURED_OUTPUT`) holds a configured secret or a token
    an emulator issued. Each run is checked as it ends too; this catches a secret that
    only a later test learned of, such as a token issued afterwards."""
    yield
    if RUNS_OF_THE_TAP:
        assert CAPTURED_OUTPUT, "the tap ran, yet nothing it printed reached the scan"
    leaks = leaked(CAPTURED_OUTPUT, (*SECRETS, *ISSUED_TOKENS))
    assert not leaks, f"{len(leaks)} secrets appeared in the output of the suite's runs"


RUNS_OF_THE_TAP: list[str] = []
"""Tests of this process that ran the tap (`run_tap`): the scan must have seen output."""


def pytest_runtest_setup(item: pytest.Item) -> None:
    if "run_tap" in getattr(item, "fixturenames", ()):
        RUNS_OF_THE_TAP.append(item.nodeid)


@pytest.fixture
def run_tap(tmp_path: Path) -> Iterator[Any]:
    """Run the tap's command line as a user would; every output is checked for secrets."""
    runs = 0

    def run(
        config: dict[str, Any] | None,
        *,
        state: dict[str, Any] | None = None,
        emulator: Emulator | None = None,
        args: list[str] | None = None,
        env: dict[str, str] | None = None,
    ) -> TapRun:
        nonlocal runs
        runs += 1
        config_path: Path | str = "ENV"
        if config is not None:
            config_path = tmp_path / f"config-{runs}.json"
            config_path.write_text(json.dumps(config))
        state_path = None
        if state is not None:
            state_path = tmp_path / f"state-{runs}.json"
            state_path.write_text(json.dumps(state))
        command = tap_command(config_path, state_path) + (args or [])
        return run_tap_command(command, env=env, emulator=emulator)

    yield run


@pytest.fixture
def start_emulator() -> Iterator[Any]:
    """Start emulators on loopback for one test; all are stopped after it."""
    started: list[Emulator] = []

    def start(account: Account, **options: Any) -> Emulator:
        options.setdefault("rate_limit", RateLimit(max_requests=FAST_RATE))
        emulator = Emulator(account, tokens={TOKEN: None}, **options)
        emulator.start()
        started.append(emulator)
        return emulator

    yield start
    for emulator in started:
        ISSUED_TOKENS.update(emulator.issued_tokens())
        emulator.stop()
