"""What can go wrong: the faults the emulator injects, and HubSpot's rate limits."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Faults:
    """Failures the emulator injects, and latency of every API call.

    Batch reads, listings and searches fail at the given rates; `script` names the
    faults of the first batch read requests, one each, in order: "none",
    failures ("server_error", "locked", "migrating", "html_502", "stall", "reset",
    "bad_request"), or
    mangled answers to a good request ("truncated", "html_200", "missing_results",
    "null_to", "extra_id"). After it, faults come at the given rates (0 to 1).
    """

    script: tuple[str, ...] = ()
    search_script: tuple[str, ...] = ()
    """Faults of the first search requests, as `script` (failures and "truncated")."""
    server_error: float = 0.0
    locked: float = 0.0
    html_502: float = 0.0
    truncated_body: float = 0.0
    id_error: float = 0.0
    latency_seconds: float = 0.0
    latency_spread: float = 0.3
    stall: float = 0.0
    stall_seconds: float = 5.0
    failing_ids: frozenset[int] = frozenset()
    errors_in_200: bool = False


@dataclass
class RateLimit:
    """HubSpot's rolling window, and the daily budget."""

    max_requests: int = 100
    interval_ms: int = 10_000
    send_headers: bool = True
    retry_after: float | None = None
    daily: int | None = None
    taken_by_others: int = 0
    """Slots of every window that other clients of the app hold."""
