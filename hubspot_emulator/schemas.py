"""Custom object schemas and the label definitions of a pair."""

from __future__ import annotations

from hubspot_emulator.account import Account, singular
from hubspot_emulator.base import EmulatorBase
from hubspot_emulator.http import Reply, to_json


def singular_type(account: Account, given: str) -> str:
    return singular(account.names.get(account.path_type_id(given) or "", given))


class Schemas(EmulatorBase):
    def _labels(self, from_type: str, to_type: str) -> Reply:
        kinds = sorted(self.account.labels(from_type, to_type), key=lambda k: (k[0], k[1]))
        results = [{"category": c, "typeId": t, "label": label} for c, t, label in kinds]
        return Reply(200, body=to_json({"results": results}))

    def _schemas(self) -> Reply:
        account = self.account
        results = []
        for type_id, name in account.custom.items():
            # A schema lists its object's associations in both directions.
            associations = [
                {
                    "id": f"{from_id}_to_{to_id}",
                    "fromObjectTypeId": from_id,
                    "toObjectTypeId": to_id,
                    "name": f"{account.names[from_id]}_to_{account.names[to_id]}",
                }
                for from_id, to_id in account.edges
                if type_id in (from_id, to_id)
            ]
            results.append(
                {
                    "objectTypeId": type_id,
                    "name": name,
                    "fullyQualifiedName": f"p{account.portal_id}_{name}",
                    "labels": {"singular": name.rstrip("s"), "plural": name},
                    "associations": associations,
                }
            )
        return Reply(200, body=to_json({"results": results}))
