"""The packument: the JSON document npm, pnpm and yarn install from, full and abbreviated.

Rendered once per change of a package (versions, statuses, tags, deprecations) and kept as
bytes, plain and gzip, with a strong ETag from the content, so that repeat reads are answered
from memory. The full document is what npm >= 10.4 installs with and what yarn 4 reads; the
abbreviated one ("corgi", ``application/vnd.npm.install-v1+json``) is what pnpm, yarn 1 and
npm's publish pre-check ask for. Both carry ``time``: yarn 4 quarantines versions without
``time[version]`` (npmMinimalAgeGate) and pnpm 12 makes a second, full request when the
abbreviated document has none.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from packyard.formats.npm.dist_tags import LATEST, effective_dist_tags
from packyard.formats.npm.names import PackageName
from packyard.formats.npm.negotiation import CORGI, FULL
from packyard.formats.npm.semver import version_sort_key

LISTED_STATUSES = frozenset({"Published"})
"""Statuses whose versions appear in the packument: Unlisted, Archived, Disposed and Deleted
(and Unfinished, which npm never produces) leave it."""
DOWNLOADABLE_STATUSES = frozenset({"Published", "Unlisted"})
"""Statuses whose tarballs are served: an Unlisted version still installs from a lockfile."""

# The public registry copies these from the latest version to the top of the full document
# (``npm view`` and web pages read them there).
_FROM_LATEST = ("description", "keywords", "homepage", "repository", "author", "bugs",
                "license", "contributors")

# Exactly what the public registry keeps of each version in the abbreviated document
# (npm's registry docs, "Abbreviated version object").
_ABBREVIATED_FIELDS = ("name", "version", "dependencies", "optionalDependencies",
                       "devDependencies", "bundleDependencies", "peerDependencies",
                       "peerDependenciesMeta", "bin", "directories", "dist", "engines",
                       "_hasShrinkwrap", "hasInstallScript", "deprecated", "os", "cpu", "libc")

_INSTALL_SCRIPTS = ("preinstall", "install", "postinstall")

# Per-version fields the packument never repeats: the readme is served once, at the top.
_DROPPED_FROM_VERSIONS = ("readme", "readmeFilename", "_attachments")


@dataclass(frozen=True)
class StoredVersion:
    """One version as the core keeps it."""

    version: str
    manifest: Mapping[str, Any]
    """The version's package.json as published (``publish_checks.stored_manifest``), with
    ``dist.integrity`` and ``dist.shasum`` but no ``dist.tarball``: its host is the reader's."""
    status: str
    """CodeArtifact's PackageVersionStatus: Published, Unlisted, Archived, Disposed, ..."""
    published: datetime
    deprecated: str | None = None
    """npm deprecate's message; None (or "") when not deprecated."""
    readme: str | None = None
    readme_filename: str | None = None


@dataclass(frozen=True)
class StoredPackage:
    """One package of a repository, everything its packument is made of."""

    name: PackageName
    versions: Sequence[StoredVersion]
    dist_tags: Mapping[str, str]
    """The stored tags (``latest`` only when pinned; see ``dist_tags``)."""
    modified: datetime | None = None
    """When the package last changed (tags, deprecations, statuses); None: its last publish."""


@dataclass(frozen=True)
class RenderedDocument:
    """A packument as bytes, ready to answer with."""

    body: bytes
    gzip_body: bytes
    digest: str
    media_type: str
    last_modified: datetime

    @property
    def etag(self) -> str:
        """The strong ETag of the plain body."""
        return f'"{self.digest}"'

    @property
    def gzip_etag(self) -> str:
        """The strong ETag of the gzip body: another representation, so another tag."""
        return f'"{self.digest}-gz"'


def iso_time(moment: datetime) -> str:
    """A time as npm writes it: JavaScript's toISOString, ``2024-05-01T12:00:00.000Z``."""
    utc = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def listed_versions(package: StoredPackage) -> list[StoredVersion]:
    """The versions a packument shows, in semver order."""
    listed = [v for v in package.versions if v.status in LISTED_STATUSES]
    return sorted(listed, key=lambda v: version_sort_key(v.version))


def _modified(package: StoredPackage) -> datetime:
    times = [v.published for v in package.versions]
    if package.modified is not None:
        times.append(package.modified)
    return max(times) if times else datetime.fromtimestamp(0, UTC)


def _version_document(package: StoredPackage, stored: StoredVersion,
                      base_url: str) -> dict[str, Any]:
    """A version's manifest as served: identity and tarball URL from the registry's records."""
    manifest = {k: v for k, v in stored.manifest.items() if k not in _DROPPED_FROM_VERSIONS}
    manifest["name"] = package.name.full
    manifest["version"] = stored.version
    manifest["_id"] = f"{package.name.full}@{stored.version}"
    # npm writes the scoped path unencoded (libnpmpublish: `${name}/-/${file}`), and lockfiles
    # keep whatever URL the packument gave.
    dist = stored.manifest.get("dist")
    manifest["dist"] = {**(dist if isinstance(dist, Mapping) else {}),
                        "tarball": base_url + package.name.tarball_path(stored.version)}
    manifest.pop("deprecated", None)
    if stored.deprecated:
        manifest["deprecated"] = stored.deprecated
    return manifest


def _abbreviate(manifest: Mapping[str, Any]) -> dict[str, Any]:
    short = {k: manifest[k] for k in _ABBREVIATED_FIELDS if k in manifest}
    if "bundleDependencies" not in short and "bundledDependencies" in manifest:
        short["bundleDependencies"] = manifest["bundledDependencies"]
    scripts = manifest.get("scripts")
    if "hasInstallScript" not in short and isinstance(scripts, Mapping) and any(
            name in scripts for name in _INSTALL_SCRIPTS):
        # npm decides from this flag whether to run scripts of a package it has not unpacked.
        short["hasInstallScript"] = True
    return short


def _time(package: StoredPackage, listed: Sequence[StoredVersion]) -> dict[str, str]:
    created = min((v.published for v in package.versions), default=_modified(package))
    time = {"created": iso_time(created), "modified": iso_time(_modified(package))}
    time.update((v.version, iso_time(v.published)) for v in listed)
    return time


def _encode(document: Mapping[str, Any]) -> bytes:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def _rendered(body: bytes, media_type: str, package: StoredPackage) -> RenderedDocument:
    return RenderedDocument(
        body=body,
        gzip_body=gzip.compress(body, compresslevel=6, mtime=0),
        digest=hashlib.sha256(body).hexdigest()[:32],
        media_type=media_type,
        last_modified=_modified(package),
    )


def document_revision(package: StoredPackage) -> str:
    """The ``_rev`` of the package's document: changes exactly when the document does.

    npm only echoes it back (``PUT /<name>/-rev/<rev>`` on unpublish), so the core can refuse
    a write based on a stale read. It does not depend on the reader's host name.
    """
    listed = listed_versions(package)
    state = [package.name.full, effective_dist_tags(package.dist_tags, [v.version for v in listed]),
             [[v.version, v.manifest, v.deprecated or "", iso_time(v.published)] for v in listed],
             iso_time(_modified(package))]
    return "1-" + hashlib.sha256(_encode({"state": state})).hexdigest()[:32]


def render_full(package: StoredPackage, base_url: str, *, write: bool = False,
                revision: str | None = None) -> RenderedDocument:
    """The full packument (``GET /<name>``); ``write`` adds ``_rev`` (``?write=true``):
    ``revision``, the one writes are checked against (the repository's own document's, when
    ``package`` also shows its upstreams' versions), else ``package``'s.

    ``base_url`` is the repository endpoint, ending with ``/``: tarball URLs are absolute
    under it, as clients fetch exactly what ``dist.tarball`` says.
    """
    return _rendered(_encode(full_document(package, base_url, write=write, revision=revision)),
                     FULL, package)


def full_document(package: StoredPackage, base_url: str, *, write: bool = False,
                  revision: str | None = None) -> dict[str, Any]:
    """The full packument as a JSON object (``render_full``'s; ``packyard export``'s
    registry document starts from it)."""
    listed = listed_versions(package)
    versions = {v.version: _version_document(package, v, base_url) for v in listed}
    tags = effective_dist_tags(package.dist_tags, versions)
    document: dict[str, Any] = {"_id": package.name.full}
    if write:
        document["_rev"] = revision or document_revision(package)
    document.update({"name": package.name.full, "dist-tags": tags, "versions": versions,
                     "time": _time(package, listed)})
    latest = next((v for v in listed if v.version == tags.get(LATEST)), None)
    if latest is not None:
        document.update((k, latest.manifest[k]) for k in _FROM_LATEST if k in latest.manifest)
        if latest.readme_filename:
            document["readmeFilename"] = latest.readme_filename
    document["readme"] = (latest.readme if latest is not None else None) or ""
    return document


def render_abbreviated(package: StoredPackage, base_url: str) -> RenderedDocument:
    """The abbreviated packument, for ``Accept: application/vnd.npm.install-v1+json``."""
    listed = listed_versions(package)
    versions = {v.version: _abbreviate(_version_document(package, v, base_url)) for v in listed}
    document = {
        "name": package.name.full,
        "modified": iso_time(_modified(package)),
        "dist-tags": effective_dist_tags(package.dist_tags, versions),
        "versions": versions,
        "time": _time(package, listed),
    }
    return _rendered(_encode(document), CORGI, package)
