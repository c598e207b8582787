"""HubSpot object types: the standard ones, custom ones from the schemas endpoint, checks."""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from tap_hubspot_associations.client import HubSpotClient
from tap_hubspot_associations.errors import ConfigError
from tap_hubspot_associations.paths import schemas_path

STANDARD_TYPES = {
    "contacts": "0-1",
    "companies": "0-2",
    "deals": "0-3",
    "tickets": "0-5",
    "products": "0-7",
    "line_items": "0-8",
    "quotes": "0-14",
    "tasks": "0-27",
    "notes": "0-46",
    "meetings": "0-47",
    "calls": "0-48",
    "emails": "0-49",
    "leads": "0-136",
}


COMMON_PAIRS = (
    ("contacts", "companies"),
    ("companies", "contacts"),
    ("deals", "contacts"),
    ("deals", "companies"),
    ("deals", "line_items"),
    ("tickets", "contacts"),
    ("tickets", "companies"),
    ("tickets", "deals"),
    ("quotes", "deals"),
    ("calls", "contacts"),
    ("emails", "contacts"),
    ("meetings", "contacts"),
    ("notes", "contacts"),
    ("tasks", "contacts"),
)
"""Pairs offered for selection when the `associations` setting names none."""


@dataclass(frozen=True)
class CustomType:
    type_id: str
    name: str
    fully_qualified_name: str
    associated_type_ids: tuple[str, ...]


class ObjectTypes:
    """Resolves the names users give to HubSpot's type ids; asks for custom schemas once."""

    def __init__(self, client: HubSpotClient, api_version: str) -> None:
        self._client = client
        self._schemas_path = schemas_path(api_version)
        self._custom: list[CustomType] | None = None

    def type_id(self, given: str, *, setting: str) -> str:
        """The type id of a name, type id or custom name; a clear error if HubSpot has none."""
        if given in STANDARD_TYPES.values():
            return given
        if given in STANDARD_TYPES:
            return STANDARD_TYPES[given]
        for custom in self.custom():
            if given in (custom.type_id, custom.name, custom.fully_qualified_name):
                return custom.type_id
        known = [*STANDARD_TYPES, *(c.fully_qualified_name for c in self.custom())]
        nearest = difflib.get_close_matches(given.lower(), known, n=1, cutoff=0.6)
        hint = f"; did you mean {nearest[0]!r}?" if nearest else ""
        raise ConfigError(f"{setting}: {given!r} is not an object type of this account{hint}")

    def name_of(self, type_id: str) -> str:
        """The name to use for a type id: the standard name, or the custom one."""
        standard = {v: k for k, v in STANDARD_TYPES.items()}
        custom = {c.type_id: c.fully_qualified_name for c in self.custom()}
        return standard.get(type_id) or custom.get(type_id) or type_id

    def custom(self) -> list[CustomType]:
        """The account's custom object types (needs scope crm.schemas.custom.read)."""
        if self._custom is None:
            body = self._client.get(self._schemas_path, list_key="results")
            self._custom = [
                CustomType(
                    type_id=str(schema["objectTypeId"]),
                    name=str(schema.get("name", "")),
                    fully_qualified_name=str(schema.get("fullyQualifiedName", "")),
                    associated_type_ids=tuple(
                        str(a["toObjectTypeId"]) for a in schema.get("associations") or []
                    ),
                )
                for schema in body["results"]
                if isinstance(schema, dict) and "objectTypeId" in schema
            ]
        return self._custom
