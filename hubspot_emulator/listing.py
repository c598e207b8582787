"""Listing the records of a type, a page at a time, by HubSpot's `after` cursor."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import unquote

from hubspot_emulator.base import EmulatorBase
from hubspot_emulator.http import Reply, error_reply, to_json


class Listing(EmulatorBase):
    def _list(self, object_type: str, query: dict[str, list[str]]) -> Reply:
        limit = min(int(query.get("limit", ["10"])[0]), 100)
        ids = self._sorted_objects(self.account.type_id(object_type) or "")
        start = 0
        if "after" in query:
            try:
                start = int(base64.b64decode(unquote(query["after"][0]), validate=True))
            except ValueError:
                return error_reply(400, "VALIDATION_ERROR", "Invalid after cursor")
        page = ids[start : start + limit]
        body: dict[str, Any] = {
            "results": [
                {"id": str(i), "properties": {"hs_object_id": str(i)}, "archived": False}
                for i in page
            ]
        }
        if start + limit < len(ids):
            after = base64.b64encode(str(start + limit).encode()).decode()
            body["paging"] = {"next": {"after": after, "link": "?after=" + after}}
        return Reply(200, body=to_json(body))
