"""What can go wrong: the faults the emulator injects, and HubSpot's rate limits."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Faults:
    """Failures the emulator injects, and latency of every API call.

    Batch reads, listings and searches fail at the given rates; `script` names the
    faults of the first batch read requests, one each, in order: "none",
    failures ("server_error", "locked", "migrating", "html_502", "stall", "reset",
    "bad_request"), refusals ("rate_limited": a 429 carrying `Retry-After:
    rate_limited_retry_after`; "expired_token": the OAuth token of the request expires
    now, and the request gets HubSpot's 401), or
    mangled answers to a good request ("truncated", "html_200", "missing_results",
    "null_to", "extra_id"). After it, faults come at the given rates (0 to 1).

    A "stall" answers normally after `stall_seconds`. `slow_ids` make every batch read
    holding one of them answer only after `slow_seconds` (or `Emulator.release_stalls()`),
    while other requests go on: one slow batch among fast ones.
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
    rate_limited_retry_after: float = 3.0
    slow_ids: frozenset[int] = frozenset()
    slow_seconds: float = 60.0
    first_answer_seconds: float = 0.0
    """The very first API request, whatever it asks, is answered after this long."""


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
    arrival_grace: float = 0.0
    """Seconds sooner than HubSpot would that a request leaves the window here, this
    one and the one-second windows (search's own, the legacy `SECONDLY`).

    A client can only date its requests by when it sent them; on a busy test machine a
    request may reach the emulator a scheduling delay later than it would reach HubSpot,
    and so stay in the window that much longer. Tests that assert "no 429" set a grace
    above such delays so that they measure the client's pacing, not the machine's load.
    The grace decides 429s only: `X-HubSpot-RateLimit-Remaining` counts the whole
    window, or a client would read other clients' share low by what the grace forgot."""


@dataclass
class SearchIndex:
    """How CRM search's index falls short of the records HubSpot lists.

    Search is a second index, filled from the records asynchronously: besides lagging
    writes (`Emulator(search_lag_seconds=...)`), it can be empty or partial during an
    outage or a reindex, answer in an order other than the one asked, repeat an answer,
    or refuse searches of a type altogether.
    """

    empty: bool = False
    """The index holds nothing: every search finds no record, `total` 0."""
    missing: frozenset[int] = frozenset()
    """Ids of records the index does not hold (listing does)."""
    ignores_sort: bool = False
    """Results come in ascending id order, whatever sort was asked."""
    repeats_every: int = 0
    """Every n-th search (0: none) is answered with the answer of the one before."""
    refused_status: int | None = None
    """Every search is refused with this status (400, 403 or 404), HubSpot's error body."""
