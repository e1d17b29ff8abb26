"""PyPI's JSON API documents (``pypi/NAME/json`` and ``pypi/NAME/VERSION/json`` under a
repository endpoint), as pure functions.

The shape is Warehouse's (``warehouse/legacy/api/json.py`` and ``docs/user/api/json.md``): an
``info`` object describing one release, ``urls`` (that release's files), ``vulnerabilities``,
``last_serial`` and ``ownership``, and, in the project document only, ``releases`` (every
release, keyed by version, each with its files; a release without files has ``[]``). Keys are
sorted and the document ends with a newline, as Warehouse serializes it; the deprecated keys it
keeps (``downloads: -1``, ``has_sig: false``, ``bugtrack_url: null``) are kept too, since tools
read documents written against it.

Which releases appear follows the Simple API here (``upstream/merge.py``): Published and
Unlisted versions, an Unlisted one shown as yanked with the reason "Unlisted" (PyPI lists yanked
releases, flagged ``yanked``); Archived, Disposed, Deleted and Unfinished versions do not
appear, in ``releases`` or as a release document. The project document describes PyPI's
"latest" release: not yanked first, then not a pre-release, then the highest version. A file
carries its own yank (PEP 592 yanks files; an upstream's yank, as the Simple page shows it),
and a release shows yanked when it is, or when every file of it is.

What Packyard does not have is given as PyPI gives it when absent: no vulnerabilities (``[]``),
no ownership roles, no download counts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import quote

from packaging.utils import canonicalize_version
from packaging.version import InvalidVersion, Version

LISTED_STATUSES: Final = ("Published", "Unlisted")
"""The statuses whose versions the JSON API shows, as the Simple API does."""

LAST_SERIAL_HEADER: Final = "X-PyPI-Last-Serial"
"""The response header PyPI puts ``last_serial`` in."""

UNLISTED_REASON: Final = "Unlisted"
"""The yank reason an Unlisted version shows, as on the Simple API's pages."""


@dataclass(frozen=True)
class JsonFile:
    """One distribution file of a release."""

    filename: str
    url: str  # absolute, or relative to where the document is served
    size: int
    upload_time: datetime | None  # timezone-aware; None when an upstream's page has none
    sha256: str
    md5: str | None = None
    blake2b_256: str | None = None
    requires_python: str | None = None
    metadata_sha256: str | None = None  # of the PEP 658 ``.metadata`` file, when served
    # This file's own yank (PEP 592), as the Simple page shows it: an upstream's yank of a
    # file it offers, or of a kept copy (``merge._as_upstream_says``).
    yanked: bool | str = False

    def __post_init__(self) -> None:
        if self.upload_time is not None and self.upload_time.utcoffset() is None:
            raise ValueError(f"upload time of {self.filename} must be timezone-aware")


@dataclass(frozen=True)
class ReleaseMetadata:
    """A release's core metadata, as it was uploaded (the fields ``info`` shows)."""

    summary: str | None = None
    description: str | None = None
    description_content_type: str | None = None
    keywords: str | None = None
    license: str | None = None
    license_expression: str | None = None
    license_files: Sequence[str] = ()
    classifiers: Sequence[str] = ()
    author: str | None = None
    author_email: str | None = None
    maintainer: str | None = None
    maintainer_email: str | None = None
    requires_python: str | None = None
    platform: str | None = None
    home_page: str | None = None
    download_url: str | None = None
    project_urls: Mapping[str, str] = field(default_factory=dict)
    requires_dist: Sequence[str] = ()
    provides_extra: Sequence[str] = ()
    dynamic: Sequence[str] = ()


@dataclass(frozen=True)
class JsonRelease:
    """One version: its CodeArtifact status, files and metadata. ``yanked`` carries a yank the
    upstream index reported (True, or its reason)."""

    version: str
    status: str
    files: Sequence[JsonFile] = ()
    metadata: ReleaseMetadata = field(default_factory=ReleaseMetadata)
    yanked: bool | str = False

    @property
    def is_listed(self) -> bool:
        return self.status in LISTED_STATUSES

    @property
    def yank(self) -> bool | str:
        """False, True, or the reason: an upstream's yank, else "Unlisted" for Unlisted."""
        if self.yanked:
            return self.yanked
        return UNLISTED_REASON if self.status == "Unlisted" else False


@dataclass(frozen=True)
class JsonProject:
    """A project as one repository serves it.

    ``name`` is the display name (PyPI's ``info.name``). ``project_url`` stands for PyPI's
    project page (``package_url`` and ``project_url``); a release's ``release_url`` is
    ``release_pages`` (``project_url`` when empty) plus ``VERSION/``, as on PyPI, where a
    release's page is. ``last_serial`` is the project's change counter.
    """

    name: str
    releases: Sequence[JsonRelease]
    last_serial: int
    project_url: str
    release_pages: str = ""


def listed_releases(project: JsonProject) -> list[JsonRelease]:
    """The releases the documents show, newest first."""
    return sorted((r for r in project.releases if r.is_listed),
                  key=lambda r: _version_key(r.version), reverse=True)


def latest_release(project: JsonProject) -> JsonRelease | None:
    """The release ``pypi/NAME/json`` describes, as Warehouse picks it: not yanked first, then
    not a pre-release, then the highest version. None when nothing is listed."""
    listed = listed_releases(project)
    if not listed:
        return None
    ranked = min(enumerate(listed), key=lambda item: (bool(item[1].yank),
                                                      _is_prerelease(item[1].version),
                                                      item[0]))
    return ranked[1]


def find_release(project: JsonProject, version: str) -> JsonRelease | None:
    """The listed release ``pypi/NAME/VERSION/json`` names: the exact version, else the one
    version equal to it in canonical form (``1.0`` for ``1.0.0``)."""
    listed = listed_releases(project)
    for release in listed:
        if release.version == version:
            return release
    canonical = canonicalize_version(version)
    matches = [r for r in listed if canonicalize_version(r.version) == canonical]
    return matches[0] if len(matches) == 1 else None


def project_document(project: JsonProject) -> dict[str, Any] | None:
    """The ``pypi/NAME/json`` document, or None (404) when the project has no listed release."""
    latest = latest_release(project)
    if latest is None:
        return None
    document = _document(project, latest)
    document["releases"] = {r.version: [_file(r, f) for f in _sorted_files(r)]
                            for r in listed_releases(project)}
    return document


def release_document(project: JsonProject, version: str) -> dict[str, Any] | None:
    """The ``pypi/NAME/VERSION/json`` document (no ``releases`` key), or None (404)."""
    release = find_release(project, version)
    return None if release is None else _document(project, release)


def render_project_json(project: JsonProject) -> bytes | None:
    """``project_document`` serialized as Warehouse serializes it; None for 404."""
    document = project_document(project)
    return None if document is None else dump(document)


def render_release_json(project: JsonProject, version: str) -> bytes | None:
    """``release_document`` serialized as Warehouse serializes it; None for 404."""
    document = release_document(project, version)
    return None if document is None else dump(document)


def dump(document: Mapping[str, Any]) -> bytes:
    """Warehouse's ``json-with-newline`` renderer: sorted keys, compact, UTF-8, a newline."""
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)
    return (text + "\n").encode("utf-8")


def _document(project: JsonProject, release: JsonRelease) -> dict[str, Any]:
    return {
        "info": _info(project, release),
        "last_serial": project.last_serial,
        "ownership": {"organization": None, "roles": []},
        "urls": [_file(release, f) for f in _sorted_files(release)],
        "vulnerabilities": [],
    }


def _keywords(kept: str | None) -> str | None:
    """Keywords as Warehouse shows them: the metadata's comma-separated list joined with ", "
    (``Keywords: a,b`` shows as ``a, b``); a list without commas is one keyword, as it was."""
    if kept is None or "," not in kept:
        return kept
    return ", ".join(keyword.strip() for keyword in kept.split(","))


def _info(project: JsonProject, release: JsonRelease) -> dict[str, Any]:
    meta = release.metadata
    yank = release.yank
    return {
        "author": meta.author,
        "author_email": meta.author_email,
        "bugtrack_url": None,
        "classifiers": list(meta.classifiers),
        "description": meta.description or "",
        "description_content_type": meta.description_content_type,
        "docs_url": None,
        "download_url": meta.download_url,
        "downloads": {"last_day": -1, "last_month": -1, "last_week": -1},
        # Warehouse title-cases each field name (``license-file`` shows as ``License-File``).
        "dynamic": [field.title() for field in meta.dynamic] or None,
        "home_page": meta.home_page,
        "keywords": _keywords(meta.keywords),
        "license": meta.license,
        "license_expression": meta.license_expression,
        "license_files": list(meta.license_files) or None,
        "maintainer": meta.maintainer,
        "maintainer_email": meta.maintainer_email,
        "name": project.name,
        "package_url": project.project_url,
        "platform": meta.platform,
        "project_url": project.project_url,
        "project_urls": dict(meta.project_urls) or None,
        "provides_extra": list(meta.provides_extra) or None,
        "release_url": (f"{project.release_pages or project.project_url}"
                        f"{quote(release.version, safe='')}/"),
        "requires_dist": list(meta.requires_dist) or None,
        "requires_python": meta.requires_python,
        "summary": meta.summary,
        "version": release.version,
        "yanked": bool(yank),
        "yanked_reason": yank if isinstance(yank, str) else None,
    }


def _file(release: JsonRelease, file: JsonFile) -> dict[str, Any]:
    packagetype, python_version = _dist_kind(file.filename)
    moment = (None if file.upload_time is None
              else file.upload_time.astimezone(UTC).replace(tzinfo=None))
    yank = file.yanked or release.yank
    return {
        "comment_text": "",
        "core-metadata": ({"sha256": file.metadata_sha256} if file.metadata_sha256 is not None
                          else False),
        "digests": {"blake2b_256": file.blake2b_256, "md5": file.md5, "sha256": file.sha256},
        "downloads": -1,
        "filename": file.filename,
        "has_sig": False,
        "md5_digest": file.md5,
        "packagetype": packagetype,
        "python_version": python_version,
        "requires_python": file.requires_python or None,
        "size": file.size,
        # null when an upstream's page (PEP 503 HTML) gives no upload time.
        "upload_time": None if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%S"),
        # Warehouse writes the naive UTC time's isoformat(): no fraction when it is zero.
        "upload_time_iso_8601": None if moment is None else moment.isoformat() + "Z",
        "url": file.url,
        "yanked": bool(yank),
        "yanked_reason": yank if isinstance(yank, str) else None,
    }


def _sorted_files(release: JsonRelease) -> list[JsonFile]:
    return sorted(release.files, key=lambda f: f.filename)


def _dist_kind(filename: str) -> tuple[str, str]:
    """``packagetype`` and ``python_version`` as twine's upload form sets them."""
    if filename.endswith(".whl"):
        parts = filename[:-len(".whl")].split("-")
        return "bdist_wheel", parts[-3] if len(parts) >= 5 else "any"
    if filename.endswith(".egg"):
        tag = filename[:-len(".egg")].rsplit("-", 1)[-1]
        return "bdist_egg", tag.removeprefix("py")
    return "sdist", "source"


def _version_key(version: str) -> tuple[int, Version | str]:
    # Warehouse orders releases by PEP 440; a version that does not parse sorts below them all.
    try:
        return (1, Version(version))
    except InvalidVersion:
        return (0, version)


def _is_prerelease(version: str) -> bool:
    try:
        return Version(version).is_prerelease
    except InvalidVersion:
        return False
