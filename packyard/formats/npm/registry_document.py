"""The registry document Verdaccio keeps beside a package's tarballs (``storage/<name>/
package.json``, ``storage/@scope/<name>/package.json``): what ``packyard import`` reads of it,
and what ``packyard export`` writes.

It is a packument as the registry stores it: ``name``, ``versions`` (each version's manifest,
``deprecated`` when deprecated), ``dist-tags``, ``time``, ``_attachments`` (each tarball's
``shasum`` and ``version``), ``_uplinks``, ``_distfiles``, ``_rev`` and ``readme``. The
tarballs carry neither dist-tags nor deprecations, so without it an air-gapped copy loses every
tag but ``latest`` and every deprecation message. A project's own ``package.json`` (no
``versions``, no ``dist-tags``) is no such document and is passed over.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from packyard.errors import Invalid, PackyardError
from packyard.formats.npm.names import PackageName, parse_package_name
from packyard.formats.plugin import DocumentResult

if TYPE_CHECKING:
    from packyard.auth.principal import Principal
    from packyard.formats.npm.package_edits import PackageEdits
    from packyard.model import Domain, Repository

FILENAME = "package.json"

_KEYS = ("name", "versions", "dist-tags")
"""What makes a ``package.json`` a registry document rather than a project's."""


@dataclass(frozen=True)
class RegistryDocument:
    """What ``packyard import`` takes of a registry document: its package, its dist-tags and
    its deprecations (version -> message, the non-empty ones)."""

    name: PackageName
    dist_tags: Mapping[str, str]
    deprecations: Mapping[str, str]


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
    return RegistryDocument(parsed, dict(tags), deprecations)


class RegistryDocuments:
    """``packyard import``'s reading of registry documents (``bulk_import.PackageDocuments``):
    each applied through ``PackageEdits.import_document``, bounded by the npm document limit
    (``PACKYARD_NPM_MAX_DOCUMENT_BYTES``)."""

    def __init__(self, edits: PackageEdits, max_bytes: int) -> None:
        self._edits = edits
        self._max_bytes = max_bytes

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
