"""The core metadata fields a PyPI version keeps for the JSON API's ``info``
(``formats/pypi/release_info.py``)."""

from __future__ import annotations

from packaging.metadata import parse_email

from packyard.formats.pypi.release_info import info_attributes, kept_info, project_urls


def _kept(*lines: str) -> dict[str, object]:
    raw, _ = parse_email("\n".join(["Metadata-Version: 2.4", "Name: x", "Version: 1",
                                    *lines]) + "\n")
    return dict(info_attributes(raw))


def test_only_the_fields_the_metadata_has_are_kept() -> None:
    assert _kept() == {}
    assert kept_info(_kept()) is None
    assert kept_info(_kept("Author: Ada", "Keywords: a,b", "Platform: linux",
                           "Platform: any")) == {
        "author": "Ada", "keywords": "a,b", "platform": "linux"}


def test_project_urls_as_pypi_lists_them() -> None:
    info = kept_info(_kept("Home-page: https://h.invalid/", "Download-URL: https://d.invalid/",
                           "Project-URL: Home-Page, https://h.invalid/",
                           "Project-URL: Download_URL, https://other.invalid/",
                           "Project-URL: Source, https://s.invalid/"))
    assert info is not None
    assert project_urls(info, "https://h.invalid/") == {
        "Homepage": "https://h.invalid/", "Download": "https://d.invalid/",
        "Download_URL": "https://other.invalid/", "Source": "https://s.invalid/"}
