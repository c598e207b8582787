"""The documents: every relative link in README, CHANGELOG and docs/ points at a file
of the repository, and every `#anchor` at one of that file's headings."""

from __future__ import annotations

import re
from pathlib import Path

from tests.helpers import ROOT

LINK = re.compile(r"\]\(([^)\s]+)\)")
DOCUMENTS = [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").glob("*.md"))]


def anchor_of(heading: str) -> str:
    """A heading's anchor as GitHub makes it: lower case, punctuation dropped, spaces
    to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(document: Path) -> set[str]:
    lines = document.read_text().splitlines()
    return {anchor_of(line.lstrip("#")) for line in lines if line.startswith("#")}


def broken_links(document: Path) -> list[str]:
    broken = []
    for match in LINK.finditer(document.read_text()):
        target = match.group(1)
        if re.match(r"[a-z]+:", target):
            continue  # a URL: not the repository's to check
        path, _, anchor = target.partition("#")
        destination = (document.parent / path).resolve() if path else document
        if not destination.exists() or (
            anchor and destination.suffix == ".md" and anchor not in anchors(destination)
        ):
            broken.append(target)
    return broken


def test_every_relative_link_resolves() -> None:
    assert len(DOCUMENTS) > 5
    broken = {doc.name: broken_links(doc) for doc in DOCUMENTS if broken_links(doc)}
    assert broken == {}


def test_the_check_sees_a_broken_link_and_a_broken_anchor(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# A heading, with punctuation\n")
    document = tmp_path / "doc.md"
    document.write_text(
        "[ok](other.md#a-heading-with-punctuation) [gone](missing.md) "
        "[bad anchor](other.md#nowhere) [web](https://example.com/x.md) [gone too](no.md#a)\n"
    )
    assert broken_links(document) == ["missing.md", "other.md#nowhere", "no.md#a"]


URL = re.compile(r"https?://([^/\s)`'\"<>:]+)")
KNOWN_HOSTS = {
    "api.hubapi.com",
    "developers.hubspot.com",
    "hub.meltano.com",
    "docs.meltano.com",
    "sdk.meltano.com",
    "pypi.org",
    "faker.readthedocs.io",
    "127.0.0.1",
    "packages.example.com",
}
"""Hosts the documents may name: HubSpot's, Meltano's and PyPI's, loopback, and
`example.com`, reserved for placeholders (the text beside it says so). The tap is
published nowhere, so no document names a repository, tag or index of its own."""


def test_no_document_names_a_place_that_does_not_exist() -> None:
    files = [
        *DOCUMENTS,
        ROOT / "pyproject.toml",
        ROOT / "meltano.yml",
        ROOT / "tap-hubspot-associations.yml",
        *sorted((ROOT / "meltano-plugins").glob("*.yml")),
    ]
    unknown = {
        f"{file.relative_to(ROOT)}: {host}"
        for file in files
        for host in URL.findall(file.read_text())
        if host not in KNOWN_HOSTS
    }
    assert not unknown, sorted(unknown)
