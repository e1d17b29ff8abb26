"""The package version lifecycle: UpdatePackageVersionsStatus, DisposePackageVersions,
DeletePackageVersions, DeletePackage and CopyPackageVersions, for every format.

Each call checks the request's shape, authorizes before anything is looked up, and hands the
catalog one transaction whose decision is CodeArtifact's table for the operation
(``packyard.lifecycle.version_changes``). Blobs the change frees are swept right after the
commit (``BlobSweeper``). Package pages, packuments, the JSON API and the hot path's caches
follow from the catalog's change counter: they are rendered from the catalog again on the next
read, in every worker process of the data directory.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from packyard.auth.principal import Principal
from packyard.errors import Invalid
from packyard.lifecycle.version_changes import (
    CopyDestination,
    CopySource,
    Plan,
    check_target_status,
    plan_copy,
    plan_delete,
    plan_dispose,
    plan_status_update,
    requested_versions,
)
from packyard.metadata.catalog import VersionChanges
from packyard.metadata.version_lifecycle import StatusDecision
from packyard.model import Domain, Package, Repository
from packyard.services.blob_sweeper import BlobSweeper
from packyard.services.registry import Registry
from packyard.upstream.graph import search_steps


@dataclass(frozen=True)
class PackageRef:
    """The package an operation names, as the request spells it."""

    domain: str
    repository: str
    format: str
    namespace: str | None
    package: str
    domain_owner: str | None = None


class VersionLifecycle:
    """The lifecycle operations on the registry's catalog."""

    def __init__(self, registry: Registry, sweeper: BlobSweeper) -> None:
        self._registry = registry
        self._sweeper = sweeper

    # -- one repository's versions ---------------------------------------------------------------

    def update_status(self, principal: Principal, ref: PackageRef, versions: Sequence[str],
                      target_status: str, *, expected_status: str | None = None,
                      revisions: Mapping[str, str] | None = None) -> VersionChanges:
        names, expected = requested_versions(versions, revisions)
        check_target_status(target_status)
        decide = functools.partial(plan_status_update, names, target_status=target_status,
                                   expected_status=expected_status, revisions=expected)
        return self._change(principal, "codeartifact:UpdatePackageVersionsStatus", ref, names,
                            decide)

    def dispose(self, principal: Principal, ref: PackageRef, versions: Sequence[str], *,
                expected_status: str | None = None,
                revisions: Mapping[str, str] | None = None) -> VersionChanges:
        names, expected = requested_versions(versions, revisions)
        decide = functools.partial(plan_dispose, names, expected_status=expected_status,
                                   revisions=expected)
        return self._change(principal, "codeartifact:DisposePackageVersions", ref, names,
                            decide)

    def delete_versions(self, principal: Principal, ref: PackageRef, versions: Sequence[str], *,
                        expected_status: str | None = None) -> VersionChanges:
        names, _ = requested_versions(versions, None)
        decide = functools.partial(plan_delete, names, expected_status=expected_status)
        return self._change(principal, "codeartifact:DeletePackageVersions", ref, names, decide)

    def delete_package(self, principal: Principal, ref: PackageRef) -> Package:
        """The package with its versions and origin configuration; returns it as it was."""
        _, _, package = self._find(principal, "codeartifact:DeletePackage", ref)
        deleted, freed = self._registry.catalog.delete_package(package,
                                                               self._registry.clock.now())
        if freed:
            self._sweeper.sweep()
        return deleted

    def _find(self, principal: Principal, action: str, ref: PackageRef
              ) -> tuple[Domain, Repository, Package]:
        return self._registry.find_package(principal, action, ref.domain, ref.repository,
                                           ref.format, ref.namespace, ref.package,
                                           ref.domain_owner)

    def _change(self, principal: Principal, action: str, ref: PackageRef, names: list[str],
                decide: StatusDecision) -> VersionChanges:
        _, _, package = self._find(principal, action, ref)
        rules = self._registry.formats.get(ref.format)
        keys = {name: rules.normalize_version(name) for name in names}
        changes = self._registry.catalog.change_versions(package, keys, decide,
                                                         self._registry.clock.now())
        if changes.freed:
            self._sweeper.sweep()
        return changes

    # -- between repositories ----------------------------------------------------------------

    def copy(self, principal: Principal, *, domain: str, source_repository: str,
             destination_repository: str, format: str, namespace: str | None, package: str,
             versions: Sequence[str] | None, version_revisions: Mapping[str, str] | None,
             allow_overwrite: bool = False, include_from_upstream: bool = False,
             domain_owner: str | None = None) -> VersionChanges:
        """Copy versions from one repository of a domain to another (CodeArtifact's promotion
        between repositories): read access to the source, CopyPackageVersions on the
        destination's package; the bytes are shared, nothing is copied but records."""
        names, revisions = requested_versions(versions, version_revisions, copy=True)
        if source_repository == destination_repository:
            raise Invalid("The source and destination repositories must be different: "
                          f"both are {source_repository}")
        registry = self._registry
        rules = registry.formats.get(format)
        name = rules.normalize_name(package)
        namespace = rules.normalize_namespace(namespace)  # the ARN names it as it is kept
        registry.authorizer.check(principal, "codeartifact:ReadFromRepository",
                                  registry.arns.repository(domain, source_repository))
        registry.authorizer.check(principal, "codeartifact:CopyPackageVersions",
                                  registry.arns.package(domain, destination_repository, format,
                                                        namespace, name))
        found_domain, source = registry.get_repository(domain, source_repository, domain_owner)
        _, destination = registry.get_repository(domain, destination_repository, domain_owner)
        sources = [source.id]
        if include_from_upstream:
            # The source's upstream repositories, in its search order (their external
            # connections hold nothing until a file is pulled through, and then a repository
            # keeps it).
            graph = registry.catalog.domain_graph(found_domain.id)
            sources = [step.repository_id for step in search_steps(
                source.id, graph.upstreams, {}, lambda _repository: True)]

        def decide(offered: Mapping[str, CopySource | None],
                   held: Mapping[str, CopyDestination | None], refusal: str | None) -> Plan:
            return plan_copy(names, offered, held, revisions=revisions,
                             allow_overwrite=allow_overwrite,
                             include_from_upstream=include_from_upstream,
                             publish_refusal=refusal)

        changes = registry.catalog.copy_versions(
            sources, destination, format, namespace, name,
            {v: rules.normalize_version(v) for v in names}, decide, registry.clock.now())
        if changes.freed:
            self._sweeper.sweep()
        return changes
