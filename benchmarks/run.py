"""Throughput benchmark: rate budget use, CPU cost per record, memory against list length.

Run with `make benchmark` (or `.venv/bin/python benchmarks/run.py`). Everything runs
against the emulator on loopback, in a process of its own so that it does not share a
CPU budget with what is measured. Figures are measured side by side in one run and
printed as ratios; nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, NamedTuple, TextIO

import requests

from hubspot_emulator import Account, Emulator, Faults, RateLimit
from tests.helpers import start_tap, tap_command

TOKEN = "pat-benchmark-token"


def serve(build: Callable[[], tuple[Account, dict[str, Any]]], conn: Connection) -> None:
    """Emulator process: build the account, serve it, report the URL and then the stats."""
    account, options = build()
    emulator = Emulator(account, tokens={TOKEN: None}, **options)
    conn.send(emulator.start())
    conn.recv()
    stats = emulator.stats
    conn.send(
        {
            "requests": sum(stats.requests.values()),
            "searches": sum(n for path, n in stats.requests.items() if path.endswith("/search")),
            "statuses": dict(stats.statuses),
            "first": emulator.first_request_at,
            "last": emulator.last_request_at,
        }
    )


class EmulatorProcess:
    """An emulator in a child process, so the tap and the emulator each get a core."""

    def __init__(self, build: Callable[[], tuple[Account, dict[str, Any]]]) -> None:
        context = multiprocessing.get_context("fork")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=serve, args=(build, child), daemon=True)
        self._process.start()
        self.url: str = self._conn.recv()

    def finish(self) -> dict[str, Any]:
        self._conn.send("stats")
        stats: dict[str, Any] = self._conn.recv()
        self._process.terminate()
        self._process.join()
        return stats


class TapRun(NamedTuple):
    records: int
    """Association records: the label definitions' records are not counted."""
    wall: float
    cpu: float
    """CPU seconds of the tap process."""
    peak_kib: int
    """Peak RSS."""
    median_kib: int
    """Median of RSS sampled every 0.2 s: the level the run holds, beside its peak."""


def run_tap(config: dict[str, Any], workdir: Path) -> TapRun:
    """Run the tap; what it wrote, and what it cost."""
    config_path = workdir / "config.json"
    config_path.write_text(json.dumps(config))
    started = time.monotonic()
    log_path = workdir / "tap.log"
    with (
        log_path.open("wb") as log,
        start_tap(tap_command(config_path), stdout=subprocess.PIPE, stderr=log) as process,
    ):
        samples: list[int] = []
        sampler = threading.Thread(target=sample_rss, args=(process.pid, samples), daemon=True)
        sampler.start()
        assert process.stdout is not None
        labels = b'{"type":"RECORD","stream":"association_labels"'
        records = sum(
            1
            for line in process.stdout
            if line.startswith(b'{"type":"RECORD"') and not line.startswith(labels)
        )
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        sampler.join()
    wall = time.monotonic() - started
    if process.returncode != 0:
        errors = [line for line in log_path.read_text().splitlines() if "| ERROR" in line]
        sys.exit(f"the tap failed with exit code {process.returncode}: {errors[-3:]}")
    median = statistics.median_low(samples) if samples else 0
    return TapRun(records, wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss, median)


def sample_rss(pid: int, samples: list[int]) -> None:
    """RSS of a running process (Linux), in KiB, every 0.2 s until it ends."""
    status = Path(f"/proc/{pid}/status")
    while True:
        try:
            lines = status.read_text().splitlines()
        except OSError:
            return
        samples += [int(line.split()[1]) for line in lines if line.startswith("VmRSS:")]
        time.sleep(0.2)


def seeded(count: int, *, max_targets: int, seed: int = 3) -> Account:
    account = Account()
    account.seed(
        "contacts", "companies", range(10**11, 10**11 + count), seed=seed, max_targets=max_targets
    )
    return account


def config(url: str, ids_file: Path, **settings: Any) -> dict[str, Any]:
    return {
        "access_token": TOKEN,
        "api_url": url,
        "associations": [{"from": "contacts", "to": "companies", "ids_file": str(ids_file)}],
        **settings,
    }


def write_ids(path: Path, count: int) -> Path:
    with path.open("w") as handle:
        for id_ in range(10**11, 10**11 + count):
            handle.write(f"{id_}\n")
    return path


# Rate budget ---------------------------------------------------------------------------

RATE_PER_10S = 100  # HubSpot's lowest tier
RATE_BATCH = 10  # ids a request: small, so that a short run makes many requests


def rate_account(window_ms: int) -> Callable[[], tuple[Account, dict[str, Any]]]:
    def build() -> tuple[Account, dict[str, Any]]:
        per_window = RATE_PER_10S * window_ms // 10_000
        return seeded(20_000, max_targets=3), {
            "page_size": 100,
            "faults": Faults(latency_seconds=0.4, latency_spread=0.3),
            "rate_limit": RateLimit(max_requests=per_window, interval_ms=window_ms),
        }

    return build


def rate_budget(workdir: Path, *, window_ms: int, windows: int) -> None:
    per_window = RATE_PER_10S * window_ms // 10_000
    allowed = per_window / (window_ms / 1000)
    print(
        f"Rate budget: {per_window} requests per {window_ms} ms window announced "
        f"(max_requests_per_10s {RATE_PER_10S}), 400 ms +-30% latency per request"
    )
    runs = (("tap, max_concurrency 8", 8, windows), ("one request at a time", 1, 1))
    for label, concurrency, run_windows in runs:
        ids = write_ids(workdir / "rate_ids.txt", run_windows * per_window * RATE_BATCH)
        emulator = EmulatorProcess(rate_account(window_ms))
        run_tap(
            config(
                emulator.url,
                ids,
                batch_size=RATE_BATCH,
                max_concurrency=concurrency,
                max_requests_per_10s=RATE_PER_10S,
            ),
            workdir,
        )
        stats = emulator.finish()
        span = stats["last"] - stats["first"]
        achieved = (stats["requests"] - 1) / span
        print(
            f"  {label:<24} {achieved:5.2f} requests/s = {achieved / allowed:.2f} of the "
            f"{allowed:.0f}/s allowed, over {span:.1f} s; "
            f"429s: {stats['statuses'].get(429, 0)} of {stats['requests']} requests"
        )


# CPU ------------------------------------------------------------------------------------

CPU_IDS = 60_000


def cpu_account() -> tuple[Account, dict[str, Any]]:
    return seeded(CPU_IDS, max_targets=40), {
        "page_size": 500,
        "rate_limit": RateLimit(max_requests=100_000),
    }


BATCH_PATH = "/crm/associations/2026-03/contacts/companies/batch/read"


def write_answer(body: dict[str, Any], sink: TextIO, pending: list[dict[str, str]]) -> int:
    """Write the records of one answer as Singer RECORD lines with `json.dumps`; queue the
    ids with another page. The readers the tap is measured against share this."""
    records = 0
    for result in body["results"]:
        from_id = result["from"]["id"]
        for target in result["to"]:
            to_id = str(target["toObjectId"])
            for kind in target["associationTypes"]:
                record = {
                    "from_object_type": "contacts",
                    "from_id": from_id,
                    "to_object_type": "companies",
                    "to_id": to_id,
                    "category": kind["category"],
                    "type_id": kind["typeId"],
                    "label": kind["label"],
                }
                message = {"type": "RECORD", "stream": "contacts_to_companies", "record": record}
                sink.write(json.dumps(message) + "\n")
                records += 1
        after = result.get("paging", {}).get("next", {}).get("after")
        if after:
            pending.append({"id": from_id, "after": after})
    return records


def plain_loop(url: str, ids: list[str], batch_size: int) -> tuple[int, float]:
    """Fetch the same batches with `requests`, parse them with `json`, write the records."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {TOKEN}"
    records = 0
    started = time.process_time()
    with open(os.devnull, "w") as sink:
        pending: list[dict[str, str]] = [{"id": i} for i in ids]
        while pending:
            inputs, pending = pending[:batch_size], pending[batch_size:]
            answer = session.post(url + BATCH_PATH, json={"inputs": inputs})
            records += write_answer(json.loads(answer.content), sink, pending)
    return records, time.process_time() - started


def urllib_loop(url: str, ids: list[str], batch_size: int) -> tuple[int, float]:
    """The leanest honest reader: the standard library alone (urllib, json), one request
    at a time, no SDK; the same batches, every `after` followed, the same records."""
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    records = 0
    started = time.process_time()
    with open(os.devnull, "w") as sink:
        pending: list[dict[str, str]] = [{"id": i} for i in ids]
        while pending:
            inputs, pending = pending[:batch_size], pending[batch_size:]
            request = urllib.request.Request(
                url + BATCH_PATH, data=json.dumps({"inputs": inputs}).encode(), headers=headers
            )
            with urllib.request.urlopen(request) as response:  # loopback
                records += write_answer(json.loads(response.read()), sink, pending)
    return records, time.process_time() - started


def cpu(workdir: Path) -> None:
    ids_path = write_ids(workdir / "cpu_ids.txt", CPU_IDS)
    emulator = EmulatorProcess(cpu_account)
    records, wall, cpu_s, *_ = run_tap(
        config(emulator.url, ids_path, max_requests_per_10s=1000), workdir
    )
    ids = ids_path.read_text().split()
    loop_records, loop_cpu = plain_loop(emulator.url, ids, 1000)
    lean_records, lean_cpu = urllib_loop(emulator.url, ids, 1000)
    emulator.finish()
    assert loop_records == lean_records == records, (records, loop_records, lean_records)
    tap_rate, loop_rate = records / cpu_s, loop_records / loop_cpu
    lean_rate = lean_records / lean_cpu
    print(f"CPU, no latency, {CPU_IDS} ids, {records} records:")
    print(f"  tap                      {tap_rate:9,.0f} records per CPU second ({wall:.1f} s wall)")
    print(f"  plain loop, json.dumps   {loop_rate:9,.0f} records per CPU second")
    print(f"  urllib + json, no SDK    {lean_rate:9,.0f} records per CPU second")
    print(f"  ratio tap / plain loop   {tap_rate / loop_rate:.2f}")
    print(f"  ratio tap / urllib loop  {tap_rate / lean_rate:.2f}")


# Memory ---------------------------------------------------------------------------------


def memory_account() -> tuple[Account, dict[str, Any]]:
    account = Account()
    account.seed(
        "contacts", "companies", range(10**11, 10**11 + 1_000_000, 97), seed=5, max_targets=5
    )
    return account, {"rate_limit": RateLimit(max_requests=100_000)}


def listed_account(count: int) -> Callable[[], tuple[Account, dict[str, Any]]]:
    """`count` contacts, every hundredth with companies (so that the records are spread
    evenly over the pass at every size)."""

    def build() -> tuple[Account, dict[str, Any]]:
        ids = range(10**12, 10**12 + count)
        account = Account()
        account.seed("contacts", "companies", ids[::100], seed=5, max_targets=5)
        account.add_objects("contacts", ids)
        return account, {"rate_limit": RateLimit(max_requests=100_000)}

    return build


def memory(workdir: Path) -> None:
    print("Memory, no latency: RSS, median of samples every 0.2 s and peak")
    listed = {
        "max_requests_per_10s": 1000,
        "associations": [{"from": "contacts", "to": "companies"}],
    }
    for source in ("ids_file", "listed"):
        for count in (100_000, 1_000_000):
            if source == "ids_file":
                emulator = EmulatorProcess(memory_account)
                ids_path = write_ids(workdir / f"mem_ids_{count}.txt", count)
                settings = config(emulator.url, ids_path, max_requests_per_10s=1000)
            else:
                emulator = EmulatorProcess(listed_account(count))
                settings = {**config(emulator.url, workdir / "unused"), **listed}
            run = run_tap(settings, workdir)
            emulator.finish()
            print(
                f"  {count:>9,} ids {'from ids_file' if source == 'ids_file' else 'listed':13}  "
                f"median {run.median_kib / 1024:5.1f} MiB  peak {run.peak_kib / 1024:5.1f} MiB  "
                f"({run.records:,} records, {run.wall:.1f} s)"
            )


# Discovery ------------------------------------------------------------------------------

DISCOVERY_PER_10S = 190


def discovery_account(count: int, latency: float) -> Callable[[], tuple[Account, dict[str, Any]]]:
    def build() -> tuple[Account, dict[str, Any]]:
        account = seeded(count // 10, max_targets=3)
        account.add_objects("contacts", range(10**12, 10**12 + count - count // 10))
        return account, {
            "faults": Faults(latency_seconds=latency, latency_spread=0.3),
            "rate_limit": RateLimit(max_requests=DISCOVERY_PER_10S, interval_ms=10_000),
        }

    return build


def discovery(workdir: Path) -> None:
    # Per 1,000 ids listed one chain: 10 list requests of 100 ids and one batch read.
    ceiling = DISCOVERY_PER_10S / 10 * 1000 / 11
    print(
        f"Discovery: every contact's companies, ids from the list chain and search ranges, "
        f"{DISCOVERY_PER_10S} requests per 10 s (ceiling {ceiling:,.0f} ids/s)"
    )
    for latency, count in ((0.4, 20_000), (0.2, 25_000), (0.05, 40_000)):
        emulator = EmulatorProcess(discovery_account(count, latency))
        settings = {
            "max_requests_per_10s": DISCOVERY_PER_10S,
            "associations": [{"from": "contacts", "to": "companies"}],
        }
        run_tap({**config(emulator.url, workdir / "unused"), **settings}, workdir)
        stats = emulator.finish()
        span = stats["last"] - stats["first"]
        refused = stats["statuses"].get(429, 0)
        print(
            f"  {latency * 1000:4.0f} ms latency  {count / span:7,.0f} ids/s = "
            f"{count / span / ceiling:.2f} of the ceiling ({count:,} ids in {span:.1f} s, "
            f"{stats['requests']} requests, 429s: {refused} = "
            f"{refused / stats['requests']:.1%})"
        )


# Incremental ---------------------------------------------------------------------------

INCREMENTAL_TOTAL = 60_000
INCREMENTAL_CHANGED = 12_000  # more than one search query answers (10,000)
BULK_UPDATE_MS = int(time.time() * 1000) - 3_600_000
INCREMENTAL_LATENCY = 0.4


def incremental_account() -> tuple[Account, dict[str, Any]]:
    """Contacts of which a fifth were stamped by one bulk update an hour ago."""
    account, options = discovery_account(INCREMENTAL_TOTAL, INCREMENTAL_LATENCY)()
    changed = sorted(account.objects["0-1"])[:: INCREMENTAL_TOTAL // INCREMENTAL_CHANGED]
    account.modify("contacts", changed, at=BULK_UPDATE_MS)
    return account, options


def incremental(workdir: Path) -> None:
    # Search answers 200 ids a request, 5 requests a second.
    ceiling = 5 * 200
    print(
        f"Incremental: {INCREMENTAL_CHANGED:,} of {INCREMENTAL_TOTAL:,} contacts changed by one "
        f"bulk update, {INCREMENTAL_LATENCY * 1000:.0f} ms latency, {DISCOVERY_PER_10S} "
        "requests per 10 s "
        f"(search ceiling {ceiling:,} ids/s)"
    )
    spans = {}
    for kind, settings in (
        ("incremental pass", {"start_date": "2020-06-01T00:00:00Z", "full_pass_every_days": 0}),
        ("full pass", {}),
    ):
        emulator = EmulatorProcess(incremental_account)
        settings = {
            **settings,
            "max_requests_per_10s": DISCOVERY_PER_10S,
            "associations": [{"from": "contacts", "to": "companies"}],
        }
        records = run_tap({**config(emulator.url, workdir / "unused"), **settings}, workdir)[0]
        stats = emulator.finish()
        spans[kind] = span = stats["last"] - stats["first"]
        rate = f"{INCREMENTAL_CHANGED / span:7,.0f} changed ids/s" if kind.startswith("inc") else ""
        refused = stats["statuses"].get(429, 0)
        print(
            f"  {kind:17} {span:5.1f} s  {rate}  ({records:,} records, "
            f"{stats['requests']} requests, 429s: {refused} = {refused / stats['requests']:.1%})"
        )
    incremental_rate = INCREMENTAL_CHANGED / spans["incremental pass"]
    print(
        f"  incremental / search ceiling {incremental_rate / ceiling:.2f}; "
        f"full pass takes {spans['full pass'] / spans['incremental pass']:.1f} times as long"
    )


# Whole account --------------------------------------------------------------------------

ACCOUNT_TYPES = {
    "contacts": 6_000,
    "deals": 3_000,
    "companies": 2_000,
    "tickets": 2_000,
    "notes": 2_000,
    "calls": 1_000,
}
ACCOUNT_PAIRS = [
    ("contacts", "companies"),
    ("contacts", "deals"),
    ("contacts", "tickets"),
    ("deals", "contacts"),
    ("deals", "companies"),
    ("companies", "contacts"),
    ("tickets", "contacts"),
    ("notes", "contacts"),
    ("calls", "contacts"),
]
ACCOUNT_LATENCY = 0.4
SEARCH_PAGE = 200
BATCH = 1000


def whole_account() -> tuple[Account, dict[str, Any]]:
    """Six types, 16,000 records; each pair's associations on a third of its `from` ids."""
    account = Account()
    for index, (object_type, count) in enumerate(ACCOUNT_TYPES.items()):
        first = (index + 1) * 10**11
        account.add_objects(object_type, range(first, first + count))
    for index, (from_type, to_type) in enumerate(ACCOUNT_PAIRS):
        ids = sorted(account.objects[account.type_id(from_type) or ""])
        account.seed(from_type, to_type, ids[index % 3 :: 3], seed=index, max_targets=5)
    return account, {
        "faults": Faults(latency_seconds=ACCOUNT_LATENCY, latency_spread=0.3),
        "rate_limit": RateLimit(max_requests=DISCOVERY_PER_10S, interval_ms=10_000),
    }


def account_minimum() -> tuple[int, int]:
    """The fewest requests that read the whole account, and the searches among them:
    each type enumerated once by search (200 ids a page), each pair's ids read 1,000 a
    batch, one label request a pair (no id of this account has a second page)."""
    searches = sum(-(-count // SEARCH_PAGE) for count in ACCOUNT_TYPES.values())
    batches = sum(-(-ACCOUNT_TYPES[from_type] // BATCH) for from_type, _ in ACCOUNT_PAIRS)
    return searches + batches + len(ACCOUNT_PAIRS), searches


def account_graph(workdir: Path) -> None:
    minimum, searches = account_minimum()
    allowed = max(minimum / (DISCOVERY_PER_10S / 10), searches / 5)
    print(
        f"Whole account: {len(ACCOUNT_TYPES)} types, {sum(ACCOUNT_TYPES.values()):,} records, "
        f"{len(ACCOUNT_PAIRS)} pairs without ids, {ACCOUNT_LATENCY * 1000:.0f} ms latency, "
        f"{DISCOVERY_PER_10S} requests per 10 s; at least {minimum} requests "
        f"({searches} searches), which the limits allow in {allowed:.1f} s"
    )
    emulator = EmulatorProcess(whole_account)
    settings = {
        "max_requests_per_10s": DISCOVERY_PER_10S,
        "associations": [{"from": f, "to": t} for f, t in ACCOUNT_PAIRS],
    }
    run = run_tap({**config(emulator.url, workdir / "unused"), **settings}, workdir)
    stats = emulator.finish()
    span = stats["last"] - stats["first"]
    used, searched = stats["requests"], stats["searches"]
    print(
        f"  requests {used} ({searched} searches) = {used / minimum:.2f} of the minimum; "
        f"{span:.1f} s = {span / allowed:.2f} of the time allowed "
        f"({run.records:,} records, 429s: {stats['statuses'].get(429, 0)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only",
        choices=("rate", "cpu", "memory", "discovery", "incremental", "account"),
    )
    parser.add_argument("--window-ms", type=int, default=10_000, help="rate-limit window")
    parser.add_argument("--windows", type=int, default=4, help="windows the rate run spans")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        if args.only in (None, "rate"):
            rate_budget(workdir, window_ms=args.window_ms, windows=args.windows)
        if args.only in (None, "cpu"):
            cpu(workdir)
        if args.only in (None, "memory"):
            memory(workdir)
        if args.only in (None, "discovery"):
            discovery(workdir)
        if args.only in (None, "incremental"):
            incremental(workdir)
        if args.only in (None, "account"):
            account_graph(workdir)


if __name__ == "__main__":
    main()
