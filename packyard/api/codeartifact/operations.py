"""CodeArtifact operations: each parses nothing and renders little; it calls one service method.

Input arrives already parsed and validated against botocore's model (``protocol.py``); output is
a dict in the model's output shape.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from starlette.concurrency import run_in_threadpool

from packyard.api.pagination import Cursor, cursor_of, page, token_after
from packyard.arn import ArnBuilder
from packyard.auth.principal import Principal
from packyard.errors import Invalid
from packyard.formats.registry import dependency_records
from packyard.http.request import header_text
from packyard.metadata.catalog import VersionOrigin
from packyard.model import Asset, Domain, Package, Repository
from packyard.services.registry import Registry, VersionRef
from packyard.tagging.resource_tags import tags_from_list


@dataclass(frozen=True)
class CallContext:
    principal: Principal
    base_url: str
    source_ip: str | None


@dataclass(frozen=True)
class StreamResult:
    """An operation whose output payload is a byte stream (GetPackageVersionAsset)."""

    headers: dict[str, str]
    size: int
    body: AsyncIterator[bytes]


@dataclass(frozen=True)
class RequestBody:
    """An operation's payload member as it streams in (PublishPackageVersion's asset).
    ``check_sha256`` takes the SHA-256 of the bytes received and raises when they are not what
    the request signed."""

    chunks: AsyncIterator[bytes]
    declared_length: int | None
    check_sha256: Callable[[str], None]


Handler = Callable[["Operations", CallContext, dict[str, Any]], Any]
StreamingHandler = Callable[["Operations", CallContext, dict[str, Any], RequestBody],
                            Awaitable[Any]]


def registrar(table: dict[str, Handler]) -> Callable[[str], Callable[[Handler], Handler]]:
    """A decorator ``@operation("Name")`` that records handlers in ``table``: each module of
    operations keeps its own table, and the ``Operations`` class that serves them names the
    tables it answers from (no registration by import side effect)."""

    def operation(name: str) -> Callable[[Handler], Handler]:
        def register(fn: Handler) -> Handler:
            table[name] = fn
            return fn
        return register

    return operation


HANDLERS: dict[str, Handler] = {}
operation = registrar(HANDLERS)


def owned_arn(arns: ArnBuilder, params: dict[str, Any]) -> str:
    """The ARN of what an operation's parameters name, most specific first: a package, a
    repository (the destination of a copy), a package group, the domain."""
    domain = str(params.get("domain", ""))
    repository = params.get("repository") or params.get("destinationRepository")
    if repository and params.get("package") and params.get("format"):
        return arns.package(domain, repository, params["format"], params.get("namespace"),
                            params["package"])
    if repository:
        return arns.repository(domain, repository)
    if params.get("packageGroup"):
        return arns.package_group(domain, params["packageGroup"])
    return arns.domain(domain)


def _last_seen(operation: str, token: str | None) -> tuple[str, int] | None:
    """The (name, row id) a ListPackages page ended at (``pagination.token_after``); None for
    the first page."""
    made = cursor_of(token, operation)
    if made is None:
        return None
    if len(made) != 2 or not isinstance(made[0], str) or type(made[1]) is not int:
        raise Invalid("nextToken is not valid")
    return made[0], made[1]


class Operations:
    """Renders service results in CodeArtifact's output shapes."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.arns: ArnBuilder = registry.arns
        self.handlers: dict[str, Handler] = dict(HANDLERS)
        # Operations whose input has a streaming payload (their body is not JSON).
        self.streaming_handlers: dict[str, StreamingHandler] = {}

    def call(self, name: str, ctx: CallContext, params: dict[str, Any]) -> Any:
        handler = self.handlers.get(name)
        if handler is None:
            raise Invalid(f"The operation {name} is not supported by Packyard yet")
        self._check_owner(name, ctx, params)
        return handler(self, ctx, params)

    async def call_streaming(self, name: str, ctx: CallContext, params: dict[str, Any],
                             body: RequestBody) -> Any:
        """An operation with a streaming payload, on the event loop (it reads ``body``)."""
        handler = self.streaming_handlers.get(name)
        if handler is None:
            raise Invalid(f"The operation {name} is not supported by Packyard yet")
        if params.get("domainOwner"):
            await run_in_threadpool(self._check_owner, name, ctx, params)
        return await handler(self, ctx, params, body)

    def _check_owner(self, name: str, ctx: CallContext, params: dict[str, Any]) -> None:
        """A call naming another account's domain (``domainOwner``) is authorized on that
        account's resource ARN before anything is looked up, as AWS does: it is across accounts,
        so it needs that resource's policy too, which no domain here has (each is this server's
        account's): AccessDenied naming the resource, never whether it exists."""
        owner = params.get("domainOwner")
        if not owner or owner == self.arns.account_id:
            return
        self.registry.authorizer.check(ctx.principal, f"codeartifact:{name}",
                                       owned_arn(replace(self.arns, account_id=owner), params))

    # -- shapes --------------------------------------------------------------------------------

    def domain_summary(self, d: Domain) -> dict[str, Any]:
        return {"name": d.name, "owner": d.owner, "arn": self.arns.domain(d.name),
                "status": d.status, "createdTime": d.created_at,
                "encryptionKey": d.encryption_key}

    def domain_description(self, d: Domain) -> dict[str, Any]:
        return {**self.domain_summary(d), "repositoryCount": d.repository_count,
                "assetSizeBytes": d.asset_size_bytes}

    def repository_summary(self, r: Repository) -> dict[str, Any]:
        return {"name": r.name, "administratorAccount": r.administrator_account,
                "domainName": r.domain_name, "domainOwner": r.domain_owner,
                "arn": self.arns.repository(r.domain_name, r.name),
                "description": r.description, "createdTime": r.created_at}

    def repository_description(self, r: Repository) -> dict[str, Any]:
        links = self.registry.repository_links(r)
        return {**self.repository_summary(r),
                "upstreams": [{"repositoryName": name} for name in links.upstreams],
                "externalConnections": [
                    {"externalConnectionName": c.name, "packageFormat": c.package_format,
                     "status": "Available"} for c in links.external_connections]}

    @staticmethod
    def origin_configuration(p: Package) -> dict[str, Any]:
        return {"restrictions": {"publish": p.origin_publish, "upstream": p.origin_upstream}}

    def package_summary(self, p: Package) -> dict[str, Any]:
        return {"format": p.format, "namespace": p.namespace or None, "package": p.name,
                "originConfiguration": self.origin_configuration(p)}

    def package_description(self, p: Package) -> dict[str, Any]:
        return {"format": p.format, "namespace": p.namespace or None, "name": p.name,
                "originConfiguration": self.origin_configuration(p)}

    @staticmethod
    def origin(found: VersionOrigin | None) -> dict[str, Any]:
        """PackageVersionOrigin: where the version entered the domain, the same in every copy."""
        if found is None or found.origin_type == "UNKNOWN":
            return {"originType": "UNKNOWN"}
        entry = ({"externalConnectionName": found.external_connection}
                 if found.external_connection else {"repositoryName": found.repository_name})
        return {"domainEntryPoint": entry, "originType": found.origin_type}

    def version_description(self, ref: VersionRef) -> dict[str, Any]:
        v = ref.version
        return {"format": ref.package.format, "namespace": ref.package.namespace or None,
                "packageName": ref.package.name, "displayName": ref.package.display_name,
                "version": v.version, "summary": v.summary, "homePage": v.home_page,
                "sourceCodeRepository": v.source_code_repository,
                "publishedTime": v.published_at, "licenses": v.licenses,
                "revision": v.revision, "status": v.status,
                "origin": self.origin(self.registry.version_origins([v]).get(v.id))}

    @staticmethod
    def asset_summary(a: Asset) -> dict[str, Any]:
        return {"name": a.name, "size": a.size, "hashes": a.hashes()}


def request_tags(p: dict[str, Any]) -> dict[str, str]:
    """A create request's ``tags`` (a TagList), checked: AWS's limits, no key twice."""
    return tags_from_list(p.get("tags") or [])


def _pkg_args(p: dict[str, Any]) -> dict[str, Any]:
    return {"domain_name": p["domain"], "repo_name": p["repository"], "fmt": p["format"],
            "namespace": p.get("namespace"), "package": p["package"],
            "domain_owner": p.get("domainOwner")}


def _version_ref(ops: Operations, ctx: CallContext, p: dict[str, Any], action: str
                 ) -> VersionRef:
    return ops.registry.find_version(ctx.principal, action, version=p["packageVersion"],
                                     **_pkg_args(p))


def _version_header(ref: VersionRef) -> dict[str, Any]:
    return {"format": ref.package.format, "namespace": ref.package.namespace or None,
            "package": ref.package.name, "version": ref.version.version,
            "versionRevision": ref.version.revision}


def _repository_cursor(r: Repository) -> Cursor:
    return [r.name, r.domain_name]


def _microseconds(moment: datetime) -> int:
    return round(moment.timestamp() * 1_000_000)


# -- domains -------------------------------------------------------------------------------------

@operation("CreateDomain")
def _create_domain(ops: Operations, ctx: CallContext, p: dict[str, Any]) -> Any:
    d = ops.registry.create_domain(ctx.principal, p["domain"], p.get("encryptionKey"),
                                   tags=request_tags(p))
    return {"domain": ops.domain_description(d)}


@operation("DescribeDomain")
def _describe_domain(ops: Operations, ctx: CallContext, p: dict[str, Any]) -> Any:
    d = ops.registry.describe_domain(ctx.principal, p["domain"], p.get("domainOwner"))
    return {"domain": ops.domain_description(d)}


@operation("ListDomains")
def _list_domains(ops: Operations, ctx: CallContext, p: dict[str, Any]) -> Any:
    items, token = page(ops.registry.list_domains(ctx.principal), p, "ListDomains",
                         lambda d: [d.name])
    return {"domains": [ops.domain_summary(d) for d in items], "nextToken": token}


@operation("DeleteDomain")
def _delete_domain(ops: Operations, ctx: CallContext, p: dict[str, Any]) -> Any:
    d = ops.registry.delete_domain(ctx.principal, p["domain"], p.get("domainOwner"))
    return {"domain": ops.domain_description(d)}


# -- repositories --------------------------------------------------------------------------------

def _upstream_names(p: dict[str, Any]) -> list[str] | None:
    """The ``upstreams`` list's repository names; None when the request has no list."""
    if "upstreams" not in p:
        return None
    return [u["repositoryName"] for u in p["upstreams"]]


@operation("CreateRepository")
def _create_repository(ops: Operations, ctx: CallContext, p: dict[str, Any]) -> Any:
    r = ops.registry.create_repository(ctx.principal, p["domain"], p["repository"],
                                       p.get("description"), p.get("domainOwner"),
                                       upstreams=_upstream_names(p), tags=request_tags(p))
    return {"repository": ops.repository_description(r)}


@operation("DescribeRepository")
def _describe_repository(ops: Operations, ctx: CallContext, p: dict[str, Any]) -> Any:
    r = ops.registry.describe_repository(ctx.principal, p["domain"], p["repository"],
                                         p.get("domainOwner"))
    return {"repository": ops.repository_description(r)}


@operation("UpdateRepository")
def _update_repository(ops: Operations, ctx: CallContext, p: dict[str, Any]) -> Any:
    r = ops.registry.update_repository(ctx.principal, p["domain"], p["repository"],
                                       p.get("description"), p.get("domainOwner"),
                                       upstreams=_upstream_names(p))
    return {"repository": ops.repository_description(r)}


@operation("DeleteRepository")
def _delete_repository(ops: Operations, ctx: CallContext, p: dict[str, Any]) -> Any:
    r, links = ops.registry.delete_repository(ctx.principal, p["domain"], p["repository"],
                                              p.get("domainOwner"))
    description = ops.repository_summary(r)
    description["upstreams"] = [{"repositoryName": name} for name in links.upstreams]
    description["externalConnections"] = [
        {"externalConnectionName": c.name, "packageFormat": c.package_format,
         "status": "Available"} for c in links.external_connections]
    return {"repository": description}


@operation("AssociateExternalConnection")
def _associate_external_connection(ops: Operations, ctx: CallContext, p: dict[str, Any]) -> Any:
    r = ops.registry.associate_external_connection(ctx.principal, p["domain"], p["repository"],
                                                   p["externalConnection"], p.get("domainOwner"))
    return {"repository": ops.repository_description(r)}


@operation("DisassociateExternalConnection")
def _disassociate_external_connection(ops: Operations, ctx: CallContext,
                                      p: dict[str, Any]) -> Any:
    r = ops.registry.disassociate_external_connection(
        ctx.principal, p["domain"], p["repository"], p["externalConnection"],
        p.get("domainOwner"))
    return {"repository": ops.repository_description(r)}


@operation("ListRepositories")
def _list_repositories(ops: Operations, ctx: CallContext, p: dict[str, Any]) -> Any:
    repos = ops.registry.list_repositories(ctx.principal, prefix=p.get("repositoryPrefix"))
    items, token = page(repos, p, "ListRepositories", _repository_cursor)
    return {"repositories": [ops.repository_summary(r) for r in items], "nextToken": token}


@operation("ListRepositoriesInDomain")
def _list_repositories_in_domain(ops: Operations, ctx: CallContext, p: dict[str, Any]) -> Any:
    repos = ops.registry.list_repositories(
        ctx.principal, prefix=p.get("repositoryPrefix"), domain_name=p["domain"],
        domain_owner=p.get("domainOwner"), administrator_account=p.get("administratorAccount"))
    items, token = page(repos, p, "ListRepositoriesInDomain", _repository_cursor)
    return {"repositories": [ops.repository_summary(r) for r in items], "nextToken": token}


# -- tokens and endpoints ------------------------------------------------------------------------

@operation("GetAuthorizationToken")
def _get_authorization_token(ops: Operations, ctx: CallContext, p: dict[str, Any]) -> Any:
    issued = ops.registry.get_authorization_token(ctx.principal, p["domain"],
                                                  p.get("durationSeconds"),
                                                  p.get("domainOwner"))
    return {"authorizationToken": issued.token, "expiration": issued.expires_at}


@operation("GetRepositoryEndpoint")
def _get_repository_endpoint(ops: Operations, ctx: CallContext, p: dict[str, Any]) -> Any:
    url = ops.registry.get_repository_endpoint(ctx.principal, p["domain"], p["repository"],
                                               p["format"], ctx.base_url, p.get("domainOwner"))
    return {"repositoryEndpoint": url}


# -- packages ------------------------------------------------------------------------------------

@operation("ListPackages")
def _list_packages(ops: Operations, ctx: CallContext, p: dict[str, Any]) -> Any:
    # Paged in the catalog from where the last page ended (a repository may hold any number
    # of packages): the token names the last package's name and id.
    size = p.get("maxResults") or 100
    after = _last_seen("ListPackages", p.get("nextToken"))
    _, packages = ops.registry.list_packages(
        ctx.principal, p["domain"], p["repository"], p.get("format"), p.get("namespace"),
        p.get("packagePrefix"), p.get("domainOwner"), publish=p.get("publish"),
        upstream=p.get("upstream"), after=after, limit=size + 1)
    items = packages[:size]
    token = token_after("ListPackages", [items[-1].name, items[-1].id]) \
        if len(packages) > size else None
    return {"packages": [ops.package_summary(x) for x in items], "nextToken": token}


@operation("DescribePackage")
def _describe_package(ops: Operations, ctx: CallContext, p: dict[str, Any]) -> Any:
    pkg = ops.registry.describe_package(ctx.principal, **_pkg_args(p))
    return {"package": ops.package_description(pkg)}


@operation("PutPackageOriginConfiguration")
def _put_package_origin_configuration(ops: Operations, ctx: CallContext,
                                      p: dict[str, Any]) -> Any:
    restrictions = p["restrictions"]
    pkg = ops.registry.put_package_origin_configuration(
        ctx.principal, publish=restrictions["publish"], upstream=restrictions["upstream"],
        **_pkg_args(p))
    return {"originConfiguration": ops.origin_configuration(pkg)}


@operation("ListPackageVersions")
def _list_package_versions(ops: Operations, ctx: CallContext, p: dict[str, Any]) -> Any:
    pkg, versions = ops.registry.list_package_versions(ctx.principal, **_pkg_args(p))
    # Of all the package's versions, whatever the filters.
    default = ops.registry.default_display_version(pkg, versions)
    if p.get("status"):
        versions = [v for v in versions if v.status == p["status"]]
    if p.get("originType"):
        # The origin each version is shown with: UNKNOWN once its entry repository is deleted.
        shown = ops.registry.version_origins(versions)
        versions = [v for v in versions
                    if ops.origin(shown.get(v.id))["originType"] == p["originType"]]
    sort_key = ops.registry.formats.get(pkg.format).version_sort_key
    if p.get("sortBy") == "PUBLISHED_TIME":
        # Newest first; versions published in the same microsecond in version order.
        items, token = page(versions, p, "ListPackageVersions by PUBLISHED_TIME",
                            lambda v: [_microseconds(v.published_at), v.version],
                            lambda c: (-int(c[0]), sort_key(str(c[1])), c[1]))
    else:
        items, token = page(versions, p, "ListPackageVersions", lambda v: [v.version],
                            lambda c: (sort_key(str(c[0])), c[0]))
    origins = ops.registry.version_origins(items)
    return {"defaultDisplayVersion": default, "format": pkg.format,
            "namespace": pkg.namespace or None, "package": pkg.name,
            "versions": [{"version": v.version, "revision": v.revision, "status": v.status,
                          "origin": ops.origin(origins.get(v.id))} for v in items],
            "nextToken": token}


@operation("DescribePackageVersion")
def _describe_package_version(ops: Operations, ctx: CallContext, p: dict[str, Any]) -> Any:
    ref = _version_ref(ops, ctx, p, "codeartifact:DescribePackageVersion")
    return {"packageVersion": ops.version_description(ref)}


@operation("ListPackageVersionAssets")
def _list_package_version_assets(ops: Operations, ctx: CallContext, p: dict[str, Any]) -> Any:
    ref = _version_ref(ops, ctx, p, "codeartifact:ListPackageVersionAssets")
    items, token = page(ops.registry.list_assets(ref), p, "ListPackageVersionAssets",
                         lambda a: [a.name])
    return {**_version_header(ref), "assets": [ops.asset_summary(a) for a in items],
            "nextToken": token}


@operation("GetPackageVersionReadme")
def _get_package_version_readme(ops: Operations, ctx: CallContext, p: dict[str, Any]) -> Any:
    ref = _version_ref(ops, ctx, p, "codeartifact:GetPackageVersionReadme")
    return {**_version_header(ref), "readme": ref.version.readme or ""}


@operation("ListPackageVersionDependencies")
def _list_package_version_dependencies(ops: Operations, ctx: CallContext,
                                       p: dict[str, Any]) -> Any:
    ref = _version_ref(ops, ctx, p, "codeartifact:ListPackageVersionDependencies")
    records = dependency_records(ops.registry.formats.get(ref.package.format), ref.version)
    items, token = page(records, p, "ListPackageVersionDependencies", default_max=1000)
    return {**_version_header(ref), "dependencies": list(items), "nextToken": token}


@operation("GetPackageVersionAsset")
def _get_package_version_asset(ops: Operations, ctx: CallContext, p: dict[str, Any]) -> Any:
    ref = _version_ref(ops, ctx, p, "codeartifact:GetPackageVersionAsset")
    if p.get("packageVersionRevision") and p["packageVersionRevision"] != ref.version.revision:
        raise Invalid("packageVersionRevision does not match the version's current revision")
    asset = ops.registry.find_version_asset(ref, p["asset"])
    # Asset names and versions are the publisher's text; headers must stay ASCII.
    return StreamResult(
        headers={"X-AssetName": header_text(asset.name),
                 "X-PackageVersion": header_text(ref.version.version),
                 "X-PackageVersionRevision": ref.version.revision},
        size=asset.size,
        body=ops.registry.blobs.read(ref.domain.blob_key, asset.sha256))
