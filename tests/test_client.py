"""The client's table from status and body to outcome, in process."""

from __future__ import annotations

from typing import Any

import pytest

from tap_hubspot_associations.client import Outcome, judge, required_scopes

RESULTS: dict[str, Any] = {"results": []}


@pytest.mark.parametrize(
    ("status", "body", "outcome"),
    [
        (200, RESULTS, Outcome.ANSWER),
        (207, {"results": [], "errors": []}, Outcome.ANSWER),
        (200, None, Outcome.BROKEN_BODY),
        (200, {"results": {}}, Outcome.BROKEN_BODY),
        (207, {"status": "COMPLETE"}, Outcome.BROKEN_BODY),
        (401, {"category": "EXPIRED_AUTHENTICATION"}, Outcome.EXPIRED_TOKEN),
        (401, {"category": "INVALID_AUTHENTICATION"}, Outcome.UNAUTHORIZED),
        (401, None, Outcome.UNAUTHORIZED),
        (403, {"category": "MISSING_SCOPES"}, Outcome.FORBIDDEN),
        (429, {"policyName": "TEN_SECONDLY_ROLLING"}, Outcome.RATE_LIMITED),
        (429, None, Outcome.RATE_LIMITED),
        (429, {"policyName": "DAILY"}, Outcome.DAILY_LIMIT),
        (423, None, Outcome.TRANSIENT),
        (477, None, Outcome.TRANSIENT),
        (500, None, Outcome.TRANSIENT),
        (502, None, Outcome.TRANSIENT),
        (521, None, Outcome.TRANSIENT),
        (524, None, Outcome.TRANSIENT),
        (400, {"category": "VALIDATION_ERROR"}, Outcome.BAD_REQUEST),
        (404, None, Outcome.REFUSED),
        (307, None, Outcome.REFUSED),
    ],
)
def test_status_and_body_decide_the_outcome(
    status: int, body: dict[str, Any] | None, outcome: Outcome
) -> None:
    assert judge(status, body, "results") is outcome


def test_required_scopes_of_a_403() -> None:
    body = {
        "category": "MISSING_SCOPES",
        "errors": [{"context": {"requiredGranularScopes": ["crm.objects.contacts.read"]}}],
    }
    assert required_scopes(body) == ["crm.objects.contacts.read"]
    assert required_scopes(None) == []
