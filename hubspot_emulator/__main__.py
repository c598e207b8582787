"""`python -m hubspot_emulator`: serve a demo HubSpot account on loopback until Ctrl-C."""

from __future__ import annotations

import argparse
import time

from hubspot_emulator.account import demo_account
from hubspot_emulator.server import Emulator


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve a demo HubSpot account on loopback.")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--page-size", type=int, default=10)
    args = parser.parse_args()
    account, pairs = demo_account()
    emulator = Emulator(account, page_size=args.page_size)
    url = emulator.start(port=args.port)
    print(f"HubSpot emulator at {url}; token pat-test-token; pairs: {list(pairs)}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        emulator.stop()


if __name__ == "__main__":
    main()
