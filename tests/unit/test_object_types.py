"""Object type names as HubSpot accepts and refuses them, in process."""

from __future__ import annotations

from typing import Any

import pytest

from tap_hubspot_associations.errors import ConfigError, MalformedAnswer
from tap_hubspot_associations.object_types import ObjectTypes

CARS = {
    "objectTypeId": "2-4242",
    "name": "cars",
    "fullyQualifiedName": "p4242_cars",
    "associations": [
        {"fromObjectTypeId": "2-4242", "toObjectTypeId": "0-1"},
        {"fromObjectTypeId": "0-2", "toObjectTypeId": "2-4242"},
        {"fromObjectTypeId": "2-4242", "toObjectTypeId": "0-1"},
    ],
}


class Schemas:
    """Answers the schemas endpoint, as a client would."""

    def __init__(self, *schemas: object) -> None:
        self.schemas = list(schemas)

    def get(self, path: str, *, list_key: str, **options: Any) -> dict[str, Any]:
        return {"results": self.schemas}


def types(*schemas: object) -> ObjectTypes:
    return ObjectTypes(Schemas(*schemas), "2026-03")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("given", "type_id"),
    [
        ("contacts", "0-1"),
        ("contact", "0-1"),
        ("company", "0-2"),
        ("line_item", "0-8"),
        ("lead", "0-136"),
        ("0-3", "0-3"),
        ("2-4242", "2-4242"),
        ("p4242_cars", "2-4242"),
        ("p_cars", "2-4242"),
    ],
)
def test_names_hubspot_accepts(given: str, type_id: str) -> None:
    assert types(CARS).type_id(given, setting="associations[0].from") == type_id


def test_a_custom_objects_bare_name_is_refused_with_the_accepted_forms() -> None:
    with pytest.raises(
        ConfigError, match=r"associations\[0\]\.to: .* bare name 'cars': use 'p_cars'"
    ):
        types(CARS).type_id("cars", setting="associations[0].to")


def test_an_unknown_name_suggests_the_nearest() -> None:
    with pytest.raises(ConfigError, match="did you mean 'contacts'"):
        types(CARS).type_id("contacs", setting="associations[0].from")


def test_a_schema_defines_the_pairs_from_its_object_only() -> None:
    (cars,) = types(CARS).custom()
    assert cars.associated_type_ids == ("0-1",)


@pytest.mark.parametrize(
    "schema",
    [
        "cars",
        {**CARS, "objectTypeId": 2},
        {**CARS, "associations": "all"},
        {**CARS, "associations": [{"fromObjectTypeId": "2-4242"}]},
    ],
)
def test_a_malformed_schema_is_named(schema: object) -> None:
    with pytest.raises(MalformedAnswer, match=r"results\[1\]: malformed schema"):
        types(CARS, schema).custom()
