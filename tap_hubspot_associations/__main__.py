"""Run the tap with `python -m tap_hubspot_associations`."""

from __future__ import annotations

from tap_hubspot_associations.cli import main

main()
