"""Which versions a lifecycle operation changes, and CodeArtifact's error for each of the others.

Sources: botocore's ``codeartifact`` model (PackageVersionStatus; PackageVersionErrorCode
``ALREADY_EXISTS``, ``MISMATCHED_REVISION``, ``MISMATCHED_STATUS``, ``NOT_ALLOWED``,
``NOT_FOUND``, ``SKIPPED``; which operation takes ``expectedStatus``, ``versionRevisions``,
``allowOverwrite``, ``includeFromUpstream``) and the CodeArtifact User Guide:

- "Update package version status": the target is Published, Unlisted or Archived (never back to
  Unfinished; Disposed has its own operation). ``expectedStatus`` and ``versionRevisions`` fail
  a version with ``MISMATCHED_STATUS`` ("current status: Published, expected status: Unlisted")
  and ``MISMATCHED_REVISION`` ("current revision: ..., expected revision: ..."), and "if one or
  more versions cannot have their status changed, all other versions will be skipped"
  (``SKIPPED``, "version 4.0.0 is skipped"). DisposePackageVersions "is similar", and a
  disposed version can only be deleted ("Packages overview": it cannot go back to Archived,
  Unlisted or Published).
- "Copy packages between repositories": a version missing from the source is ``NOT_FOUND``
  ("Could not find version 5.6.7") and the others ``SKIPPED`` ("Version 0.2.0 was skipped"); a
  version already in the destination with the same assets and metadata is a success left out of
  the answer ("copy-package-versions is idempotent"); with other contents it is
  ``ALREADY_EXISTS`` ("Version 0.3.2 already exists") unless ``allowOverwrite``; versions or
  version revisions, not both.
- "Delete a package version": a deleted version is gone and may be published again.

Choices where CodeArtifact documents nothing, each kept in one place below: DeletePackageVersions
is all-or-nothing like the others; ``expectedStatus`` is checked before revisions (a status
change always makes a new revision, so the status is the more telling mismatch); a version
already in the requested state succeeds without a change; a Disposed version cannot change
status (an Unfinished one can: PublishPackageVersion's reference finishes a version "or set the
status using UpdatePackageVersionStatus"), and neither can be copied (``NOT_ALLOWED``); Archived versions can be
copied (their assets are kept) and keep their status; a copy is a publish into the destination,
so the destination's origin controls for publishing apply (``NOT_ALLOWED`` with their reason);
``versionRevisions`` may name only versions in ``versions``.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from packyard.errors import Invalid


class Status(enum.StrEnum):
    """PackageVersionStatus."""

    PUBLISHED = "Published"
    UNFINISHED = "Unfinished"
    UNLISTED = "Unlisted"
    ARCHIVED = "Archived"
    DISPOSED = "Disposed"
    DELETED = "Deleted"


class ErrorCode(enum.StrEnum):
    """PackageVersionErrorCode."""

    ALREADY_EXISTS = "ALREADY_EXISTS"
    MISMATCHED_REVISION = "MISMATCHED_REVISION"
    MISMATCHED_STATUS = "MISMATCHED_STATUS"
    NOT_ALLOWED = "NOT_ALLOWED"
    NOT_FOUND = "NOT_FOUND"
    SKIPPED = "SKIPPED"


STATUS_TARGETS: Final = (Status.PUBLISHED, Status.UNLISTED, Status.ARCHIVED)
"""The statuses UpdatePackageVersionsStatus may set."""

COPYABLE: Final = frozenset({Status.PUBLISHED, Status.UNLISTED, Status.ARCHIVED})
"""Source statuses a copy takes: the versions whose assets the repository holds."""


@dataclass(frozen=True)
class VersionState:
    """A version's current status and revision in one repository."""

    status: str
    revision: str


@dataclass(frozen=True)
class CopySource:
    """A version as the copy's source offers it. ``content`` identifies its assets and
    version-level metadata (equal contents are identical versions); ``from_upstream`` is true
    when only an upstream of the source repository holds it."""

    status: str
    revision: str
    content: str
    from_upstream: bool = False


@dataclass(frozen=True)
class CopyDestination:
    """The same version in the destination repository."""

    status: str
    content: str


@dataclass(frozen=True)
class VersionError:
    """One ``failedVersions`` entry."""

    code: ErrorCode
    message: str

    def to_api(self) -> dict[str, str]:
        return {"errorCode": self.code.value, "errorMessage": self.message}


@dataclass(frozen=True)
class Plan:
    """What an operation does to each requested version.

    ``changes``: the versions to write, each with the status it ends with. ``unchanged``: versions
    already in the requested state, successful with nothing to write (the caller reports their
    current status and revision). ``omitted``: copies already identical in the destination,
    successful and left out of the answer. ``failed``: the ``failedVersions`` entries. A plan
    with failures changes nothing.
    """

    changes: dict[str, Status] = field(default_factory=dict)
    unchanged: dict[str, VersionState] = field(default_factory=dict)
    omitted: tuple[str, ...] = ()
    failed: dict[str, VersionError] = field(default_factory=dict)

    def failed_versions(self) -> dict[str, dict[str, str]]:
        """``failedVersions`` as the API answers it."""
        return {version: error.to_api() for version, error in self.failed.items()}


# ---------------------------------------------------------------------------------------------
# The request as a whole


def requested_versions(versions: Sequence[str] | None,
                       version_revisions: Mapping[str, str] | None, *,
                       copy: bool = False) -> tuple[list[str], dict[str, str]]:
    """The versions a request names, once each in request order, and the revisions it expects.

    CopyPackageVersions takes ``versions`` or ``versionRevisions``, not both; the status
    operations take ``versions`` and may add ``versionRevisions`` for some of them.
    """
    revisions = dict(version_revisions or {})
    if copy:
        if (versions is None) == (version_revisions is None):
            raise Invalid("You must specify versions or versionRevisions. You cannot specify "
                          "both.")
        names = list(versions) if versions is not None else list(revisions)
    else:
        names = list(versions or [])
        for version in revisions:
            if version not in names:
                raise Invalid(f"versionRevisions names version {version}, which is not in "
                              "versions: give every version in versions too")
    if not names:
        raise Invalid("Name at least one package version")
    return list(dict.fromkeys(names)), revisions


def check_target_status(target: str) -> Status:
    """UpdatePackageVersionsStatus's ``targetStatus``: Published, Unlisted or Archived."""
    if target == Status.DISPOSED:
        raise Invalid("targetStatus cannot be Disposed: dispose of versions with "
                      "DisposePackageVersions")
    if target == Status.DELETED:
        raise Invalid("targetStatus cannot be Deleted: delete versions with "
                      "DeletePackageVersions")
    if target == Status.UNFINISHED:
        raise Invalid("targetStatus cannot be Unfinished: a published version cannot become "
                      "unfinished again")
    if target not in STATUS_TARGETS:
        raise Invalid(f"targetStatus must be Published, Unlisted or Archived, not {target}")
    return Status(target)


# ---------------------------------------------------------------------------------------------
# Each operation's decision table


def plan_status_update(versions: Sequence[str], current: Mapping[str, VersionState | None], *,
                       target_status: str, expected_status: str | None = None,
                       revisions: Mapping[str, str] | None = None) -> Plan:
    """UpdatePackageVersionsStatus. ``current`` maps each requested version to its state in the
    repository (None when the repository does not have it)."""
    target = check_target_status(target_status)
    changes: dict[str, Status] = {}
    unchanged: dict[str, VersionState] = {}
    failed: dict[str, VersionError] = {}
    for version in versions:
        state = current.get(version)
        error = _state_error(version, state, expected_status, revisions)
        if error is None and state is not None:
            error = _changeable(version, state)
        if error is not None:
            failed[version] = error
        elif state is not None and state.status == target:
            unchanged[version] = state
        else:
            changes[version] = target
    return _all_or_nothing(Plan(changes, unchanged, (), failed), versions, _skipped)


def plan_dispose(versions: Sequence[str], current: Mapping[str, VersionState | None], *,
                 expected_status: str | None = None,
                 revisions: Mapping[str, str] | None = None) -> Plan:
    """DisposePackageVersions: any version the repository has becomes Disposed (its assets go);
    one already disposed succeeds unchanged."""
    changes: dict[str, Status] = {}
    unchanged: dict[str, VersionState] = {}
    failed: dict[str, VersionError] = {}
    for version in versions:
        state = current.get(version)
        error = _state_error(version, state, expected_status, revisions)
        if error is not None:
            failed[version] = error
        elif state is not None and state.status == Status.DISPOSED:
            unchanged[version] = state
        else:
            changes[version] = Status.DISPOSED
    return _all_or_nothing(Plan(changes, unchanged, (), failed), versions, _skipped)


def plan_delete(versions: Sequence[str], current: Mapping[str, VersionState | None], *,
                expected_status: str | None = None) -> Plan:
    """DeletePackageVersions: any version the repository has, whatever its status, is deleted."""
    changes: dict[str, Status] = {}
    failed: dict[str, VersionError] = {}
    for version in versions:
        error = _state_error(version, current.get(version), expected_status, None)
        if error is not None:
            failed[version] = error
        else:
            changes[version] = Status.DELETED
    return _all_or_nothing(Plan(changes, {}, (), failed), versions, _skipped)


def plan_copy(versions: Sequence[str], source: Mapping[str, CopySource | None],
              destination: Mapping[str, CopyDestination | None], *,
              revisions: Mapping[str, str] | None = None, allow_overwrite: bool = False,
              include_from_upstream: bool = False,
              publish_refusal: str | None = None) -> Plan:
    """CopyPackageVersions. ``source`` maps each version to what the source repository (or, when
    the caller looked there too, its upstreams) offers; ``destination`` to the destination's
    copy. ``publish_refusal`` is the reason the destination's origin controls refuse publishing
    this package (``package_groups.origin_controls.origin_decision``), None when they allow it.
    A copied version keeps the source's status."""
    changes: dict[str, Status] = {}
    omitted: list[str] = []
    failed: dict[str, VersionError] = {}
    for version in versions:
        offered = source.get(version)
        if offered is not None and offered.status == Status.DELETED:
            offered = None
        error: VersionError | None = None
        if offered is None or (offered.from_upstream and not include_from_upstream):
            error = VersionError(ErrorCode.NOT_FOUND, f"Could not find version {version}")
        elif revisions and version in revisions and revisions[version] != offered.revision:
            error = _revision_mismatch(offered.revision, revisions[version])
        elif offered.status not in COPYABLE:
            error = VersionError(ErrorCode.NOT_ALLOWED, _not_copyable(version, offered.status))
        elif publish_refusal is not None:
            error = VersionError(ErrorCode.NOT_ALLOWED,
                                 f"Version {version} cannot be copied: {publish_refusal}")
        if error is not None:
            failed[version] = error
            continue
        assert offered is not None
        present = destination.get(version)
        if present is not None and present.status == Status.DELETED:
            present = None
        if present is None or (allow_overwrite and present.content != offered.content):
            changes[version] = Status(offered.status)
        elif present.content == offered.content:
            omitted.append(version)
        else:
            failed[version] = VersionError(ErrorCode.ALREADY_EXISTS,
                                           f"Version {version} already exists")
    return _all_or_nothing(Plan(changes, {}, tuple(omitted), failed), versions,
                           lambda v: f"Version {v} was skipped")


# ---------------------------------------------------------------------------------------------
# Shared checks


def _state_error(version: str, state: VersionState | None, expected_status: str | None,
                 revisions: Mapping[str, str] | None) -> VersionError | None:
    if state is None or state.status == Status.DELETED:
        return VersionError(ErrorCode.NOT_FOUND, f"Could not find version {version}")
    if expected_status is not None and state.status != expected_status:
        return VersionError(ErrorCode.MISMATCHED_STATUS,
                            f"current status: {state.status}, expected status: "
                            f"{expected_status}")
    if revisions and version in revisions and revisions[version] != state.revision:
        return _revision_mismatch(state.revision, revisions[version])
    return None


def _revision_mismatch(current: str, expected: str) -> VersionError:
    return VersionError(ErrorCode.MISMATCHED_REVISION,
                        f"current revision: {current}, expected revision: {expected}")


def _changeable(version: str, state: VersionState) -> VersionError | None:
    if state.status == Status.DISPOSED:
        return VersionError(ErrorCode.NOT_ALLOWED,
                            f"Version {version} is Disposed: its assets are deleted, so its "
                            "status cannot change; it can only be deleted")
    # An Unfinished version may be given any status: "To set the package version's status to
    # Published, omit the unfinished flag when uploading the final asset, or set the status
    # using UpdatePackageVersionStatus" (PublishPackageVersion, CodeArtifact API Reference).
    return None


def _not_copyable(version: str, status: str) -> str:
    if status == Status.DISPOSED:
        return f"Version {version} is Disposed: its assets are deleted, so it cannot be copied"
    return (f"Version {version} is {status}: only Published, Unlisted and Archived versions "
            "can be copied")


def _skipped(version: str) -> str:
    return f"version {version} is skipped"


def _all_or_nothing(plan: Plan, versions: Sequence[str], skipped: Callable[[str], str]) -> Plan:
    """When any version fails, every other one is SKIPPED and nothing changes."""
    if not plan.failed:
        return plan
    failed = {version: plan.failed.get(version) or VersionError(ErrorCode.SKIPPED,
                                                                skipped(version))
              for version in versions}
    return Plan(failed=failed)
