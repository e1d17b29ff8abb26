"""npm's side of reading from upstreams (``FormatUpstream``): packuments in, kept tarballs out.

An upstream registry's packument (``GET <registry>/<@scope%2fname>``, the full document: its
``time``, readme and whole manifests are what Packyard serves) becomes a listing: each version
with its manifest and publish time, each tarball with the digests its ``dist`` declares
(``integrity``'s sha512, ``shasum``'s sha1), which the pull-through verifies before anything is
kept, and the document's dist-tags. Parsing a large packument (typescript: 10 MB, 3,478
versions) happens once per fetch, in a worker thread (``upstream/documents.py``), and the
listing is kept in memory and in the catalog in a compact encoding, so it is never re-parsed per
request. The neutral machinery (``upstream/resolver.py``) does the rest.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from packyard.errors import Invalid, NotFound, UpstreamError
from packyard.formats.npm import attributes
from packyard.formats.npm.dependencies import package_dependencies, version_summary
from packyard.formats.npm.names import parse_package_name
from packyard.formats.npm.plugin import FORMAT, TARBALL_ASSET
from packyard.formats.npm.semver import MAX_VERSION_LENGTH, version_key, version_sort_key
from packyard.formats.npm.tarball import TarballLimits, inspect_tarball
from packyard.metadata.new_files import NewAsset, NewVersion
from packyard.storage.blobs import Digests
from packyard.upstream.client import UpstreamHttp
from packyard.upstream.format import KeptFile, PutBlob, UpstreamListing, url_parses
from packyard.upstream.merge import OfferedFile, OfferedVersion

log = logging.getLogger("packyard.upstream")

# The full document: the abbreviated one has no readme and no per-version times.
ACCEPT = "application/json"

_ENCODING_VERSION = 1
# Per-version fields never kept from an upstream manifest: the readme is the document's.
_NOT_KEPT = ("readme", "readmeFilename", "deprecated", "_attachments")


def tarball_filename(name: str, version: str) -> str:
    """The file name a version's tarball is requested by: ``util-1.0.0.tgz`` (no scope)."""
    return f"{name}-{version}.tgz"


# What a version an upstream lists may be written with, semver or not (very old packages have
# versions such as 0.0.1beta): it becomes part of a tarball's name and URL, so no path
# separators, escapes, markup, blanks or control characters.
_VERSION_TEXT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*", re.ASCII)


def version_key_of(version: str) -> str:
    try:
        return version_key(version)
    except Invalid:
        return version  # some very old upstream packages have versions that are not semver


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _declared_digests(dist: Mapping[str, Any]) -> dict[str, str]:
    """What a manifest's ``dist`` says the tarball hashes to, as lower-case hex."""
    digests: dict[str, str] = {}
    integrity = dist.get("integrity")
    if isinstance(integrity, str):
        for part in integrity.split():
            algorithm, _, encoded = part.split("?", 1)[0].partition("-")
            if algorithm in ("sha512", "sha256", "sha1") and encoded:
                try:
                    digests.setdefault(algorithm, base64.b64decode(encoded,
                                                                   validate=True).hex())
                except (binascii.Error, ValueError):
                    continue
    shasum = dist.get("shasum")
    if isinstance(shasum, str) and len(shasum) == 40:
        digests.setdefault("sha1", shasum.lower())
    return digests


class NpmUpstream:
    """npm's answers to the upstream machinery's questions."""

    format = FORMAT
    noun = "package"
    document_noun = "packument"
    accept = ACCEPT
    has_tags = True
    pull_digests = frozenset({"sha512", "sha1"})

    def __init__(self, tarball_limits: TarballLimits | None = None) -> None:
        self._tarball_limits = tarball_limits or TarballLimits()

    def check_name(self, name: str) -> None:
        if not name or "/" in name:
            raise Invalid(f'Invalid package name "{name}".')

    def version_sort_key(self, version: str) -> Any:
        return version_sort_key(version)

    def document_name(self, namespace: str, name: str) -> str:
        return f"@{namespace}/{name}" if namespace else name

    def file_name(self, name: str, version: str, asset_name: str) -> str:
        return tarball_filename(name, version)

    def asset_named(self, name: str, filename: str) -> tuple[str, str | None]:
        prefix = f"{name}-"
        if not (filename.startswith(prefix) and filename.endswith(".tgz")):
            return filename, None
        return TARBALL_ASSET, version_key_of(filename[len(prefix):-len(".tgz")])

    def document_url(self, index_url: str, name: str) -> str:
        # npm's own spelling: the scope's "/" encoded, "@" left as it is.
        return index_url + quote(name, safe="@")

    # -- documents ---------------------------------------------------------------------------

    def parse_listing(self, body: bytes, content_type: str, url: str,
                      name: str) -> UpstreamListing:
        try:
            document = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise UpstreamError(f"Upstream {url} did not answer with an npm packument "
                                "(not JSON)") from None
        if not isinstance(document, dict):
            raise UpstreamError(f"Upstream {url} did not answer with an npm packument")
        return _listing(name, document)

    def encode(self, listing: UpstreamListing) -> str:
        files = {f.version_key: f for f in listing.files}
        rows = []
        for v in listing.versions:
            f = files[v.version_key]
            rows.append([v.version, v.published.isoformat() if v.published else None,
                         v.payload, f.url, dict(f.digests)])
        return json.dumps({"encoding": _ENCODING_VERSION, "tags": dict(listing.tags),
                           "payload": listing.payload, "versions": rows},
                          separators=(",", ":"))

    def decode(self, name: str, text: str) -> UpstreamListing:
        kept = json.loads(text)
        bare = parse_package_name(name).bare
        versions = []
        files = []
        for version, published, payload, url, digests in kept["versions"]:
            moment = datetime.fromisoformat(published) if published else None
            key = version_key_of(version)
            versions.append(OfferedVersion(version, key, "Published", payload,
                                           published=moment))
            files.append(OfferedFile(tarball_filename(bare, version), key, digests, None, False,
                                     moment, url=url))
        return UpstreamListing(name, tuple(versions), tuple(files), (), kept.get("tags", {}),
                               kept.get("payload"))

    # -- no derived files: a version has its tarball only ------------------------------------

    def derived_file(self, filename: str) -> str | None:
        return None

    def derived_blob(self, attributes: Mapping[str, Any], filename: str
                     ) -> tuple[str, int | None]:
        raise NotFound(f"No file {filename}")

    async def fetch_derived(self, http: UpstreamHttp, file: OfferedFile,
                            hosts: Collection[str], filename: str, upstream: str) -> bytes:
        raise NotFound(f"No file {filename}")

    # -- keeping a pulled tarball (worker thread) ----------------------------------------------

    async def fetch_companion(self, http: UpstreamHttp, file: OfferedFile,
                              hosts: Collection[str], upstream: str) -> bytes | None:
        return None  # a tarball's README is read from the tarball; npm serves nothing beside

    def keep(self, spool: Path, digests: Digests, name: str, file: OfferedFile,
             version: OfferedVersion | None, put_blob: PutBlob,
             companion: bytes | None = None) -> KeptFile:
        payload = version.payload if version is not None else None
        manifest = dict(attributes.manifest(payload))
        dist = manifest.get("dist")
        manifest["dist"] = {k: v for k, v in (dist.items() if isinstance(dist, Mapping) else ())
                            if k != "tarball"}
        readme = readme_filename = None
        try:
            with spool.open("rb") as source:
                inspection = inspect_tarball(source, file.filename,
                                             limits=self._tarball_limits)
            readme, readme_filename = inspection.readme, inspection.readme_filename
        except Invalid as exc:
            log.warning("kept %s without its README: %s", file.filename, exc.message)
        summary = version_summary(manifest)
        text = version.version if version is not None else file.version_key
        display = manifest.get("name") if isinstance(manifest.get("name"), str) else None
        new_version = NewVersion(
            version=text, version_key=file.version_key, summary=summary.summary,
            home_page=summary.home_page,
            source_code_repository=summary.source_code_repository, licenses=summary.licenses,
            readme=readme, readme_content_type=readme_media_type(readme_filename),
            dependencies=package_dependencies(manifest), origin_type="EXTERNAL",
            attributes=attributes.version_attributes(
                manifest, attributes.deprecated(payload), readme_filename))
        asset = NewAsset(name=TARBALL_ASSET, size=digests.size, sha256=digests.sha256,
                         sha512=digests.sha512, sha1=digests.sha1, md5=digests.md5)
        return KeptFile(display or file.filename.rsplit("-", 1)[0], new_version, asset)


def readme_media_type(filename: str | None) -> str | None:
    if filename is None:
        return None
    lowered = filename.lower()
    if lowered.endswith((".md", ".markdown")):
        return "text/markdown"
    return "text/plain"


def _listing(name: str, document: Mapping[str, Any]) -> UpstreamListing:
    bare = parse_package_name(name).bare
    raw_versions = document.get("versions")
    raw_versions = raw_versions if isinstance(raw_versions, Mapping) else {}
    times = document.get("time")
    times = times if isinstance(times, Mapping) else {}
    versions: list[OfferedVersion] = []
    files: list[OfferedFile] = []
    rejected: list[str] = []
    seen: set[str] = set()
    for version, raw in raw_versions.items():
        if not isinstance(raw, Mapping) or not isinstance(version, str):
            rejected.append(f"{version}: its manifest is not an object")
            continue
        if len(version) > MAX_VERSION_LENGTH or not _VERSION_TEXT.fullmatch(version):
            rejected.append(f"{version[:40]!r}: not a version (letters, digits and . _ + -)")
            continue
        key = version_key_of(version)
        if key in seen:
            rejected.append(f"{version}: another version has the same precedence")
            continue
        dist = raw.get("dist")
        dist = dist if isinstance(dist, Mapping) else {}
        tarball = dist.get("tarball")
        digests = _declared_digests(dist)
        if not isinstance(tarball, str) or not tarball.startswith(("http://", "https://")):
            rejected.append(f"{version}: no tarball URL")
            continue
        if not url_parses(tarball):  # left out, as PyPI's pages leave such a file out
            rejected.append(f"{version}: its tarball URL does not parse")
            continue
        if not digests:
            rejected.append(f"{version}: no integrity or shasum to verify its tarball against")
            continue
        seen.add(key)
        published = parse_time(times.get(version))
        deprecated = raw.get("deprecated")
        manifest = {k: v for k, v in raw.items() if k not in _NOT_KEPT}
        payload = attributes.version_attributes(
            manifest, deprecated if isinstance(deprecated, str) else None)
        versions.append(OfferedVersion(version, key, "Published", payload, published=published))
        files.append(OfferedFile(tarball_filename(bare, version), key, digests, None, False,
                                 published, url=tarball))
    raw_tags = document.get("dist-tags")
    tags = {tag: target for tag, target in raw_tags.items()
            if isinstance(tag, str) and isinstance(target, str)} \
        if isinstance(raw_tags, Mapping) else {}
    readme = document.get("readme")
    readme_filename = document.get("readmeFilename")
    payload = {"readme": readme if isinstance(readme, str) else None,
               "readmeFilename": readme_filename if isinstance(readme_filename, str) else None,
               "created": times.get("created") if isinstance(times.get("created"), str) else None,
               "modified": times.get("modified") if isinstance(times.get("modified"), str)
               else None}
    return UpstreamListing(name, tuple(versions), tuple(files), tuple(rejected), tags, payload)
