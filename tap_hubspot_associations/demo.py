"""`make demo`: the tap against the emulator's demo account, with a short printed summary."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

from tap_hubspot_associations.emulator import Emulator, demo_account

OUTPUT = Path("output/demo")


def main() -> None:
    account, pairs = demo_account()
    OUTPUT.mkdir(parents=True, exist_ok=True)
    with Emulator(account, page_size=10, tokens={"pat-demo-token": None}) as emulator:
        (first_from, first_to), first_ids = next(iter(pairs.items()))
        ids_file = OUTPUT / f"{first_from}_ids.txt"
        ids_file.write_text("".join(f"{i}\n" for i in first_ids))
        config = {
            "access_token": "pat-demo-token",
            "api_url": emulator.url,
            "batch_size": 100,
            "associations": [{"from": first_from, "to": first_to, "ids_file": str(ids_file)}]
            + [
                {"from": f, "to": t, "ids": [str(i) for i in ids]}
                for (f, t), ids in list(pairs.items())[1:]
            ],
        }
        config_path = OUTPUT / "config.json"
        config_path.write_text(json.dumps(config, indent=2))
        messages_path = OUTPUT / "messages.jsonl"
        print(f"HubSpot emulator serving a demo account at {emulator.url}")
        print(f"Running: tap-hubspot-associations --config {config_path} > {messages_path}\n")
        with messages_path.open("w") as out:
            run = subprocess.run(
                [sys.executable, "-m", "tap_hubspot_associations", "--config", str(config_path)],
                stdout=out,
                stderr=subprocess.PIPE,
                text=True,
                check=False,
            )
    coverage = [line.split("| ")[-1] for line in run.stderr.splitlines() if "Coverage of" in line]
    if run.returncode != 0:
        sys.exit(f"the tap failed:\n{run.stderr}")
    messages = [json.loads(line) for line in messages_path.read_text().splitlines()]
    counts = Counter(m["type"] for m in messages)
    records = [m for m in messages if m["type"] == "RECORD"]
    print(f"The tap wrote {sum(counts.values())} Singer messages: {dict(counts)}\n")
    print("Records per stream (each is one association type of one edge):")
    for (from_type, to_type), ids in pairs.items():
        stream = f"{from_type}_to_{to_type}".lower()
        emitted = {tuple(m["record"].values()) for m in records if m["stream"] == stream}
        expected = account.truth(from_type, to_type, ids)
        verdict = "all present" if emitted == expected else "DIFFERENT from the emulator's truth"
        print(f"  {stream:<28} {len(emitted):>6} records, {verdict}")
    print("\nWhat each stream's pass did:")
    for line in coverage:
        print(f"  {line}")
    print("\nA few records:")
    for message in records[:: max(1, len(records) // 4)][:4]:
        print(f"  {message['stream']}: {json.dumps(message['record'])}")
    print(
        f"\nEverything is in {messages_path}, one JSON message a line; the settings used are"
        f" in {config_path}.\nFor a real account, put your private app token in a config like"
        " it (api_url left out)\nand pipe the tap into any Singer target, for example:"
        "\n  .venv/bin/tap-hubspot-associations --config my-config.json | target-jsonl"
    )


if __name__ == "__main__":
    main()
