"""PyPI's side of reading from upstreams (``FormatUpstream``), and its merged project page.

An upstream index speaks PEP 691 JSON or PEP 503 HTML (``index_page``); a file's version is in
its name, after the project's; a wheel's PEP 658 core metadata is served next to it as
``{file}.metadata`` and kept as a blob of its own when the wheel is kept (an upstream's for an
sdist is not passed on: ``_listing``). The neutral machinery (``upstream/resolver.py``)
does the rest.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Collection, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from packaging.version import InvalidVersion, Version

from packyard.errors import Invalid, NotFound, UpstreamError
from packyard.formats.pypi import attributes as pypi_attributes
from packyard.formats.pypi.archive import (
    DistInspection,
    inspect_core_metadata,
    inspect_distribution,
)
from packyard.formats.pypi.dependencies import dependency_records
from packyard.formats.pypi.filenames import (
    DistFilename,
    parse_listed_filename,
    version_text_of,
)
from packyard.formats.pypi.index_page import UpstreamFile, parse_project_page
from packyard.formats.pypi.names import normalize_name, require_project_name
from packyard.formats.pypi.negotiation import SIMPLE_V1_JSON
from packyard.formats.pypi.plugin import FORMAT, PypiFormat
from packyard.formats.pypi.simple import IndexFile, ProjectPage, relative_file_url
from packyard.metadata.new_files import NewAsset, NewVersion
from packyard.storage.blobs import Digests
from packyard.upstream.client import UpstreamHttp
from packyard.upstream.format import KeptFile, PutBlob, UpstreamListing
from packyard.upstream.merge import MergedFile, MergedProject, OfferedFile, OfferedVersion

log = logging.getLogger("packyard.upstream")

# What Packyard asks an upstream for: JSON first (PEP 691), HTML accepted (PEP 503 servers
# answer text/html whatever is asked).
ACCEPT = (f"{SIMPLE_V1_JSON}, application/vnd.pypi.simple.v1+html;q=0.2, "
          "text/html;q=0.01")

_METADATA_SUFFIX = ".metadata"
_MAX_METADATA_BYTES = 10 * 1024 * 1024


class PypiUpstream:
    """PyPI's answers to the upstream machinery's questions."""

    format = FORMAT
    noun = "project"
    document_noun = "index page"
    accept = ACCEPT
    has_tags = False
    # A pulled file's BLAKE2b (its attributes) is filled in after it is kept, as its MD5 is.
    pull_digests: frozenset[str] = frozenset()

    def __init__(self) -> None:
        self._rules = PypiFormat()

    def check_name(self, name: str) -> None:
        require_project_name(name)

    def document_name(self, namespace: str, name: str) -> str:
        return name

    def file_name(self, name: str, version: str, asset_name: str) -> str:
        return asset_name

    def asset_named(self, name: str, filename: str) -> tuple[str, str | None]:
        # PyPI file names are unique in a repository: the name alone finds the file.
        return filename, None

    def version_sort_key(self, version: str) -> Any:
        return self._rules.version_sort_key(version)

    def document_url(self, index_url: str, name: str) -> str:
        # Quoted whatever it holds: a project name is one path segment of the upstream's URL.
        return f"{index_url}{quote(name, safe='')}/"

    # -- documents ---------------------------------------------------------------------------

    def parse_listing(self, body: bytes, content_type: str, url: str,
                      name: str) -> UpstreamListing:
        project = parse_project_page(body, content_type, url, name)
        return _listing(name, project.files, project.rejected)

    def encode(self, listing: UpstreamListing) -> str:
        # The shape kept since revision 0003: a list of the page's files, as parsed (the
        # fields of ``UpstreamFile``, in order). Built directly: ``asdict`` and parsing each
        # name again took as long as parsing the page (10,000 files: ~0.4 s).
        rows = []
        for f in listing.files:
            assert f.url is not None and f.sha256 is not None
            rows.append({
                "filename": f.filename, "url": f.url, "sha256": f.sha256,
                # Only files whose names parse are listed (index_page checks them).
                "version": version_text_of(f.filename, listing.name),
                "version_key": f.version_key,
                "size": f.size, "requires_python": pypi_attributes.requires_python(f.attributes),
                "yanked": f.yanked,
                "upload_time": f.upload_time.isoformat() if f.upload_time else None,
                "metadata_sha256": pypi_attributes.metadata_sha256(f.attributes)})
        return json.dumps(rows, separators=(",", ":"))

    def decode(self, name: str, text: str) -> UpstreamListing:
        files = []
        for row in json.loads(text):
            moment = row.get("upload_time")
            files.append(UpstreamFile(**{**row, "upload_time": datetime.fromisoformat(moment)
                                         if moment else None}))
        return _listing(name, files, ())

    # -- PEP 658 core metadata files -----------------------------------------------------------

    def derived_file(self, filename: str) -> str | None:
        return filename.removesuffix(_METADATA_SUFFIX) \
            if filename.endswith(_METADATA_SUFFIX) else None

    def derived_blob(self, attributes: Mapping[str, Any], filename: str
                     ) -> tuple[str, int | None]:
        sha256 = pypi_attributes.metadata_sha256(attributes)
        if sha256 is None:
            raise NotFound(f"No core metadata file {filename}")
        return sha256, pypi_attributes.metadata_size(attributes)

    async def fetch_derived(self, http: UpstreamHttp, file: OfferedFile,
                            hosts: Collection[str], filename: str, upstream: str) -> bytes:
        declared = pypi_attributes.metadata_sha256(file.attributes)
        if declared is None or file.url is None:
            raise NotFound(f"No core metadata file {filename}")
        data = await http.fetch_bytes(file.url + _METADATA_SUFFIX, hosts, _MAX_METADATA_BYTES,
                                      upstream=upstream)
        if hashlib.sha256(data).hexdigest() != declared:
            raise UpstreamError(f"Upstream core metadata {filename} failed verification: its "
                                f"index page declares sha256 {declared}")
        return data

    async def fetch_companion(self, http: UpstreamHttp, file: OfferedFile,
                              hosts: Collection[str], upstream: str) -> bytes | None:
        # PEP 658: the upstream's core metadata file, when its page declares one (its hash);
        # for wheels only, as Packyard serves them.
        if not file.filename.endswith(".whl") or file.url is None \
                or pypi_attributes.metadata_sha256(file.attributes) is None:
            return None
        try:
            return await self.fetch_derived(http, file, hosts,
                                            file.filename + _METADATA_SUFFIX, upstream)
        except (UpstreamError, NotFound) as exc:
            log.info("reading %s's metadata from the wheel: %s", file.filename, exc.message)
            return None

    # -- keeping a pulled file (worker thread) -------------------------------------------------

    def keep(self, spool: Path, digests: Digests, name: str, file: OfferedFile,
             version: OfferedVersion | None, put_blob: PutBlob,
             companion: bytes | None = None) -> KeptFile:
        dist = parse_listed_filename(file.filename, name)
        inspection: DistInspection | None = None
        if companion is not None and dist.kind == "bdist_wheel":
            # Verified against the hash the upstream's page declares for it, as the wheel is
            # against the wheel's (PEP 658): as trustworthy as the wheel, and no zip to open.
            try:
                inspection = _same_release(inspect_core_metadata(
                    companion, dist, file.filename + _METADATA_SUFFIX), dist)
            except Invalid as exc:
                log.warning("%s; reading the wheel's own", exc.message)
        if inspection is None:
            try:
                # An upload naming another project in its metadata is refused; a pulled file
                # is what the upstream serves (verified), kept without such metadata: neither
                # the other project's name nor its dependencies are recorded for this one.
                inspection = _same_release(inspect_distribution(spool, dist), dist,
                                           version_too=dist.kind == "bdist_wheel")
            except Invalid as exc:
                log.warning("kept %s without its metadata: %s", file.filename, exc.message)
        extra: dict[str, int] = {}
        metadata_sha256 = metadata_size = None
        # PEP 658 metadata is served for a pulled wheel only, as PyPI serves it: the page
        # showed none for the sdist before it was kept (``_listing``), and shows the same after.
        if inspection is not None and dist.kind == "bdist_wheel":
            meta = put_blob(inspection.metadata_bytes)
            metadata_sha256, metadata_size = meta.sha256, meta.size
            extra[meta.sha256] = meta.size
        display = inspection.name if inspection is not None and inspection.name else dist.project
        requires_python = pypi_attributes.requires_python(file.attributes) \
            or (inspection.requires_python if inspection else None)
        asset = NewAsset(
            name=file.filename, size=digests.size, sha256=digests.sha256,
            sha512=digests.sha512, sha1=digests.sha1, md5=digests.md5,
            attributes=pypi_attributes.file_attributes(
                blake2_256=digests.blake2_256, requires_python=requires_python,
                metadata_sha256=metadata_sha256, metadata_size=metadata_size,
                blake2_later=True),
            companions=(metadata_sha256,) if metadata_sha256 else ())
        # The version as this file's name writes it, as an upload of the file records it.
        return KeptFile(display, _new_version(dist.version_text, file.version_key, inspection),
                        asset, extra)


def stored_yanks(text: str) -> dict[tuple[str, str], bool | str]:
    """What a stored upstream page (``PypiUpstream.encode``'s rows) yanks: (file name, sha256)
    -> True or the reason; read by ``packyard export``, which reads no upstream."""
    try:
        rows = json.loads(text)
    except ValueError:
        return {}
    yanks: dict[tuple[str, str], bool | str] = {}
    for row in rows if isinstance(rows, list) else ():
        if not isinstance(row, dict):
            continue
        yanked, filename, sha256 = row.get("yanked"), row.get("filename"), row.get("sha256")
        if (isinstance(filename, str) and isinstance(sha256, str)
                and (yanked is True or (isinstance(yanked, str) and yanked))):
            yanks[(filename, sha256)] = yanked
    return yanks


def _same_release(inspection: DistInspection, dist: DistFilename, *,
                  version_too: bool = True) -> DistInspection:
    """The metadata of the release the file's name says (pip refuses a wheel whose metadata
    names another), or ``Invalid``; with ``version_too`` False (an old sdist, whose PKG-INFO
    may write its version as no PEP 440 reader does) only the project is compared."""
    try:
        same = (normalize_name(inspection.name) == dist.normalized_name
                and (not version_too or Version(inspection.version) == dist.version))
    except InvalidVersion:
        same = False
    if not same:
        raise Invalid(f"{inspection.metadata_path} describes {inspection.name} "
                      f"{inspection.version}, not the wheel's {dist.project} {dist.version_text}")
    return inspection


def _listing(name: str, files: Collection[UpstreamFile],
             rejected: tuple[str, ...]) -> UpstreamListing:
    versions: dict[str, OfferedVersion] = {}
    offered = []
    for f in files:
        versions.setdefault(f.version_key, OfferedVersion(f.version, f.version_key, "Published"))
        # An upstream's metadata file for an sdist is not passed on: whether it can be
        # trusted is in the file itself (PEP 643, ``archive.serves_core_metadata``).
        metadata_sha256 = f.metadata_sha256 if f.filename.endswith(".whl") else None
        offered.append(OfferedFile(
            f.filename, f.version_key, {"sha256": f.sha256}, f.size, f.yanked, f.upload_time,
            pypi_attributes.file_attributes(blake2_256=None, requires_python=f.requires_python,
                                            metadata_sha256=metadata_sha256,
                                            metadata_size=None),
            url=f.url))
    return UpstreamListing(name, tuple(versions.values()), tuple(offered), rejected)


def _new_version(version: str, version_key: str,
                 inspection: DistInspection | None) -> NewVersion:
    summary = home_page = readme = readme_type = None
    licenses: list[dict[str, str]] = []
    dependencies: list[dict[str, str]] = []
    kept: dict[str, Any] = {}
    if inspection is not None:
        summary, home_page = inspection.summary, inspection.home_page
        readme, readme_type = inspection.description, inspection.description_content_type
        license_text = (inspection.license or "").strip()
        if license_text and "\n" not in license_text and len(license_text) <= 200:
            licenses = [{"name": license_text}]
        dependencies, kept = dependency_records(inspection.requires_dist)
        kept.update(inspection.info)
    return NewVersion(version=version, version_key=version_key, summary=summary,
                      home_page=home_page, source_code_repository=None, licenses=licenses,
                      readme=readme, readme_content_type=readme_type,
                      dependencies=dependencies, origin_type="EXTERNAL", attributes=kept)


def project_page(name: str, merged: MergedProject[Any]) -> ProjectPage:
    """The Simple API page of a project merged across a repository's upstreams."""
    return ProjectPage(name=name, files=[_index_file(m) for m in merged.files],
                       versions=merged.versions)


def _index_file(merged: MergedFile[Any]) -> IndexFile:
    f = merged.file
    assert f.sha256 is not None
    return IndexFile(filename=f.filename, url=relative_file_url(f.filename), sha256=f.sha256,
                     # An HTML-only upstream gives no size; 0 stands for "not known".
                     size=f.size or 0, upload_time=f.upload_time,
                     requires_python=pypi_attributes.requires_python(f.attributes),
                     yanked=merged.yanked,
                     metadata_sha256=pypi_attributes.metadata_sha256(f.attributes))
