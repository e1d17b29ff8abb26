"""What a PUT of an npm document asks for: a publish, a deprecation, or an unpublish.

npm writes a package with three kinds of PUT, told apart by the body and the path:
- publish, ``PUT /<name>``: one new version and its tarball in ``_attachments``
  (:func:`check_publish`, then :func:`stored_manifest` once the tarball has been inspected);
- deprecate, ``PUT /<name>`` with the whole document from ``GET /<name>?write=true`` and no
  attachments, each chosen version's ``deprecated`` set ("" to undeprecate): only that field
  is applied (:func:`deprecations`);
- unpublish of versions, ``PUT /<name>/-rev/<rev>`` with that document minus the versions
  (:func:`unpublished_versions`; then npm DELETEs each tarball with the fresh ``_rev``).
Each check raises the domain error whose message npm prints from ``{"error": ...}``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from packyard.errors import Conflict, Invalid
from packyard.formats.npm.names import PackageName, validate_new_package_name
from packyard.formats.npm.publish_body import PublishBody
from packyard.formats.npm.semver import parse_version, version_sort_key
from packyard.formats.npm.tarball import TarballInspection

# What @npmcli/package-json writes when a package has no README.
_NO_README = "ERROR: No README data found!"
# Never kept in a stored manifest: the readme is kept once per version, apart; dist is rebuilt.
_NOT_STORED = ("readme", "readmeFilename", "_attachments", "deprecated", "dist")


@dataclass(frozen=True)
class PublishRequest:
    """A publish body that passed every check that does not need the tarball opened."""

    name: PackageName
    version: str
    manifest: dict[str, Any]
    """The version's manifest as sent."""
    dist_tags: dict[str, Any]
    """The body's ``dist-tags`` (npm: ``{<--tag or latest>: version}``)."""
    attachment: str
    length: int
    integrity: str
    """``sha512-<base64>`` of the tarball as received."""
    shasum: str
    """Its sha1, hex (npm's legacy ``dist.shasum``)."""
    deprecated: str | None
    """A ``deprecated`` field already in the published package.json."""


def is_publish(document: Mapping[str, Any]) -> bool:
    """Tell a publish (it carries attachments) from a document update (deprecate, unpublish)."""
    return bool(document.get("_attachments"))


def check_document_name(document: Mapping[str, Any], url_name: PackageName) -> None:
    """Refuse a body about another package than the URL's."""
    for key in ("name", "_id"):
        if key in document and document[key] != url_name.full:
            raise Invalid(f"The package name in the body ({json.dumps(document[key])}) is not "
                          f'the one in the URL ("{url_name.full}").')


def _one_version(document: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    versions = document.get("versions")
    if not isinstance(versions, dict) or len(versions) != 1:
        count = len(versions) if isinstance(versions, dict) else 0
        raise Invalid(f"A publish must carry exactly one version; this one has {count}.")
    [(version, manifest)] = versions.items()
    if not isinstance(manifest, dict):
        raise Invalid(f"The manifest of version {json.dumps(version)} is not a JSON object.")
    parse_version(version)
    if manifest.get("version", version) != version:
        raise Invalid(f'The manifest under versions["{version}"] has the version '
                      f"{json.dumps(manifest['version'])}.")
    return version, manifest


def sri_sha512(sha512_hex: str) -> str:
    """A sha512 (hex) as npm's ``dist.integrity`` writes it (Subresource Integrity)."""
    return "sha512-" + base64.b64encode(bytes.fromhex(sha512_hex)).decode()


def _check_integrity(manifest: Mapping[str, Any], sha512: str, sha1: str) -> None:
    dist = manifest.get("dist")
    dist = dist if isinstance(dist, Mapping) else {}
    received = sri_sha512(sha512)
    claimed = dist.get("integrity")
    if claimed is not None:
        # Subresource Integrity: space-separated "algo-base64[?options]"; npm sends sha512.
        hashes = [part.split("?", 1)[0] for part in str(claimed).split()]
        sha512s = [h for h in hashes if h.startswith("sha512-")]
        sha1s = [h.removeprefix("sha1-") for h in hashes if h.startswith("sha1-")]
        checkable = sha512s or sha1s
        if not checkable:
            raise Invalid(f"The version's dist.integrity ({claimed}) has no sha512 hash.")
        if (sha512s and received not in sha512s) or (not sha512s and base64.b64encode(
                bytes.fromhex(sha1)).decode() not in sha1s):
            raise Invalid("The tarball does not match the version's dist.integrity: it has "
                          f"{received}, the manifest says {claimed}.")
    shasum = dist.get("shasum")
    if shasum is not None and str(shasum).lower() != sha1:
        raise Invalid("The tarball does not match the version's dist.shasum: it has "
                      f"{sha1}, the manifest says {shasum}.")


def check_publish(body: PublishBody, url_name: PackageName) -> PublishRequest:
    """Check a publish body against its URL and its attachment's decoded bytes."""
    document = body.document
    check_document_name(document, url_name)
    name = validate_new_package_name(url_name.full)
    version, manifest = _one_version(document)
    if manifest.get("name", name.full) != name.full:
        raise Invalid(f"The manifest of {version} names the package "
                      f'{json.dumps(manifest["name"])}, not "{name.full}".')
    attachment = body.attachment
    attachments = document.get("_attachments")
    entry = attachments.get(attachment) if isinstance(attachments, dict) else None
    # The parser leaves "" where it took the base64 out; anything else was never streamed.
    if attachment is None or not isinstance(entry, dict) or not isinstance(entry.get("data"),
                                                                           str):
        raise Invalid("The publish body has no tarball: _attachments needs one entry with "
                      "base64 data.")
    # npm and yarn name it with the full scoped name; accept the URL file name too.
    expected = name.attachment_name(version)
    if attachment not in (expected, name.tarball_filename(version)):
        raise Invalid(f'The tarball attachment is named {json.dumps(attachment)}; for '
                      f'{name.full}@{version} it must be "{expected}".')
    length = entry.get("length")
    if length is not None and (not isinstance(length, int) or length != body.decoded_length):
        raise Invalid(f"The tarball attachment decodes to {body.decoded_length} bytes, but its "
                      f"length says {json.dumps(length)}.")
    if body.decoded_length == 0:
        raise Invalid("The tarball attachment is empty.")
    _check_integrity(manifest, body.sha512, body.sha1)
    tags = document.get("dist-tags", {})
    if not isinstance(tags, dict):
        raise Invalid("dist-tags must be a JSON object.")
    deprecated = manifest.get("deprecated")
    return PublishRequest(
        name=name, version=version, manifest=manifest, dist_tags=tags,
        attachment=attachment, length=body.decoded_length,
        integrity=sri_sha512(body.sha512),
        shasum=body.sha1,
        deprecated=deprecated if isinstance(deprecated, str) and deprecated else None)


def is_identical_republish(request: PublishRequest, existing_integrity: str | None) -> bool:
    """Decide a publish of a version the package already has (``existing_integrity`` is its
    tarball's, None when the version is new): True for the same tarball again (answered as a
    no-op, so a retried publish succeeds), Conflict for another one (npm prints the message
    after "409 Conflict - PUT ...")."""
    if existing_integrity is None:
        return False
    if existing_integrity == request.integrity:
        return True
    raise published_over(request.version)


def published_over(version: str) -> Conflict:
    """The refusal of other bytes for a version the package has (npm's EPUBLISHCONFLICT
    words), also when the other publish committed only while this one was being checked."""
    return Conflict(f"You cannot publish over the previously published versions: {version}.")


def stored_manifest(request: PublishRequest, inspection: TarballInspection,
                    publisher: str) -> dict[str, Any]:
    """The manifest to keep for a published version (``packument.StoredVersion.manifest``).

    The client's manifest minus what is kept elsewhere, with ``dist`` rebuilt from what the
    registry measured: a client-sent ``dist.tarball`` names the client's idea of the host, and
    signatures it sent are not the registry's. ``_npmUser`` and ``maintainers`` are the
    registry's, as on the public registry: the principal that published (``publisher``, the
    name ``npm whoami`` prints), never what the client claimed. A principal has no e-mail
    address; ``_npmUser`` says so with ``""``: npm view prints ``by NAME <EMAIL>`` and, with
    no ``email`` at all, printed ``by root <undefined>``.
    """
    manifest = {k: v for k, v in request.manifest.items() if k not in _NOT_STORED}
    manifest["_npmUser"] = {"name": publisher, "email": ""}
    manifest["maintainers"] = [{"name": publisher}]
    manifest["name"] = request.name.full
    manifest["version"] = request.version
    manifest["_hasShrinkwrap"] = inspection.has_shrinkwrap
    manifest["dist"] = {"integrity": request.integrity, "shasum": request.shasum,
                        "fileCount": inspection.file_count,
                        "unpackedSize": inspection.unpacked_size}
    return manifest


def choose_readme(request: PublishRequest,
                  inspection: TarballInspection) -> tuple[str | None, str | None]:
    """The version's readme and its file name: the tarball's README, else the manifest's."""
    if inspection.readme is not None:
        return inspection.readme, inspection.readme_filename
    readme = request.manifest.get("readme")
    if isinstance(readme, str) and readme and readme != _NO_README:
        filename = request.manifest.get("readmeFilename")
        return readme, filename if isinstance(filename, str) else None
    return None, None


def deprecations(document: Mapping[str, Any],
                 current: Mapping[str, str | None]) -> dict[str, str | None]:
    """The deprecation changes a deprecate PUT makes: version -> message (None: undeprecated).

    ``current`` maps each listed version to its message. Only ``deprecated`` is read; a
    version without the field keeps its state (npm deprecate sends every version of the
    document, changed or not), and versions the registry does not list are ignored.
    """
    versions = document.get("versions")
    if not isinstance(versions, dict):
        raise Invalid("The document's versions must be a JSON object.")
    changes: dict[str, str | None] = {}
    for version, manifest in versions.items():
        if version not in current or not isinstance(manifest, Mapping):
            continue
        if "deprecated" not in manifest:
            continue
        message = manifest["deprecated"]
        if not isinstance(message, str):
            raise Invalid(f'versions["{version}"].deprecated must be a string.')
        new = message or None
        if new != current[version]:
            changes[version] = new
    return changes


def unpublished_versions(document: Mapping[str, Any], listed: Iterable[str]) -> list[str]:
    """The versions an unpublish PUT (``/<name>/-rev/<rev>``) leaves out, in semver order."""
    versions = document.get("versions")
    if not isinstance(versions, dict):
        raise Invalid("The document's versions must be a JSON object.")
    return sorted((v for v in listed if v not in versions), key=version_sort_key)


def check_revision(given: str, current: str, package: str) -> None:
    """Refuse a write based on a stale read of the document (CouchDB's ``_rev`` rule)."""
    if given != current:
        raise Conflict(f"{package} changed since it was read (revision {given}, now {current}); "
                       "run the command again.")
