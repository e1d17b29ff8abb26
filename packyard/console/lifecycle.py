"""The console's version lifecycle actions: dispose, delete and copy a version to another
repository, and delete a package.

Each goes through ``VersionLifecycle``, the service behind DisposePackageVersions,
DeletePackageVersions, CopyPackageVersions and DeletePackage, which authorizes the signed-in
principal exactly as for the API; ``may`` only decides which buttons to offer. Dispose and
delete send the status the page showed as ``expectedStatus``, so a version changed since the
page was drawn is refused (MISMATCHED_STATUS) instead of changed blindly.
"""

from __future__ import annotations

from dataclasses import dataclass

from packyard.auth.principal import Principal
from packyard.console.services import ConsoleServices, section
from packyard.errors import Invalid
from packyard.lifecycle.version_changes import COPYABLE, Status
from packyard.metadata.version_lifecycle import VersionChanges
from packyard.model import Package, PackageVersion
from packyard.services.version_lifecycle import PackageRef, VersionLifecycle


@dataclass(frozen=True)
class VersionActions:
    """The lifecycle actions a version's page offers the principal."""

    can_dispose: bool
    can_delete: bool
    # The repositories of the domain it may copy the version into (none when it may not read
    # this one, or the version's assets are gone).
    copy_targets: list[str]


def _service(c: ConsoleServices) -> VersionLifecycle:
    return VersionLifecycle(c.registry, c.registry.sweeper)


def version_actions(c: ConsoleServices, p: Principal, domain: str, repo: str, pkg: Package,
                    version: PackageVersion) -> VersionActions:
    arns = c.registry.arns
    arn = arns.package(domain, repo, pkg.format, pkg.namespace, pkg.name)
    targets: list[str] = []
    if version.status in COPYABLE and c.may(p, "codeartifact:ReadFromRepository",
                                            arns.repository(domain, repo)):
        listed = section(lambda: c.registry.list_repositories(p, domain_name=domain))
        targets = sorted(
            r.name for r in listed.value or [] if r.name != repo and c.may(
                p, "codeartifact:CopyPackageVersions",
                arns.package(domain, r.name, pkg.format, pkg.namespace, pkg.name)))
    return VersionActions(
        version.status != Status.DISPOSED and c.may(p, "codeartifact:DisposePackageVersions",
                                                    arn),
        c.may(p, "codeartifact:DeletePackageVersions", arn), targets)


def may_delete_package(c: ConsoleServices, p: Principal, domain: str, repo: str,
                       pkg: Package) -> bool:
    return c.may(p, "codeartifact:DeletePackage",
                 c.registry.arns.package(domain, repo, pkg.format, pkg.namespace, pkg.name))


def _refuse_failed(changes: VersionChanges) -> None:
    """A version the operation did not change: its error, as the API reports it."""
    failed = changes.plan.failed_versions()
    if failed:
        error = next(iter(failed.values()))
        raise Invalid(f"{error['errorMessage']} ({error['errorCode']}); reload the page to see "
                      "the version as it is now")


def dispose_version(c: ConsoleServices, p: Principal, domain: str, repo: str, fmt: str,
                    namespace: str | None, name: str, version: str, expected: str) -> None:
    """DisposePackageVersions for one version: its assets are deleted, its record kept."""
    _refuse_failed(_service(c).dispose(p, PackageRef(domain, repo, fmt, namespace, name),
                                       [version], expected_status=expected or None))


def delete_version(c: ConsoleServices, p: Principal, domain: str, repo: str, fmt: str,
                   namespace: str | None, name: str, version: str, expected: str) -> None:
    """DeletePackageVersions for one version: gone, and may be published again."""
    _refuse_failed(_service(c).delete_versions(
        p, PackageRef(domain, repo, fmt, namespace, name), [version],
        expected_status=expected or None))


def copy_version(c: ConsoleServices, p: Principal, domain: str, repo: str, fmt: str,
                 namespace: str | None, name: str, version: str, destination: str,
                 allow_overwrite: bool) -> None:
    """CopyPackageVersions of one version into another repository of the domain."""
    if not destination:
        raise Invalid("Choose the repository to copy the version to")
    _refuse_failed(_service(c).copy(
        p, domain=domain, source_repository=repo, destination_repository=destination,
        format=fmt, namespace=namespace, package=name, versions=[version],
        version_revisions=None, allow_overwrite=allow_overwrite))


def delete_package(c: ConsoleServices, p: Principal, domain: str, repo: str, fmt: str,
                   namespace: str | None, name: str) -> None:
    """DeletePackage: the package, every version and its origin configuration."""
    _service(c).delete_package(p, PackageRef(domain, repo, fmt, namespace, name))
