"""`make demo`: the whole job on a demo account, end to end, explained as it goes.

A HubSpot emulator serves a small demo portal on loopback; `meltano run` extracts its
associations with this tap into JSON Lines files (target-jsonl); the files are loaded
into an SQLite database, the embedded database every Python has; a summary says what
arrived and how to look at it.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from hubspot_emulator import Emulator, demo_account

OUTPUT = Path("output/demo")
MELTANO = Path(".venv-meltano/bin/meltano")
LABEL_COLUMNS = ("from_object_type", "to_object_type", "category", "type_id", "label")
COLUMNS = ("from_object_type", "from_id", "to_object_type", "to_id", "category", "type_id", "label")


def main() -> None:
    account, pairs = demo_account()
    jsonl_dir = OUTPUT / "jsonl"
    jsonl_dir.mkdir(parents=True, exist_ok=True)
    for old in jsonl_dir.glob("*.jsonl"):
        old.unlink()
    (first_from, first_to), first_ids = next(iter(pairs.items()))
    ids_file = OUTPUT / f"{first_from}_ids.txt"
    ids_file.write_text("".join(f"{i}\n" for i in first_ids))
    associations = [{"from": first_from, "to": first_to, "ids_file": str(ids_file)}] + [
        {"from": f, "to": t, "ids": [str(i) for i in ids]}
        for (f, t), ids in list(pairs.items())[1:]
    ]

    step("1. Install the tap and target-jsonl with Meltano (from meltano.yml)")
    meltano("install")

    with Emulator(account, page_size=10, tokens={"pat-demo-token": None}) as emulator:
        step(f"2. A HubSpot emulator serves a demo portal at {emulator.url}")
        for (f, t), ids in pairs.items():
            print(f"   {len(ids)} {f} records; we ask for their associations to {t}")
        step("3. meltano run tap-hubspot-associations target-jsonl")
        meltano(
            "run",
            "tap-hubspot-associations",
            "target-jsonl",
            env={
                "TAP_HUBSPOT_ASSOCIATIONS_ACCESS_TOKEN": "pat-demo-token",
                "TAP_HUBSPOT_ASSOCIATIONS_API_URL": emulator.url,
                "TAP_HUBSPOT_ASSOCIATIONS_ASSOCIATIONS": json.dumps(associations),
                "TARGET_JSONL_DESTINATION_PATH": str(jsonl_dir),
                "MELTANO_DATABASE_URI": f"sqlite:///{(OUTPUT / 'meltano.db').resolve()}",
            },
        )

    step("4. Load the JSON Lines files into SQLite")
    database = OUTPUT / "hubspot.db"
    database.unlink(missing_ok=True)
    with sqlite3.connect(database) as db:
        for (from_type, to_type), ids in pairs.items():
            table = f"{from_type}_to_{to_type}".lower()
            rows = [
                tuple(json.loads(line)[c] for c in COLUMNS)
                for path in sorted(jsonl_dir.glob(f"{table}*.jsonl"))
                for line in path.read_text().splitlines()
            ]
            db.execute(
                f"create table {table} ({', '.join(COLUMNS)}, "
                "primary key (from_id, to_id, category, type_id))"
            )
            db.executemany(f"insert or replace into {table} values (?, ?, ?, ?, ?, ?, ?)", rows)
            expected = account.truth(from_type, to_type, ids)
            stored = set(db.execute(f"select * from {table}"))
            verdict = "all of them" if stored == expected else "NOT what the emulator holds"
            print(f"   {table:<24} {len(stored):>5} associations  ({verdict})")

        labels = [
            tuple(json.loads(line)[c] for c in LABEL_COLUMNS)
            for path in sorted(jsonl_dir.glob("association_labels*.jsonl"))
            for line in path.read_text().splitlines()
        ]
        db.execute(f"create table association_labels ({', '.join(LABEL_COLUMNS)})")
        db.executemany("insert into association_labels values (?, ?, ?, ?, ?)", labels)
        print(f"   {'association_labels':<24} {len(labels):>5} label definitions")

        step("5. A few rows (one row per association type of an edge)")
        table = f"{first_from}_to_{first_to}"
        query = f"select from_id, to_id, category, type_id, label from {table} limit 5"
        show(db, query)

        step("6. Which kinds of association, named by the label definitions")
        show(
            db,
            "select l.type_id, coalesce(l.label, '(unlabeled)'), count(*) from "
            f"{table} a join association_labels l on l.type_id = a.type_id and "
            f"l.category = a.category and l.from_object_type = '{first_from}' "
            "group by 1, 2 order by 3 desc",
        )

    step("Where things are")
    print(f"   database:        {database}  (SQLite; one table per stream)")
    print(f"   raw output:      {jsonl_dir}/*.jsonl  (what the tap sent, one record a line)")
    print("   settings used:   meltano.yml, with the demo values in the environment")
    print(
        '   query it:        python3 -c "import sqlite3; print(sqlite3.connect('
        f"'{database}').execute('select count(*) from {table}').fetchone())\""
    )
    print("   your own portal: meltano config tap-hubspot-associations set access_token ...")


def show(db: sqlite3.Connection, query: str) -> None:
    print(f"   sqlite> {query};")
    for row in db.execute(query):
        print("   " + " | ".join("null" if v is None else str(v) for v in row))


def step(title: str) -> None:
    print(f"\n{title}", flush=True)


def meltano(*args: str, env: dict[str, str] | None = None) -> None:
    result = subprocess.run(
        [str(MELTANO), *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        sys.exit(f"meltano {' '.join(args)} failed:\n{result.stderr[-4000:]}")
    print("   done")


if __name__ == "__main__":
    main()
