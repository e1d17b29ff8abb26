"""The registry document Verdaccio keeps beside a package's tarballs (``storage/<name>/
package.json``, ``storage/@scope/<name>/package.json``): what ``packyard import`` reads of it,
and what ``packyard export`` writes (``export_document``, ``merge_document``).

It is a packument as the registry stores it: ``name``, ``versions`` (each version's manifest,
``deprecated`` when deprecated), ``dist-tags``, ``time``, ``_attachments`` (each tarball's
``shasum`` and ``version``), ``_uplinks``, ``_distfiles``, ``_rev`` and ``readme``. The
tarballs carry neither dist-tags, deprecations nor publish times, so without it an air-gapped
copy loses every tag but ``latest``, every deprecation message, and every version's date
(``npm view <name> time``, ``npm install --before``, release-age rules read them). A project's own ``package.json`` (no
``versions``, no ``dist-tags``) is no such document and is passed over.

The exported document is the repository's full packument of the exported versions (their
manifests, ``deprecated``, the dist-tags that name them, ``time``, ``readme``, ``_rev``), with
what Verdaccio's storage adds: ``_attachments`` naming each tarball, empty ``_uplinks``,
``_distfiles`` and ``users``. Its ``dist.tarball`` URLs name Verdaccio's default address:
Verdaccio answers with its own (it keeps only the file name), and ``packyard import`` reads
none.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from packyard.errors import Conflict, Invalid, PackyardError
from packyard.formats.npm import attributes
from packyard.formats.npm.names import PackageName, parse_package_name
from packyard.formats.npm.packument import StoredPackage, StoredVersion, full_document
from packyard.formats.npm.semver import version_key, version_sort_key
from packyard.formats.plugin import DocumentResult, PublishTimes, document_time
from packyard.model import Asset, PackageVersion

if TYPE_CHECKING:
    from packyard.auth.principal import Principal
    from packyard.formats.npm.package_edits import PackageEdits
    from packyard.model import Domain, Repository

FILENAME = "package.json"

_KEYS = ("name", "versions", "dist-tags")
"""What makes a ``package.json`` a registry document rather than a project's."""

EXPORT_BASE_URL = "http://localhost:4873/"
"""Where the exported ``dist.tarball`` URLs point: Verdaccio's default address (it rewrites
them to its own when it answers; it needs them absolute)."""


@dataclass(frozen=True)
class RegistryDocument:
    """What ``packyard import`` takes of a registry document: its package, its dist-tags,
    its deprecations (version -> message, the non-empty ones) and its versions' publish times
    (its ``time``, version -> when)."""

    name: PackageName
    dist_tags: Mapping[str, str]
    deprecations: Mapping[str, str]
    times: Mapping[str, datetime] = field(default_factory=dict)


def read_registry_document(data: bytes) -> RegistryDocument | None:
    """The dist-tags and deprecations of a registry document; None for a ``package.json``
    that is none (a project's: a JSON object without ``name``, ``versions`` and
    ``dist-tags``). ``Invalid``, saying what is wrong, for one that is not JSON or whose
    parts are not what a registry writes: nothing of such a document is applied."""
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Invalid(f"not a JSON document ({exc})") from None
    if not isinstance(document, dict) or not all(key in document for key in _KEYS):
        return None
    name = document["name"]
    if not isinstance(name, str):
        raise Invalid("its name must be a string")
    parsed = parse_package_name(name)
    tags = document["dist-tags"]
    if not isinstance(tags, dict) or not all(
            isinstance(tag, str) and isinstance(version, str) for tag, version in tags.items()):
        raise Invalid("its dist-tags must be a JSON object of tag names and versions")
    versions = document["versions"]
    if not isinstance(versions, dict):
        raise Invalid("its versions must be a JSON object")
    times = _version_times(document.get("time"), versions)
    deprecations: dict[str, str] = {}
    for version, manifest in versions.items():
        if not isinstance(manifest, dict):
            raise Invalid(f'versions["{version}"] must be a JSON object')
        message: Any = manifest.get("deprecated")
        if message is None:
            continue
        # The rule the deprecate endpoint holds a document to (publish_checks.deprecations).
        if not isinstance(message, str):
            raise Invalid(f'versions["{version}"].deprecated must be a string.')
        if message:
            deprecations[version] = message
    return RegistryDocument(parsed, dict(tags), deprecations, times)


def _version_times(time: Any, versions: Mapping[str, Any]) -> dict[str, datetime]:
    """The publish time of each version of ``versions`` that ``time`` dates (its other keys,
    ``created``, ``modified``, ``unpublished``, are not versions'); ``Invalid`` when one is
    no ISO 8601 time with its zone, as a registry writes them."""
    if time is None:
        return {}
    if not isinstance(time, dict):
        raise Invalid("its time must be a JSON object")
    found: dict[str, datetime] = {}
    for version, text in time.items():
        if version not in versions:
            continue
        moment = document_time(text)
        if moment is None:
            raise Invalid(f'time["{version}"] must be an ISO 8601 time with its zone, as '
                          "2024-01-31T12:00:00.000Z")
        found[version] = moment
    return found


class RegistryDocuments:
    """``packyard import``'s reading of registry documents (``bulk_import.PackageDocuments``):
    each applied through ``PackageEdits.import_document``, bounded by the npm document limit
    (``PACKYARD_NPM_MAX_DOCUMENT_BYTES``)."""

    def __init__(self, edits: PackageEdits, max_bytes: int) -> None:
        self._edits = edits
        self._max_bytes = max_bytes

    def times(self, path: Path) -> PublishTimes | None:
        """The publish times of its ``time``, by version key; None when it is no registry
        document, dates nothing, or is refused (``apply`` says why)."""
        from packyard.formats.bulk_import import read_document

        try:
            document = read_registry_document(read_document(path, self._max_bytes))
        except PackyardError:
            return None
        if document is None or not document.times:
            return None
        return PublishTimes(document.name.full, versions={
            _key(version): moment for version, moment in document.times.items()})

    def apply(self, principal: Principal, domain: Domain, repo: Repository,
              path: Path) -> DocumentResult | None:
        from packyard.formats.bulk_import import read_document

        try:
            document = read_registry_document(read_document(path, self._max_bytes))
        except PackyardError as refused:
            return DocumentResult(path, "refused", reason=refused.message)
        if document is None:
            return None
        try:
            done = self._edits.import_document(principal, domain, repo, document)
        except PackyardError as refused:
            return DocumentResult(path, "refused", document.name.full, refused.message)
        return DocumentResult(
            path, "read", document.name.full,
            tags_set=tuple(done.tags_set), tags_present=tuple(done.tags_present),
            tags_skipped=tuple(done.tags_skipped),
            deprecations_set=tuple(done.deprecations_set),
            deprecations_present=tuple(done.deprecations_present),
            deprecations_skipped=tuple(done.deprecations_skipped))


def export_document(name: PackageName, files: Sequence[tuple[PackageVersion, Asset]],
                    tags: Mapping[str, str]) -> dict[str, Any]:
    """The registry document of ``name`` made of the exported ``files`` (each tarball with its
    version), ``tags`` (tag -> version) limited to them: every exported version is in it, as
    the packument shows a Published one, whatever its status here."""
    stored = [StoredVersion(
        version=v.version, manifest=attributes.manifest(v.attributes), status="Published",
        published=v.published_at, deprecated=attributes.deprecated(v.attributes),
        readme=v.readme, readme_filename=attributes.readme_filename(v.attributes))
        for v, _ in files]
    document = full_document(StoredPackage(name, stored, tags), EXPORT_BASE_URL, write=True)
    document.update({"users": {}, "_uplinks": {}, "_distfiles": {}, "_attachments": {
        name.tarball_filename(version.version): {
            "shasum": _shasum(version, asset), "version": version.version}
        for version, asset in files}})
    return document


def merge_document(existing: bytes | None, document: Mapping[str, Any]) -> bytes:
    """The bytes of ``document`` written over the one an earlier export left (None: none):
    its versions, times and attachments stay beside this run's, and this run's dist-tags
    (and everything else) are written over its; a tag left naming no version goes.
    ``Conflict`` when what is there is no registry document of this package."""
    merged = dict(document)
    if existing is not None:
        earlier = _earlier(existing, str(document["name"]))
        for key in ("versions", "time", "_attachments"):
            old, new = earlier.get(key), document.get(key)
            if isinstance(old, dict) and isinstance(new, Mapping):
                merged[key] = {**old, **new}
        merged = {**earlier, **merged}
        versions: dict[str, Any] = merged["versions"]
        merged["versions"] = {v: versions[v] for v in sorted(versions, key=version_sort_key)}
        old_tags = earlier["dist-tags"] if isinstance(earlier["dist-tags"], dict) else {}
        merged["dist-tags"] = {tag: version for tag, version in
                               {**old_tags, **document["dist-tags"]}.items()
                               if version in versions}
        times = merged.get("time")
        if isinstance(times, dict) and isinstance(earlier.get("time"), dict):
            created = earlier["time"].get("created")
            if isinstance(created, str) and created < str(times.get("created", created)):
                times["created"] = created
    return (json.dumps(merged, ensure_ascii=False, indent=2) + "\n").encode()


def _earlier(existing: bytes, name: str) -> dict[str, Any]:
    try:
        earlier = json.loads(existing)
    except (ValueError, UnicodeDecodeError):
        earlier = None
    if (not isinstance(earlier, dict) or not all(key in earlier for key in _KEYS)
            or not isinstance(earlier["versions"], dict)):
        raise Conflict(f"the package.json of {name} in the destination is no registry document; "
                       "it is left as it is (move it away, or export into another folder)")
    if earlier["name"] != name:
        raise Conflict(f"the package.json of {name} in the destination is the document of "
                       f"{json.dumps(earlier['name'])}; it is left as it is")
    return earlier


def _key(version: str) -> str:
    """A version's key, as the publisher computes it (a version semver refuses as it is)."""
    try:
        return version_key(version)
    except Invalid:
        return version


def _shasum(version: PackageVersion, asset: Asset) -> str | None:
    dist = attributes.manifest(version.attributes).get("dist")
    shasum = dist.get("shasum") if isinstance(dist, Mapping) else None
    return shasum if isinstance(shasum, str) else asset.sha1
