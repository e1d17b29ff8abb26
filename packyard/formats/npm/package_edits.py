"""What npm changes on a package besides publishing: dist-tags, deprecations, unpublish.

Each acts on what the repository itself holds (a version only its upstreams have is kept
first, by the endpoint, as a download of it would keep it), is authorized before anything is
looked up (dist-tags and deprecations as PublishPackageVersion, unpublish as
DeletePackageVersions, as CodeArtifact would for the same change through its API), and a
document write names the ``_rev`` it was based on (``GET ?write=true``), refused when the
package changed since.

``packyard import`` applies a registry document's dist-tags and deprecations through the same
two services (``import_document``): as ``npm dist-tag add`` and ``npm deprecate`` of each would,
authorized as they are, recorded (and sent to webhooks) as they are.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from packyard.auth.principal import Principal
from packyard.errors import NotFound, PackyardError
from packyard.formats.npm import attributes
from packyard.formats.npm.dist_tags import (
    effective_dist_tags,
    named_tags,
    parse_tag_body,
    tags_after_delete,
    tags_after_set,
)
from packyard.formats.npm.names import PackageName
from packyard.formats.npm.packument import (
    LISTED_STATUSES,
    StoredPackage,
    StoredVersion,
    document_revision,
    listed_versions,
)
from packyard.formats.npm.plugin import FORMAT
from packyard.formats.npm.publish import NpmPublisher, apply_tags
from packyard.formats.npm.publish_checks import (
    check_document_name,
    check_revision,
    deprecations,
    unpublished_versions,
)
from packyard.formats.npm.registry_document import RegistryDocument
from packyard.formats.npm.semver import is_valid_version, version_key
from packyard.formats.plugin import DeprecationResult, TagResult
from packyard.model import Domain, Package, PackageVersion, Repository
from packyard.services.registry import Registry

PUBLISH = "codeartifact:PublishPackageVersion"
DELETE = "codeartifact:DeletePackageVersions"


@dataclass(frozen=True)
class LocalPackage:
    """A package as the repository itself holds it (no upstream)."""

    package: Package
    versions: list[PackageVersion]
    tags: dict[str, str]  # tag -> version
    document: StoredPackage

    @property
    def revision(self) -> str:
        return document_revision(self.document)

    def listed(self) -> list[str]:
        return [v.version for v in listed_versions(self.document)]

    def version(self, text: str) -> PackageVersion | None:
        key = version_key(text)
        return next((v for v in self.versions if v.version_key == key), None)


class PackageEdits:
    """dist-tags, deprecate and unpublish on a repository's own packages (worker threads)."""

    def __init__(self, registry: Registry, publisher: NpmPublisher) -> None:
        self._registry = registry
        self._publisher = publisher

    def local(self, repo: Repository, name: PackageName) -> LocalPackage:
        """The package as ``repo`` holds it; NotFound when it holds no version of it."""
        found = self._registry.catalog.project_index(repo.id, FORMAT, name.bare, name.namespace)
        if found is None or not found[1]:
            raise NotFound(f"{name.full} is not in this registry.")
        package, versions, _ = found
        tags = named_tags(self._registry.catalog.package_tags(package.id), versions)
        stored = [StoredVersion(
            version=v.version, manifest=attributes.manifest(v.attributes), status=v.status,
            published=v.published_at, deprecated=attributes.deprecated(v.attributes),
            readme=v.readme, readme_filename=attributes.readme_filename(v.attributes))
            for v in versions]
        return LocalPackage(package, versions, tags, StoredPackage(name, stored, tags))

    def held_versions(self, repo: Repository, name: PackageName) -> set[str]:
        """The version keys of every version ``repo`` itself holds of ``name``, in any
        status (a version it does not hold is one only its upstreams have)."""
        found = self._registry.catalog.project_index(repo.id, FORMAT, name.bare, name.namespace)
        return {v.version_key for v in found[1]} if found is not None else set()

    # -- dist-tags -------------------------------------------------------------------------------

    def dist_tags(self, repo: Repository, name: PackageName) -> dict[str, str]:
        local = self.local(repo, name)
        return effective_dist_tags(local.tags, local.listed())

    def set_tag(self, principal: Principal, domain: Domain, repo: Repository,
                name: PackageName, tag: str, body: bytes) -> dict[str, str]:
        self._publisher.authorize(principal, domain, repo.name, name, PUBLISH)
        target = parse_tag_body(body)
        local = self.local(repo, name)
        version = local.version(target) if is_valid_version(target) else None
        tags = tags_after_set(local.tags, tag, version.version if version else target,
                              local.listed(), name.full)
        apply_tags(self._registry, local.package.id, local.tags, tags)
        return self.dist_tags(repo, name)

    def delete_tag(self, principal: Principal, domain: Domain, repo: Repository,
                   name: PackageName, tag: str) -> dict[str, str]:
        self._publisher.authorize(principal, domain, repo.name, name, PUBLISH)
        local = self.local(repo, name)
        tags = tags_after_delete(local.tags, tag, name.full)
        apply_tags(self._registry, local.package.id, local.tags, tags)
        return self.dist_tags(repo, name)

    # -- deprecate -------------------------------------------------------------------------------

    def deprecate(self, principal: Principal, domain: Domain, repo: Repository,
                  name: PackageName, document: Mapping[str, Any]) -> int:
        """Apply the ``deprecated`` fields of a document PUT; returns how many changed.
        (Authorized by the endpoint before the body was read.)"""
        check_document_name(document, name)
        local = self.local(repo, name)
        changes = self._deprecations(local, document)
        self._deprecate(local, changes)
        return len(changes)

    def _deprecations(self, local: LocalPackage,
                      document: Mapping[str, Any]) -> dict[str, str | None]:
        listed = {v.version: v for v in local.versions if v.status in LISTED_STATUSES}
        current = {text: attributes.deprecated(v.attributes) for text, v in listed.items()}
        return deprecations(document, current)

    def _deprecate(self, local: LocalPackage, changes: Mapping[str, str | None]) -> None:
        listed = {v.version: v for v in local.versions if v.status in LISTED_STATUSES}
        catalog = self._registry.catalog
        for text, message in changes.items():
            version = listed[text]
            catalog.update_version_attributes(
                version, attributes.with_deprecation(version.attributes, message))

    # -- a registry document (packyard import) ---------------------------------------------------

    def import_document(self, principal: Principal, domain: Domain, repo: Repository,
                        document: RegistryDocument) -> ImportedDocument:
        """Set each dist-tag of ``document`` as ``npm dist-tag add`` would and each of its
        deprecations as ``npm deprecate`` would, on the versions ``repo`` lists (the others
        are skipped, and said so); a tag or message already so is left as it is. Every change
        is decided before the first is written: a tag refused (a name npm would not send) is
        skipped, never half-applied."""
        name = document.name
        self._publisher.authorize(principal, domain, repo.name, name, PUBLISH)
        done = ImportedDocument()
        try:
            local = self.local(repo, name)
        except NotFound:
            missing = f"{name.full} is not in the repository"
            done.tags_skipped.extend(TagResult(tag, version, missing)
                                     for tag, version in document.dist_tags.items())
            done.deprecations_skipped.extend(DeprecationResult(version, message, missing)
                                             for version, message in
                                             document.deprecations.items())
            return done
        listed = local.listed()
        effective = effective_dist_tags(local.tags, listed)
        tags = dict(local.tags)
        for tag, wanted in document.dist_tags.items():
            held = local.version(wanted) if is_valid_version(wanted) else None
            if held is None or held.version not in listed:
                done.tags_skipped.append(TagResult(tag, wanted, _not_listed(name, wanted, held)))
                continue
            if effective.get(tag) == held.version:
                done.tags_present.append(TagResult(tag, held.version))
                continue
            try:
                tags = tags_after_set(tags, tag, held.version, listed, name.full)
            except PackyardError as refused:
                done.tags_skipped.append(TagResult(tag, wanted, refused.message))
                continue
            done.tags_set.append(TagResult(tag, held.version))
        wanted_messages: dict[str, str] = {}
        for version, message in document.deprecations.items():
            held = local.version(version) if is_valid_version(version) else None
            if held is None or held.version not in listed:
                done.deprecations_skipped.append(DeprecationResult(
                    version, message, _not_listed(name, version, held)))
                continue
            wanted_messages[held.version] = message
        changes = self._deprecations(local, {"versions": {
            version: {"deprecated": message} for version, message in wanted_messages.items()}})
        for version, message in wanted_messages.items():
            (done.deprecations_set if version in changes else done.deprecations_present
             ).append(DeprecationResult(version, message))
        apply_tags(self._registry, local.package.id, local.tags, tags)
        self._deprecate(local, changes)
        return done

    # -- unpublish -------------------------------------------------------------------------------

    def unpublish_versions(self, domain: Domain, repo: Repository, name: PackageName,
                           rev: str, document: Mapping[str, Any]) -> list[str]:
        """``PUT /<name>/-rev/<rev>``: remove the versions the document leaves out.
        (Authorized as DeletePackageVersions by the endpoint before the body was read.)"""
        check_document_name(document, name)
        local = self.local(repo, name)
        check_revision(rev, local.revision, name.full)
        removed = unpublished_versions(document, local.listed())
        self._delete(domain, local, removed)
        return removed

    def unpublish_tarball(self, principal: Principal, domain: Domain, repo: Repository,
                          name: PackageName, version: str, rev: str) -> bool:
        """``DELETE /<name>/-/<file>/-rev/<rev>``: the version goes; False when it was gone
        already (npm's PUT before it removed it)."""
        self._publisher.authorize(principal, domain, repo.name, name, DELETE)
        try:
            local = self.local(repo, name)
        except NotFound:
            return False
        held = local.version(version) if is_valid_version(version) else None
        if held is None:
            return False
        check_revision(rev, local.revision, name.full)
        self._delete(domain, local, [held.version])
        return True

    def unpublish_package(self, principal: Principal, domain: Domain, repo: Repository,
                          name: PackageName, rev: str) -> list[str]:
        """``DELETE /<name>/-rev/<rev>``: every version goes."""
        self._publisher.authorize(principal, domain, repo.name, name, DELETE)
        local = self.local(repo, name)
        check_revision(rev, local.revision, name.full)
        removed = [v.version for v in local.versions]
        self._delete(domain, local, removed)
        return removed

    def _delete(self, domain: Domain, local: LocalPackage, versions: list[str]) -> None:
        keys = [v.version_key for v in local.versions if v.version in set(versions)]
        for sha256 in self._registry.catalog.delete_versions(local.package.id, keys):
            self._registry.blobs.delete(domain.blob_key, sha256)


@dataclass
class ImportedDocument:
    """What ``import_document`` made of a registry document's dist-tags and deprecations."""

    tags_set: list[TagResult] = field(default_factory=list)
    tags_present: list[TagResult] = field(default_factory=list)
    tags_skipped: list[TagResult] = field(default_factory=list)
    deprecations_set: list[DeprecationResult] = field(default_factory=list)
    deprecations_present: list[DeprecationResult] = field(default_factory=list)
    deprecations_skipped: list[DeprecationResult] = field(default_factory=list)


def _not_listed(name: PackageName, version: str, held: PackageVersion | None) -> str:
    if held is None:
        return f"{name.full}@{version} is not in the repository"
    return f"{name.full}@{held.version} is {held.status} in the repository, not listed"
