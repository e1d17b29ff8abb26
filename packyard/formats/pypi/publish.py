"""Publishing files: one through the legacy upload API, or many at once from disk (imports).

Both go through the same steps: validate, authorize, store the bytes, then record them. An upload
is validated against its form; a file without a form against the form twine would have sent for
it (``upload_checks.validate_file``), so a file is accepted exactly when its upload would be.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NoReturn

from packyard.auth.principal import Principal
from packyard.errors import Conflict, Invalid, PackyardError
from packyard.formats.plugin import PublishTimes
from packyard.formats.pypi.archive import inspect_distribution
from packyard.formats.pypi.attributes import file_attributes
from packyard.formats.pypi.dependencies import dependency_records
from packyard.formats.pypi.filenames import parse_distribution_filename
from packyard.formats.pypi.form import UploadForm
from packyard.formats.pypi.names import normalize_name
from packyard.formats.pypi.upload_checks import (
    ValidatedUpload,
    check_form,
    check_name,
    check_request,
    check_size,
    validate_file,
    validate_upload,
)
from packyard.metadata.catalog import NewAsset, NewFile, NewVersion
from packyard.model import Domain, Repository
from packyard.services.access import RepositoryAccess, WriteCaller
from packyard.services.registry import Registry
from packyard.storage.blobs import Digests, StagedBlob

log = logging.getLogger("packyard.pypi")

FORMAT = "pypi"


@dataclass(frozen=True)
class PublishOutcome:
    filename: str
    created: bool  # False: the identical file was already there (a no-op re-upload)


@dataclass(frozen=True)
class CheckedFile:
    """A file that passed every check, staged and waiting to be stored (``publish_checked``)."""

    validated: ValidatedUpload
    staged: StagedBlob
    digests: Digests
    published: datetime | None = None
    """When its version was published, as the package document beside it says (None: now)."""
    uploaded: datetime | None = None
    """When it was uploaded, as the package document beside it says (None: now)."""


def _new_file(validated: ValidatedUpload, digests: Digests, meta: Digests | None,
              published: datetime | None = None, uploaded: datetime | None = None) -> NewFile:
    """What the catalog records for a validated file and its PEP 658 metadata blob, if it
    serves one (``ValidatedUpload.serves_metadata``), dated as given (None: now)."""
    blob_sizes = {digests.sha256: digests.size}
    dependencies, kept = dependency_records(validated.requires_dist)
    if meta is not None:
        blob_sizes[meta.sha256] = meta.size
    return NewFile(
        name=validated.normalized_name, display_name=validated.display_name,
        version=NewVersion(
            version=validated.version, version_key=validated.version_key,
            summary=validated.summary, home_page=validated.home_page,
            source_code_repository=validated.source_code_repository,
            licenses=[{"name": name} for name in validated.licenses],
            readme=validated.description,
            readme_content_type=validated.description_content_type,
            dependencies=dependencies, attributes={**kept, **validated.info},
            published_at=published),
        asset=NewAsset(name=validated.filename, size=digests.size, sha256=digests.sha256,
                       sha512=digests.sha512, sha1=digests.sha1, md5=digests.md5,
                       attributes=file_attributes(
                           blake2_256=digests.blake2_256,
                           requires_python=validated.requires_python,
                           metadata_sha256=meta.sha256 if meta else None,
                           metadata_size=meta.size if meta else None),
                       companions=(meta.sha256,) if meta else (), created_at=uploaded),
        blob_sizes=blob_sizes)


def _repeat(stored_sha256: str | None, filename: str, sha256: str) -> PublishOutcome | None:
    """The outcome of publishing a file name the repository already has (None if it has not).

    PyPI file names are unique in a repository: the same bytes again are a no-op, other bytes
    a conflict (files are never replaced).
    """
    if stored_sha256 is None:
        return None
    if stored_sha256 == sha256:
        return PublishOutcome(filename, created=False)
    raise Conflict(f"File already exists: {filename} was uploaded before "
                   "with other content; files are never replaced",
                   resource_id=filename, resource_type="asset")


class PypiPublisher:
    """The service behind ``twine upload`` and ``packyard import``."""

    def __init__(self, registry: Registry, max_upload_bytes: int) -> None:
        self._registry = registry
        self.max_upload_bytes = max_upload_bytes

    def _authorize(self, principal: Principal, domain: Domain, repository: str,
                   normalized_name: str) -> None:
        arn = self._registry.arns.package(domain.name, repository, FORMAT, None,
                                          normalized_name)
        self._registry.authorizer.check(principal, "codeartifact:PublishPackageVersion", arn)

    def authorize_upload(self, caller: WriteCaller, form_name: str,
                         repository_for: Callable[[WriteCaller], RepositoryAccess]
                         ) -> RepositoryAccess:
        """Check the caller may publish the project an upload form's ``name`` field names,
        then find the repository (``repository_for``: NotFound only now, so a caller who may
        not publish cannot tell whether it exists).

        Called as soon as the field is read, before the file is (``form.read_upload_form``),
        so a caller who may not publish is refused without a byte stored. The file's own name
        must name the same project (``check_filename_matches_form``), and ``publish`` checks
        again on it.
        """
        name = normalize_name(check_name(form_name))
        self._authorize(caller.principal, caller.domain, caller.repository_name, name)
        access = repository_for(caller)
        # The package group's origin controls, before a byte of the file is stored.
        self._registry.check_group_allows_publishing(access.domain, access.repository, FORMAT,
                                                     "", name)
        return access

    def refuse_unnamed(self, form: UploadForm) -> NoReturn:
        """Refuse a form whose ``name`` field never came (so nothing was authorized, and its
        repository was not looked up) for what it lacks."""
        if form.staged is not None:
            self._registry.blobs.discard(form.staged)
        check_form({k: v[0] for k, v in form.fields.items() if v})
        raise Invalid("Missing 'name' field: the upload must name its project.")

    # -- one upload --------------------------------------------------------------------------

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
        # On the name the filename gives, before the archive is opened: a caller who may not
        # publish learns nothing more and costs no more work.
        self._authorize(principal, domain, repo.name, dist.normalized_name)
        inspection = inspect_distribution(staged.local_path, dist)
        validated = validate_upload(fields, dist, digests, inspection, self.max_upload_bytes)

        catalog = self._registry.catalog
        # PyPI's file names are unique in a repository, whatever project holds them.
        existing = catalog.find_assets_named(repo.id, FORMAT, [validated.filename]).get(
            validated.filename)
        repeat = _repeat(existing.sha256 if existing else None, validated.filename,
                         digests.sha256)
        if repeat is not None:
            self._registry.blobs.discard(staged)
            return repeat
        # Before the bytes are stored, so a refused file leaves nothing behind; the catalog
        # judges again in the transaction, where racing uploads meet.
        conflict = catalog.release_conflict(repo.id, FORMAT, validated.normalized_name,
                                            validated.version_key, validated.filename)
        if conflict is not None:
            raise conflict

        blobs = self._registry.blobs
        blobs.commit(staged, domain.blob_key)
        meta = (blobs.put_bytes(validated.metadata_bytes, domain.blob_key)
                if validated.serves_metadata else None)
        new = _new_file(validated, digests, meta)
        with self._registry.sweeper.recording(repo.domain_id, new.blob_sizes.keys()):
            result = catalog.publish(repo, FORMAT, "", new.name, new.display_name,
                                     new.version, new.asset, new.blob_sizes,
                                     self._registry.clock.now())
        log.info("published %s to %s/%s (%s)", validated.filename, domain.name, repo.name,
                 "new" if result.created else "identical re-upload")
        return PublishOutcome(validated.filename, result.created)

    # -- many files without a form (imports) ---------------------------------------------------

    def check_size(self, filename: str, size: int) -> None:
        """Refuse a file by its size alone, before a byte of it is copied."""
        check_size(filename, size, self.max_upload_bytes)

    def check_file(self, principal: Principal, domain: Domain, repo: Repository,
                   staged: StagedBlob, filename: str, times: PublishTimes | None = None
                   ) -> CheckedFile:
        """Run every upload check on a staged file named ``filename`` that has no form;
        dated as ``times`` (the project's ``index.json`` beside it) says, when it is of
        this file's project: the file by its upload time, its version by its earliest file's.

        The staged bytes are discarded when the file is refused (Invalid, TooLarge, Denied).
        """
        try:
            digests = staged.digests()
            dist = parse_distribution_filename(filename)
            self._authorize(principal, domain, repo.name, dist.normalized_name)
            inspection = inspect_distribution(staged.local_path, dist)
            validated = validate_file(dist, digests, inspection, self.max_upload_bytes)
        except BaseException:
            self._registry.blobs.discard(staged)
            raise
        if times is None or times.package != validated.normalized_name or (
                times.sha256.get(validated.filename, digests.sha256) != digests.sha256):
            # No document of its project, or one of other bytes under its name: now.
            return CheckedFile(validated, staged, digests)
        return CheckedFile(validated, staged, digests, times.versions.get(validated.version_key),
                           times.files.get(validated.filename))

    def publish_checked(self, domain: Domain, repo: Repository,
                        files: Sequence[CheckedFile]) -> list[PublishOutcome | PackyardError]:
        """Store checked files together: one flush of the blobs, one metadata transaction.

        Answers each file in order with its outcome, or with the error that refused it (a file
        name taken by other bytes, the package's origin controls); a refusal does not stop the
        others. The staged bytes are consumed either way. The blobs are durable before the
        transaction commits, so a crash in between leaves only unreferenced blobs.
        """
        answers: dict[int, PublishOutcome | PackyardError] = {}
        blobs = self._registry.blobs
        pending: list[tuple[int, CheckedFile, StagedBlob | None]] = []
        try:
            taken = self._registry.catalog.find_assets_named(
                repo.id, FORMAT, [f.validated.filename for f in files])
            stored = {name: asset.sha256 for name, asset in taken.items()}
            for index, checked in enumerate(files):
                filename, sha256 = checked.validated.filename, checked.digests.sha256
                answer: PublishOutcome | PackyardError | None
                try:
                    answer = _repeat(stored.get(filename), filename, sha256)
                except Conflict as conflict:
                    answer = conflict
                if answer is not None:
                    answers[index] = answer
                    blobs.discard(checked.staged)
                    continue
                stored[filename] = sha256  # the same name twice in one batch
                if not checked.validated.serves_metadata:
                    pending.append((index, checked, None))
                    continue
                meta = blobs.stage(batched=True)
                pending.append((index, checked, meta))
                meta.write(checked.validated.metadata_bytes)
                meta.digests()  # closes the file: a batch must not hold one open per file
            if pending:
                blobs.commit_many([blob for _, checked, meta in pending
                                   for blob in (checked.staged, meta) if blob is not None],
                                  domain.blob_key)
        except BaseException:
            # Whatever was committed already is unreferenced, which is harmless.
            for checked in files:
                blobs.discard(checked.staged)
            for _, _, staged_meta in pending:
                if staged_meta is not None:
                    blobs.discard(staged_meta)
            raise
        new_files = [_new_file(checked.validated, checked.digests,
                               meta.digests() if meta is not None else None,
                               checked.published, checked.uploaded)
                     for _, checked, meta in pending]
        results = self._registry.record_committed(repo, FORMAT, new_files)
        for (index, checked, _), result in zip(pending, results, strict=True):
            answers[index] = (result if isinstance(result, PackyardError)
                              else PublishOutcome(checked.validated.filename, result))
        created = sum(1 for a in answers.values() if isinstance(a, PublishOutcome) and a.created)
        log.info("published %d new of %d files to %s/%s", created, len(files), domain.name,
                 repo.name)
        return [answers[index] for index in range(len(files))]
