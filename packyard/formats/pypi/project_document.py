"""The document ``packyard export`` writes beside a project's files, ``pypi/<project>/
index.json``, and what ``packyard import`` reads of it.

It is the project's page in the shape of the Simple API's JSON (PEP 691, with PEP 700's
``versions``, ``size`` and ``upload-time``): ``meta.api-version``, ``name``, ``versions``
and ``files``, each file with its ``filename``, ``url`` (its name: the file is beside it),
``hashes.sha256``, ``requires-python``, ``size``, ``upload-time`` (RFC 3339 in UTC, ``Z``),
``yanked`` (false, or the reason; PEP 592) and ``core-metadata`` where known (PEP 714). The
wheels and sdists carry neither when they were uploaded nor whether the index yanked them, so
without it an air-gapped copy publishes every release on the day of the import (``uv
--exclude-newer``, a ``uv.lock``'s upload times, release-age rules see that date) and a
release the upstream yanked (often a broken one) is an ordinary one that pip and uv choose.

A file is written yanked when its upstream's page, as last stored (``upstream_pages``: the
export reads no upstream), yanks the same bytes, or when its version is Unlisted (which the
pages show as yanked, reason ``Unlisted``). The import dates each file it adds by its
``upload-time`` and each version it adds by its earliest file's, and makes a Published version
whose files the document lists all yanked Unlisted: Packyard yanks versions, not files (as
PyPI yanks releases), so a version only some of whose files are yanked stays as it is, and
says so. A yank's reason is not kept: an Unlisted version shows the reason ``Unlisted``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from packyard.errors import Conflict, Invalid, PackyardError
from packyard.formats.plugin import DocumentResult, PublishTimes, YankResult, document_time
from packyard.formats.pypi import attributes
from packyard.formats.pypi.filenames import parse_listed_filename
from packyard.formats.pypi.names import normalize_name, normalize_version
from packyard.model import Asset, PackageVersion

if TYPE_CHECKING:
    from packyard.auth.principal import Principal
    from packyard.model import Domain, Repository
    from packyard.services.registry import Registry

FILENAME = "index.json"

API_VERSION = "1.1"
"""PEP 700's: ``versions``, ``size`` and ``upload-time``."""

UNLISTED_REASON = "Unlisted"
"""The yank an Unlisted version's files are written with: the reason the pages show."""


@dataclass(frozen=True)
class DocumentFile:
    """One file of the document, as the import reads it."""

    filename: str
    version_key: str | None
    """Its version's key (``normalize_version``); None when its name gives none."""
    upload_time: datetime | None
    yanked: bool | str
    sha256: str | None = None
    """The hash the document gives it (lower-case hex), if any."""


@dataclass(frozen=True)
class ProjectDocument:
    """What ``packyard import`` takes of an ``index.json``: its project and its files."""

    name: str
    """Normalized (PEP 503)."""
    files: Sequence[DocumentFile]

    def times(self) -> PublishTimes | None:
        """Each file's upload time, and each version's: its earliest file's."""
        files = {f.filename: f.upload_time for f in self.files if f.upload_time is not None}
        if not files:
            return None
        versions: dict[str, datetime] = {}
        for f in self.files:
            if f.upload_time is not None and f.version_key is not None:
                earlier = versions.get(f.version_key)
                versions[f.version_key] = (f.upload_time if earlier is None
                                           else min(earlier, f.upload_time))
        return PublishTimes(self.name, versions=versions, files=files,
                            sha256={f.filename: f.sha256 for f in self.files
                                    if f.sha256 is not None})


# -- reading -------------------------------------------------------------------------------------

def read_project_document(data: bytes) -> ProjectDocument | None:
    """The project and files of an ``index.json``; None for a file of that name that is no
    PEP 691 project page (a JSON object without ``meta``, ``name`` and ``files``: a web
    site's, a tool's). ``Invalid``, saying what is wrong, for one that is not JSON or whose
    parts are not what PEP 691 and 700 say: nothing of such a document is applied."""
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Invalid(f"not a JSON document ({exc})") from None
    if not isinstance(document, dict) or not all(k in document for k in ("meta", "name",
                                                                           "files")):
        return None
    meta = document["meta"]
    if not isinstance(meta, dict) or not isinstance(meta.get("api-version"), str):
        raise Invalid('its meta must be a JSON object with an "api-version"')
    if not meta["api-version"].startswith("1."):
        raise Invalid(f"its api-version {meta['api-version']} is not one PEP 691 defines (1.x)")
    name = document["name"]
    if not isinstance(name, str) or not name:
        raise Invalid("its name must be a string")
    project = normalize_name(name)
    if project != name:
        raise Invalid(f"its name {name!r} must be normalized (PEP 503: {project!r})")
    raw = document["files"]
    if not isinstance(raw, list):
        raise Invalid("its files must be a JSON array")
    files = [_file(entry, index, project) for index, entry in enumerate(raw)]
    return ProjectDocument(project, files)


def _file(entry: Any, index: int, project: str) -> DocumentFile:
    where = f"files[{index}]"
    if not isinstance(entry, dict) or not isinstance(entry.get("filename"), str):
        raise Invalid(f"{where} must be a JSON object with a filename")
    filename = entry["filename"]
    hashes = entry.get("hashes")
    if not isinstance(hashes, dict) or not all(isinstance(v, str) for v in hashes.values()):
        raise Invalid(f"{where}.hashes must be a JSON object of hash names and hex digests")
    yanked = entry.get("yanked", False)
    if not isinstance(yanked, bool | str) or yanked == "":
        raise Invalid(f"{where}.yanked must be false, true or the reason (PEP 592)")
    moment = entry.get("upload-time")
    upload_time = None
    if moment is not None:
        upload_time = document_time(moment, utc_z=True)
        if upload_time is None:
            raise Invalid(f"{where}.upload-time must be an RFC 3339 time in UTC, as "
                          "2024-01-31T12:00:00.000000Z (PEP 700)")
    try:
        version_key: str | None = normalize_version(
            parse_listed_filename(filename, project).version_text)
    except (PackyardError, ValueError):
        version_key = None  # no distribution of this project: nothing of it is imported
    sha256 = hashes.get("sha256")
    return DocumentFile(filename, version_key, upload_time, yanked,
                        sha256.lower() if isinstance(sha256, str) else None)


class ProjectDocuments:
    """``packyard import``'s reading of ``index.json`` documents
    (``bulk_import.PackageDocuments``), bounded by the package document limit
    (``PACKYARD_NPM_MAX_DOCUMENT_BYTES``): their times before the files, their yanks after,
    each set as UpdatePackageVersionsStatus to Unlisted would set it."""

    def __init__(self, registry: Registry, max_bytes: int) -> None:
        self._registry = registry
        self._max_bytes = max_bytes

    def times(self, path: Path) -> PublishTimes | None:
        try:
            document = self._read(path)
        except PackyardError:
            return None
        return None if document is None else document.times()

    def apply(self, principal: Principal, domain: Domain, repo: Repository,
              path: Path) -> DocumentResult | None:
        try:
            document = self._read(path)
        except PackyardError as refused:
            return DocumentResult(path, "refused", reason=refused.message)
        if document is None:
            return None
        try:
            done = self._yank(principal, domain, repo, document)
        except PackyardError as refused:
            return DocumentResult(path, "refused", document.name, refused.message)
        return DocumentResult(path, "read", document.name, yanks_set=done[0],
                              yanks_present=done[1], yanks_skipped=done[2])

    def _read(self, path: Path) -> ProjectDocument | None:
        from packyard.formats.bulk_import import read_document

        return read_project_document(read_document(path, self._max_bytes))

    def _yank(self, principal: Principal, domain: Domain, repo: Repository,
              document: ProjectDocument
              ) -> tuple[tuple[YankResult, ...], tuple[YankResult, ...], tuple[YankResult, ...]]:
        """Make Unlisted each Published version whose files the document lists all yanked."""
        from packyard.formats.pypi.plugin import FORMAT
        from packyard.services.version_lifecycle import PackageRef, VersionLifecycle

        by_version: dict[str, list[DocumentFile]] = {}
        for f in document.files:
            if f.version_key is not None:
                by_version.setdefault(f.version_key, []).append(f)
        yanked = {key: files for key, files in by_version.items()
                  if any(f.yanked is not False for f in files)}
        if not yanked:
            return (), (), ()
        catalog = self._registry.catalog
        package = catalog.find_package(repo.id, FORMAT, "", document.name)
        held = ({} if package is None else
                {v.version_key: v for v in catalog.list_versions(package.id)})
        to_set: list[str] = []
        present: list[YankResult] = []
        skipped: list[YankResult] = []
        for key, files in yanked.items():
            version = held.get(key)
            shown = version.version if version is not None else key
            if version is None or version.status in ("Deleted", "Disposed"):
                skipped.append(YankResult(shown, f"{document.name} {shown} is not in the "
                                                 "repository"))
            elif not all(f.yanked is not False for f in files):
                skipped.append(YankResult(shown, "only some of its files are yanked; Packyard "
                                                 "yanks whole versions (Unlisted), so it stays "
                                                 f"{version.status}"))
            elif version.status == "Unlisted":
                present.append(YankResult(shown))
            elif version.status != "Published":
                skipped.append(YankResult(shown, f"it is {version.status}"))
            else:
                to_set.append(version.version)
        if to_set:
            VersionLifecycle(self._registry, self._registry.sweeper).update_status(
                principal, PackageRef(domain.name, repo.name, FORMAT, None, document.name,
                                      domain.owner), to_set, "Unlisted")
        return tuple(YankResult(v) for v in to_set), tuple(present), tuple(skipped)


# -- writing -------------------------------------------------------------------------------------

def export_document(name: str, files: Sequence[tuple[PackageVersion, Asset]],
                    upstream_yanks: Mapping[tuple[str, str], bool | str]) -> dict[str, Any]:
    """The ``index.json`` of project ``name`` (normalized) made of the exported ``files``
    (each with its version): yanked as ``upstream_yanks`` (file name and sha256 -> its yank
    on the upstream's stored page) says, or "Unlisted" when its version is Unlisted."""
    entries = [_entry(version, asset, upstream_yanks) for version, asset in files]
    return _document(name, entries)


def _entry(version: PackageVersion, asset: Asset,
           upstream_yanks: Mapping[tuple[str, str], bool | str]) -> dict[str, Any]:
    yanked = upstream_yanks.get((asset.name, asset.sha256), False)
    if yanked is False and version.status == "Unlisted":
        yanked = UNLISTED_REASON
    entry: dict[str, Any] = {"filename": asset.name, "url": asset.name,
                             "hashes": {"sha256": asset.sha256}}
    requires_python = attributes.requires_python(asset.attributes)
    if requires_python is not None:
        entry["requires-python"] = requires_python
    entry["size"] = asset.size
    entry["upload-time"] = upload_time_text(asset.created_at)
    entry["yanked"] = yanked
    metadata = attributes.metadata_sha256(asset.attributes)
    entry["core-metadata"] = {"sha256": metadata} if metadata is not None else False
    entry["version"] = version.version  # what the name says, as the catalog spells it
    return entry


def upload_time_text(moment: datetime) -> str:
    """PEP 700's ``yyyy-mm-ddThh:mm:ss.ffffffZ`` in UTC, as the Simple API's JSON writes it."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _document(name: str, entries: Sequence[dict[str, Any]]) -> dict[str, Any]:
    versions: list[str] = []  # in the order the export planned them: the versions' own
    for entry in entries:
        version = entry.pop("version", None)
        if isinstance(version, str) and version not in versions:
            versions.append(version)
    files = sorted(entries, key=lambda e: str(e["filename"]))
    return {"meta": {"api-version": API_VERSION}, "name": name, "versions": versions,
            "files": files}


def merge_document(existing: bytes | None, document: Mapping[str, Any]) -> bytes:
    """``document``'s bytes, with the files of the one an earlier export left (``existing``)
    that it does not have: this run's say of a file wins (its yank may have changed).
    ``Conflict`` when what is there is no ``index.json`` of this project."""
    merged = dict(document)
    if existing is not None:
        earlier = _earlier(existing, str(document["name"]))
        files = {f["filename"]: f for f in earlier["files"]
                 if isinstance(f, dict) and isinstance(f.get("filename"), str)}
        files.update({f["filename"]: f for f in document["files"]})
        versions = list(earlier.get("versions") or [])
        versions += [v for v in document.get("versions", []) if v not in versions]
        merged["files"] = sorted(files.values(), key=lambda f: str(f["filename"]))
        merged["versions"] = [v for v in versions if isinstance(v, str)]
    return (json.dumps(merged, ensure_ascii=False, indent=2) + "\n").encode()


def _earlier(existing: bytes, name: str) -> dict[str, Any]:
    try:
        parsed = read_project_document(existing)
    except PackyardError:
        parsed = None
    if parsed is None:
        raise Conflict(f"the index.json of {name} in the destination is no PEP 691 project "
                       "page; it is left as it is (move it away, or export into another "
                       "folder)")
    if parsed.name != name:
        raise Conflict(f"the index.json of {name} in the destination is the page of "
                       f"{json.dumps(parsed.name)}; it is left as it is")
    earlier: dict[str, Any] = json.loads(existing)
    return earlier
