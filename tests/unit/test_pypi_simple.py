"""Rendering of the simple-index pages: HTML (PEP 503 and friends) and JSON (PEP 691)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, timezone
from html.parser import HTMLParser
from typing import Any
from urllib.parse import unquote

import pytest

from packyard.formats.pypi.negotiation import SIMPLE_V1_HTML, SIMPLE_V1_JSON, TEXT_HTML
from packyard.formats.pypi.simple import (
    API_VERSION,
    IndexFile,
    ProjectPage,
    relative_file_url,
    render_index,
    render_index_html,
    render_index_json,
    render_project,
    render_project_html,
    render_project_json,
)

WHEEL_SHA = "a" * 64
SDIST_SHA = "b" * 64
OLD_SHA = "c" * 64
METADATA_SHA = "d" * 64
HOSTILE = '"><script>alert(1)</script>'
HOSTILE_FILENAME = "demo-0.1\"><img src=x onerror=alert('x')>.tar.gz"

WHEEL = IndexFile(
    filename="demo-1.0+cpu-py3-none-any.whl",
    url=relative_file_url("demo-1.0+cpu-py3-none-any.whl"),
    sha256=WHEEL_SHA,
    size=1234,
    upload_time=datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC),
    requires_python=">=3.8",
    yanked=False,
    metadata_sha256=METADATA_SHA,
)
SDIST = IndexFile(
    filename="demo-1.0.tar.gz",
    url=relative_file_url("demo-1.0.tar.gz"),
    sha256=SDIST_SHA,
    size=99,
    upload_time=None,
    requires_python=None,
    yanked=True,
    metadata_sha256=None,
)
OLD = IndexFile(
    filename="demo-0.9.tar.gz",
    url="https://files.example.test/demo-0.9.tar.gz?a=1&b=2",
    sha256=OLD_SHA,
    size=0,
    upload_time=datetime(2022, 1, 1, 2, 0, tzinfo=timezone(timedelta(hours=2))),
    requires_python="<4,>=3.6",
    yanked="broken build",
    metadata_sha256=None,
)
PAGE = ProjectPage(name="demo", files=[WHEEL, SDIST, OLD], versions=["0.9", "1.0", "1.1"])


@dataclass
class _Anchor:
    attrs: dict[str, str | None]
    text: str = ""


@dataclass
class _Page:
    """What a standard-library HTML parser sees in a rendered page."""

    starttags: list[str] = field(default_factory=list)
    metas: dict[str, str | None] = field(default_factory=dict)
    title: str = ""
    h1: str = ""
    anchors: list[_Anchor] = field(default_factory=list)


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page = _Page()
        self._open: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.page.starttags.append(tag)
        attributes = dict(attrs)
        if tag == "meta" and "name" in attributes:
            self.page.metas[attributes["name"] or ""] = attributes.get("content")
        if tag == "a":
            self.page.anchors.append(_Anchor(attributes))
        self._open = tag

    def handle_endtag(self, tag: str) -> None:
        self._open = None

    def handle_data(self, data: str) -> None:
        if self._open == "title":
            self.page.title += data
        elif self._open == "h1":
            self.page.h1 += data
        elif self._open == "a":
            self.page.anchors[-1].text += data


def _parse_html(body: bytes) -> _Page:
    collector = _Collector()
    collector.feed(body.decode("utf-8"))
    collector.close()
    return collector.page


def _parse_json(body: bytes) -> dict[str, Any]:
    document = json.loads(body)
    assert isinstance(document, dict)
    return document


# --- HTML project page -------------------------------------------------------------------


def test_project_html_is_an_html5_page_pip_and_uv_read() -> None:
    body = render_project_html(PAGE)
    text = body.decode("utf-8")
    assert text.startswith("<!DOCTYPE html>\n<html>\n")
    page = _parse_html(body)
    assert page.starttags[:2] == ["html", "head"]
    assert page.title == "Links for demo"
    assert page.h1 == "Links for demo"
    assert page.metas["pypi:repository-version"] == API_VERSION == "1.4"
    assert [a.text for a in page.anchors] == [f.filename for f in PAGE.files]
    anchor_lines = [line for line in text.splitlines() if "<a " in line]
    assert len(anchor_lines) == 3, "each anchor on a line of its own"


def test_project_html_anchor_carries_every_attribute() -> None:
    anchor = _parse_html(render_project_html(PAGE)).anchors[0]
    assert anchor.attrs == {
        "href": f"demo-1.0%2Bcpu-py3-none-any.whl#sha256={WHEEL_SHA}",
        "data-requires-python": ">=3.8",
        "data-dist-info-metadata": f"sha256={METADATA_SHA}",
        "data-core-metadata": f"sha256={METADATA_SHA}",
    }
    assert anchor.text == "demo-1.0+cpu-py3-none-any.whl"


def test_project_html_escapes_requires_python() -> None:
    text = render_project_html(PAGE).decode()
    assert 'data-requires-python="&gt;=3.8"' in text
    assert 'data-requires-python="&lt;4,&gt;=3.6"' in text


def test_project_html_yanked_without_reason_is_an_empty_attribute() -> None:
    anchor = _parse_html(render_project_html(PAGE)).anchors[1]
    # Bare ``data-yanked`` parses to None, which pip reads as "not yanked".
    assert anchor.attrs["data-yanked"] == ""
    assert 'data-yanked=""' in render_project_html(PAGE).decode()


def test_project_html_yanked_with_reason() -> None:
    anchor = _parse_html(render_project_html(PAGE)).anchors[2]
    assert anchor.attrs["data-yanked"] == "broken build"


def test_project_html_omits_optional_attributes_when_unset() -> None:
    anchor = _parse_html(render_project_html(PAGE)).anchors[1]
    assert anchor.attrs == {"href": f"demo-1.0.tar.gz#sha256={SDIST_SHA}", "data-yanked": ""}


def test_project_html_not_yanked_has_no_yanked_attribute() -> None:
    anchor = _parse_html(render_project_html(PAGE)).anchors[0]
    assert "data-yanked" not in anchor.attrs


def test_project_html_keeps_an_absolute_url_with_its_query() -> None:
    anchor = _parse_html(render_project_html(PAGE)).anchors[2]
    assert anchor.attrs["href"] == f"{OLD.url}#sha256={OLD_SHA}"
    assert "?a=1&amp;b=2#sha256=" in render_project_html(PAGE).decode()


def test_project_html_escapes_hostile_filename_and_reasons() -> None:
    hostile = IndexFile(
        filename=HOSTILE_FILENAME,
        url=relative_file_url(HOSTILE_FILENAME),
        sha256=SDIST_SHA,
        size=1,
        upload_time=None,
        requires_python=HOSTILE,
        yanked=HOSTILE,
        metadata_sha256=None,
    )
    page = ProjectPage(
        name="demo", files=[hostile], versions=["0.1"], status="archived", status_reason=HOSTILE
    )
    body = render_project_html(page)
    text = body.decode()
    assert "<script" not in text
    assert "<img" not in text
    parsed = _parse_html(body)
    assert parsed.starttags.count("a") == 1
    assert "script" not in parsed.starttags and "img" not in parsed.starttags
    (anchor,) = parsed.anchors
    assert anchor.text == HOSTILE_FILENAME
    assert anchor.attrs["data-yanked"] == HOSTILE
    assert anchor.attrs["data-requires-python"] == HOSTILE
    href = anchor.attrs["href"]
    assert href is not None
    path, _, fragment = href.partition("#")
    assert "/" not in path and '"' not in path and " " not in path
    assert unquote(path) == HOSTILE_FILENAME
    assert fragment == f"sha256={SDIST_SHA}"
    assert parsed.metas["pypi:project-status-reason"] == HOSTILE


def test_project_html_has_no_status_meta_when_status_is_none() -> None:
    metas = _parse_html(render_project_html(PAGE)).metas
    assert "pypi:project-status" not in metas
    assert "pypi:project-status-reason" not in metas


@pytest.mark.parametrize("status", ["active", "archived", "deprecated"])
def test_project_html_emits_status_without_reason(status: str) -> None:
    page = replace(PAGE, status=status)
    parsed = _parse_html(render_project_html(page))
    assert parsed.metas["pypi:project-status"] == status
    assert "pypi:project-status-reason" not in parsed.metas
    assert len(parsed.anchors) == 3


def test_project_html_emits_status_reason() -> None:
    page = replace(PAGE, status="deprecated", status_reason="use demo2 instead")
    metas = _parse_html(render_project_html(page)).metas
    assert metas["pypi:project-status"] == "deprecated"
    assert metas["pypi:project-status-reason"] == "use demo2 instead"


def test_project_html_lists_no_files_for_a_quarantined_project() -> None:
    page = replace(PAGE, status="quarantined", status_reason="malware")
    parsed = _parse_html(render_project_html(page))
    assert parsed.anchors == []
    assert parsed.metas["pypi:project-status"] == "quarantined"


def test_project_html_with_no_files_is_still_a_page() -> None:
    parsed = _parse_html(render_project_html(ProjectPage(name="empty", files=[], versions=[])))
    assert parsed.title == "Links for empty"
    assert parsed.anchors == []


# --- JSON project page -------------------------------------------------------------------


def test_project_json_has_every_key_and_value() -> None:
    assert _parse_json(render_project_json(PAGE)) == {
        "meta": {"api-version": "1.4"},
        "name": "demo",
        "files": [
            {
                "filename": "demo-1.0+cpu-py3-none-any.whl",
                "url": "demo-1.0%2Bcpu-py3-none-any.whl",
                "hashes": {"sha256": WHEEL_SHA},
                "requires-python": ">=3.8",
                "size": 1234,
                "upload-time": "2024-05-06T07:08:09.123456Z",
                "yanked": False,
                "core-metadata": {"sha256": METADATA_SHA},
            },
            {
                "filename": "demo-1.0.tar.gz",
                "url": "demo-1.0.tar.gz",
                "hashes": {"sha256": SDIST_SHA},
                "size": 99,
                "yanked": True,
                "core-metadata": False,
            },
            {
                "filename": "demo-0.9.tar.gz",
                "url": "https://files.example.test/demo-0.9.tar.gz?a=1&b=2",
                "hashes": {"sha256": OLD_SHA},
                "requires-python": "<4,>=3.6",
                "size": 0,
                "upload-time": "2022-01-01T00:00:00.000000Z",
                "yanked": "broken build",
                "core-metadata": False,
            },
        ],
        "versions": ["0.9", "1.0", "1.1"],
    }


def test_project_json_never_emits_the_old_metadata_key() -> None:
    # pip 22.3-23.1 crash on any "dist-info-metadata" value in JSON (PEP 714).
    for entry in _parse_json(render_project_json(PAGE))["files"]:
        assert "dist-info-metadata" not in entry


def test_project_json_is_compact_and_deterministic() -> None:
    body = render_project_json(PAGE)
    assert body == render_project_json(PAGE)
    assert body == json.dumps(json.loads(body), separators=(",", ":")).encode()
    assert b"\n" not in body


def test_project_json_keeps_non_ascii_as_utf8() -> None:
    page = replace(PAGE, status="archived", status_reason="für immer")
    body = render_project_json(page)
    assert "für immer".encode() in body
    assert _parse_json(body)["project-status"]["reason"] == "für immer"


def test_project_json_upload_time_is_utc_with_microseconds() -> None:
    eastern = datetime(2024, 1, 1, 9, 30, tzinfo=timezone(timedelta(hours=-5)))
    page = replace(PAGE, files=[replace(WHEEL, upload_time=eastern)])
    (entry,) = _parse_json(render_project_json(page))["files"]
    assert entry["upload-time"] == "2024-01-01T14:30:00.000000Z"


def test_project_json_has_no_status_when_status_is_none() -> None:
    document = _parse_json(render_project_json(PAGE))
    assert "project-status" not in document
    assert document["meta"] == {"api-version": "1.4"}


def test_project_json_status_sits_beside_meta_not_inside() -> None:
    page = replace(PAGE, status="archived", status_reason="moved to demo2")
    document = _parse_json(render_project_json(page))
    assert document["project-status"] == {"status": "archived", "reason": "moved to demo2"}
    assert document["meta"] == {"api-version": "1.4"}


def test_project_json_status_without_reason() -> None:
    document = _parse_json(render_project_json(replace(PAGE, status="active")))
    assert document["project-status"] == {"status": "active"}


def test_project_json_lists_no_files_for_a_quarantined_project() -> None:
    page = replace(PAGE, status="quarantined")
    document = _parse_json(render_project_json(page))
    assert document["files"] == []
    assert document["versions"] == ["0.9", "1.0", "1.1"]
    assert document["project-status"] == {"status": "quarantined"}


def test_project_json_versions_drop_duplicates_and_keep_order() -> None:
    page = replace(PAGE, versions=["2.0", "1.0", "2.0", "1.0a1"])
    assert _parse_json(render_project_json(page))["versions"] == ["2.0", "1.0", "1.0a1"]


def test_project_json_escapes_nothing_it_need_not() -> None:
    hostile = replace(SDIST, filename=HOSTILE_FILENAME, yanked=HOSTILE, requires_python=HOSTILE)
    (entry,) = _parse_json(render_project_json(replace(PAGE, files=[hostile])))["files"]
    assert entry["filename"] == HOSTILE_FILENAME
    assert entry["yanked"] == HOSTILE
    assert entry["requires-python"] == HOSTILE


# --- root index --------------------------------------------------------------------------


def test_index_html_links_each_project() -> None:
    body = render_index_html(["alpha", "beta-two"])
    parsed = _parse_html(body)
    assert body.decode().startswith("<!DOCTYPE html>\n")
    assert parsed.metas["pypi:repository-version"] == "1.4"
    assert [(a.attrs, a.text) for a in parsed.anchors] == [
        ({"href": "alpha/"}, "alpha"),
        ({"href": "beta-two/"}, "beta-two"),
    ]


def test_index_html_accepts_any_iterable_and_escapes() -> None:
    parsed = _parse_html(render_index_html(name for name in ['a"b<c']))
    (anchor,) = parsed.anchors
    assert anchor.attrs == {"href": "a%22b%3Cc/"}
    assert anchor.text == 'a"b<c'


def test_index_html_empty() -> None:
    assert _parse_html(render_index_html([])).anchors == []


def test_index_json() -> None:
    assert _parse_json(render_index_json(iter(["alpha", "beta-two"]))) == {
        "meta": {"api-version": "1.4"},
        "projects": [{"name": "alpha"}, {"name": "beta-two"}],
    }


# --- dispatch on the negotiated media type -----------------------------------------------


@pytest.mark.parametrize(
    ("media_type", "expected_start"),
    [(SIMPLE_V1_JSON, b"{"), (SIMPLE_V1_HTML, b"<!DOCTYPE html>"), (TEXT_HTML, b"<!DOCTYPE")],
)
def test_render_dispatches_on_media_type(media_type: str, expected_start: bytes) -> None:
    assert render_project(PAGE, media_type).startswith(expected_start)
    assert render_index(["demo"], media_type).startswith(expected_start)


def test_render_project_rejects_unknown_media_type() -> None:
    with pytest.raises(ValueError, match=r"no simple-index rendering for media type 'text/plain'"):
        render_project(PAGE, "text/plain")


def test_render_index_rejects_unknown_media_type() -> None:
    with pytest.raises(ValueError, match=r"no simple-index rendering for media type 'a/b'"):
        render_index([], "a/b")


# --- bad inputs --------------------------------------------------------------------------


def test_relative_file_url_quotes_everything_but_unreserved() -> None:
    assert relative_file_url("demo-1.0_x.y~z.whl") == "demo-1.0_x.y~z.whl"
    assert relative_file_url("demo-1!2.0+local.whl") == "demo-1%212.0%2Blocal.whl"
    assert relative_file_url("a b#c?d.whl") == "a%20b%23c%3Fd.whl"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        pytest.param(
            {"filename": ""}, "index file name '' must be one path segment", id="empty-filename"
        ),
        pytest.param(
            {"filename": "../x.whl"},
            "index file name '../x.whl' must be one path segment",
            id="filename-with-slash",
        ),
        pytest.param(
            {"url": ""},
            "index file URL '' must be non-empty, with no fragment",
            id="empty-url",
        ),
        pytest.param(
            {"url": "x.whl#md5=0"},
            "index file URL 'x.whl#md5=0' must be non-empty, with no fragment",
            id="url-with-fragment",
        ),
        pytest.param(
            {"sha256": "A" * 64},
            "sha256 of demo-1.0.tar.gz must be 64 lower-case hex digits",
            id="upper-case-sha256",
        ),
        pytest.param(
            {"sha256": "a" * 63},
            "sha256 of demo-1.0.tar.gz must be 64 lower-case hex digits",
            id="short-sha256",
        ),
        pytest.param(
            {"metadata_sha256": "xyz"},
            "metadata sha256 of demo-1.0.tar.gz must be 64 lower-case hex digits",
            id="bad-metadata-sha256",
        ),
        pytest.param(
            {"size": -1}, "size of demo-1.0.tar.gz must not be negative", id="negative-size"
        ),
        pytest.param(
            {"upload_time": datetime(2024, 1, 1)},  # naive on purpose
            "upload time of demo-1.0.tar.gz must be timezone-aware",
            id="naive-upload-time",
        ),
        pytest.param(
            {"yanked": ""},
            "yank reason of demo-1.0.tar.gz must not be empty; use True",
            id="empty-yank-reason",
        ),
    ],
)
def test_index_file_rejects_bad_values(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as raised:
        replace(SDIST, **changes)
    assert str(raised.value) == message


def test_project_page_rejects_unknown_status() -> None:
    with pytest.raises(ValueError) as raised:
        ProjectPage(name="demo", files=[], versions=[], status="retired")
    assert str(raised.value) == (
        "project status 'retired' is not one of active, archived, deprecated, quarantined"
    )


def test_project_page_rejects_reason_without_status() -> None:
    with pytest.raises(ValueError) as raised:
        ProjectPage(name="demo", files=[], versions=[], status_reason="why")
    assert str(raised.value) == "a project status reason needs a project status"


# --- pip's own parser --------------------------------------------------------------------

PAGE_URL = "https://repo.example.test/dom-000000000000/pypi/repo/simple/demo/"


def _pip_links(body: bytes, content_type: str) -> list[Any]:
    collector = pytest.importorskip("pip._internal.index.collector")
    content = collector.IndexContent(
        body, content_type, encoding="utf-8", url=PAGE_URL, cache_link_parsing=False
    )
    return list(collector.parse_links(content))


@pytest.mark.parametrize(
    ("render", "content_type"),
    [
        pytest.param(render_project_html, "text/html", id="html"),
        pytest.param(render_project_json, SIMPLE_V1_JSON, id="json"),
    ],
)
def test_pip_parses_rendered_page(render: Any, content_type: str) -> None:
    wheel, sdist, old = _pip_links(render(PAGE), content_type)

    assert wheel.url_without_fragment == f"{PAGE_URL}demo-1.0%2Bcpu-py3-none-any.whl"
    assert wheel.filename == "demo-1.0+cpu-py3-none-any.whl"
    assert wheel.hash_name == "sha256" and wheel.hash == WHEEL_SHA
    assert wheel.requires_python == ">=3.8"
    assert not wheel.is_yanked
    metadata = wheel.metadata_link()
    assert metadata.url == f"{PAGE_URL}demo-1.0%2Bcpu-py3-none-any.whl.metadata"
    assert metadata.hash == METADATA_SHA

    assert sdist.url_without_fragment == f"{PAGE_URL}demo-1.0.tar.gz"
    assert sdist.is_yanked and sdist.yanked_reason == ""
    assert sdist.requires_python is None
    assert sdist.metadata_link() is None

    assert old.url_without_fragment == "https://files.example.test/demo-0.9.tar.gz?a=1&b=2"
    assert old.is_yanked and old.yanked_reason == "broken build"
    assert old.requires_python == "<4,>=3.6"


def test_pip_reads_upload_time_from_json() -> None:
    wheel, sdist, _ = _pip_links(render_project_json(PAGE), SIMPLE_V1_JSON)
    if not hasattr(wheel, "upload_time"):
        pytest.skip("this pip predates upload-time support")
    assert wheel.upload_time == datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
    assert sdist.upload_time is None


def test_pip_parses_hostile_page_into_one_link() -> None:
    hostile = replace(
        SDIST,
        filename=HOSTILE_FILENAME,
        url=relative_file_url(HOSTILE_FILENAME),
        yanked=HOSTILE,
        requires_python=HOSTILE,
    )
    (link,) = _pip_links(render_project_html(replace(PAGE, files=[hostile])), "text/html")
    assert link.filename == HOSTILE_FILENAME
    assert link.yanked_reason == HOSTILE
    assert link.requires_python == HOSTILE
    assert link.hash == SDIST_SHA
