"""PublishPackageVersion: one asset of a version, streamed from the request into the blob store.

The steps keep a caller who may not publish from costing anything: the request's names are
checked and ``codeartifact:PublishPackageVersion`` on the package is authorized before a byte
of the body is read (``prepare``); the upload then takes a place among the uploads this process
stores at once and must fit the disk reserve and the size limit (``admit``), its bytes are
hashed while they are staged (``receive``), and only bytes whose SHA-256 is the one the caller
declared (and signed) are committed and recorded (``publish``). Anything refused on the way
leaves nothing behind.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool

from packyard.auth.principal import Principal
from packyard.errors import Conflict, Denied, Invalid, TooLarge
from packyard.formats.registry import AssetRules
from packyard.metadata.catalog import NewAsset, NewVersion, PublishResult
from packyard.metadata.new_files import publish_blocked
from packyard.model import Domain, Repository
from packyard.package_groups.origin_controls import RestrictionType
from packyard.services.registry import Registry
from packyard.services.upload_capacity import UploadCapacity
from packyard.storage.blobs import StagedBlob

log = logging.getLogger("packyard.publish")

# Bytes gathered from the request before each write to the staged file (one thread hop each).
_WRITE_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class AssetUpload:
    """What a PublishPackageVersion request names."""

    domain: str
    repository: str
    format: str
    namespace: str | None
    package: str
    version: str
    asset_name: str
    asset_sha256: str
    unfinished: bool = False
    domain_owner: str | None = None


@dataclass(frozen=True)
class AssetTarget:
    """An upload checked and authorized, with where it goes."""

    upload: AssetUpload
    rules: AssetRules
    domain: Domain
    repository: Repository
    namespace: str
    name: str


def _size(size: int) -> str:
    for unit, factor in (("GiB", 1024 ** 3), ("MiB", 1024 ** 2), ("KiB", 1024)):
        if size >= factor:
            return f"{size / factor:g} {unit}"
    return f"{size} bytes"


class AssetPublisher:
    """The service behind PublishPackageVersion."""

    def __init__(self, registry: Registry, capacity: UploadCapacity,
                 max_upload_bytes: int) -> None:
        self._registry = registry
        self._capacity = capacity
        self.max_upload_bytes = max_upload_bytes

    def prepare(self, principal: Principal, upload: AssetUpload) -> AssetTarget:
        """Check the request's names and authorize it, before its body is read."""
        registry = self._registry
        rules = registry.formats.asset_rules(upload.format)
        name = rules.normalize_name(upload.package)
        namespace = rules.normalize_namespace(upload.namespace)
        rules.check_version(upload.version)
        rules.check_asset_name(upload.asset_name)
        registry.authorizer.check(principal, "codeartifact:PublishPackageVersion",
                                  registry.arns.package(upload.domain, upload.repository,
                                                        upload.format, namespace, name))
        domain, repository = registry.get_repository(upload.domain, upload.repository,
                                                     upload.domain_owner)
        target = AssetTarget(upload, rules, domain, repository, namespace, name)
        self._refuse_early(target)
        return target

    def _refuse_early(self, target: AssetTarget) -> None:
        """A package whose origin configuration blocks publishing, or a version that takes no
        new asset, is refused before the body is read (the transaction that records the asset
        judges again)."""
        catalog = self._registry.catalog
        package = catalog.find_package(target.repository.id, target.upload.format,
                                       target.namespace, target.name)
        if package is not None and package.origin_publish != "ALLOW":
            raise publish_blocked(target.repository, target.name, package.display_name)
        refusal = catalog.group_refusal(target.repository.domain_id, target.repository.name,
                                        RestrictionType.PUBLISH, target.upload.format,
                                        target.namespace, target.name)
        if refusal is not None:
            raise Denied(refusal, resource_id=target.name, resource_type="package")
        if package is None:
            return
        version = catalog.get_version(package.id,
                                      target.rules.normalize_version(target.upload.version))
        if version is None or version.status == "Unfinished":
            return
        if any(asset.name == target.upload.asset_name
               for asset in catalog.list_assets(version.id)):
            return  # the same asset again may be a no-op: the bytes will tell
        raise Conflict(f"Version {version.version} of {package.display_name} is "
                       f"{version.status}, so it takes no new asset"
                       + (": publish every asset of a version but the last with --unfinished "
                          "(unfinished=true), or publish a new version"
                          if version.status == "Published" else ""),
                       resource_id=version.version, resource_type="package-version")

    @contextmanager
    def admit(self, declared_length: int | None) -> Iterator[None]:
        """A place among the uploads in flight, within the size limit and the disk reserve,
        for as long as the upload is received and stored."""
        if declared_length is not None and declared_length > self.max_upload_bytes:
            raise self._too_large()
        with self._capacity.admit(declared_length):
            yield

    def _too_large(self) -> TooLarge:
        return TooLarge(f"Asset too large: assets may be at most "
                        f"{_size(self.max_upload_bytes)} (PACKYARD_MAX_UPLOAD_BYTES)")

    async def receive(self, chunks: AsyncIterator[bytes]) -> StagedBlob:
        """The request body staged (hashed as it is written), at most the size limit; on any
        error nothing stays staged."""
        blobs = self._registry.blobs
        staged = await run_in_threadpool(blobs.stage)
        try:
            pending: list[bytes] = []
            held = 0
            async for chunk in chunks:
                if staged.size + held + len(chunk) > self.max_upload_bytes:
                    raise self._too_large()
                pending.append(chunk)
                held += len(chunk)
                if held >= _WRITE_CHUNK:
                    await run_in_threadpool(staged.write, b"".join(pending))
                    pending, held = [], 0
            if pending:
                await run_in_threadpool(staged.write, b"".join(pending))
            await run_in_threadpool(staged.digests)
        except BaseException:
            blobs.discard(staged)
            raise
        return staged

    def publish(self, target: AssetTarget, staged: StagedBlob) -> PublishResult:
        """Commit the staged bytes and record the asset (worker thread); the staged bytes are
        consumed either way."""
        blobs = self._registry.blobs
        upload = target.upload
        try:
            digests = staged.digests()
            if digests.sha256 != upload.asset_sha256:
                raise Invalid(f"assetSHA256 {upload.asset_sha256} is not the SHA-256 of the "
                              f"asset sent ({digests.sha256}); nothing was published")
            blobs.commit(staged, target.domain.blob_key)
        except BaseException:
            blobs.discard(staged)
            raise
        with self._registry.sweeper.recording(target.repository.domain_id, [digests.sha256]):
            result = self._registry.catalog.publish_asset(
                target.repository, upload.format, target.namespace, target.name,
                upload.package,
                NewVersion(version=upload.version,
                           version_key=target.rules.normalize_version(upload.version),
                           summary=None, home_page=None, source_code_repository=None,
                           licenses=[], readme=None, readme_content_type=None,
                           dependencies=[]),
                NewAsset(name=upload.asset_name, size=digests.size, sha256=digests.sha256,
                         sha512=digests.sha512, sha1=digests.sha1, md5=digests.md5),
                {digests.sha256: digests.size}, self._registry.clock.now(),
                finished=not upload.unfinished)
        log.info("published %s to %s %s/%s %s in %s/%s (%s)", upload.asset_name,
                 upload.format, target.namespace, target.name, upload.version,
                 target.domain.name, target.repository.name,
                 "new" if result.created else "identical asset already there")
        return result
