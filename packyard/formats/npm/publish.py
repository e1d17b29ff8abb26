"""``npm publish``: the body streamed into a staged blob, checked, and recorded.

The endpoint authorizes PublishPackageVersion on the URL's package and admits the upload
(``UploadCapacity``) before it reads a byte of the body; ``receive`` then streams the body
through ``PublishBodyParser``, whose attachment goes straight into a staged blob (the body is
never held whole, and the base64 never twice); ``publish`` (a worker thread) runs every check
with the message npm prints, inspects the tarball (``tarball.inspect_tarball``), and stores it:
the blob first, then the version in one catalog transaction, then the dist-tags.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace

from starlette.concurrency import run_in_threadpool

from packyard.auth.principal import Principal
from packyard.errors import Conflict, Denied
from packyard.formats.npm import attributes
from packyard.formats.npm.dependencies import package_dependencies, version_summary
from packyard.formats.npm.dist_tags import named_tags, tags_after_publish
from packyard.formats.npm.names import PackageName
from packyard.formats.npm.packument import LISTED_STATUSES
from packyard.formats.npm.plugin import FORMAT, TARBALL_ASSET
from packyard.formats.npm.publish_body import PublishBody, PublishBodyParser, PublishLimits
from packyard.formats.npm.publish_checks import (
    check_publish,
    choose_readme,
    is_identical_republish,
    published_over,
    stored_manifest,
)
from packyard.formats.npm.semver import version_key
from packyard.formats.npm.tarball import TarballLimits, check_tarball_matches, inspect_tarball
from packyard.formats.npm.upstream import readme_media_type
from packyard.metadata.catalog import NewAsset, NewVersion
from packyard.metadata.new_files import publish_blocked
from packyard.model import Domain, Repository
from packyard.package_groups.origin_controls import RestrictionType
from packyard.services.registry import Registry
from packyard.storage.blobs import BlobStore, Hasher, StagedBlob

log = logging.getLogger("packyard.npm")

MiB = 1024 * 1024
_FEED_BYTES = MiB  # how much of a body each worker-thread hop parses


@dataclass(frozen=True)
class NpmLimits:
    """What an npm publish may send, from the settings."""

    publish: PublishLimits
    tarball: TarballLimits

    @classmethod
    def of(cls, max_tarball_bytes: int, max_document_bytes: int) -> NpmLimits:
        # base64 makes 4 bytes of every 3, and the document rides along.
        body = -(-max_tarball_bytes * 4 // 3) + max_document_bytes
        return cls(PublishLimits(max_body_bytes=body, max_document_bytes=max_document_bytes,
                                 max_tarball_bytes=max_tarball_bytes),
                   TarballLimits(max_unpacked_bytes=max(2 * max_tarball_bytes, 64 * MiB)))


@dataclass(frozen=True)
class PublishOutcome:
    name: PackageName
    version: str
    created: bool  # False: the identical tarball was there already (a retried publish)


@dataclass
class ReceivedBody:
    """A PUT body read to its end: the document, and the tarball staged, if it had one."""

    body: PublishBody
    staged: StagedBlob | None


async def receive(stream: AsyncIterator[bytes], blobs: BlobStore, limits: PublishLimits,
                  before_tarball: Callable[[], None] | None = None) -> ReceivedBody:
    """Read a publish (or deprecate, unpublish) body; the attachment is staged as it decodes.
    ``before_tarball`` runs (in a worker thread) when the attachment's first bytes arrive,
    before any is staged: a body with a tarball can only be a publish, so a publish that will
    be refused is refused there, without reading the rest. On any error the staged bytes are
    discarded."""
    staged: list[StagedBlob] = []

    def sink(data: bytes) -> None:
        if not staged:
            if before_tarball is not None:
                before_tarball()
            staged.append(blobs.stage())
        staged[0].write(data)

    # The staged blob hashes every byte written to it, so the parser does not hash the
    # tarball a second time: its sha512 and sha1 are the staged blob's.
    parser = PublishBodyParser(sink, limits, hash_attachment=False)
    try:
        # Decoding, hashing and writing happen in a worker thread, off the event loop, about
        # a MiB at a time: the server hands the body over in pieces of a few KiB, and one
        # thread hop per piece cost more than the work it carried.
        pending: list[bytes] = []
        size = 0
        async for chunk in stream:
            if chunk:
                pending.append(chunk)
                size += len(chunk)
                if size >= _FEED_BYTES:
                    await run_in_threadpool(_feed, parser, pending)
                    pending, size = [], 0
        body = await run_in_threadpool(_finish, parser, pending, staged)
    except BaseException:
        for blob in staged:
            blobs.discard(blob)
        raise
    return ReceivedBody(body, staged[0] if staged else None)


def _feed(parser: PublishBodyParser, chunks: list[bytes]) -> None:
    parser.feed(chunks[0] if len(chunks) == 1 else b"".join(chunks))


def _finish(parser: PublishBodyParser, chunks: list[bytes],
            staged: list[StagedBlob]) -> PublishBody:
    if chunks:
        _feed(parser, chunks)
    body = parser.close()
    digests = staged[0].digests() if staged else Hasher().digests()
    # A publish's staged write computes every digest (only a pull leaves some for later).
    assert digests.sha512 is not None and digests.sha1 is not None
    return replace(body, sha512=digests.sha512, sha1=digests.sha1)


class NpmPublisher:
    """The service behind ``npm publish`` (and pnpm's and yarn's)."""

    def __init__(self, registry: Registry, limits: NpmLimits) -> None:
        self._registry = registry
        self.limits = limits

    def authorize(self, principal: Principal, domain: Domain, repository: str,
                  name: PackageName, action: str = "codeartifact:PublishPackageVersion") -> None:
        """Check ``action`` on the package's ARN, built from the names alone: the repository
        need not have been looked up (so a refused caller cannot tell whether it exists)."""
        arn = self._registry.arns.package(domain.name, repository, FORMAT, name.namespace,
                                          name.bare)
        self._registry.authorizer.check(principal, action, arn)

    def refuse_early(self, domain: Domain, repo: Repository, name: PackageName) -> None:
        """Refuse a publish of ``name`` that the package's origin configuration or its
        package group blocks (``Denied``, with the transaction's own message), before its
        tarball is read; the transaction that records the version judges again."""
        catalog = self._registry.catalog
        package = catalog.find_package(repo.id, FORMAT, name.namespace, name.bare)
        if package is not None and package.origin_publish != "ALLOW":
            raise publish_blocked(repo, name.bare, name.full)
        refusal = catalog.group_refusal(domain.id, repo.name, RestrictionType.PUBLISH, FORMAT,
                                        name.namespace, name.bare, name.full)
        if refusal is not None:
            raise Denied(refusal, resource_id=name.bare, resource_type="package")

    def publish(self, principal: Principal, domain: Domain, repo: Repository,
                url_name: PackageName, received: ReceivedBody) -> PublishOutcome:
        """Check and store a publish; the staged bytes are consumed either way."""
        staged = received.staged
        try:
            return self._publish(principal, domain, repo, url_name, received.body, staged)
        except BaseException:
            if staged is not None:
                self._registry.blobs.discard(staged)
            raise

    def _publish(self, principal: Principal, domain: Domain, repo: Repository,
                 url_name: PackageName, body: PublishBody,
                 staged: StagedBlob | None) -> PublishOutcome:
        request = check_publish(body, url_name)
        assert staged is not None  # check_publish refuses a body without a tarball
        name = request.name
        digests = staged.digests()
        with staged.local_path.open("rb") as source:
            inspection = inspect_tarball(source, request.attachment,
                                         limits=self.limits.tarball)
        check_tarball_matches(inspection, name.full, request.version, request.attachment)
        catalog = self._registry.catalog
        key = version_key(request.version)
        package = catalog.find_package(repo.id, FORMAT, name.namespace, name.bare)
        stored_tags: dict[str, str] = {}
        listed: list[str] = []
        if package is not None:
            existing = catalog.get_version(package.id, key)
            if existing is not None:
                assets = catalog.list_assets(existing.id)
                held = assets[0].sha512 if assets else None
                integrity = _integrity(held) if held else "unknown"
                if is_identical_republish(request, integrity):
                    self._registry.blobs.discard(staged)
                    return PublishOutcome(name, request.version, created=False)
            versions = catalog.list_versions(package.id)
            listed = [v.version for v in versions if v.status in LISTED_STATUSES]
            stored_tags = named_tags(catalog.package_tags(package.id), versions)
        tags = tags_after_publish(stored_tags, request.dist_tags, request.version, listed)
        readme, readme_filename = choose_readme(request, inspection)
        manifest = stored_manifest(request, inspection, principal.name)
        summary = version_summary(manifest)
        new_version = NewVersion(
            version=request.version, version_key=key, summary=summary.summary,
            home_page=summary.home_page, source_code_repository=summary.source_code_repository,
            licenses=summary.licenses, readme=readme,
            readme_content_type=readme_media_type(readme_filename),
            dependencies=package_dependencies(manifest),
            attributes=attributes.version_attributes(manifest, request.deprecated,
                                                     readme_filename))
        asset = NewAsset(name=TARBALL_ASSET, size=digests.size, sha256=digests.sha256,
                         sha512=digests.sha512, sha1=digests.sha1, md5=digests.md5)
        blobs = self._registry.blobs
        blobs.commit(staged, domain.blob_key)
        try:
            with self._registry.sweeper.recording(repo.domain_id, [digests.sha256]):
                result = catalog.publish(repo, FORMAT, name.namespace, name.bare, name.full,
                                         new_version, asset, {digests.sha256: digests.size},
                                         self._registry.clock.now(),
                                         tag_changes=tag_changes(stored_tags, tags))
        except Conflict as conflict:
            if conflict.resource_type != "asset":
                raise
            # Another publish of this version (another replica or worker) committed after the
            # look above: refused as if it had come first, not as the catalog's package.tgz.
            raise published_over(request.version) from conflict
        if not result.created:
            return PublishOutcome(name, request.version, created=False)
        log.info("published %s@%s to %s/%s", name.full, request.version, domain.name,
                 repo.name)
        return PublishOutcome(name, request.version, created=True)


def tag_changes(before: dict[str, str], after: dict[str, str]) -> dict[str, str | None]:
    """The difference between two tag sets (tag -> version) as the catalog writes it: tag ->
    version key, None for a tag removed."""
    changes: dict[str, str | None] = {tag: None for tag in before.keys() - after.keys()}
    changes.update({tag: version_key(version) for tag, version in after.items()
                    if before.get(tag) != version})
    return changes


def apply_tags(registry: Registry, package_id: int, before: dict[str, str],
               after: dict[str, str]) -> None:
    """Write the difference between two tag sets (tag -> version) to the catalog."""
    catalog = registry.catalog
    for tag, key in tag_changes(before, after).items():
        if key is None:
            catalog.delete_package_tag(package_id, tag)
        else:
            catalog.put_package_tag(package_id, tag, key)


def _integrity(sha512_hex: str) -> str:
    return "sha512-" + base64.b64encode(bytes.fromhex(sha512_hex)).decode()
