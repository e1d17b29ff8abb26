"""The publish document ``npm publish <tarball>`` would send, built from the tarball alone.

``packyard import`` publishes a tarball from disk exactly as npm would publish it, so it builds
what npm builds and hands it to the same checks (``publish_checks.check_publish``):

- npm reads the manifest out of the tarball: its ``package.json``, read with
  @npmcli/package-json's ``prepare`` (pacote's FileFetcher, ``fullReadJson``): fields starting
  with ``_`` dropped, ``_id`` set to ``name@version``, ``bundledDependencies`` spelled
  ``bundleDependencies`` (``true`` meaning every dependency), the README as ``readme``, and
  the rest of its rewriting (``bin``, ``repository``, ``bugs``, ``homepage``, people,
  dependencies, ``types``, …: ``prepare.py``);
- it refuses a package marked ``private`` (libnpmpublish's EPRIVATE), a name that is not a
  string, a version that is not semver once cleaned (``semver.clean``: ``v1.0.0`` is
  ``1.0.0``, build metadata dropped);
- libnpmpublish wraps the manifest, ``dist.integrity`` (sha512) and ``dist.shasum`` (sha1) added:
  ``{_id, name, description, dist-tags: {<tag>: version}, versions: {version: manifest},
  access, _attachments: {"<name>-<version>.tgz": {content_type, data, length}}}``, the tag
  being the package.json's ``tag``, else its ``publishConfig.tag``, else ``latest`` (npm's
  ``--tag`` default).

What npm adds about the machine it runs on (``_nodeVersion``, ``_npmVersion``, a tarball's
``_resolved`` path and ``_from``) is left out: the import runs no npm, and the path of a file
on the importing machine is no reader's business. ``dist.tarball`` is left out too: the
registry rebuilds it (``publish_checks.stored_manifest``). npm 11's own refusals before it
sends anything (a prerelease, or a version below the highest, published without ``--tag``)
are not made: they guard a person typing ``npm publish``, and an import of a package's
history publishes exactly those; ``latest`` ends where the registry keeps it
(``dist_tags``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from packyard.errors import Invalid
from packyard.formats.npm.names import PackageName, parse_package_name
from packyard.formats.npm.prepare import prepare
from packyard.formats.npm.publish_body import PublishBody
from packyard.formats.npm.publish_checks import sri_sha512
from packyard.formats.npm.semver import parse_version
from packyard.formats.npm.tarball import TarballInspection

_DEFAULT_TAG = "latest"


def tarball_document(inspection: TarballInspection, filename: str, length: int, sha512: str,
                     sha1: str) -> tuple[PackageName, PublishBody]:
    """The package a tarball publishes (as npm puts it in the PUT's URL) and the body npm
    would send, its attachment's data left out as ``PublishBodyParser`` leaves it (``""``).

    ``filename`` names the tarball in messages; ``length``, ``sha512`` and ``sha1`` (hex)
    are the tarball's."""
    own = inspection.manifest
    name = own.get("name")
    if not isinstance(name, str):
        raise Invalid(f"The package.json in {filename} names no package: its name field must "
                      f"be a string, not {json.dumps(name)}.")
    url_name = parse_package_name(name)
    version = _clean_version(own.get("version"), filename)
    if own.get("private"):
        raise Invalid(f"{name}@{version} has been marked as private: remove the 'private' "
                      "field from its package.json to publish it.")
    manifest = _prepared(own, inspection)
    manifest["version"] = version
    manifest["_id"] = f"{name}@{version}"
    dist = manifest.get("dist")
    manifest["dist"] = {**(dist if isinstance(dist, Mapping) else {}),
                        "integrity": sri_sha512(sha512), "shasum": sha1}
    attachment = f"{name}-{version}.tgz"
    document: dict[str, Any] = {"_id": name, "name": name}
    if "description" in manifest:
        document["description"] = manifest["description"]
    document.update({
        "dist-tags": {_tag(manifest): version},
        "versions": {version: manifest},
        "access": None,
        "_attachments": {attachment: {"content_type": "application/octet-stream",
                                      "data": "", "length": length}},
    })
    return url_name, PublishBody(document, attachment, length, sha512, sha1)


def document_size(body: PublishBody) -> int:
    """The bytes of the body without its tarball, as ``PublishLimits.max_document_bytes``
    counts them (npm sends JSON.stringify's compact form)."""
    return len(json.dumps(body.document, separators=(",", ":")).encode())


def _clean_version(version: object, filename: str) -> str:
    """The version as npm publishes it (node-semver's ``clean``: trimmed, a leading ``=`` or
    ``v`` dropped, build metadata dropped); Invalid when it is none."""
    if not isinstance(version, str) or not version.strip():
        raise Invalid(f"The package.json in {filename} has no version: its version field "
                      f"must be a semantic version (such as 1.0.0), not {json.dumps(version)}.")
    return parse_version(version.strip().lstrip("=v")).canonical


def _prepared(own: Mapping[str, Any], inspection: TarballInspection) -> dict[str, Any]:
    """The package.json as @npmcli/package-json's ``prepare`` reads it, in the steps that
    depend on nothing but the tarball."""
    manifest = {key: value for key, value in own.items() if not key.startswith("_")}
    if "bundleDependencies" not in manifest and "bundledDependencies" in manifest:
        manifest["bundleDependencies"] = manifest["bundledDependencies"]
    manifest.pop("bundledDependencies", None)
    bundled = manifest.get("bundleDependencies")
    if bundled is True:
        dependencies = manifest.get("dependencies")
        manifest["bundleDependencies"] = list(dependencies) if isinstance(dependencies,
                                                                          Mapping) else []
    elif isinstance(bundled, Mapping):
        manifest["bundleDependencies"] = list(bundled)
    elif not isinstance(bundled, list):
        manifest.pop("bundleDependencies", None)
    if not manifest.get("readme") and inspection.npm_readme is not None:
        manifest["readmeFilename"] = inspection.readme_filename
    prepare(manifest, inspection.paths, inspection.npm_readme, inspection.authors)
    return manifest


def _tag(manifest: Mapping[str, Any]) -> str:
    """The dist-tag npm publishes under when given no ``--tag``."""
    tag = manifest.get("tag")
    if isinstance(tag, str) and tag:
        return tag
    config = manifest.get("publishConfig")
    configured = config.get("tag") if isinstance(config, Mapping) else None
    return configured if isinstance(configured, str) and configured else _DEFAULT_TAG
