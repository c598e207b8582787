"""Who may ask: private app tokens and their scopes, OAuth refresh and expiring tokens."""

from __future__ import annotations

import uuid
from email.message import Message
from urllib.parse import parse_qs

from hubspot_emulator.account import Account
from hubspot_emulator.base import EmulatorBase
from hubspot_emulator.http import Reply, error_body, error_reply, to_json


def scope_of(account: Account, given: str) -> str:
    type_id = account.path_type_id(given) or ""
    if type_id.startswith("2-"):
        return "crm.objects.custom.read"
    name = account.names.get(type_id, given)
    return "tickets" if name == "tickets" else f"crm.objects.{name}.read"


class OAuth(EmulatorBase):
    def _authorize(self, headers: Message, needed: list[str]) -> Reply | None:
        auth = headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else ""
        with self._lock:
            expires = self._oauth_tokens.get(token)
        if expires is not None:
            late = self.clock.monotonic() - expires
            if late >= 0:
                return error_reply(
                    401,
                    "EXPIRED_AUTHENTICATION",
                    f"The OAuth token used to make this call expired {int(late) + 1} second(s) "
                    "ago.",
                    context={"expire time": [str(expires)]},
                )
            return None
        if token not in self.tokens:
            return error_reply(
                401,
                "INVALID_AUTHENTICATION",
                "Authentication credentials not found. This API supports OAuth 2.0 "
                "authentication and you can find more details at "
                "https://developers.hubspot.com/docs/methods/auth/oauth-overview",
            )
        scopes = self.tokens[token]
        if scopes is not None and not set(needed) <= scopes:
            body = error_body(
                "MISSING_SCOPES",
                "This app hasn't been granted all required scopes to make this call.",
            )
            scopes_key = "requiredScopes" if self.dialect.older_scopes else "requiredGranularScopes"
            body["errors"] = [
                {
                    "message": "One or more of the following scopes are required.",
                    "context": {scopes_key: sorted(set(needed))},
                }
            ]
            return Reply(403, body=to_json(body))
        return None

    def _token(self, body: bytes) -> Reply:
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        client = self.oauth_clients.get(form.get("client_id", ""))
        if (
            form.get("grant_type") != "refresh_token"
            or client is None
            or client != (form.get("client_secret"), form.get("refresh_token"))
        ):
            return Reply(
                400,
                body=to_json(
                    {
                        "status": "BAD_REFRESH_TOKEN",
                        "message": "missing or unknown refresh token",
                        "correlationId": str(uuid.uuid4()),
                    }
                ),
            )
        token = f"oat-{uuid.uuid4().hex}"
        with self._lock:
            self._oauth_tokens[token] = self.clock.monotonic() + self.token_ttl
            self.stats.tokens_issued += 1
        return Reply(
            200,
            body=to_json(
                {
                    "access_token": token,
                    "refresh_token": client[1],
                    "expires_in": self.token_ttl_claimed,
                    "token_type": "bearer",
                }
            ),
        )
