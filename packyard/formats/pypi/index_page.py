"""Reading an upstream index's project page: PEP 691 JSON, or PEP 503 HTML as the fallback.

Nothing on an upstream page is trusted beyond what the specs promise: every file must have a
sha256 (it is verified before anything is kept), an http(s) URL, and a filename that passes the
same checks as an upload (``filenames``; an old sdist's version may hold a '-', read as pip
reads it) and names the project the page is for.
Files that fail are left out and counted, never fatal: one odd legacy file must not hide a
project. Pure functions; no I/O.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any
from urllib.parse import unquote, urldefrag, urljoin, urlsplit

from packaging.utils import canonicalize_version

from packyard.errors import Invalid, UpstreamError
from packyard.formats.pypi.filenames import parse_listed_filename
from packyard.formats.pypi.negotiation import SIMPLE_V1_JSON

_SHA256 = re.compile(r"[0-9a-fA-F]{64}")


@dataclass(frozen=True)
class UpstreamFile:
    """One distribution file an upstream offers."""

    filename: str
    url: str  # absolute, without fragment
    sha256: str  # lower-case hex, as the upstream declared it
    version: str  # as written in the filename
    version_key: str  # normalized (PEP 440)
    size: int | None = None
    requires_python: str | None = None
    yanked: bool | str = False
    upload_time: datetime | None = None
    metadata_sha256: str | None = None  # PEP 658/714 core metadata, if the upstream serves it


@dataclass(frozen=True)
class UpstreamProject:
    """A parsed upstream project page."""

    name: str  # PEP 503-normalized, as requested
    files: tuple[UpstreamFile, ...]
    rejected: tuple[str, ...] = ()  # why each left-out file was left out


def parse_project_page(body: bytes, content_type: str, page_url: str,
                       project: str) -> UpstreamProject:
    """Parse a project page; UpstreamError when it is neither PEP 691 JSON nor HTML."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media == SIMPLE_V1_JSON or media.endswith("+json") or media == "application/json":
        raw = _files_from_json(body, page_url)
    elif media in ("text/html", "application/vnd.pypi.simple.v1+html", "") \
            or media.endswith("+html"):
        raw = _files_from_html(body, page_url)
    else:
        raise UpstreamError(f"Upstream page {page_url} has media type {media!r}, which is "
                            "neither PEP 691 JSON nor HTML")
    files: list[UpstreamFile] = []
    rejected: list[str] = []
    seen: set[str] = set()
    for item in raw:
        try:
            checked = _checked(item, project)
        except Invalid as exc:
            rejected.append(exc.message)
            continue
        if checked.filename in seen:
            rejected.append(f"{checked.filename}: listed twice; the first entry is used")
            continue
        seen.add(checked.filename)
        files.append(checked)
    return UpstreamProject(project, tuple(files), tuple(rejected))


# -- one file --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _RawFile:
    filename: str
    url: str
    hashes: Mapping[str, str]
    size: Any = None
    requires_python: Any = None
    yanked: Any = False
    upload_time: Any = None
    core_metadata: Any = None


def _checked(raw: _RawFile, project: str) -> UpstreamFile:
    dist = parse_listed_filename(raw.filename, project)
    if dist.normalized_name != project:
        raise Invalid(f"{raw.filename}: names project {dist.normalized_name}, not {project}")
    if not _is_plain(raw.url):
        try:
            scheme = urlsplit(raw.url).scheme.lower()
        except ValueError as exc:  # e.g. an unclosed IPv6 literal: nothing could fetch it
            raise Invalid(f"{raw.filename}: its URL does not parse ({exc})") from None
        if scheme not in ("http", "https"):
            raise Invalid(f"{raw.filename}: URL scheme {scheme!r} is not http or https")
    sha256 = raw.hashes.get("sha256")
    if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256):
        raise Invalid(f"{raw.filename}: no sha256 hash, so it could not be verified")
    return UpstreamFile(
        filename=raw.filename, url=raw.url, sha256=sha256.lower(),
        # normalize_version's result, from the version the filename's parse already made
        version=dist.version_text, version_key=canonicalize_version(dist.version),
        size=raw.size if isinstance(raw.size, int) and raw.size >= 0 else None,
        requires_python=raw.requires_python if isinstance(raw.requires_python, str) else None,
        yanked=_yanked(raw.yanked),
        upload_time=_timestamp(raw.upload_time),
        metadata_sha256=_metadata_hash(raw.core_metadata))


def _yanked(value: Any) -> bool | str:
    # PEP 592/691: false, true, or a non-empty reason string.
    if isinstance(value, str):
        return value if value else True
    return bool(value)


def _timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _metadata_hash(value: Any) -> str | None:
    # PEP 691/714: a dict of hashes, or true (served, no hash), or false/absent. Only a served
    # file with a sha256 is offered onwards: Packyard verifies what it relays.
    if isinstance(value, Mapping):
        sha = value.get("sha256")
        if isinstance(sha, str) and _SHA256.fullmatch(sha):
            return sha.lower()
    return None


_PLAIN_SCHEMES = ("https://", "http://")


def _is_plain(url: str) -> bool:
    """Whether ``url`` is absolute http(s) and joining it to a page would give it back
    unchanged: no fragment, nothing ``urlsplit`` strips, drops or could refuse (control
    characters, an empty parameter or query, non-ASCII, an IPv6 literal's brackets). Most
    upstreams, PyPI among them, list only such URLs; the others are joined and split."""
    return (url.startswith(_PLAIN_SCHEMES) and url.isascii() and url.isprintable()
            and "#" not in url and ";" not in url and "[" not in url and "]" not in url
            and not url.endswith("?"))


def _absolute(page_url: str, url: str) -> str:
    """``url`` resolved against the page's URL, without a fragment; as it is when it does
    not parse (``_checked`` leaves that file out)."""
    if _is_plain(url):
        return url
    try:
        return urldefrag(urljoin(page_url, url)).url
    except ValueError:
        return url


# -- PEP 691 JSON ----------------------------------------------------------------------------


def _files_from_json(body: bytes, page_url: str) -> list[_RawFile]:
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise UpstreamError(f"Upstream page {page_url} is not valid JSON") from None
    if not isinstance(document, dict):
        raise UpstreamError(f"Upstream page {page_url} is not a PEP 691 JSON object")
    version = str((document.get("meta") or {}).get("api-version", "1.0"))
    if version.split(".", 1)[0] != "1":
        raise UpstreamError(f"Upstream page {page_url} speaks simple API {version}; "
                            "Packyard understands 1.x (PEP 629)")
    files = document.get("files")
    if not isinstance(files, list):
        raise UpstreamError(f"Upstream page {page_url} has no 'files' list")
    out: list[_RawFile] = []
    for entry in files:
        if not isinstance(entry, dict):
            continue
        filename, url = entry.get("filename"), entry.get("url")
        if not isinstance(filename, str) or not isinstance(url, str):
            continue
        hashes = entry.get("hashes")
        metadata = entry.get("core-metadata", entry.get("dist-info-metadata"))
        out.append(_RawFile(
            filename=filename, url=_absolute(page_url, url),
            hashes={str(k).lower(): v for k, v in hashes.items()}
            if isinstance(hashes, dict) else {},
            size=entry.get("size"), requires_python=entry.get("requires-python"),
            yanked=entry.get("yanked", False), upload_time=entry.get("upload-time"),
            core_metadata=metadata))
    return out


# -- PEP 503 HTML ----------------------------------------------------------------------------


class _AnchorParser(HTMLParser):
    """Collects every <a> (attributes unescaped by HTMLParser) and the <base href>, if any."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.anchors: list[dict[str, str | None]] = []
        self.base: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.anchors.append(dict(attrs))
        elif tag == "base" and self.base is None:
            self.base = dict(attrs).get("href")


def _files_from_html(body: bytes, page_url: str) -> list[_RawFile]:
    parser = _AnchorParser()
    parser.feed(body.decode("utf-8", errors="replace"))
    parser.close()
    # PEP 503: relative URLs resolve against <base href> when the page has one.
    try:
        base = urljoin(page_url, parser.base) if parser.base else page_url
    except ValueError:
        raise UpstreamError(f"Upstream page {page_url} has a <base href> that does not parse "
                            f"({parser.base!r})") from None
    out: list[_RawFile] = []
    for attrs in parser.anchors:
        href = attrs.get("href")
        if not href:
            continue
        try:
            url, fragment = urldefrag(urljoin(base, href))
            path = urlsplit(url).path
        except ValueError:  # an href that does not parse: left out by ``_checked``, with why
            url, fragment = href, ""
            path = href.split("#", 1)[0].split("?", 1)[0]
        filename = unquote(path.rsplit("/", 1)[-1])
        hashes: dict[str, str] = {}
        name, sep, value = fragment.partition("=")
        if sep:
            hashes[name.lower()] = value
        yanked: bool | str = False
        if "data-yanked" in attrs:
            yanked = attrs["data-yanked"] or True
        metadata_attr = attrs.get("data-core-metadata") or attrs.get("data-dist-info-metadata")
        core: dict[str, str] | None = None
        if metadata_attr:
            algo, sep, digest = metadata_attr.partition("=")
            if sep:
                core = {algo.lower(): digest}
        out.append(_RawFile(filename=filename, url=url, hashes=hashes,
                            requires_python=attrs.get("data-requires-python"),
                            yanked=yanked, core_metadata=core))
    return out
