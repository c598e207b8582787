"""How one batch-read answer is read, in process: typed when it fits, part by part when
it does not, with the same records either way."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from tap_hubspot_associations.answers import (
    NO_ASSOCIATIONS_FOUND,
    BatchAnswer,
    Result,
    association_type_fields,
    error_ids,
    error_text,
    from_id,
    is_no_associations,
    next_after,
    records_of,
    results_of,
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
    assert error_ids(error) == ids


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
    assert is_no_associations({"subCategory": sub_category}) is expected


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
    assert from_id(result) == expected


def result(**fields: Any) -> Result:
    return msgspec.convert({"from": {"id": "101"}, "to": [], **fields}, Result)


def test_the_next_cursor_of_a_result() -> None:
    paging = {"next": {"after": "MTAx", "link": "?after=MTAx"}}
    assert next_after(result(paging=paging)) == "MTAx"
    assert next_after(result()) is None
    assert next_after(result(paging={})) is None
    assert next_after(result(paging=None)) is None
    with pytest.raises(ValueError):
        next_after(result(paging={"next": {"after": ""}}))
    for broken in ({"after": 5}, {}):
        with pytest.raises(msgspec.ValidationError):
            result(paging={"next": broken})


GOOD = {
    "from": {"id": "101"},
    "to": [
        {
            "toObjectId": 12345678901,
            "associationTypes": [
                {"category": "HUBSPOT_DEFINED", "typeId": 1, "label": None},
                {"category": "USER_DEFINED", "typeId": 1000, "label": "Billing contact"},
            ],
        }
    ],
    "paging": {"next": {"after": "MTAy"}},
}
ANSWER = {
    "status": "COMPLETE",
    "results": [GOOD],
    "errors": [{"subCategory": NO_ASSOCIATIONS_FOUND, "context": {"fromObjectId": ["102"]}}],
}


def records_and_cursors(answer: BatchAnswer | dict[str, Any]) -> list[Any]:
    parsed, errors = results_of(answer)
    read = []
    for id_, found in parsed:
        assert found is not None
        assert id_ is not None
        read.append((records_of(found, id_, "contacts", "companies", None), next_after(found)))
    return [read, errors]


def test_a_typed_answer_and_plain_json_give_the_same_records() -> None:
    typed = msgspec.json.decode(msgspec.json.encode(ANSWER), type=BatchAnswer)
    assert records_and_cursors(typed) == records_and_cursors(ANSWER)
    (([first, second], after),), errors = records_and_cursors(typed)
    assert first == {
        "from_object_type": "contacts",
        "from_id": "101",
        "to_object_type": "companies",
        "to_id": "12345678901",
        "category": "HUBSPOT_DEFINED",
        "type_id": 1,
        "label": None,
    }
    assert (second["type_id"], second["label"], after) == (1000, "Billing contact", "MTAy")
    assert error_ids(errors[0]) == ["102"]


@pytest.mark.parametrize(
    "broken",
    [
        {"from": {"id": "103"}, "to": [{"toObjectId": True, "associationTypes": []}]},
        {"from": {"id": "103"}, "to": "none"},
        {"from": {"id": "103"}, "to": [], "paging": {"next": {}}},
        {"from": {"id": "103"}},
    ],
)
def test_a_malformed_result_fails_its_id_alone(broken: dict[str, Any]) -> None:
    """An answer with one malformed result does not decode typed: read part by part, the
    good result is read and the malformed one is marked for its id."""
    answer = {"results": [GOOD, broken]}
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(msgspec.json.encode(answer), type=BatchAnswer)
    parsed, _ = results_of(answer)
    assert [(id_, found is None) for id_, found in parsed] == [("101", False), ("103", True)]


def test_results_after_a_malformed_one_are_read() -> None:
    broken = {"from": {"id": "103"}, "to": "none"}
    parsed, _ = results_of({"results": [broken, GOOD]})
    assert [(id_, found is None) for id_, found in parsed] == [("103", True), ("101", False)]


def test_an_edge_type_without_category_takes_it_from_the_label_definitions() -> None:
    found = result(to=[{"toObjectId": 202, "associationTypes": [{"typeId": 279}]}])
    categories = {279: "HUBSPOT_DEFINED"}
    records = records_of(found, "101", "contacts", "companies", categories.__getitem__)
    assert [(r["to_id"], r["category"], r["type_id"]) for r in records] == [
        ("202", "HUBSPOT_DEFINED", 279)
    ]


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
    assert error_ids(error) == ids


def test_no_associations_in_both_shapes_of_sub_category() -> None:
    assert is_no_associations({"subCategory": "crm.associations.NO_ASSOCIATIONS_FOUND"})
    assert is_no_associations({"subCategory": {"name": NO_ASSOCIATIONS_FOUND}})
    assert not is_no_associations({"subCategory": "crm.associations.OTHER"})
    assert not is_no_associations({"subCategory": {"name": "OTHER"}})
    assert not is_no_associations({})
    assert not is_no_associations(["crm.associations.NO_ASSOCIATIONS_FOUND"])


def test_the_text_of_an_error_entry() -> None:
    error = {"category": "INTERNAL_ERROR", "subCategory": "x.y", "message": "try again"}
    assert error_text(error) == "INTERNAL_ERROR: x.y: try again"
    assert error_text({"message": "m" * 400}) == "m" * 300
    assert error_text({}) == "error without a message"
    assert error_text(None) == "unreadable error"


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
