"""How the batch-read engine reads one response's parts, in process."""

from __future__ import annotations

from typing import Any

import pytest

from tap_hubspot_associations.batch_reader import (
    NO_ASSOCIATIONS_FOUND,
    _error_ids,
    _error_text,
    _from_id,
    _is_no_associations,
    _next_after,
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


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        ({"from": {"id": "101"}}, "101"),
        ({"from": {"id": 12345678901}}, "12345678901"),
        ({"from": {"id": True}}, None),
        ({"from": {"id": -1}}, None),
        ({"from": {"id": 0}}, "0"),
        ({"from": {"id": 99999999999999999999}}, "99999999999999999999"),
        ({"from": {"id": 100000000000000000000}}, None),
        ({"from": {"id": 1.0}}, None),
        ({"from": {"id": "1a"}}, None),
        ({"from": {}}, None),
        ({"from": "101"}, None),
        ({}, None),
        ("101", None),
    ],
)
def test_the_from_id_of_a_result(result: object, expected: str | None) -> None:
    assert _from_id(result) == expected


def test_the_next_cursor_of_a_result() -> None:
    assert _next_after({"paging": {"next": {"after": "MTAx", "link": "?after=MTAx"}}}) == "MTAx"
    assert _next_after({}) is None
    assert _next_after({"paging": {}}) is None
    for broken in ({"after": 5}, {"after": ""}, {}):
        with pytest.raises((ValueError, KeyError)):
            _next_after({"paging": {"next": broken}})


@pytest.mark.parametrize(
    ("error", "ids"),
    [
        ({"context": {"fromObjectId": ["515690208449"]}}, ["515690208449"]),
        ({"context": {"fromObjectId": ["1", "2"]}}, ["1", "2"]),
        ({"id": "7"}, ["7"]),
        ({"id": "7", "context": {"fromObjectId": ["8"]}}, ["8", "7"]),
        ({"context": {"fromObjectId": "8"}}, []),
        ({"context": ["8"]}, []),
        ({"context": {"fromObjectId": ["x", "9"]}}, ["9"]),
        ("an error", []),
    ],
)
def test_the_ids_an_error_entry_is_about(error: object, ids: list[str]) -> None:
    assert _error_ids(error) == ids


def test_no_associations_in_both_shapes_of_sub_category() -> None:
    assert _is_no_associations({"subCategory": "crm.associations.NO_ASSOCIATIONS_FOUND"})
    assert _is_no_associations({"subCategory": {"name": NO_ASSOCIATIONS_FOUND}})
    assert not _is_no_associations({"subCategory": "crm.associations.OTHER"})
    assert not _is_no_associations({"subCategory": {"name": "OTHER"}})
    assert not _is_no_associations({})
    assert not _is_no_associations(["crm.associations.NO_ASSOCIATIONS_FOUND"])


def test_the_text_of_an_error_entry() -> None:
    error = {"category": "INTERNAL_ERROR", "subCategory": "x.y", "message": "try again"}
    assert _error_text(error) == "INTERNAL_ERROR: x.y: try again"
    assert _error_text({"message": "m" * 400}) == "m" * 300
    assert _error_text({}) == "error without a message"
    assert _error_text(None) == "unreadable error"


def test_association_type_fields() -> None:
    kind: dict[str, Any] = {"category": "HUBSPOT_DEFINED", "typeId": 279, "label": None}
    assert association_type_fields(kind) == {
        "category": "HUBSPOT_DEFINED",
        "type_id": 279,
        "label": None,
    }
    labelled = {"category": "USER_DEFINED", "typeId": 42, "label": "Billing"}
    assert association_type_fields(labelled)["label"] == "Billing"
    assert association_type_fields({"typeId": 1, "label": "Primary"}, lambda t: f"C{t}") == {
        "category": "C1",
        "type_id": 1,
        "label": "Primary",
    }


@pytest.mark.parametrize(
    "kind",
    [
        {"category": "HUBSPOT_DEFINED", "typeId": "279", "label": None},
        {"category": "HUBSPOT_DEFINED", "typeId": True, "label": None},
        {"category": "", "typeId": 1, "label": None},
        {"category": 5, "typeId": 1, "label": None},
        {"category": "WORK", "typeId": 1, "label": 3},
        ["HUBSPOT_DEFINED", 1, None],
    ],
)
def test_association_types_hubspot_never_sends_are_refused(kind: object) -> None:
    with pytest.raises((ValueError, KeyError)):
        association_type_fields(kind)
