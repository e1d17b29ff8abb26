"""Domains, repositories and the read side of packages: the CodeArtifact operations that are not format-specific.

Every method takes the calling principal and asks the one ``Authorizer`` before doing anything.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from packyard.arn import ArnBuilder
from packyard.auth.authorize import Authorizer
from packyard.auth.principal import Principal
from packyard.auth.tokens import DEFAULT_DURATION, IssuedToken, TokenService, token_lifetime
from packyard.clock import Clock
from packyard.errors import Denied, Invalid, NotFound, PackyardError
from packyard.formats.codeartifact import has_namespaces
from packyard.formats.registry import FormatRegistry
from packyard.metadata.catalog import (
    Catalog,
    DomainGraph,
    NewFile,
    RepositoryLinks,
    VersionOrigin,
)
from packyard.model import Asset, Domain, Package, PackageVersion, Repository
from packyard.package_groups.origin_controls import RestrictionType
from packyard.policy.tags import tag_context
from packyard.services.blob_sweeper import BlobSweeper
from packyard.services.names import check_domain_name, check_repository_name
from packyard.storage.blobs import BlobStore
from packyard.tagging.resource_tags import tags_for_new_resource
from packyard.upstream.connections import check_connection_name
from packyard.upstream.graph import check_upstream_names, find_cycle
from packyard.upstream.later_digests import LaterDigests
from packyard.upstream.origin import ALLOW, BLOCK


@dataclass(frozen=True)
class VersionRef:
    """A package version looked up through the API, with everything needed to describe it."""

    domain: Domain
    repository: Repository
    package: Package
    version: PackageVersion


def _bearer_token_context(duration_seconds: int) -> dict[str, object]:
    """The condition keys of the sts:GetServiceBearerToken check behind a CodeArtifact token."""
    return {"sts:AWSServiceName": "codeartifact.amazonaws.com",
            "sts:DurationSeconds": duration_seconds}


class Registry:
    """The registry's service layer for domains, repositories, tokens and package reads."""

    def __init__(self, catalog: Catalog, blobs: BlobStore, authorizer: Authorizer,
                 arns: ArnBuilder, tokens: TokenService, formats: FormatRegistry,
                 clock: Clock, *,
                 domain_keys: Callable[[str | None], str] | None = None) -> None:
        self.catalog = catalog
        self.blobs = blobs
        self.authorizer = authorizer
        self.arns = arns
        self.tokens = tokens
        self.formats = formats
        self.clock = clock
        # Deletes the blobs a deletion frees, after its commit (and at every start).
        self.sweeper = BlobSweeper(catalog, blobs, clock)
        # Fills in the digests pulls leave for later (``upstream/later_digests.py``).
        self.later_digests = LaterDigests(catalog, blobs)
        # With encryption at rest: the key a new domain records (``--encryption-key``, or the
        # default key), checked with the key provider.
        self._domain_keys = domain_keys

    # -- domains -------------------------------------------------------------------------------

    def _owner(self, domain_owner: str | None) -> str:
        return domain_owner or self.arns.account_id

    def create_domain(self, principal: Principal, name: str,
                      encryption_key: str | None = None,
                      tags: Mapping[str, str] | None = None) -> Domain:
        """A new domain, with its root package group ``/*`` and ``tags`` (``--tags``)."""
        check_domain_name(name)
        new_tags = self._authorize_create(principal, "codeartifact:CreateDomain",
                                          self.arns.domain(name), tags)
        if self._domain_keys is not None:
            key = self._domain_keys(encryption_key)
        else:
            key = encryption_key or (f"arn:aws:kms:{self.arns.region}:{self.arns.account_id}:"
                                     f"key/packyard-{name}")
        return self.catalog.create_domain(name, self.arns.account_id, key, self.clock.now(),
                                          new_tags)

    def _authorize_create(self, principal: Principal, action: str, arn: str,
                          tags: Mapping[str, str] | None) -> dict[str, str]:
        """Authorize a create request and its tags: ``aws:RequestTag/…`` and ``aws:TagKeys``
        for the create action, and TagResource too when it sets tags (as AWS asks)."""
        new_tags = tags_for_new_resource(tags or {})
        context = tag_context(request_tags=new_tags)
        self.authorizer.check(principal, action, arn, context)
        if new_tags:
            self.authorizer.check(principal, "codeartifact:TagResource", arn, context)
        return new_tags

    def get_domain(self, name: str, domain_owner: str | None = None, *,
                   with_stats: bool = False) -> Domain:
        check_domain_name(name)
        return self.catalog.get_domain(self._owner(domain_owner), name, with_stats=with_stats)

    def describe_domain(self, principal: Principal, name: str,
                        domain_owner: str | None = None) -> Domain:
        self.authorizer.check(principal, "codeartifact:DescribeDomain", self.arns.domain(name))
        domain = self.get_domain(name, domain_owner, with_stats=True)
        return domain

    def list_domains(self, principal: Principal) -> list[Domain]:
        self.authorizer.check(principal, "codeartifact:ListDomains", "*")
        return self.catalog.list_domains()

    def delete_domain(self, principal: Principal, name: str,
                      domain_owner: str | None = None) -> Domain:
        self.authorizer.check(principal, "codeartifact:DeleteDomain", self.arns.domain(name))
        domain = self.get_domain(name, domain_owner, with_stats=True)
        self.catalog.delete_domain(domain)
        self.blobs.delete_domain(domain.blob_key)
        return Domain(**{**domain.__dict__, "status": "Deleted"})

    # -- repositories --------------------------------------------------------------------------

    def create_repository(self, principal: Principal, domain_name: str, name: str,
                          description: str | None, domain_owner: str | None = None,
                          upstreams: Sequence[str] | None = None,
                          tags: Mapping[str, str] | None = None) -> Repository:
        check_repository_name(name)
        new_tags = self._authorize_create(principal, "codeartifact:CreateRepository",
                                          self.arns.repository(domain_name, name), tags)
        domain = self.get_domain(domain_name, domain_owner)
        _check_description(description)
        upstream_repos = self._upstream_repositories(principal, domain, name, upstreams or [])
        repo = self.catalog.create_repository(domain, name, description or "",
                                              principal.account_id, self.clock.now(), new_tags)
        if upstream_repos:
            # A new repository is nobody's upstream yet, so its list cannot close a cycle.
            self.catalog.replace_upstreams(repo, [u.id for u in upstream_repos],
                                           lambda _graph: None)
        return repo

    def get_repository(self, domain_name: str, name: str,
                       domain_owner: str | None = None) -> tuple[Domain, Repository]:
        domain = self.get_domain(domain_name, domain_owner)
        check_repository_name(name)
        return domain, self.catalog.get_repository(domain, name)

    def describe_repository(self, principal: Principal, domain_name: str, name: str,
                            domain_owner: str | None = None) -> Repository:
        self.authorizer.check(principal, "codeartifact:DescribeRepository",
                              self.arns.repository(domain_name, name))
        domain, repo = self.get_repository(domain_name, name, domain_owner)
        return repo

    def update_repository(self, principal: Principal, domain_name: str, name: str,
                          description: str | None, domain_owner: str | None = None,
                          upstreams: Sequence[str] | None = None) -> Repository:
        """Change the description and/or replace the upstream list (None leaves it as is)."""
        self.authorizer.check(principal, "codeartifact:UpdateRepository",
                              self.arns.repository(domain_name, name))
        domain, repo = self.get_repository(domain_name, name, domain_owner)
        _check_description(description)
        if upstreams is not None:
            upstream_repos = self._upstream_repositories(principal, domain, name, upstreams)
            ids = [u.id for u in upstream_repos]

            def no_cycle(graph: DomainGraph) -> None:
                path = find_cycle(repo.id, ids, graph.upstreams)
                if path is not None:
                    chain = " -> ".join([name, *(graph.names.get(i, "?") for i in path)])
                    raise Invalid(f"Upstream repositories cannot form a cycle: {chain}")

            self.catalog.replace_upstreams(repo, ids, no_cycle)
        if description is None:
            return repo
        return self.catalog.update_repository(repo, description)

    def _upstream_repositories(self, principal: Principal, domain: Domain, name: str,
                               upstreams: Sequence[str]) -> list[Repository]:
        """The repositories an upstream list names, checked and authorized, in order."""
        check_upstream_names(name, upstreams)
        found: list[Repository] = []
        for upstream in upstreams:
            check_repository_name(upstream)
            try:
                found.append(self.catalog.get_repository(domain, upstream))
            except NotFound:
                # Upstreams are repositories of the same domain ("You can only add repositories
                # in the same domain as upstream repositories").
                raise NotFound(f"Upstream repository {upstream} not found in domain "
                               f"{domain.name}", resource_id=upstream,
                               resource_type="repository") from None
            # CodeArtifact asks for this permission on the upstream side of the link.
            self.authorizer.check(principal, "codeartifact:AssociateWithDownstreamRepository",
                                  self.arns.repository(domain.name, upstream))
        return found

    def repository_links(self, repository: Repository) -> RepositoryLinks:
        """A repository's upstreams and external connections, for its description."""
        return self.catalog.repository_links(repository.id)

    def associate_external_connection(self, principal: Principal, domain_name: str,
                                      repo_name: str, connection: str,
                                      domain_owner: str | None = None) -> Repository:
        self.authorizer.check(principal, "codeartifact:AssociateExternalConnection",
                              self.arns.repository(domain_name, repo_name))
        domain, repo = self.get_repository(domain_name, repo_name, domain_owner)
        spec = check_connection_name(connection, self.formats.external_connections())
        self.catalog.add_external_connection(repo, spec.name, spec.package_format,
                                             self.clock.now())
        return repo

    def disassociate_external_connection(self, principal: Principal, domain_name: str,
                                         repo_name: str, connection: str,
                                         domain_owner: str | None = None) -> Repository:
        self.authorizer.check(principal, "codeartifact:DisassociateExternalConnection",
                              self.arns.repository(domain_name, repo_name))
        domain, repo = self.get_repository(domain_name, repo_name, domain_owner)
        self.catalog.remove_external_connection(repo, connection)
        return repo

    def delete_repository(self, principal: Principal, domain_name: str, name: str,
                          domain_owner: str | None = None
                          ) -> tuple[Repository, RepositoryLinks]:
        """Delete a repository; returns it with the links it had (deleting removes them)."""
        self.authorizer.check(principal, "codeartifact:DeleteRepository",
                              self.arns.repository(domain_name, name))
        domain, repo = self.get_repository(domain_name, name, domain_owner)
        links = self.catalog.repository_links(repo.id)
        if self.catalog.delete_repository(repo, self.clock.now()):
            self.sweeper.sweep()
        return repo, links

    def list_repositories(self, principal: Principal, prefix: str | None = None,
                          domain_name: str | None = None, domain_owner: str | None = None,
                          administrator_account: str | None = None) -> list[Repository]:
        if domain_name is not None:
            self.authorizer.check(principal, "codeartifact:ListRepositoriesInDomain",
                                  self.arns.domain(domain_name))
            domain = self.get_domain(domain_name, domain_owner)
            repos = self.catalog.list_repositories(domain)
        else:
            self.authorizer.check(principal, "codeartifact:ListRepositories", "*")
            repos = self.catalog.list_repositories()
        if prefix:
            repos = [r for r in repos if r.name.startswith(prefix)]
        if administrator_account:
            repos = [r for r in repos if r.administrator_account == administrator_account]
        return repos

    # -- tokens and endpoints ------------------------------------------------------------------

    def get_authorization_token(self, principal: Principal, domain_name: str,
                                duration_seconds: int | None,
                                domain_owner: str | None = None) -> IssuedToken:
        self.authorizer.check(principal, "codeartifact:GetAuthorizationToken",
                              self.arns.domain(domain_name))
        # As in AWS, the caller also needs sts:GetServiceBearerToken for CodeArtifact; policies
        # can limit token lifetimes with sts:DurationSeconds: the requested value, 43200 when
        # omitted, and for 0 ("as long as my credentials") the lifetime that gives, so that 0
        # cannot get round a limit.
        now = self.clock.now()
        requested = DEFAULT_DURATION if duration_seconds is None else duration_seconds
        if requested == 0:
            lifetime = token_lifetime(0, principal, now) - now
            requested = max(0, int(lifetime.total_seconds()))
        self.authorizer.check(principal, "sts:GetServiceBearerToken", "*",
                              _bearer_token_context(requested))
        domain = self.get_domain(domain_name, domain_owner)
        return self.tokens.issue(principal, domain, duration_seconds, now)

    def may_get_authorization_token(self, principal: Principal, domain_name: str) -> bool:
        """Whether ``get_authorization_token`` with the default duration would be allowed:
        both of its checks (the console offers "Get a token" only then)."""
        return (self.authorizer.is_allowed(principal, "codeartifact:GetAuthorizationToken",
                                           self.arns.domain(domain_name))
                and self.authorizer.is_allowed(principal, "sts:GetServiceBearerToken", "*",
                                               _bearer_token_context(DEFAULT_DURATION)))

    def get_repository_endpoint(self, principal: Principal, domain_name: str, name: str,
                                fmt: str, base_url: str, domain_owner: str | None = None
                                ) -> str:
        self.authorizer.check(principal, "codeartifact:GetRepositoryEndpoint",
                              self.arns.repository(domain_name, name))
        domain, repo = self.get_repository(domain_name, name, domain_owner)
        plugin = self.formats.get(fmt)
        return repository_endpoint(base_url, domain, repo, plugin.url_segment)

    # -- publishing -----------------------------------------------------------------------------

    def check_group_allows_publishing(self, domain: Domain, repository: Repository, fmt: str,
                                      namespace: str, name: str) -> None:
        """Refuse (``Denied``, naming the group) a publish the package's group does not allow
        into ``repository``, before any bytes are read: the catalog applies the same rule when
        it records the version, for every format."""
        reason = self.catalog.group_refusal(domain.id, repository.name,
                                            RestrictionType.PUBLISH, fmt, namespace, name)
        if reason is not None:
            raise Denied(reason, resource_id=name, resource_type="package")

    def record_committed(self, repository: Repository, fmt: str,
                         files: Sequence[NewFile]) -> list[bool | PackyardError]:
        """Record files whose blobs are committed already in one transaction
        (``Catalog.publish_many``: each answered in order, created, already there or the error
        that refused it alone). Their blobs are held from the sweeper meanwhile, and those of
        the refused ones handed back to it, for nothing references them."""
        committed = {sha for file in files for sha in file.blob_sizes}
        with self.sweeper.recording(repository.domain_id, committed):
            results = self.catalog.publish_many(repository, fmt, "", files, self.clock.now())
        refused = {sha for file, result in zip(files, results, strict=True)
                   if isinstance(result, PackyardError) for sha in file.blob_sizes}
        if refused:
            self.sweeper.release(repository.domain_id, refused)
        return results

    # -- package reads -------------------------------------------------------------------------

    def list_packages(self, principal: Principal, domain_name: str, repo_name: str,
                      fmt: str | None, namespace: str | None, prefix: str | None,
                      domain_owner: str | None = None, *, publish: str | None = None,
                      upstream: str | None = None, after: tuple[str, int] | None = None,
                      limit: int | None = None, version_status: str | None = None
                      ) -> tuple[Repository, list[Package]]:
        """A repository's packages by name, then id (``after`` the last one seen); as
        CodeArtifact's ListPackages, ``namespace`` and ``prefix`` are prefixes.
        ``version_status`` (the console's filter, not an API parameter) keeps the packages
        with a version in that status."""
        self.authorizer.check(principal, "codeartifact:ListPackages",
                              self.arns.repository(domain_name, repo_name))
        domain, repo = self.get_repository(domain_name, repo_name, domain_owner)
        if fmt:
            self.formats.get(fmt)
        if prefix and fmt:
            prefix = self.formats.get(fmt).normalize_name(prefix)
        if namespace and fmt:
            namespace = self.formats.get(fmt).normalize_namespace(namespace)  # npm: "@" or not
        return repo, self.catalog.list_packages(repo.id, fmt, prefix=prefix, after=after,
                                                limit=limit, namespace_prefix=namespace,
                                                publish=publish, upstream=upstream,
                                                version_status=version_status)

    def find_package(self, principal: Principal, action: str, domain_name: str,
                     repo_name: str, fmt: str, namespace: str | None, package: str,
                     domain_owner: str | None = None
                     ) -> tuple[Domain, Repository, Package]:
        plugin = self.formats.get(fmt)
        name = plugin.normalize_name(package)
        # The ARN names the package as it is found (npm's "@acme" is namespace "acme"), so a
        # Deny on it holds however the request spells it.
        namespace = plugin.normalize_namespace(namespace)
        # Authorize first (as AWS does): a caller without access learns nothing of what exists.
        self.authorizer.check(principal, action, self.arns.package(
            domain_name, repo_name, fmt, namespace, name))
        domain, repo = self.get_repository(domain_name, repo_name, domain_owner)
        pkg = self.catalog.find_package(repo.id, fmt, namespace, name)
        if pkg is None:
            raise NotFound(f"Package {package} not found in repository {repo.name}",
                           resource_id=package, resource_type="package")
        return domain, repo, pkg

    def describe_package(self, principal: Principal, domain_name: str, repo_name: str,
                         fmt: str, namespace: str | None, package: str,
                         domain_owner: str | None = None) -> Package:
        _, _, pkg = self.find_package(principal, "codeartifact:DescribePackage", domain_name,
                                      repo_name, fmt, namespace, package, domain_owner)
        return pkg

    def put_package_origin_configuration(self, principal: Principal, domain_name: str,
                                         repo_name: str, fmt: str, namespace: str | None,
                                         package: str, publish: str, upstream: str,
                                         domain_owner: str | None = None) -> Package:
        """Set a package's origin restrictions; a package not in the repository is created
        with no versions, so versions can be blocked before any arrive (as in CodeArtifact)."""
        plugin = self.formats.get(fmt)
        if namespace and not has_namespaces(fmt):
            # Reads of such a package find none; this would create one no client can reach.
            raise Invalid(f"{fmt} packages have no namespace: leave out namespace "
                          "(--namespace)")
        name = plugin.normalize_name(package)
        namespace = plugin.normalize_namespace(namespace)  # as find_package names it
        self.authorizer.check(principal, "codeartifact:PutPackageOriginConfiguration",
                              self.arns.package(domain_name, repo_name, fmt, namespace, name))
        domain, repo = self.get_repository(domain_name, repo_name, domain_owner)
        for label, value in (("publish", publish), ("upstream", upstream)):
            if value not in (ALLOW, BLOCK):
                raise Invalid(f"restrictions.{label} must be ALLOW or BLOCK, got {value!r}")
        return self.catalog.put_origin_configuration(repo, fmt, namespace, name, package,
                                                     publish, upstream, self.clock.now())

    def version_origins(self, versions: Sequence[PackageVersion]) -> dict[int, VersionOrigin]:
        """Where each version entered the domain (origin.domainEntryPoint)."""
        return self.catalog.version_origins([v.id for v in versions])

    def list_package_versions(self, principal: Principal, domain_name: str, repo_name: str,
                              fmt: str, namespace: str | None, package: str,
                              status: str | None = None, domain_owner: str | None = None
                              ) -> tuple[Package, list[PackageVersion]]:
        _, _, pkg = self.find_package(principal, "codeartifact:ListPackageVersions",
                                      domain_name, repo_name, fmt, namespace, package,
                                      domain_owner)
        versions = self.catalog.list_versions(pkg.id)
        if status:
            versions = [v for v in versions if v.status == status]
        versions.sort(key=lambda v: self.formats.get(fmt).version_sort_key(v.version))
        return pkg, versions

    def default_display_version(self, pkg: Package, versions: Sequence[PackageVersion]
                                ) -> str | None:
        """The version CodeArtifact shows by default, of all of ``pkg``'s ``versions`` (the
        format's rule: npm's ``latest``, PyPI's most recently published)."""
        return self.formats.get(pkg.format).default_display_version(
            versions, self.catalog.package_tags(pkg.id))

    def find_version(self, principal: Principal, action: str, domain_name: str,
                     repo_name: str, fmt: str, namespace: str | None, package: str,
                     version: str, domain_owner: str | None = None) -> VersionRef:
        domain, repo, pkg = self.find_package(principal, action, domain_name, repo_name, fmt,
                                              namespace, package, domain_owner)
        plugin = self.formats.get(fmt)
        found = self.catalog.get_version(pkg.id, plugin.normalize_version(version))
        if found is None or found.status == "Deleted":
            raise NotFound(f"Package version {package} {version} not found",
                           resource_id=version, resource_type="package-version")
        return VersionRef(domain, repo, pkg, found)

    def list_assets(self, ref: VersionRef) -> list[Asset]:
        """The version's assets, every digest filled in: a pulled file's not filled in yet
        are read and filled in now (called from a worker thread)."""
        assets = self.catalog.list_assets(ref.version.id)
        missing = {(ref.domain.id, a.sha256) for a in assets if not a.digests_complete}
        if missing and self.later_digests.fill_from_thread(missing):
            assets = self.catalog.list_assets(ref.version.id)
        return assets

    def find_version_asset(self, ref: VersionRef, asset_name: str) -> Asset:
        for asset in self.catalog.list_assets(ref.version.id):
            if asset.name == asset_name:
                if ref.version.status in ("Archived", "Disposed"):
                    raise NotFound(f"Asset {asset_name} is not available: the version is "
                                   f"{ref.version.status}", resource_id=asset_name,
                                   resource_type="asset")
                return asset
        raise NotFound(f"Asset {asset_name} not found in version {ref.version.version}",
                       resource_id=asset_name, resource_type="asset")


def repository_endpoint(base_url: str, domain: Domain, repo: Repository, segment: str) -> str:
    """The package endpoint for a repository; CodeArtifact's hostname label becomes our first path segment."""
    return f"{base_url.rstrip('/')}/{domain.name}-{domain.owner}/{segment}/{repo.name}/"


def _check_description(description: str | None) -> None:
    if description is None:
        return
    if len(description) > 1000:
        raise Invalid("description must be at most 1000 characters")
    if any(ord(c) < 32 and c not in "\t" for c in description):
        raise Invalid("description must not contain control characters")
