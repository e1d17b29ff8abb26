"""Rendering of the PyPI Simple Repository API pages (HTML and JSON), as pure functions.

The pages follow the living "Simple repository API" spec on packaging.python.org, which
collects PEP 503 (HTML pages), 592 (yanking), 629 (versioning), 658 and 714 (core
metadata files), 691 (JSON), 700 (versions, size, upload-time) and 792 (project status).
Nothing here does I/O: the service gathers a :class:`ProjectPage`, a handler picks the
media type (see ``negotiation``) and sends the bytes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from typing import Any
from urllib.parse import quote

from packyard.formats.pypi.negotiation import SIMPLE_V1_HTML, SIMPLE_V1_JSON, TEXT_HTML

# PEP 792 defines version 1.4 (1.1 was PEP 700, 1.2 PEP 708, 1.3 PEP 740). Everything a
# 1.2/1.3 response adds is optional, so claiming 1.4 promises nothing we leave out.
API_VERSION = "1.4"

PROJECT_STATUSES = frozenset({"active", "archived", "quarantined", "deprecated"})

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class IndexFile:
    """One distribution file as the simple index lists it."""

    filename: str
    url: str  # where to fetch it, usually relative_file_url(filename); no fragment
    sha256: str  # lower-case hex
    size: int
    upload_time: datetime | None  # timezone-aware
    requires_python: str | None
    yanked: bool | str  # False, True, or the yank reason (non-empty)
    metadata_sha256: str | None  # sha256 of the PEP 658 ``{url}.metadata`` file, if served

    def __post_init__(self) -> None:
        if not self.filename or "/" in self.filename:
            raise ValueError(f"index file name {self.filename!r} must be one path segment")
        if not self.url or "#" in self.url:
            raise ValueError(f"index file URL {self.url!r} must be non-empty, with no fragment")
        if not _SHA256_HEX.fullmatch(self.sha256):
            raise ValueError(f"sha256 of {self.filename} must be 64 lower-case hex digits")
        if self.metadata_sha256 is not None and not _SHA256_HEX.fullmatch(self.metadata_sha256):
            raise ValueError(f"metadata sha256 of {self.filename} must be 64 lower-case hex digits")
        if self.size < 0:
            raise ValueError(f"size of {self.filename} must not be negative")
        if self.upload_time is not None and self.upload_time.utcoffset() is None:
            raise ValueError(f"upload time of {self.filename} must be timezone-aware")
        # PEP 592/691: a reason is a non-empty string; "" would read as "not yanked" in JSON.
        if self.yanked == "":
            raise ValueError(f"yank reason of {self.filename} must not be empty; use True")


@dataclass(frozen=True)
class ProjectPage:
    """Everything a project's simple page shows."""

    name: str  # PEP 503-normalized
    files: Sequence[IndexFile]
    versions: Sequence[str]  # PEP 700: every version, including ones without files
    status: str | None = None  # PEP 792 project status; None emits no marker (= active)
    status_reason: str | None = None

    def __post_init__(self) -> None:
        if self.status is not None and self.status not in PROJECT_STATUSES:
            raise ValueError(
                f"project status {self.status!r} is not one of "
                f"{', '.join(sorted(PROJECT_STATUSES))}"
            )
        if self.status_reason is not None and self.status is None:
            raise ValueError("a project status reason needs a project status")


def relative_file_url(filename: str) -> str:
    """Make the href for a file that is served next to its project page.

    Everything outside RFC 3986's unreserved set is percent-encoded: "+" in a local
    version ("1.0+cpu") must not reach a server that reads it as a space.
    """
    return quote(filename, safe="")


def render_project_html(page: ProjectPage) -> bytes:
    """Render a project page as PEP 503 HTML, the form pip, uv and browsers all read."""
    title = escape(f"Links for {page.name}", quote=True)
    head = [
        '<meta charset="utf-8">',
        _meta("pypi:repository-version", API_VERSION),
    ]
    if page.status is not None:
        head.append(_meta("pypi:project-status", page.status))
        if page.status_reason is not None:
            head.append(_meta("pypi:project-status-reason", page.status_reason))
    head.append(f"<title>{title}</title>")
    body = [f"<h1>{title}</h1>"]
    body.extend(f"{_anchor(file)}<br>" for file in _listed_files(page))
    return _document(head, body)


def render_project_json(page: ProjectPage) -> bytes:
    """Render a project page as PEP 691 JSON (``application/vnd.pypi.simple.v1+json``)."""
    document: dict[str, Any] = {"meta": {"api-version": API_VERSION}}
    if page.status is not None:
        # PEP 792: "project-status" sits beside "meta", not inside it.
        status: dict[str, str] = {"status": page.status}
        if page.status_reason is not None:
            status["reason"] = page.status_reason
        document["project-status"] = status
    document["name"] = page.name
    document["files"] = [_file_json(file) for file in _listed_files(page)]
    # PEP 700: logically a set, so no duplicates; keep the caller's order otherwise.
    document["versions"] = list(dict.fromkeys(page.versions))
    return _dump(document)


def render_index_html(names: Iterable[str]) -> bytes:
    """Render the root ``/simple/`` page: one anchor per (normalized) project name."""
    head = [
        '<meta charset="utf-8">',
        _meta("pypi:repository-version", API_VERSION),
        "<title>Simple index</title>",
    ]
    body = [
        f'<a href="{escape(quote(name, safe="") + "/", quote=True)}">'
        f"{escape(name, quote=True)}</a><br>"
        for name in names
    ]
    return _document(head, body)


def render_index_json(names: Iterable[str]) -> bytes:
    """Render the root ``/simple/`` page as PEP 691 JSON."""
    return _dump(
        {
            "meta": {"api-version": API_VERSION},
            "projects": [{"name": name} for name in names],
        }
    )


def render_project(page: ProjectPage, media_type: str) -> bytes:
    """Render a project page in a media type chosen by ``negotiation``."""
    if media_type == SIMPLE_V1_JSON:
        return render_project_json(page)
    if media_type in (SIMPLE_V1_HTML, TEXT_HTML):
        return render_project_html(page)
    raise ValueError(f"no simple-index rendering for media type {media_type!r}")


def render_index(names: Iterable[str], media_type: str) -> bytes:
    """Render the root page in a media type chosen by ``negotiation``."""
    if media_type == SIMPLE_V1_JSON:
        return render_index_json(names)
    if media_type in (SIMPLE_V1_HTML, TEXT_HTML):
        return render_index_html(names)
    raise ValueError(f"no simple-index rendering for media type {media_type!r}")


def _listed_files(page: ProjectPage) -> Sequence[IndexFile]:
    """Files the page may offer: PEP 792 forbids offering a quarantined project's files."""
    return () if page.status == "quarantined" else page.files


def _anchor(file: IndexFile) -> str:
    """Build one file's ``<a>``; every attribute value and the text are HTML-escaped."""
    attributes = [("href", f"{file.url}#sha256={file.sha256}")]
    if file.requires_python is not None:
        attributes.append(("data-requires-python", file.requires_python))
    if file.yanked is not False:
        # Always with a value: pip reads a bare ``data-yanked`` (value None) as not yanked.
        reason = file.yanked if isinstance(file.yanked, str) else ""
        attributes.append(("data-yanked", reason))
    if file.metadata_sha256 is not None:
        # PEP 714 renamed the attribute; the old name stays for pip 22.x and friends,
        # and must carry the same value.
        metadata = f"sha256={file.metadata_sha256}"
        attributes.append(("data-dist-info-metadata", metadata))
        attributes.append(("data-core-metadata", metadata))
    rendered = " ".join(f'{name}="{escape(value, quote=True)}"' for name, value in attributes)
    return f"<a {rendered}>{escape(file.filename, quote=True)}</a>"


def _file_json(file: IndexFile) -> dict[str, Any]:
    """Build one entry of the JSON ``files`` list."""
    entry: dict[str, Any] = {
        "filename": file.filename,
        "url": file.url,
        "hashes": {"sha256": file.sha256},
    }
    if file.requires_python is not None:
        entry["requires-python"] = file.requires_python
    entry["size"] = file.size
    if file.upload_time is not None:
        entry["upload-time"] = _upload_time(file.upload_time)
    entry["yanked"] = file.yanked
    # PEP 714: JSON carries only "core-metadata". The old "dist-info-metadata" key makes
    # pip 22.3-23.1 fail hard (pypa/pip#12042), and PEP 714 says not to emit it.
    entry["core-metadata"] = (
        {"sha256": file.metadata_sha256} if file.metadata_sha256 is not None else False
    )
    return entry


def _upload_time(moment: datetime) -> str:
    """Format PEP 700's ``yyyy-mm-ddThh:mm:ss.ffffffZ`` in UTC."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _meta(name: str, content: str) -> str:
    return f'<meta name="{escape(name, quote=True)}" content="{escape(content, quote=True)}">'


def _document(head: list[str], body: list[str]) -> bytes:
    """Wrap head and body lines in an HTML5 page, one element per line."""
    lines = ["<!DOCTYPE html>", "<html>", "  <head>"]
    lines.extend(f"    {line}" for line in head)
    lines.extend(["  </head>", "  <body>"])
    lines.extend(f"    {line}" for line in body)
    lines.extend(["  </body>", "</html>", ""])
    return "\n".join(lines).encode("utf-8")


def _dump(document: dict[str, Any]) -> bytes:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
