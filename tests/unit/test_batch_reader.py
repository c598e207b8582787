"""The batch-read engine alone: batches of inputs, every per-id `after` cursor followed,
answers HubSpot never gives named, and the bookmark, against a scripted HubSpot of
association pages (no HTTP)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping
from typing import Any

import msgspec

from tap_hubspot_associations.batch_reader import BatchReader
from tap_hubspot_associations.state import Bookmark

KIND = {"category": "HUBSPOT_DEFINED", "typeId": 1, "label": None}


class ListedIds:
    """The ids of a list, as `ids.IdSource` gives them."""

    setting = "associations[0]"

    def __init__(self, ids: list[str]) -> None:
        self.ids = ids

    def validate(self) -> int:
        return len(self.ids)

    def fingerprint(self) -> str:
        return "list:test"

    def read_from(self, position: int, resume: Mapping[str, Any]) -> Iterator[str]:
        return iter(self.ids[position:])

    def resume_at(self, position: int) -> dict[str, Any]:
        return {}

    def close(self) -> None: ...


class Pages:
    """HubSpot's batch read over `pages`: each id's associated ids, page by page, the
    cursor of page n being "p<n>". Ids without pages have no associations (HubSpot's
    207 error). `twice`: ids answered by two results."""

    def __init__(self, pages: dict[str, list[list[int]]], *, twice: frozenset[str] = frozenset()):
        self.pages = pages
        self.twice = twice
        self.requests: list[list[tuple[str, str | None]]] = []
        self.lock = threading.Lock()

    def post_typed(
        self,
        path: str,
        body: Mapping[str, Any],
        answer_type: type[Any],
        *,
        list_key: str,
        cancel: threading.Event | None = None,
    ) -> Any:
        inputs = [(item["id"], item.get("after")) for item in body["inputs"]]
        with self.lock:
            self.requests.append(inputs)
        results: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        for id_, after in inputs:
            pages = self.pages.get(id_)
            if not pages:
                errors.append(
                    {
                        "status": "error",
                        "category": "OBJECT_NOT_FOUND",
                        "subCategory": "crm.associations.NO_ASSOCIATIONS_FOUND",
                        "message": f"No company is associated with contact {id_}.",
                        "context": {"fromObjectId": [id_]},
                    }
                )
                continue
            page = 0 if after is None else int(after.removeprefix("p"))
            result: dict[str, Any] = {
                "from": {"id": id_},
                "to": [{"toObjectId": to, "associationTypes": [KIND]} for to in pages[page]],
            }
            if page + 1 < len(pages):
                result["paging"] = {"next": {"after": f"p{page + 1}"}}
            results += [result, result] if id_ in self.twice else [result]
        answer = {"status": "COMPLETE", "results": results, "errors": errors}
        try:
            return msgspec.convert(answer, answer_type)
        except msgspec.ValidationError:
            return answer


def reader(
    hubspot: Pages, ids: list[str], bookmark: Bookmark | None = None, **options: Any
) -> BatchReader:
    settings: dict[str, Any] = {"batch_size": 2, "max_id_attempts": 2, "max_concurrency": 2}
    return BatchReader(
        client=hubspot,
        path="/crm/associations/2026-03/contacts/companies/batch/read",
        from_type="contacts",
        to_type="companies",
        ids=ListedIds(ids),
        bookmark=bookmark or Bookmark(ids_fingerprint="list:test"),
        logger=logging.getLogger("test"),
        category_of=lambda type_id: "HUBSPOT_DEFINED",
        **{**settings, **options},
    )


def edges(batch_reader: BatchReader) -> list[tuple[str, str]]:
    return [(r["from_id"], r["to_id"]) for batch in batch_reader.batches() for r in batch]


def test_every_page_of_every_id_is_read_once() -> None:
    hubspot = Pages({"1": [[11, 12], [13], [14]], "2": [[21]], "4": [[41, 42]]})
    batch_reader = reader(hubspot, ["1", "2", "3", "4"])
    read = edges(batch_reader)
    assert sorted(read) == [
        ("1", "11"),
        ("1", "12"),
        ("1", "13"),
        ("1", "14"),
        ("2", "21"),
        ("4", "41"),
        ("4", "42"),
    ]
    coverage = batch_reader.coverage
    assert (coverage.ids_requested, coverage.ids_with_associations) == (4, 3)
    assert (coverage.ids_without_associations, coverage.extra_pages) == (1, 2)
    assert all(len(inputs) <= 2 for inputs in hubspot.requests), "batch_size"
    done = batch_reader.bookmark()
    assert (done.position, done.pending, done.failed) == (4, {}, [])


def test_a_resumed_pass_reads_its_pending_cursors_and_failed_ids_first() -> None:
    hubspot = Pages({"1": [[11], [12], [13]], "2": [[21]], "3": [[31]]})
    saved = Bookmark(position=2, pending={"1": "p2"}, failed=["2"], ids_fingerprint="list:test")
    batch_reader = reader(hubspot, ["1", "2", "3"], saved)
    assert sorted(edges(batch_reader)) == [("1", "13"), ("2", "21"), ("3", "31")]
    assert sorted(hubspot.requests[0]) == [("1", "p2"), ("2", None)]


def test_an_id_answered_by_two_results_is_retried_then_given_up() -> None:
    hubspot = Pages({"1": [[11]], "2": [[21], [22]]}, twice=frozenset({"2"}))
    batch_reader = reader(hubspot, ["1", "2"])
    assert edges(batch_reader) == [("1", "11")]
    assert [i for inputs in hubspot.requests for i, _ in inputs].count("2") == 2
    done = batch_reader.bookmark()
    assert done.failed == ["2"] and done.position == 2
    assert batch_reader.failures == ["2 (HubSpot returned 2 results for it)"]


class SamePageAgain(Pages):
    """Serves every id's first page again under a new cursor each time."""

    def post_typed(
        self, path: str, body: Mapping[str, Any], answer_type: type[Any], **kw: Any
    ) -> Any:
        if len(self.requests) >= 20:
            raise AssertionError("the reader kept following new cursors to the same page")
        first_pages = {"inputs": [{"id": item["id"]} for item in body["inputs"]]}
        answer = super().post_typed(path, first_pages, dict, **kw)
        for result in answer["results"]:
            result["paging"] = {"next": {"after": f"new-{len(self.requests)}"}}
        return answer


def test_a_cursor_serving_the_same_page_again_gives_its_id_up() -> None:
    hubspot = SamePageAgain({"1": [[11, 12]]})
    batch_reader = reader(hubspot, ["1"])
    assert edges(batch_reader) == [("1", "11"), ("1", "12")]
    assert len(hubspot.requests) == 2, "the second page, the same as the first, ends it"
    assert batch_reader.bookmark().failed == ["1"]
    assert batch_reader.failures == ["1 (HubSpot returned the same page again under a new cursor)"]
