"""The command `tap-hubspot-associations`, also run as `python -m tap_hubspot_associations`."""

from __future__ import annotations

from tap_hubspot_associations.cli import run
from tap_hubspot_associations.tap import TapHubSpotAssociations


def main() -> None:
    """Console entry point."""
    run(TapHubSpotAssociations)


if __name__ == "__main__":
    main()
