"""Publishing one file through the legacy upload API: validate, authorize, store, record."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from packyard.auth.principal import Principal
from packyard.errors import Conflict, PackyardError
from packyard.formats.pypi.archive import inspect_distribution
from packyard.formats.pypi.dependencies import package_dependencies
from packyard.formats.pypi.form import UploadForm
from packyard.formats.pypi.upload_checks import check_request, validate_upload
from packyard.metadata.catalog import NewAsset, NewVersion
from packyard.model import Domain, Repository
from packyard.services.registry import Registry
from packyard.storage.blobs import StagedBlob

log = logging.getLogger("packyard.pypi")

FORMAT = "pypi"


@dataclass(frozen=True)
class PublishOutcome:
    filename: str
    created: bool  # False: the identical file was already there (a no-op re-upload)



class PypiPublisher:
    """The service behind ``twine upload``."""

    def __init__(self, registry: Registry, max_upload_bytes: int) -> None:
        self._registry = registry
        self.max_upload_bytes = max_upload_bytes

    def publish(self, principal: Principal, domain: Domain, repo: Repository,
                form: UploadForm) -> PublishOutcome:
        """Validate and store an uploaded file; the staged bytes are consumed either way."""
        staged = form.staged
        try:
            outcome = self._publish(principal, domain, repo, form, staged)
        except BaseException:
            if staged is not None:
                self._registry.blobs.discard(staged)
            raise
        return outcome

    def _publish(self, principal: Principal, domain: Domain, repo: Repository,
                 form: UploadForm, staged: StagedBlob | None) -> PublishOutcome:
        fields = {k: v[0] for k, v in form.fields.items() if v}
        digests = staged.digests() if staged is not None else None
        # Form and filename problems first: they are what the user got wrong, not the archive.
        dist = check_request(fields, form.filename, digests, self.max_upload_bytes)
        assert staged is not None and digests is not None  # check_request refuses a missing file
        # Authorize on the name the form and filename agree on before opening the archive: a
        # caller who may not publish learns nothing more and costs no more work.
        arn = self._registry.arns.package(domain.name, repo.name, FORMAT, None,
                                          dist.normalized_name)
        self._registry.authorizer.check(principal, "codeartifact:PublishPackageVersion", arn)
        inspection = inspect_distribution(staged.local_path, dist)
        validated = validate_upload(fields, dist, digests, inspection, self.max_upload_bytes)

        catalog = self._registry.catalog
        existing = catalog.filename_taken(repo.id, FORMAT, validated.filename)
        if existing is not None:
            if existing.sha256 == digests.sha256:
                self._registry.blobs.discard(staged)
                return PublishOutcome(validated.filename, created=False)
            raise Conflict(f"File already exists: {validated.filename} was uploaded before "
                           "with other content; files are never replaced",
                           resource_id=validated.filename, resource_type="asset")

        blobs = self._registry.blobs
        blobs.commit(staged, domain.blob_key)
        meta = blobs.put_bytes(validated.metadata_bytes, domain.blob_key)
        try:
            result = catalog.publish(
                repo, FORMAT, "", validated.normalized_name, validated.display_name,
                NewVersion(
                    version=validated.version, version_key=validated.version_key,
                    summary=validated.summary, home_page=validated.home_page,
                    source_code_repository=validated.source_code_repository,
                    licenses=[{"name": name} for name in validated.licenses],
                    readme=validated.description,
                    readme_content_type=validated.description_content_type,
                    dependencies=package_dependencies(validated.requires_dist)),
                NewAsset(name=validated.filename, size=digests.size, sha256=digests.sha256,
                         sha512=digests.sha512, sha1=digests.sha1, md5=digests.md5,
                         blake2_256=digests.blake2_256,
                         requires_python=validated.requires_python,
                         metadata_sha256=meta.sha256, metadata_size=meta.size),
                {digests.sha256: digests.size, meta.sha256: meta.size},
                self._registry.clock.now())
        except PackyardError:
            raise
        log.info("published %s to %s/%s (%s)", validated.filename, domain.name, repo.name,
                 "new" if result.created else "identical re-upload")
        return PublishOutcome(validated.filename, result.created)
