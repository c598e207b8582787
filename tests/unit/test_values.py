"""Single values from outside, checked one at a time: record ids, times, header
numbers, credentials fit for a header, text for one log line."""

from __future__ import annotations

import pytest

from tap_hubspot_associations.values import (
    header_count,
    header_number,
    is_header_safe,
    iso,
    one_line,
    parse_iso,
    record_id,
)

# Epoch seconds from GNU date (`date -u -d ... +%s`), not from the code under test.
NEW_YEAR_2026_MS = 1_767_225_600_000
LATE_NOVEMBER_MS = 1_795_925_106_789  # 2026-11-29T04:05:06.789Z


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0, "0"), (12345, "12345"), ("12345", "12345"), (10**20 - 1, "9" * 20), ("9" * 20, "9" * 20)],
)
def test_a_record_id_is_a_number_or_a_string_of_digits(value: object, expected: str) -> None:
    assert record_id(value) == expected


@pytest.mark.parametrize(
    "value", [True, False, -1, 10**20, "0012", "1" * 21, "12a", " 12", "", 12.0, None, [12]]
)
def test_anything_else_is_not_a_record_id(value: object) -> None:
    with pytest.raises(ValueError):
        record_id(value)


def test_iso_writes_utc_with_milliseconds() -> None:
    assert iso(NEW_YEAR_2026_MS) == "2026-01-01T00:00:00.000Z"
    assert iso(LATE_NOVEMBER_MS) == "2026-11-29T04:05:06.789Z"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-01-01T00:00:00Z", NEW_YEAR_2026_MS),
        ("2026-01-01T00:00:00.000z", NEW_YEAR_2026_MS),
        ("2026-01-01T01:00:00+01:00", NEW_YEAR_2026_MS),
        ("2025-12-31T19:00:00-05:00", NEW_YEAR_2026_MS),
        ("2026-01-01", NEW_YEAR_2026_MS),
        ("2026-11-29T04:05:06.789Z", LATE_NOVEMBER_MS),
    ],
)
def test_parse_iso_reads_zoned_times_and_dates(text: str, expected: int) -> None:
    assert parse_iso(text) == expected


@pytest.mark.parametrize(
    "value", ["0001-01-01T00:03:00Z", "0001-01-01T00:00:00+00:01", "1969-12-31T23:59:59Z"]
)
def test_parse_iso_refuses_times_before_1970(value: str) -> None:
    assert parse_iso(value) is None
    assert parse_iso("1970-01-01T00:00:00Z") == 0


@pytest.mark.parametrize(
    "value", ["2026-01-01T00:00:00", "20260101T05", "yesterday", "", None, 0, True]
)
def test_parse_iso_refuses_what_is_not_a_zoned_time(value: object) -> None:
    assert parse_iso(value) is None


@pytest.mark.parametrize(
    ("raw", "number"),
    [
        ("190", 190.0),
        (" 2.5 ", 2.5),
        ("inf", None),
        ("nan", None),
        ("1e3", None),
        ("-5", None),
        ("1_0", None),
        ("", None),
    ],
)
def test_a_header_number_is_plain_digits(raw: str, number: float | None) -> None:
    assert header_number({"X-HubSpot-RateLimit-Max": raw}, "X-HubSpot-RateLimit-Max") == number


def test_a_header_count_is_whole_and_absent_headers_are_none() -> None:
    assert header_count({"X-HubSpot-RateLimit-Max": "190"}, "X-HubSpot-RateLimit-Max") == 190
    assert header_count({"X-HubSpot-RateLimit-Max": "inf"}, "X-HubSpot-RateLimit-Max") is None
    assert header_count({}, "X-HubSpot-RateLimit-Max") is None


@pytest.mark.parametrize(
    ("value", "safe"),
    [("pat-na1-0123", True), ("a\nb", False), ("a b", False), ("tök", False), ("", False)],
)
def test_a_credential_fit_for_a_header_is_visible_ascii(value: str, safe: bool) -> None:
    assert is_header_safe(value) is safe


def test_text_for_a_message_is_one_short_line() -> None:
    assert one_line("Bad\r\nX-Injected:  yes\t") == "Bad X-Injected: yes"
    assert len(one_line("x" * 1000)) == 200
