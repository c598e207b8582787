"""HubSpot's batch-read answer, as the tap reads it: typed structures decoded in one pass,
and the checks of every value that becomes part of a record.

A whole answer is decoded straight into these structures by msgspec (in C, with exact
types: a bool is not an int, a null is not a string), which is most of what reading it
costs. An answer that does not fit is read again as plain JSON and each result converted
on its own (`results_of`), so that one malformed result fails its id alone, as HubSpot's
variants require (docs/hubspot-api.md).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal

import msgspec

from tap_hubspot_associations.values import record_id

NO_ASSOCIATIONS_FOUND = "crm.associations.NO_ASSOCIATIONS_FOUND"
MAX_TYPE_ID = 2**63
"""Type ids are 64-bit signed integers at most."""

Record = dict[str, Any]


class AssociationKind(msgspec.Struct):
    """One association type of an edge, or a label definition."""

    typeId: int  # HubSpot's name
    category: str | msgspec.UnsetType = msgspec.UNSET
    label: str | None = None


class Target(msgspec.Struct):
    toObjectId: int | str
    associationTypes: list[AssociationKind]


class NextPage(msgspec.Struct):
    after: str


class Paging(msgspec.Struct):
    next: NextPage | None = None


class FromRecord(msgspec.Struct):
    id: int | str


class Result(msgspec.Struct, rename={"from_": "from"}):
    """The associations of one input id, one page of them."""

    from_: FromRecord
    to: list[Target]
    paging: Paging | None = None


class BatchAnswer(msgspec.Struct):
    """A complete batch-read answer (200 or 207); `errors` stay plain JSON, as their
    shapes vary."""

    results: list[Result]
    errors: list[Any] | None = None
    status: Literal["COMPLETE"] = "COMPLETE"


Parsed = tuple[str | None, Result | None]
"""The input id a result is for (None: none the tap could read), and the result (None:
malformed)."""


def results_of(answer: BatchAnswer | Mapping[str, Any]) -> tuple[list[Parsed], list[Any]]:
    """The results of an answer, each with the input id it is for, and its errors."""
    if isinstance(answer, BatchAnswer):
        return [(_checked_id(result.from_.id), result) for result in answer.results], (
            answer.errors or []
        )
    parsed: list[Parsed] = []
    for raw in answer["results"]:
        try:
            result = msgspec.convert(raw, Result)
        except msgspec.ValidationError:
            parsed.append((from_id(raw), None))
            continue
        parsed.append((_checked_id(result.from_.id), result))
    return parsed, answer.get("errors") or []


def _checked_id(value: object) -> str | None:
    try:
        return record_id(value)
    except ValueError:
        return None


def from_id(result: object) -> str | None:
    """The input id of a result as plain JSON, if one can be read."""
    if not isinstance(result, Mapping) or not isinstance(result.get("from"), Mapping):
        return None
    return _checked_id(result["from"].get("id"))


def next_after(result: Result) -> str | None:
    """The cursor of the id's next page; None on its last page."""
    if result.paging is None or result.paging.next is None:
        return None
    after = result.paging.next.after
    if not after:
        raise ValueError(after)
    return after


def records_of(
    result: Result,
    from_id: str,
    from_type: str,
    to_type: str,
    category_of: Callable[[int], str] | None,
) -> list[Record]:
    """The records of one result; ValueError when a value is not what HubSpot sends, as a
    wrong value would become a wrong primary key."""
    records = []
    for target in result.to:
        to_id = record_id(target.toObjectId)
        for kind in target.associationTypes:
            category, type_id, label = kind_fields(kind, category_of)
            records.append(
                {
                    "from_object_type": from_type,
                    "from_id": from_id,
                    "to_object_type": to_type,
                    "to_id": to_id,
                    "category": category,
                    "type_id": type_id,
                    "label": label,
                }
            )
    return records


def kind_fields(
    kind: AssociationKind, category_of: Callable[[int], str] | None
) -> tuple[str, int, str | None]:
    """Category, type id and label of one association type. Some of HubSpot's documents
    show association types without `category`: then `category_of` gives it, from the
    pair's label definitions."""
    type_id = kind.typeId
    if not 0 <= type_id < MAX_TYPE_ID:
        raise ValueError(type_id)
    category = kind.category
    if category is msgspec.UNSET:
        if category_of is None:
            raise ValueError("no category")
        category = category_of(type_id)
    if not category:
        raise ValueError(category)
    return category, type_id, kind.label


def association_type_fields(
    kind: object, category_of: Callable[[int], str] | None = None
) -> Record:
    """The fields of a record naming one association type, from plain JSON (a label
    definition); ValueError unless `kind` holds exactly what HubSpot sends."""
    try:
        typed = msgspec.convert(kind, AssociationKind)
    except msgspec.ValidationError:
        raise ValueError(kind) from None
    category, type_id, label = kind_fields(typed, category_of)
    return {"category": category, "type_id": type_id, "label": label}


def error_ids(error: object) -> list[str]:
    """The inputs an error entry is about: `context.fromObjectId` (observed on v4) or
    `id` (the 2026-03 reference)."""
    if not isinstance(error, Mapping):
        return []
    context = error.get("context")
    listed = context.get("fromObjectId") if isinstance(context, Mapping) else None
    ids = [*(listed if isinstance(listed, list) else []), error.get("id")]
    return [id_ for id_ in map(_checked_id, ids) if id_ is not None]


def is_no_associations(error: object) -> bool:
    """Whether an error entry says its input has no associations; `subCategory` is a
    string (observed) or an object (the 2026-03 reference)."""
    sub_category = error.get("subCategory") if isinstance(error, Mapping) else None
    if isinstance(sub_category, Mapping):
        return NO_ASSOCIATIONS_FOUND in (str(v) for v in sub_category.values())
    return sub_category == NO_ASSOCIATIONS_FOUND


def error_text(error: object) -> str:
    if not isinstance(error, Mapping):
        return "unreadable error"
    parts = [
        str(error.get(key)) for key in ("category", "subCategory", "message") if error.get(key)
    ]
    return ": ".join(parts)[:300] or "error without a message"
