"""Parsing upstream project pages: PEP 691 JSON, PEP 503 HTML, and what is left out (and why)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from urllib.parse import urldefrag, urljoin

import pytest

from packyard.errors import UpstreamError
from packyard.formats.pypi import attributes as pypi_attributes
from packyard.formats.pypi.index_page import UpstreamProject, parse_project_page
from packyard.formats.pypi.upstream import PypiUpstream
from packyard.upstream.format import file_hosts

SHA = "a" * 64
META = "b" * 64
PAGE = "https://pypi.example/simple/demo-pkg/"
JSON = "application/vnd.pypi.simple.v1+json"


def _json_page(*files: dict[str, object], version: str = "1.1") -> bytes:
    return json.dumps({"meta": {"api-version": version}, "name": "demo-pkg",
                       "files": list(files)}).encode()


def _file(filename: str, **extra: object) -> dict[str, object]:
    entry: dict[str, object] = {"filename": filename, "url": f"../../files/{filename}",
                                "hashes": {"sha256": SHA}}
    entry.update(extra)
    return entry


def test_json_page_fields() -> None:
    body = _json_page(_file("demo_pkg-1.0-py3-none-any.whl", size=10,
                            **{"requires-python": ">=3.8", "yanked": "broken",
                               "upload-time": "2024-01-02T03:04:05.123456Z",
                               "core-metadata": {"sha256": META}}))
    project = parse_project_page(body, JSON, PAGE, "demo-pkg")
    (f,) = project.files
    assert f.filename == "demo_pkg-1.0-py3-none-any.whl"
    # Relative URLs resolve against the page's URL (PEP 691).
    assert f.url == "https://pypi.example/files/demo_pkg-1.0-py3-none-any.whl"
    assert (f.sha256, f.size, f.requires_python, f.yanked) == (SHA, 10, ">=3.8", "broken")
    assert f.upload_time == datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
    assert (f.version, f.version_key, f.metadata_sha256) == ("1.0", "1", META)
    assert project.rejected == ()


@pytest.mark.parametrize("url", [
    "https://files.example/a/demo_pkg-1.0.tar.gz",  # PyPI's: absolute, taken as it is
    "http://files.example/demo_pkg-1.0.tar.gz",
    "HTTPS://files.example/demo_pkg-1.0.tar.gz",
    "https://files.example/demo_pkg-1.0.tar.gz#sha256=" + SHA,
    "https://files.example/demo_pkg-1.0.tar.gz?",
    "https://files.example/x;/demo_pkg-1.0.tar.gz",
    "https://files.example/demo_pkg-1.0.tar.gz;",  # an empty parameter: the join drops it
    "https://files.example/demo_pkg-1.0.tar.gz;?a=1",
    "https://files.example/demo_pkg\t-1.0.tar.gz",  # urlsplit removes tabs
    "https://fil\u00e9s.example/demo_pkg-1.0.tar.gz",
    "https://files.example/a/../demo_pkg-1.0.tar.gz",
    "//files.example/demo_pkg-1.0.tar.gz",
    "/files/demo_pkg-1.0.tar.gz",
    "../demo_pkg-1.0.tar.gz",
])
def test_json_file_urls_are_what_joining_them_to_the_page_gives(url: str) -> None:
    # Absolute URLs skip the join (a page of 10,000 files spent a tenth of its parse there);
    # whatever the URL, the result is the join's, without a fragment.
    project = parse_project_page(_json_page(_file("demo_pkg-1.0.tar.gz", url=url)), JSON,
                                 PAGE, "demo-pkg")
    assert [f.url for f in project.files] == [urldefrag(urljoin(PAGE, url)).url]


def test_json_dist_info_metadata_is_read_when_core_metadata_is_absent() -> None:
    body = _json_page(_file("demo_pkg-1.0.tar.gz", **{"dist-info-metadata": {"sha256": META}}))
    assert parse_project_page(body, JSON, PAGE, "demo-pkg").files[0].metadata_sha256 == META


def test_metadata_without_a_hash_is_not_offered() -> None:
    body = _json_page(_file("demo_pkg-1.0.tar.gz", **{"core-metadata": True}))
    assert parse_project_page(body, JSON, PAGE, "demo-pkg").files[0].metadata_sha256 is None


def test_html_page_fields() -> None:
    body = (b'<html><body>'
            b'<a href="/files/demo_pkg-2.0.tar.gz#sha256=' + SHA.upper().encode() + b'" '
            b'data-requires-python="&gt;=3.9" data-yanked="" '
            b'data-core-metadata="sha256=' + META.encode() + b'">demo_pkg-2.0.tar.gz</a>'
            b'</body></html>')
    (f,) = parse_project_page(body, "text/html; charset=utf-8", PAGE, "demo-pkg").files
    assert f.url == "https://pypi.example/files/demo_pkg-2.0.tar.gz"
    assert f.sha256 == SHA  # lower-cased
    assert f.requires_python == ">=3.9"  # entities decoded
    assert f.yanked is True  # data-yanked without a reason
    assert (f.size, f.metadata_sha256, f.version) == (None, META, "2.0")


def test_html_base_href_changes_where_relative_urls_point() -> None:
    body = (b'<html><head><base href="https://cdn.example/pkgs/"></head><body>'
            b'<a href="demo_pkg-2.0.tar.gz#sha256=' + SHA.encode() + b'">x</a></body></html>')
    (f,) = parse_project_page(body, "text/html", PAGE, "demo-pkg").files
    assert f.url == "https://cdn.example/pkgs/demo_pkg-2.0.tar.gz"


def test_html_filename_is_the_unquoted_last_path_segment() -> None:
    body = (b'<a href="../../f/demo_pkg-1.0%2Bcpu-py3-none-any.whl#sha256=' + SHA.encode()
            + b'">whatever</a>')
    (f,) = parse_project_page(body, "text/html", PAGE, "demo-pkg").files
    assert f.filename == "demo_pkg-1.0+cpu-py3-none-any.whl"
    assert f.version_key == "1+cpu"


@pytest.mark.parametrize(("entry", "reason"), [
    (_file("other_pkg-1.0.tar.gz"), "other_pkg-1.0.tar.gz: names project other-pkg, not demo-pkg"),
    ({"filename": "demo_pkg-1.0.tar.gz", "url": "x", "hashes": {}},
     "demo_pkg-1.0.tar.gz: no sha256 hash, so it could not be verified"),
    ({"filename": "demo_pkg-1.0.tar.gz", "url": "x", "hashes": {"md5": "0" * 32}},
     "demo_pkg-1.0.tar.gz: no sha256 hash, so it could not be verified"),
    (_file("demo_pkg-1.0.tar.gz", url="ftp://mirror/demo_pkg-1.0.tar.gz"),
     "demo_pkg-1.0.tar.gz: URL scheme 'ftp' is not http or https"),
    (_file("demo_pkg-1.0.egg"),
     "Invalid file extension for 'demo_pkg-1.0.egg': use .whl (wheel), .tar.gz (source "
     "distribution) or legacy .zip. See https://peps.python.org/pep-0527/ for more information."),
    (_file("..demo_pkg-1.0.tar.gz"),
     "Cannot upload a file with '..' in the name: '..demo_pkg-1.0.tar.gz'."),
])
def test_files_failing_the_upload_checks_are_left_out_with_the_reason(
        entry: dict[str, object], reason: str) -> None:
    good = _file("demo_pkg-1.0-py3-none-any.whl")
    project = parse_project_page(_json_page(entry, good), JSON, PAGE, "demo-pkg")
    assert [f.filename for f in project.files] == ["demo_pkg-1.0-py3-none-any.whl"]
    assert project.rejected == (reason,)


def test_a_file_listed_twice_is_taken_once() -> None:
    entry = _file("demo_pkg-1.0.tar.gz")
    project = parse_project_page(_json_page(entry, entry), JSON, PAGE, "demo-pkg")
    assert len(project.files) == 1
    assert project.rejected == ("demo_pkg-1.0.tar.gz: listed twice; the first entry is used",)


def _hosts(project: UpstreamProject) -> frozenset[str]:
    """The hosts a pull of the project's files may be redirected to, as its listing works them
    out (``UpstreamListing.file_hosts``)."""
    return file_hosts(f.url for f in project.files)


def test_file_hosts_are_the_hosts_of_the_file_urls() -> None:
    body = _json_page(_file("demo_pkg-1.0.tar.gz",
                            url="https://files.example/a/demo_pkg-1.0.tar.gz"),
                      _file("demo_pkg-1.1.tar.gz"))
    project = parse_project_page(body, JSON, PAGE, "demo-pkg")
    assert _hosts(project) == {"files.example", "pypi.example"}


def test_json_that_is_not_json_is_an_upstream_error() -> None:
    with pytest.raises(UpstreamError) as err:
        parse_project_page(b"<html>", JSON, PAGE, "demo-pkg")
    assert err.value.message == f"Upstream page {PAGE} is not valid JSON"


def test_a_future_major_api_version_is_refused() -> None:
    with pytest.raises(UpstreamError) as err:
        parse_project_page(_json_page(version="2.0"), JSON, PAGE, "demo-pkg")
    assert err.value.message == (f"Upstream page {PAGE} speaks simple API 2.0; Packyard "
                                 "understands 1.x (PEP 629)")


def test_json_without_files_is_an_upstream_error() -> None:
    with pytest.raises(UpstreamError) as err:
        parse_project_page(b'{"meta": {"api-version": "1.0"}}', JSON, PAGE, "demo-pkg")
    assert err.value.message == f"Upstream page {PAGE} has no 'files' list"


def test_an_unknown_media_type_is_an_upstream_error() -> None:
    with pytest.raises(UpstreamError) as err:
        parse_project_page(b"...", "application/octet-stream", PAGE, "demo-pkg")
    assert err.value.message == (f"Upstream page {PAGE} has media type "
                                 "'application/octet-stream', which is neither PEP 691 JSON "
                                 "nor HTML")


# -- URLs that do not parse: the file is left out, the rest of the page stays ---------------


BAD_IPV6 = "https://[files.example/demo_pkg-1.0.tar.gz"  # urlsplit: "Invalid IPv6 URL"


def test_unparsable_url_in_json_leaves_only_that_file_out() -> None:
    # Before, such a URL was listed, and every later pull of any file of the project failed
    # (the listing's file hosts were worked out by splitting every URL: ValueError).
    good = _file("demo_pkg-1.1.tar.gz", url="https://files.example/demo_pkg-1.1.tar.gz")
    project = parse_project_page(_json_page(_file("demo_pkg-1.0.tar.gz", url=BAD_IPV6), good),
                                 JSON, PAGE, "demo-pkg")
    assert [f.filename for f in project.files] == ["demo_pkg-1.1.tar.gz"]
    assert project.rejected == ("demo_pkg-1.0.tar.gz: its URL does not parse "
                                "(Invalid IPv6 URL)",)
    assert _hosts(project) == {"files.example"}


def test_unparsable_href_in_html_leaves_only_that_file_out() -> None:
    body = (f'<a href="{BAD_IPV6}#sha256={SHA}">demo_pkg-1.0.tar.gz</a>'
            f'<a href="/files/demo_pkg-1.1.tar.gz#sha256={SHA}">demo_pkg-1.1.tar.gz</a>').encode()
    project = parse_project_page(body, "text/html", PAGE, "demo-pkg")
    assert [f.filename for f in project.files] == ["demo_pkg-1.1.tar.gz"]
    assert project.rejected == ("demo_pkg-1.0.tar.gz: its URL does not parse "
                                "(Invalid IPv6 URL)",)


def test_ipv6_file_urls_are_kept() -> None:
    url = "https://[::1]:8443/files/demo_pkg-1.0.tar.gz"
    project = parse_project_page(_json_page(_file("demo_pkg-1.0.tar.gz", url=url)), JSON, PAGE,
                                 "demo-pkg")
    assert [f.url for f in project.files] == [url]
    assert _hosts(project) == {"::1"}


def test_an_unparsable_base_href_is_an_upstream_error() -> None:
    body = (f'<base href="https://[bad/"><a href="demo_pkg-1.0.tar.gz#sha256={SHA}">x</a>'
            ).encode()
    with pytest.raises(UpstreamError) as err:
        parse_project_page(body, "text/html", PAGE, "demo-pkg")
    assert err.value.message == (f"Upstream page {PAGE} has a <base href> that does not parse "
                                 "('https://[bad/')")


def test_regression_old_sdists_with_a_hyphen_in_their_version_are_listed() -> None:
    # PyPI's docutils and cffi pages: these were left out ("invalid version", "names project
    # cffi-1-0-2, not cffi"), so pip could not install them through Packyard.
    files = [_file("docutils-0.15.1-post1.tar.gz"), _file("docutils-0.15.1.tar.gz"),
             _file("cffi-1.0.2-2.tar.gz")]
    project = parse_project_page(_json_page(*files), JSON, PAGE, "docutils")
    assert [(f.filename, f.version, f.version_key) for f in project.files] == [
        ("docutils-0.15.1-post1.tar.gz", "0.15.1-post1", "0.15.1.post1"),
        ("docutils-0.15.1.tar.gz", "0.15.1", "0.15.1")]
    assert project.rejected == ("cffi-1.0.2-2.tar.gz: names project cffi-1-0-2, not docutils",)
    cffi = parse_project_page(_json_page(_file("cffi-1.0.2-2.tar.gz")), JSON, PAGE, "cffi")
    assert [(f.version, f.version_key) for f in cffi.files] == [("1.0.2-2", "1.0.2.post2")]


def test_regression_an_upstreams_metadata_file_for_an_sdist_is_not_passed_on() -> None:
    # Whether an sdist's PKG-INFO can be resolved from is in the file (PEP 643); pip took a
    # Metadata-Version 2.1 one as the truth and installed no dependencies.
    body = _json_page(_file("demo_pkg-1.0.tar.gz", **{"core-metadata": {"sha256": META}}),
                      _file("demo_pkg-1.0-py3-none-any.whl",
                            **{"core-metadata": {"sha256": META}}))
    upstream = PypiUpstream()
    listing = upstream.parse_listing(body, JSON, PAGE, "demo-pkg")
    again = upstream.decode("demo-pkg", upstream.encode(listing))  # as cached
    for found in (listing, again):
        assert {f.filename: pypi_attributes.metadata_sha256(f.attributes)
                for f in found.files} == {"demo_pkg-1.0.tar.gz": None,
                                          "demo_pkg-1.0-py3-none-any.whl": META}


def test_a_cached_listing_keeps_a_hyphenated_versions_text() -> None:
    upstream = PypiUpstream()
    listing = upstream.parse_listing(_json_page(_file("cffi-1.0.2-2.tar.gz")), JSON, PAGE,
                                     "cffi")
    again = upstream.decode("cffi", upstream.encode(listing))
    assert [(v.version, v.version_key) for v in again.versions] == [("1.0.2-2", "1.0.2.post2")]
