"""Errors that end a run with one clear line instead of a traceback."""

from __future__ import annotations


class TapError(Exception):
    """A problem the user can act on; its message is the whole story."""


class ConfigError(TapError):
    """A setting or input file is wrong."""


class HubSpotError(TapError):
    """HubSpot refused a request in a way retrying cannot fix."""


class IncompleteSyncError(TapError):
    """Some ids still failed after every retry; everything else was emitted."""
