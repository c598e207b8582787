"""`python -m hubspot_emulator`: serve a demo HubSpot account on loopback until Ctrl-C,
to try the tap without a HubSpot account (README, "Try it locally")."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

from hubspot_emulator.account import demo_account
from hubspot_emulator.faults import Faults, RateLimit
from hubspot_emulator.server import Emulator

TOKEN = "pat-local-emulator-token"
"""The one access token the emulator accepts when run from the command line."""


def at_least(low: float, kind: type[int] | type[float]) -> Callable[[str], float]:
    """An argparse type: a number of `kind`, `low` or more."""

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not value >= low:
            raise argparse.ArgumentTypeError(f"{text} is less than {low}")
        return value

    return parse


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m hubspot_emulator",
        description=(
            "Serve a demo HubSpot account on loopback (http://127.0.0.1:PORT) until Ctrl-C: "
            "contacts, companies, deals and a custom object `p4242_cars`, with their "
            f"associations. The access token is {TOKEN}."
        ),
    )
    parser.add_argument(
        "--port",
        type=at_least(0, int),
        default=8765,
        help="port to listen on (default 8765; 0: any free)",
    )
    parser.add_argument(
        "--page-size",
        type=at_least(1, int),
        default=10,
        help="associations per page of a batch read answer, so that records have several "
        "pages to follow (default 10; HubSpot's is 500)",
    )
    parser.add_argument(
        "--latency",
        type=at_least(0, float),
        default=0.0,
        help="seconds every answer takes, as HubSpot's 100 to 400 ms (default 0)",
    )
    parser.add_argument(
        "--max-requests-per-10s",
        type=at_least(1, int),
        default=100,
        help="requests per 10 s before answering 429, as HubSpot's limit (default 100)",
    )
    parser.add_argument(
        "--write-config",
        type=Path,
        metavar="PATH",
        help="write a tap config for this emulator to PATH (api_url, token, the demo pairs)",
    )
    return parser


def main() -> None:
    options = parser()
    args = options.parse_args()
    account, pairs = demo_account()
    emulator = Emulator(
        account,
        page_size=args.page_size,
        tokens={TOKEN: None},
        faults=Faults(latency_seconds=args.latency),
        rate_limit=RateLimit(max_requests=args.max_requests_per_10s),
    )
    try:
        url = emulator.start(port=args.port)
    except (OSError, OverflowError) as exc:
        options.error(f"cannot listen on 127.0.0.1:{args.port}: {exc}")
    config = {
        "api_url": url,
        "access_token": TOKEN,
        "associations": [{"from": f, "to": t} for f, t in pairs],
    }
    if args.write_config is not None:
        try:
            args.write_config.write_text(json.dumps(config, indent=2) + "\n")
        except OSError as exc:
            emulator.stop()
            options.error(f"--write-config {args.write_config}: {exc.strerror or exc}")
    print(f"HubSpot emulator at {url}, access token {TOKEN}; Ctrl-C stops it", flush=True)
    print(f"A config for the tap: {json.dumps(config)}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        emulator.stop()


if __name__ == "__main__":
    main()
