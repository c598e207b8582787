"""Id lists and id files, in process: what counts as a record id, and where a bad one is."""

from __future__ import annotations

from pathlib import Path

import pytest

from tap_hubspot_associations.errors import ConfigError
from tap_hubspot_associations.ids import IdSource


def test_inline_ids_may_be_numbers_or_strings() -> None:
    source = IdSource(
        setting="associations[0]", ids=[101, " 102 ", "12345678901234567890"], ids_file=None
    )
    assert list(source) == ["101", "102", "12345678901234567890"]
    assert source.validate() == 3


@pytest.mark.parametrize(
    "bad", ["12a", "", "-1", "1.5", "0001", "123456789012345678901", True, 1.5, None]
)
def test_an_inline_id_that_is_not_a_record_id_is_named(bad: object) -> None:
    source = IdSource(setting="associations[2]", ids=["1", bad], ids_file=None)
    with pytest.raises(
        ConfigError, match=r"associations\[2\]\.ids\[1\]: .* is not a HubSpot record id"
    ):
        source.validate()


def test_an_ids_file_skips_blank_lines_and_names_the_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "ids.txt"
    path.write_text("101\n\n  102\r\n103\n")
    assert list(IdSource(setting="associations[0]", ids=None, ids_file=str(path))) == [
        "101",
        "102",
        "103",
    ]
    path.write_text("101\nnot-an-id\n")
    with pytest.raises(ConfigError, match=r"ids_file .*ids.txt, line 2: 'not-an-id'"):
        IdSource(setting="associations[0]", ids=None, ids_file=str(path)).validate()


def test_an_ids_file_that_is_not_utf8_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "ids.txt"
    path.write_bytes(b"101\n\xff\xfe\n")
    with pytest.raises(ConfigError, match="line 2: not UTF-8"):
        IdSource(setting="associations[0]", ids=None, ids_file=str(path)).validate()


def test_the_fingerprint_follows_the_list() -> None:
    def fingerprint(ids: list[str]) -> str:
        return IdSource(setting="s", ids=ids, ids_file=None).fingerprint()

    assert fingerprint(["1", "2"]) == fingerprint(["1", "2"])
    assert fingerprint(["1", "2"]) != fingerprint(["2", "1"])
    assert fingerprint(["1", "2"]) != fingerprint(["1", "2", "3"])


def test_an_endless_line_stops_at_the_line_cap(tmp_path: Path) -> None:
    path = tmp_path / "ids.txt"
    path.write_bytes(b"101\n" + b"0" * 5000)
    with pytest.raises(ConfigError, match="line 2: longer than 1024 bytes"):
        IdSource(setting="associations[0]", ids=None, ids_file=str(path)).validate()


def test_an_ids_file_path_holding_a_nul_byte_is_named() -> None:
    with pytest.raises(ConfigError, match=r"^associations\[0\]\.ids_file: not a path"):
        IdSource(setting="associations[0]", ids=None, ids_file="ids\x00.txt").validate()


def test_an_ids_file_whose_reading_fails_is_named_with_its_line() -> None:
    """/proc/self/mem opens, and its first bytes cannot be read (EIO)."""
    with pytest.raises(ConfigError, match=r"ids_file /proc/self/mem, line 1: cannot be read"):
        IdSource(setting="associations[0]", ids=None, ids_file="/proc/self/mem").validate()
