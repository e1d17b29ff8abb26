"""Versions only a repository's upstreams have, kept before npm changes them there.

``npm dist-tag add pkg@1.0.0 tag`` and ``npm deprecate pkg@1.0.0 msg`` name a version the
packument lists; when only an upstream has it, the repository keeps it first, as installing it
would (pulled, verified, kept where CodeArtifact keeps a version it finds upstream), then the
change is made to the repository's own copy (the upstream's is untouched). CodeArtifact: "The
three npm dist-tag commands (add, rm, and ls) function identically in CodeArtifact repositories
as they do in the default npm registry" (User Guide, npm tag handling), and a package version
found upstream "is copied" to the repository that asked (Requesting a package version with
upstream repositories); a change to a version acts on a version the repository holds.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.concurrency import run_in_threadpool

from packyard.errors import NotFound
from packyard.formats.npm.dist_tags import parse_tag_body
from packyard.formats.npm.names import PackageName
from packyard.formats.npm.package_edits import PackageEdits
from packyard.formats.npm.packument import LISTED_STATUSES, StoredVersion
from packyard.formats.npm.packuments import Packuments
from packyard.formats.npm.publish_checks import check_document_name, deprecations
from packyard.formats.npm.semver import is_valid_version, version_key
from packyard.services.access import RepositoryAccess
from packyard.services.registry import Registry
from packyard.upstream.resolver import UpstreamResolver

READ = "codeartifact:ReadFromRepository"


class UpstreamVersions:
    """Finds the versions a change names that only the upstreams have, and keeps them."""

    def __init__(self, registry: Registry, resolver: UpstreamResolver, packuments: Packuments,
                 edits: PackageEdits) -> None:
        self._registry = registry
        self._resolver = resolver
        self._packuments = packuments
        self._edits = edits

    async def keep_to_deprecate(self, access: RepositoryAccess, name: PackageName,
                                document: Mapping[str, Any]) -> None:
        """Keep the versions a deprecate PUT changes that only the upstreams have."""
        check_document_name(document, name)
        only_upstream = await self._only_upstream(access, name)
        if only_upstream:
            current = {text: v.deprecated for text, v in only_upstream.items()}
            changed = deprecations(document, current)
            await self._keep(access, name, [only_upstream[text] for text in changed])

    async def keep_to_tag(self, access: RepositoryAccess, name: PackageName,
                          body: bytes) -> None:
        """Keep the version ``npm dist-tag add`` names when only the upstreams have it."""
        target = parse_tag_body(body)
        if not is_valid_version(target):
            return
        wanted = version_key(target)
        only_upstream = await self._only_upstream(access, name)
        await self._keep(access, name, [v for v in only_upstream.values()
                                        if version_key(v.version) == wanted])

    async def _only_upstream(self, access: RepositoryAccess,
                             name: PackageName) -> dict[str, StoredVersion]:
        """The listed versions of ``name`` the repository reaches only through its upstreams
        (none when it has none, or they do not have the package)."""
        domain, repository = access.domain, access.repository
        if not await run_in_threadpool(self._resolver.has_upstreams, domain, repository):
            return {}
        merged = await self._packuments.merged(domain, repository, name)
        try:
            package = await self._packuments.stored_package(name, merged)
        except NotFound:
            return {}
        held = await run_in_threadpool(self._edits.held_versions, repository, name)
        return {v.version: v for v in package.versions
                if v.status in LISTED_STATUSES and version_key(v.version) not in held}

    async def _keep(self, access: RepositoryAccess, name: PackageName,
                    versions: list[StoredVersion]) -> None:
        """Keep ``versions`` as installing them would: the caller must be allowed to read
        the repository, as for that install (the change itself was authorized before)."""
        if not versions:
            return
        registry = self._registry
        await run_in_threadpool(
            registry.authorizer.check, access.principal, READ,
            registry.arns.repository(access.domain.name, access.repository.name))
        for version in versions:
            await self._resolver.keep(access.domain, access.repository, name.bare,
                                      name.tarball_filename(version.version), name.namespace)
