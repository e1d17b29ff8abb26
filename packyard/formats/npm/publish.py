"""``npm publish``: the body streamed into a staged blob, checked, and recorded.

The endpoint authorizes PublishPackageVersion on the URL's package and admits the upload
(``UploadCapacity``) before it reads a byte of the body; ``receive`` then streams the body
through ``PublishBodyParser``, whose attachment goes straight into a staged blob (the body is
never held whole, and the base64 never twice); ``publish`` (a worker thread) runs every check
with the message npm prints, inspects the tarball (``tarball.inspect_tarball``), and stores it:
the blob first, then the version in one catalog transaction, then the dist-tags.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from starlette.concurrency import run_in_threadpool

from packyard.auth.principal import Principal
from packyard.errors import Conflict, Denied, PackyardError, TooLarge
from packyard.formats.npm import attributes
from packyard.formats.npm.dependencies import package_dependencies, version_summary
from packyard.formats.npm.dist_tags import named_tags, tags_after_publish
from packyard.formats.npm.names import PackageName
from packyard.formats.npm.packument import LISTED_STATUSES
from packyard.formats.npm.plugin import FORMAT, TARBALL_ASSET
from packyard.formats.npm.publish_body import PublishBody, PublishBodyParser, PublishLimits
from packyard.formats.npm.publish_checks import (
    PublishRequest,
    check_publish,
    choose_readme,
    is_identical_republish,
    published_over,
    sri_sha512,
    stored_manifest,
)
from packyard.formats.npm.semver import version_key
from packyard.formats.npm.tar_stream import size_text
from packyard.formats.npm.tarball import (
    TarballInspection,
    TarballLimits,
    check_tarball_matches,
    inspect_tarball,
)
from packyard.formats.npm.tarball_document import document_size, tarball_document
from packyard.formats.npm.upstream import readme_media_type
from packyard.formats.plugin import PublishTimes
from packyard.metadata.catalog import Catalog, NewAsset, NewFile, NewVersion
from packyard.metadata.new_files import publish_blocked
from packyard.model import Domain, PackageVersion, Repository
from packyard.package_groups.origin_controls import RestrictionType
from packyard.services.registry import Registry
from packyard.storage.blobs import BlobStore, Digests, Hasher, StagedBlob

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
        with staged.local_path.open("rb") as source:
            inspection = inspect_tarball(source, request.attachment,
                                         limits=self.limits.tarball)
        check_tarball_matches(inspection, request.name.full, request.version,
                              request.attachment)
        checked = CheckedTarball(request, inspection, staged, staged.digests(), principal.name)
        name = request.name
        new = self._plan(self._package_state(repo, name), checked)
        if new is None:
            self._registry.blobs.discard(staged)
            return PublishOutcome(name, request.version, created=False)
        catalog = self._registry.catalog
        self._registry.blobs.commit(staged, domain.blob_key)
        try:
            with self._registry.sweeper.recording(repo.domain_id, new.blob_sizes.keys()):
                result = catalog.publish(repo, FORMAT, name.namespace, new.name,
                                         new.display_name, new.version, new.asset,
                                         new.blob_sizes, self._registry.clock.now(),
                                         tag_changes=new.tag_changes)
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

    # -- tarballs from disk (imports) ----------------------------------------------------------

    def check_size(self, filename: str, size: int) -> None:
        """Refuse a tarball over ``PACKYARD_NPM_MAX_TARBALL_BYTES`` before a byte is copied,
        as the publish body parser refuses its attachment."""
        limit = self.limits.publish.max_tarball_bytes
        if size > limit:
            raise TooLarge(f"The tarball is larger than {size_text(limit)}.")

    def check_file(self, principal: Principal, domain: Domain, repo: Repository,
                   staged: StagedBlob, filename: str, times: PublishTimes | None = None
                   ) -> CheckedTarball:
        """Run every check ``npm publish <the tarball>`` would meet on a staged tarball named
        ``filename``: the document npm would send is built from it (``tarball_document``)
        and checked as a received one is. Dated as ``times`` (the registry document beside
        it: its ``time``) says, when that is of this tarball's package.

        The staged bytes are discarded when the tarball is refused.
        """
        try:
            digests = staged.digests()
            assert digests.sha512 is not None and digests.sha1 is not None  # a staged write's
            with staged.local_path.open("rb") as source:
                inspection = inspect_tarball(source, filename, limits=self.limits.tarball)
            url_name, body = tarball_document(inspection, filename, digests.size,
                                              digests.sha512, digests.sha1)
            self.authorize(principal, domain, repo.name, url_name)
            if document_size(body) > self.limits.publish.max_document_bytes:
                raise TooLarge("The publish document (the body without its tarball) is larger "
                               f"than {size_text(self.limits.publish.max_document_bytes)}.")
            request = check_publish(body, url_name)
            check_tarball_matches(inspection, request.name.full, request.version, filename)
        except BaseException:
            self._registry.blobs.discard(staged)
            raise
        published = (times.versions.get(version_key(request.version))
                     if times is not None and times.package == request.name.full else None)
        return CheckedTarball(request, inspection, staged, digests, principal.name, published)

    def publish_checked(self, domain: Domain, repo: Repository,
                        files: Sequence[CheckedTarball]) -> list[PublishOutcome | PackyardError]:
        """Store checked tarballs together: one flush of the blobs, one metadata transaction,
        each one decided and its dist-tags moved as its ``npm publish`` would be, in order.

        Answers each in order with its outcome, or with the error that refused it (the
        version published with other bytes, the package's origin controls); a refusal does
        not stop the others. The staged bytes are consumed either way; the blobs are durable
        before the transaction commits, so a crash in between leaves only unreferenced blobs.
        """
        answers: dict[int, PublishOutcome | PackyardError] = {}
        blobs = self._registry.blobs
        states: dict[str, _PackageState] = {}
        pending: list[tuple[int, CheckedTarball, NewFile]] = []
        to_commit: list[StagedBlob] = []
        planned: set[int] = set()
        try:
            for index, checked in enumerate(files):
                name = checked.request.name
                state = states.get(name.full)
                if state is None:
                    state = states[name.full] = self._package_state(repo, name)
                try:
                    new = self._plan(state, checked)
                except PackyardError as refusal:
                    answers[index] = refusal
                    blobs.discard(checked.staged)
                    continue
                if new is None:
                    answers[index] = PublishOutcome(name, checked.request.version, False)
                    blobs.discard(checked.staged)
                    continue
                pending.append((index, checked, new))
                if id(new) in planned:
                    blobs.discard(checked.staged)  # the same tarball earlier in the batch
                else:
                    planned.add(id(new))
                    to_commit.append(checked.staged)
            if to_commit:
                blobs.commit_many(to_commit, domain.blob_key)
        except BaseException:
            # Whatever was committed already is unreferenced, which is harmless.
            for checked in files:
                blobs.discard(checked.staged)
            raise
        results = self._registry.record_committed(repo, FORMAT, [new for _, _, new in pending])
        for (index, checked, _), result in zip(pending, results, strict=True):
            version = checked.request.version
            if isinstance(result, Conflict) and result.resource_type == "asset":
                result = published_over(version)  # committed meanwhile, as in _publish
            answers[index] = (result if isinstance(result, PackyardError)
                              else PublishOutcome(checked.request.name, version, result))
        created = sum(1 for a in answers.values() if isinstance(a, PublishOutcome) and a.created)
        log.info("published %d new of %d tarballs to %s/%s", created, len(files), domain.name,
                 repo.name)
        return [answers[index] for index in range(len(files))]

    # -- deciding a publish ----------------------------------------------------------------------

    def _package_state(self, repo: Repository, name: PackageName) -> _PackageState:
        catalog = self._registry.catalog
        package = catalog.find_package(repo.id, FORMAT, name.namespace, name.bare)
        if package is None:
            return _PackageState(catalog, {}, [], {})
        versions = catalog.list_versions(package.id)
        return _PackageState(catalog, {v.version_key: v for v in versions},
                             [v.version for v in versions if v.status in LISTED_STATUSES],
                             named_tags(catalog.package_tags(package.id), versions))

    def _plan(self, state: _PackageState, checked: CheckedTarball) -> NewFile | None:
        """What publishing a checked tarball writes: its version and asset, and the dist-tags
        it moves (``tags_after_publish``); None for a tarball the package has already (a
        retried publish, a rerun import), ``published_over`` for a version it has with other
        bytes. ``state`` then counts the version in, for the next tarball of a batch."""
        request = checked.request
        key = version_key(request.version)
        earlier = state.planned.get(key)
        if earlier is not None:
            if earlier[0] != request.integrity:
                raise published_over(request.version)
            return earlier[1]  # the same tarball twice in one batch: the transaction says
        if is_identical_republish(request, state.integrity(key)):
            return None
        tags = tags_after_publish(state.tags, request.dist_tags, request.version, state.listed)
        new = _new_file(checked, key, tag_changes(state.tags, tags))
        state.planned[key] = (request.integrity, new)
        state.listed.append(request.version)
        state.tags = tags
        return new


@dataclass(frozen=True)
class CheckedTarball:
    """A tarball whose publish passed every check that needs no look at the repository."""

    request: PublishRequest
    inspection: TarballInspection
    staged: StagedBlob
    digests: Digests
    publisher: str
    """The name of the principal publishing it (the manifest's ``_npmUser``)."""
    published: datetime | None = None
    """When its version was published, as the registry document beside it says (None:
    now)."""


@dataclass
class _PackageState:
    """What a publish of one package is decided on, as it stands before the publish, and as
    a batch's earlier tarballs leave it."""

    catalog: Catalog
    versions: dict[str, PackageVersion]
    """The stored versions by version key."""
    listed: list[str]
    tags: dict[str, str]
    """The stored dist-tags (tag -> version)."""
    planned: dict[str, tuple[str, NewFile]] = field(default_factory=dict)
    """Versions published earlier in the batch: their integrity and what they write."""

    def integrity(self, key: str) -> str | None:
        """The integrity of the stored tarball of a version; None when the version is new."""
        existing = self.versions.get(key)
        if existing is None:
            return None
        assets = self.catalog.list_assets(existing.id)
        held = assets[0].sha512 if assets else None
        return sri_sha512(held) if held else "unknown"


def _new_file(checked: CheckedTarball, key: str, changes: dict[str, str | None]) -> NewFile:
    """The records of a published tarball: its version (the manifest kept, the readme),
    its one asset, and the tag changes that go with it."""
    request, inspection, digests = checked.request, checked.inspection, checked.digests
    readme, readme_filename = choose_readme(request, inspection)
    manifest = stored_manifest(request, inspection, checked.publisher)
    summary = version_summary(manifest)
    name = request.name
    return NewFile(
        name=name.bare, display_name=name.full, namespace=name.namespace,
        version=NewVersion(
            version=request.version, version_key=key, summary=summary.summary,
            home_page=summary.home_page, source_code_repository=summary.source_code_repository,
            licenses=summary.licenses, readme=readme,
            readme_content_type=readme_media_type(readme_filename),
            dependencies=package_dependencies(manifest),
            attributes=attributes.version_attributes(manifest, request.deprecated,
                                                     readme_filename),
            published_at=checked.published),
        asset=NewAsset(name=TARBALL_ASSET, size=digests.size, sha256=digests.sha256,
                       sha512=digests.sha512, sha1=digests.sha1, md5=digests.md5,
                       created_at=checked.published),
        blob_sizes={digests.sha256: digests.size}, tag_changes=changes)


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
