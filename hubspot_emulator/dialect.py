"""Which of HubSpot's answer shapes the emulator gives, where HubSpot has several.

HubSpot's documents and the answers others recorded disagree in places; a tap must
read every shape, so the emulator can speak each of them (see docs/hubspot-api.md).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Dialect:
    """The shapes of the emulator's answers; the defaults are what v4 answers show."""

    error_input_as_id: bool = False
    """Batch-read error entries name their input as `id` (the 2026-03 reference)
    instead of `context.fromObjectId` (observed on v4)."""
    sub_category_object: bool = False
    """`subCategory` is an object (`{"name": ...}`, the 2026-03 reference), not a string."""
    omit_category: bool = False
    """Association types come without `category` (some localised docs show them so)."""
    older_scopes: bool = False
    """403 bodies list the scopes under `requiredScopes` (older bodies), not
    `requiredGranularScopes`."""
    daily_allowance: int | None = None
    """Send `X-HubSpot-RateLimit-Daily` and `-Daily-Remaining`, counting from this."""
    secondly_limit: int | None = None
    """A legacy per-second limit: `X-HubSpot-RateLimit-Secondly` and
    `-Secondly-Remaining` on answers, and a 429 `SECONDLY` (with `groupName`, without
    `Retry-After`) beyond it."""
    pending_answers: int = 0
    """The first batch reads answer with status `PENDING` (and no results yet)."""
    labels_status: int | None = None
    """The label definitions endpoint answers with this error status (403: a scope)."""
