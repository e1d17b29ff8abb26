"""The pages that browse what is published: domains, repositories, packages, versions.

Each function gathers one page for one principal from the services (every read authorized
there) and returns what its template shows; the handlers in ``routes.py`` only parse, call
one of these and render.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from packyard.auth.principal import Principal
from packyard.console.graph import Graph, Links, layout
from packyard.console.groups import (
    GroupRow,
    PackageGroupOf,
    domain_groups,
    may_create_group,
    package_group_of,
)
from packyard.console.instructions import BY_FORMAT, ClientInstructions, Target
from packyard.console.lifecycle import VersionActions, may_delete_package, version_actions
from packyard.console.readme import RenderedReadme
from packyard.console.services import ConsoleServices, Section, section
from packyard.console.tags import TagsView, tags_view
from packyard.errors import Denied, Invalid
from packyard.formats.registry import DependencyTexts, dependency_records
from packyard.http import console_paths as paths
from packyard.iam.records import ResourcePolicy
from packyard.model import Asset, Domain, Package, PackageVersion, Repository
from packyard.services.registry import VersionRef
from packyard.services.version_lifecycle import PackageRef, VersionLifecycle

PAGE_SIZE = 100
STATUSES = ("Published", "Unlisted", "Archived", "Disposed", "Unfinished")


@dataclass(frozen=True)
class DomainPage:
    domain: Domain
    repositories: Section[list[Repository]]
    policy: Section[ResourcePolicy]
    can_edit_policy: bool
    can_create_repository: bool
    groups: Section[list[GroupRow]]
    can_create_group: bool
    tags: TagsView = field(default_factory=TagsView)


def domains(c: ConsoleServices, p: Principal) -> list[Domain]:
    return c.registry.list_domains(p)


def domain_page(c: ConsoleServices, p: Principal, name: str) -> DomainPage:
    domain = c.registry.describe_domain(p, name)
    arn = c.registry.arns.domain(name)
    return DomainPage(
        domain,
        section(lambda: c.registry.list_repositories(p, domain_name=name)),
        section(lambda: c.permissions.get_domain_policy(p, name, None)),
        c.may(p, "codeartifact:PutDomainPermissionsPolicy", arn),
        c.may(p, "codeartifact:CreateRepository", c.registry.arns.repository(name, "*")),
        domain_groups(c, p, name), may_create_group(c, p, name), tags_view(c, p, arn))


@dataclass(frozen=True)
class PackageFilter:
    format: str = ""
    namespace: str = ""
    prefix: str = ""
    status: str = ""
    page: int = 1

    def check(self, formats: Sequence[str]) -> None:
        if self.format and self.format not in formats:
            raise Invalid(f"Unknown format {self.format!r}")
        if self.status and self.status not in STATUSES:
            raise Invalid(f"Unknown status {self.status!r}")
        if self.page < 1:
            raise Invalid("page must be 1 or more")


@dataclass(frozen=True)
class PackageRow:
    package: Package
    href: str
    statuses: tuple[str, ...] = ()


@dataclass(frozen=True)
class RepositoryPage:
    domain: str
    repository: Repository
    upstreams: list[str]
    external_connections: list[str]
    graph: Graph
    packages: Section[list[PackageRow]]
    filter: PackageFilter
    formats: list[str]
    more_pages: bool
    policy: Section[ResourcePolicy]
    can_edit_policy: bool
    can_get_token: bool
    instructions: list[ClientInstructions]
    endpoints: dict[str, Section[str]]
    token: str | None = None
    token_expires: Any = None
    warnings: list[str] = field(default_factory=list)
    tags: TagsView = field(default_factory=TagsView)


def _links(c: ConsoleServices, p: Principal, domain: str, start: Repository,
           name: str) -> Links | None:
    if name == start.name:
        repo = start
    else:
        try:
            repo = c.registry.describe_repository(p, domain, name)
        except Denied:
            return None
    links = c.registry.repository_links(repo)
    return Links(links.upstreams, [x.name for x in links.external_connections])


def _listed(c: ConsoleServices, p: Principal, domain: str, repo: str, f: PackageFilter,
            formats: Sequence[str]) -> list[Package]:
    """ListPackages with the filter: ``namespace`` and ``prefix`` are prefixes, each as the
    format spells it (npm's scope ``@acme`` is the namespace ``acme``)."""
    if f.format or not f.namespace:
        return c.registry.list_packages(p, domain, repo, f.format or None, f.namespace or None,
                                        f.prefix or None, version_status=f.status or None)[1]
    # A namespace alone: ListPackages without a format would compare it as typed, so the
    # scope "@acme" found nothing. Each format is asked with its own spelling, merged in
    # the list's order (name, then id); a format in which it cannot be a namespace has none.
    found: list[Package] = []
    for fmt in formats:
        try:
            found += c.registry.list_packages(p, domain, repo, fmt, f.namespace,
                                              f.prefix or None,
                                              version_status=f.status or None)[1]
        except Invalid:
            continue
    return sorted(found, key=lambda pkg: (pkg.name, pkg.id))


def _packages(c: ConsoleServices, p: Principal, domain: str, repo: str,
              f: PackageFilter, formats: Sequence[str]) -> tuple[list[PackageRow], bool]:
    # The status filter is one query, then only packages whose versions the principal may
    # list (reading a version's status is ListPackageVersions), so that no page lists a
    # package the API would not show with that status.
    found = _listed(c, p, domain, repo, f, formats)
    if f.status:
        found = [pkg for pkg in found if c.may(
            p, "codeartifact:ListPackageVersions",
            c.registry.arns.package(domain, repo, pkg.format, pkg.namespace, pkg.name))]
    start = (f.page - 1) * PAGE_SIZE
    rows = [PackageRow(pkg, paths.package_path(domain, repo, pkg.format, pkg.namespace,
                                               pkg.name))
            for pkg in found[start:start + PAGE_SIZE]]
    return rows, len(found) > start + PAGE_SIZE


def repository_page(c: ConsoleServices, p: Principal, domain: str, name: str,
                    f: PackageFilter, base_url: str, token: tuple[str, Any] | None = None
                    ) -> RepositoryPage:
    formats = [rules.name for rules in c.registry.formats]
    f.check(formats)
    repo = c.registry.describe_repository(p, domain, name)
    links = c.registry.repository_links(repo)
    graph = layout(name, lambda n: _links(c, p, domain, repo, n),
                   lambda n: paths.repository_path(domain, n))
    listed = section(lambda: _packages(c, p, domain, name, f, formats))
    rows, more = listed.value if listed.value else ([], False)
    endpoints: dict[str, Section[str]] = {}
    instructions: list[ClientInstructions] = []
    target = Target(base_url, domain, repo.domain_owner, name)
    for fmt in formats:
        endpoint = section(lambda fmt=fmt: c.registry.get_repository_endpoint(  # type: ignore[misc]
            p, domain, name, fmt, base_url))
        endpoints[fmt] = endpoint
        build = BY_FORMAT.get(fmt)
        if endpoint.value is not None and build is not None:
            instructions += build(target, endpoint.value, token[0] if token else None)
    return RepositoryPage(
        domain, repo, list(links.upstreams), [x.name for x in links.external_connections],
        graph, Section(rows, listed.denied, listed.missing), f, formats, more,
        section(lambda: c.permissions.get_repository_policy(p, domain, name, None)),
        c.may(p, "codeartifact:PutRepositoryPermissionsPolicy",
              c.registry.arns.repository(domain, name)),
        c.registry.may_get_authorization_token(p, domain),
        instructions, endpoints,
        token=token[0] if token else None, token_expires=token[1] if token else None,
        tags=tags_view(c, p, c.registry.arns.repository(domain, name)))


def mint_token(c: ConsoleServices, p: Principal, domain: str) -> tuple[str, Any]:
    """A token for the signed-in principal, as ``get-authorization-token`` mints it."""
    issued = c.registry.get_authorization_token(p, domain, None)
    return issued.token, issued.expires_at


@dataclass(frozen=True)
class VersionRow:
    version: PackageVersion
    origin: str
    href: str


@dataclass(frozen=True)
class PackagePage:
    domain: str
    repository: str
    package: Package
    versions: list[VersionRow]
    latest: str | None
    can_set_origin: bool
    can_delete: bool
    group: Section[PackageGroupOf] = field(default_factory=Section)
    # This page's path, quoted: forms post under it (the request's path is decoded, and a
    # generic package's name or version may hold "%2F").
    href: str = ""


def _origin_text(c: ConsoleServices, versions: Sequence[PackageVersion]) -> dict[int, str]:
    origins = c.registry.version_origins(versions)
    out: dict[int, str] = {}
    for v in versions:
        found = origins.get(v.id)
        if found is None or found.origin_type == "UNKNOWN":
            out[v.id] = "unknown"
        elif found.external_connection:
            out[v.id] = f"{found.origin_type.lower()}, from {found.external_connection}"
        else:
            out[v.id] = f"{found.origin_type.lower()}, published to {found.repository_name}"
    return out


def package_page(c: ConsoleServices, p: Principal, domain: str, repo: str, fmt: str,
                 namespace: str | None, name: str) -> PackagePage:
    pkg, versions = c.registry.list_package_versions(p, domain, repo, fmt, namespace, name)
    origins = _origin_text(c, versions)
    rows = [VersionRow(v, origins[v.id], paths.version_path(domain, repo, pkg.format,
                                                             pkg.namespace, pkg.name,
                                                             v.version))
            for v in reversed(versions)]
    return PackagePage(domain, repo, pkg, rows,
                       c.registry.default_display_version(pkg, versions),
                       c.may(p, "codeartifact:PutPackageOriginConfiguration",
                             c.registry.arns.package(domain, repo, pkg.format, pkg.namespace,
                                                     pkg.name)),
                       may_delete_package(c, p, domain, repo, pkg),
                       group=package_group_of(c, p, domain, pkg.format, pkg.namespace,
                                              pkg.name),
                       href=paths.package_path(domain, repo, pkg.format, pkg.namespace,
                                               pkg.name))


@dataclass(frozen=True)
class Dependency:
    text: str
    kind: str
    href: str | None


@dataclass(frozen=True)
class VersionPage:
    domain: str
    repository: str
    ref: VersionRef
    origin: str
    readme: Section[RenderedReadme | None]
    assets: Section[list[Asset]]
    dependencies: Section[list[Dependency]]
    # The status changes offered: (target status, button label), those the principal may make.
    actions: list[tuple[str, str]]
    package_href: str
    # Dispose, delete and copy to another repository.
    lifecycle: VersionActions
    # This page's path, quoted, as PackagePage.href.
    href: str = ""


# The status changes the console offers from each status, with their buttons' labels.
_TRANSITIONS = {
    "Published": [("Unlisted", "Unlist"), ("Archived", "Archive")],
    "Unlisted": [("Published", "Publish again"), ("Archived", "Archive")],
    "Archived": [("Published", "Restore")],
}


def _dependencies(c: ConsoleServices, domain: str, repo: str, fmt: str,
                  version: PackageVersion) -> list[Dependency]:
    # A format may keep more of each than its record (PyPI: extras and environment markers,
    # without which a conditional dependency would read as always required).
    rules = c.registry.formats.get(fmt)
    texts = rules.dependency_texts(version) if isinstance(rules, DependencyTexts) else None
    return [_dependency(c, domain, repo, fmt, dep, texts[i] if texts else None)
            for i, dep in enumerate(dependency_records(rules, version))]


def _dependency(c: ConsoleServices, domain: str, repo: str, fmt: str,
                dep: dict[str, str], whole: str | None) -> Dependency:
    name = dep.get("package", "")
    namespace = dep.get("namespace") or None
    spec = dep.get("versionRequirement") or ""
    text = whole or (f"@{namespace}/" if namespace and fmt == "npm" else "") + name + (
        f" {spec}" if spec else "")
    try:
        normalized = c.registry.formats.get(fmt).normalize_name(name)
    except Invalid:
        return Dependency(text, dep.get("dependencyType", ""), None)
    return Dependency(text, dep.get("dependencyType", ""),
                      paths.package_path(domain, repo, fmt, namespace, normalized))


def version_page(c: ConsoleServices, p: Principal, domain: str, repo: str, fmt: str,
                 namespace: str | None, name: str, version: str) -> VersionPage:
    ref = c.registry.find_version(p, "codeartifact:DescribePackageVersion", domain, repo, fmt,
                                  namespace, name, version)
    v, pkg = ref.version, ref.package

    def readme() -> RenderedReadme | None:
        c.registry.find_version(p, "codeartifact:GetPackageVersionReadme", domain, repo, fmt,
                                namespace, name, version)
        return c.readmes.render(v.readme, v.readme_content_type, pkg.format)

    def assets() -> list[Asset]:
        return c.registry.list_assets(c.registry.find_version(
            p, "codeartifact:ListPackageVersionAssets", domain, repo, fmt, namespace, name,
            version))

    def dependencies() -> list[Dependency]:
        found = c.registry.find_version(p, "codeartifact:ListPackageVersionDependencies",
                                        domain, repo, fmt, namespace, name, version)
        return _dependencies(c, domain, repo, pkg.format, found.version)

    arn = c.registry.arns.package(domain, repo, pkg.format, pkg.namespace, pkg.name)
    actions = ([t for t in _TRANSITIONS.get(v.status, [])]
               if c.may(p, "codeartifact:UpdatePackageVersionsStatus", arn) else [])
    return VersionPage(domain, repo, ref, _origin_text(c, [v])[v.id], section(readme),
                       section(assets), section(dependencies), actions,
                       paths.package_path(domain, repo, pkg.format, pkg.namespace, pkg.name),
                       version_actions(c, p, domain, repo, pkg, v),
                       paths.version_path(domain, repo, pkg.format, pkg.namespace, pkg.name,
                                          v.version))


def set_version_status(c: ConsoleServices, p: Principal, domain: str, repo: str, fmt: str,
                       namespace: str | None, name: str, version: str, target: str,
                       expected: str) -> None:
    """UpdatePackageVersionsStatus for one version, from the status the page showed."""
    changes = VersionLifecycle(c.registry, c.registry.sweeper).update_status(
        p, PackageRef(domain, repo, fmt, namespace, name), [version], target,
        expected_status=expected or None)
    failed = changes.plan.failed_versions()
    if failed:
        error = next(iter(failed.values()))
        raise Invalid(f"{error['errorMessage']} ({error['errorCode']}); reload the page to see "
                      "its status now")


def set_origin_configuration(c: ConsoleServices, p: Principal, domain: str, repo: str,
                             fmt: str, namespace: str | None, name: str, publish: str,
                             upstream: str) -> None:
    """PutPackageOriginConfiguration, as the API does it (ALLOW or BLOCK each)."""
    c.registry.put_package_origin_configuration(p, domain, repo, fmt, namespace, name,
                                                publish, upstream)


def asset_download(c: ConsoleServices, p: Principal, domain: str, repo: str, fmt: str,
                   namespace: str | None, name: str, version: str, asset: str
                   ) -> tuple[VersionRef, Asset]:
    ref = c.registry.find_version(p, "codeartifact:GetPackageVersionAsset", domain, repo, fmt,
                                  namespace, name, version)
    return ref, c.registry.find_version_asset(ref, asset)
