"""HubSpot object types: the standard ones, custom ones from the schemas endpoint, checks."""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from tap_hubspot_associations.errors import ConfigError, HubSpotError, MalformedAnswer
from tap_hubspot_associations.paths import associations_path, schemas_path
from tap_hubspot_associations.queries import Requests

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
"""HubSpot's standard object types by plural name."""

SINGULAR_NAMES = {
    "contact": "contacts",
    "company": "companies",
    "deal": "deals",
    "ticket": "tickets",
    "product": "products",
    "line_item": "line_items",
    "quote": "quotes",
    "task": "tasks",
    "note": "notes",
    "meeting": "meetings",
    "call": "calls",
    "email": "emails",
    "lead": "leads",
}
"""HubSpot's paths accept the singular name of a standard type as well."""


ENGAGEMENTS = ("calls", "emails", "meetings", "notes", "tasks")
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
    *(
        (engagement, record)
        for engagement in ENGAGEMENTS
        for record in ("contacts", "companies", "deals", "tickets")
    ),
)
"""Pairs offered for selection when the `associations` setting names none."""
LEAD_PAIRS = (("leads", "contacts"), ("leads", "companies"))
"""Offered too where the account has leads (not every HubSpot edition does)."""


@dataclass(frozen=True)
class CustomType:
    type_id: str
    name: str
    fully_qualified_name: str
    associated_type_ids: tuple[str, ...]


class ObjectTypes:
    """Resolves the names users give to HubSpot's type ids; asks for custom schemas once."""

    def __init__(self, client: Requests, api_version: str) -> None:
        self._client = client
        self._schemas_path = schemas_path(api_version)
        self._lead_labels_path = associations_path(api_version, "leads", "contacts", "labels")
        self._custom: list[CustomType] | None = None

    def type_id(self, given: str, *, setting: str) -> str:
        """The type id of a name HubSpot accepts in its paths: a standard type's plural
        or singular name, a type id, a custom object's fully qualified name
        (`p4242_cars`) or its short form (`p_cars`). A clear error names anything else,
        such as a custom object's bare name, which HubSpot refuses since 2025-06-24."""
        if given in STANDARD_TYPES.values():
            return given
        standard = STANDARD_TYPES.get(SINGULAR_NAMES.get(given, given))
        if standard is not None:
            return standard
        for custom in self.custom():
            if given in (custom.type_id, custom.fully_qualified_name, f"p_{custom.name}"):
                return custom.type_id
        for custom in self.custom():
            if given == custom.name:
                raise ConfigError(
                    f"{setting}: HubSpot no longer accepts a custom object's bare name "
                    f"{given!r}: use 'p_{custom.name}' or {custom.fully_qualified_name!r}"
                )
        known = [*STANDARD_TYPES, *SINGULAR_NAMES, *(c.fully_qualified_name for c in self.custom())]
        nearest = difflib.get_close_matches(given.lower(), known, n=1, cutoff=0.6)
        hint = f"; did you mean {nearest[0]!r}?" if nearest else ""
        raise ConfigError(f"{setting}: {given!r} is not an object type of this account{hint}")

    def has_leads(self) -> bool:
        """Whether the account has leads: HubSpot answers their label definitions."""
        try:
            self._client.get(self._lead_labels_path, list_key="results")
        except HubSpotError:
            return False
        return True

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
                _custom_type(schema, f"{self._schemas_path} results[{index}]")
                for index, schema in enumerate(body["results"])
            ]
        return self._custom


def _custom_type(schema: object, where: str) -> CustomType:
    """One schema as HubSpot sends it, or a clear error naming the entry.

    A schema lists its associations in both directions; only those from this object
    are pairs it defines.
    """

    def text(value: object, field: str) -> str:
        if not isinstance(value, str) or not value:
            raise MalformedAnswer(f"{where}: malformed schema ({field} is {str(value)[:60]!r})")
        return value

    if not isinstance(schema, dict):
        raise MalformedAnswer(f"{where}: malformed schema ({str(schema)[:60]!r})")
    type_id = text(schema.get("objectTypeId"), "objectTypeId")
    associations = schema.get("associations") or []
    if not isinstance(associations, list) or not all(isinstance(a, dict) for a in associations):
        raise MalformedAnswer(f"{where}: malformed schema (associations is not a list of objects)")
    targets: list[str] = []
    for association in associations:
        from_id = text(association.get("fromObjectTypeId"), "associations[].fromObjectTypeId")
        to_id = text(association.get("toObjectTypeId"), "associations[].toObjectTypeId")
        if from_id == type_id and to_id not in targets:
            targets.append(to_id)
    return CustomType(
        type_id=type_id,
        name=text(schema.get("name"), "name"),
        fully_qualified_name=text(schema.get("fullyQualifiedName"), "fullyQualifiedName"),
        associated_type_ids=tuple(targets),
    )
