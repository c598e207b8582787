"""What an answer means: the tables from status and body to `Outcome` (HubSpot's API,
`judge`; its OAuth token endpoint, `judge_token`), and the words of HubSpot's own
message (its text, category and correlation id) for errors."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

from tap_hubspot_associations.values import one_line


class Outcome(enum.Enum):
    """What an answer means for the request that got it."""

    ANSWER = "the expected JSON body"
    BROKEN_BODY = "a success status whose body is not the expected JSON: retry"
    NOT_FINAL = "a batch answer still PENDING, PROCESSING or CANCELED: retry"
    EXPIRED_TOKEN = "the token expired: renew it and send again"
    UNAUTHORIZED = "the credentials are wrong: fatal"
    FORBIDDEN = "a scope is missing: fatal"
    RATE_LIMITED = "a rate limit refused it: wait as told, send again"
    DAILY_LIMIT = "the day's budget is spent: fatal"
    TRANSIENT = "HubSpot failed for now: back off, retry"
    BAD_REQUEST = "HubSpot called it invalid (400): the caller decides"
    REFUSED = "any other answer: fatal"


def judge(status: int, body: Mapping[str, Any] | None, list_key: str) -> Outcome:
    """The outcome of an answer with `status` and JSON `body` (None: not a JSON object),
    for a request expecting a list at `list_key`."""
    if status in (200, 207):
        if body is None or not isinstance(body.get(list_key), list):
            return Outcome.BROKEN_BODY
        if body.get("status", "COMPLETE") != "COMPLETE":
            return Outcome.NOT_FINAL
        return Outcome.ANSWER
    category = body.get("category") if body else None
    if status == 401:
        expired = category == "EXPIRED_AUTHENTICATION"
        return Outcome.EXPIRED_TOKEN if expired else Outcome.UNAUTHORIZED
    if status == 403:
        return Outcome.FORBIDDEN
    if status == 429:
        daily = body is not None and body.get("policyName") == "DAILY"
        return Outcome.DAILY_LIMIT if daily else Outcome.RATE_LIMITED
    if status in (423, 477) or status >= 500:
        return Outcome.TRANSIENT
    if status == 400:
        return Outcome.BAD_REQUEST
    return Outcome.REFUSED


def judge_token(status: int, body: Mapping[str, Any] | None) -> Outcome:
    """The outcome of an answer of the OAuth token endpoint. A 400 or 401 with a JSON
    body refuses the refresh token or the client (`UNAUTHORIZED`: fatal); without one,
    as a 429, 423, 477 or 5xx, it is a passing failure (`TRANSIENT`)."""
    if status == 200:
        return Outcome.ANSWER if body is not None else Outcome.BROKEN_BODY
    if status in (400, 401) and body is not None:
        return Outcome.UNAUTHORIZED
    if status in (400, 401, 423, 429, 477) or status >= 500:
        return Outcome.TRANSIENT
    return Outcome.REFUSED


def describe(reason: str, headers: Mapping[str, str], body: Mapping[str, Any] | None) -> str:
    """HubSpot's message and correlation id, or what the response (its `reason` phrase
    and `headers`) was instead."""
    correlation = headers.get("X-HubSpot-Correlation-Id")
    if body:
        message = str(body.get("message") or body.get("category") or "no message")
        correlation = str(body.get("correlationId") or correlation or "")
    else:
        kind = headers.get("Content-Type", "no content type").split(";")[0]
        message = f"{reason or 'no reason'}, {kind} body"
    message = " ".join(message.split())[:500]
    correlation = one_line(correlation or "")
    return f"{message} (correlation id {correlation})" if correlation else message


def required_scopes(body: Mapping[str, Any] | None) -> list[str]:
    """The scopes a 403 body says are missing: under `requiredGranularScopes` (newer
    bodies) or `requiredScopes` (older ones)."""
    scopes: list[str] = []
    errors = (body or {}).get("errors")
    for error in errors if isinstance(errors, list) else []:
        context = error.get("context") if isinstance(error, dict) else None
        if not isinstance(context, dict):
            continue
        for key in ("requiredGranularScopes", "requiredScopes"):
            listed = context.get(key)
            for scope in listed if isinstance(listed, list) else []:
                if isinstance(scope, str) and scope not in scopes:
                    scopes.append(scope)
    return scopes
