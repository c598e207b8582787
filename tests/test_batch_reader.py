"""How the batch-read engine reads one response's parts, in process."""

from __future__ import annotations

import pytest

from tap_hubspot_associations.batch_reader import (
    _error_ids,
    _is_no_associations,
    association_type_fields,
)

NO_ASSOCIATIONS = "crm.associations.NO_ASSOCIATIONS_FOUND"


@pytest.mark.parametrize(
    ("error", "ids"),
    [
        ({"context": {"fromObjectId": ["515690208449"]}}, ["515690208449"]),
        ({"id": "101"}, ["101"]),
        ({"id": 101}, ["101"]),
        ({"context": {"fromObjectId": "101"}}, []),
        ({"id": "not an id"}, []),
        ("an error", []),
    ],
)
def test_an_error_names_its_input_in_either_form(error: object, ids: list[str]) -> None:
    assert _error_ids(error) == ids


@pytest.mark.parametrize(
    ("sub_category", "expected"),
    [
        (NO_ASSOCIATIONS, True),
        ({"name": NO_ASSOCIATIONS}, True),
        ("crm.associations.OTHER", False),
        ({"name": "crm.associations.OTHER"}, False),
        (None, False),
    ],
)
def test_no_associations_as_a_string_or_an_object(sub_category: object, expected: bool) -> None:
    assert _is_no_associations({"subCategory": sub_category}) is expected


def test_a_type_without_category_takes_it_from_the_label_definitions() -> None:
    fields = association_type_fields(
        {"typeId": 279, "label": None}, {279: "HUBSPOT_DEFINED"}.__getitem__
    )
    assert fields == {"category": "HUBSPOT_DEFINED", "type_id": 279, "label": None}


@pytest.mark.parametrize(
    "kind",
    [
        {"category": None, "typeId": 1},
        {"category": "", "typeId": 1},
        {"category": "USER_DEFINED", "typeId": 7.9},
        {"category": "USER_DEFINED", "typeId": True},
        {"category": "USER_DEFINED", "typeId": "7"},
        {"category": "USER_DEFINED", "typeId": -1},
        {"category": "USER_DEFINED", "typeId": 2**63},
        {"category": "USER_DEFINED", "typeId": 7, "label": {"text": "x"}},
        ["USER_DEFINED", 7],
    ],
)
def test_values_hubspot_never_sends_are_refused(kind: object) -> None:
    with pytest.raises(ValueError):
        association_type_fields(kind, {7: "USER_DEFINED"}.__getitem__)
