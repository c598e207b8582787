"""Batch reads: the associations of up to 1,000 ids an answer, per-id paging with opaque
cursors, 207s with `errors[]`, results in shuffled order."""

from __future__ import annotations

import base64
import json
import time
from typing import Any
from urllib.parse import quote, unquote

from hubspot_emulator.base import MAX_INPUTS, EmulatorBase
from hubspot_emulator.http import Reply, error_reply, id_error, to_json
from hubspot_emulator.schemas import singular_type


def _encode_cursor(from_id: str, offset: int) -> str:
    raw = json.dumps({"id": from_id, "offset": offset}).encode()
    return quote(base64.b64encode(raw).decode(), safe="")


def _decode_cursor(cursor: object, from_id: str) -> int | None:
    try:
        state = json.loads(base64.b64decode(unquote(str(cursor)), validate=True))
        offset = state["offset"]
    except (ValueError, KeyError, TypeError):
        return None
    return offset if state.get("id") == from_id and isinstance(offset, int) else None


class BatchReads(EmulatorBase):
    def _batch_read(self, from_type: str, to_type: str, raw: bytes) -> Reply:
        try:
            request = json.loads(raw)
            inputs = request["inputs"]
            parsed = [(str(item["id"]), item.get("after")) for item in inputs]
        except (ValueError, KeyError, TypeError):
            return error_reply(400, "VALIDATION_ERROR", "Invalid input JSON on line 1")
        if len(parsed) > MAX_INPUTS:
            return error_reply(
                400,
                "VALIDATION_ERROR",
                f"Batch input size {len(parsed)} exceeds the limit of {MAX_INPUTS}",
            )
        with self._lock:
            self.stats.batches.append(parsed)
        if self.faults.slow_ids & {int(i) for i, _ in parsed if i.isdigit()}:
            self._stop_stalls.wait(self.faults.slow_seconds)
        results: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        for from_id, after in parsed:
            offset = 0 if after is None else _decode_cursor(after, from_id)
            if offset is None:
                return error_reply(400, "VALIDATION_ERROR", f"Invalid paging cursor for {from_id}")
            if not from_id.isdigit():
                errors.append(id_error("VALIDATION_ERROR", f"Invalid id {from_id}", from_id))
                continue
            if int(from_id) in self.faults.failing_ids or self._chance(self.faults.id_error):
                errors.append(
                    id_error("INTERNAL_ERROR", f"Could not read {from_id}, try again", from_id)
                )
                continue
            targets = self.account.targets(from_type, to_type, int(from_id))
            page = targets[offset : offset + self.page_size]
            if not page:
                errors.append(self._no_associations(from_type, to_type, from_id))
                continue
            result: dict[str, Any] = {
                "from": {"id": from_id},
                "to": [
                    {
                        "toObjectId": to_id,
                        "associationTypes": [
                            self._association_type(c, t, label) for c, t, label in kinds
                        ],
                    }
                    for to_id, kinds in page
                ],
            }
            if offset + self.page_size < len(targets):
                cursor = _encode_cursor(from_id, offset + self.page_size)
                result["paging"] = {
                    "next": {"after": cursor, "link": f"/crm/v4/objects/{from_type}?after={cursor}"}
                }
            results.append(result)
        with self._lock:
            self._rng.shuffle(results)
        started = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
        body: dict[str, Any] = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": started,
            "completedAt": started,
        }
        status = 200
        with self._lock:
            pending = self._pending_left > 0
            self._pending_left -= pending
        if pending:
            return Reply(200, body=to_json({**body, "status": "PENDING", "results": []}))
        if errors:
            body["numErrors"] = len(errors)
            body["errors"] = [self._in_dialect(error) for error in errors]
            status = 200 if self.faults.errors_in_200 else 207
        return Reply(status, body=to_json(body))

    def _association_type(self, category: str, type_id: int, label: str | None) -> dict[str, Any]:
        if self.dialect.omit_category:
            return {"typeId": type_id, "label": label}
        return {"category": category, "typeId": type_id, "label": label}

    def _in_dialect(self, error: dict[str, Any]) -> dict[str, Any]:
        """An error entry of a batch read, shaped as the dialect says."""
        if self.dialect.error_input_as_id:
            context = dict(error.get("context", {}))
            error = {**error, "id": context.pop("fromObjectId")[0], "context": context}
        if self.dialect.sub_category_object and "subCategory" in error:
            error = {**error, "subCategory": {"name": error["subCategory"]}}
        return error

    def _no_associations(self, from_type: str, to_type: str, from_id: str) -> dict[str, Any]:
        singular_from = singular_type(self.account, from_type)
        singular_to = singular_type(self.account, to_type)
        return {
            "status": "error",
            "category": "OBJECT_NOT_FOUND",
            "subCategory": "crm.associations.NO_ASSOCIATIONS_FOUND",
            "message": f"No {singular_to} is associated with {singular_from} {from_id}.",
            "context": {
                "fromObjectId": [from_id],
                "fromObjectType": [singular_from],
                "toObjectType": [singular_to],
            },
        }
