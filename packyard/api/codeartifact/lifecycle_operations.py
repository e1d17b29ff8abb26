"""CodeArtifact's version lifecycle operations and PublishPackageVersion.

Registered in their own tables (``LIFECYCLE_HANDLERS``, and ``STREAMING_HANDLERS`` for the
operation whose payload is the request body); they need the ``VersionLifecycle`` and
``AssetPublisher`` services, which ``LifecycleOperations`` carries next to the others.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool

from packyard.api.codeartifact.group_operations import GroupOperations
from packyard.api.codeartifact.operations import (
    CallContext,
    Handler,
    Operations,
    RequestBody,
    StreamingHandler,
    registrar,
)
from packyard.errors import Invalid
from packyard.metadata.catalog import VersionChanges
from packyard.services.asset_publishing import AssetPublisher, AssetUpload
from packyard.services.permissions_policies import PermissionsPolicies
from packyard.services.registry import Registry
from packyard.services.version_lifecycle import PackageRef, VersionLifecycle


class LifecycleOperations(GroupOperations):
    """Every operation Packyard serves: the registry's, the permissions policies', the package
    groups' and tags', and the lifecycle and asset publishing operations below."""

    def __init__(self, registry: Registry, permissions: PermissionsPolicies,
                 assets: AssetPublisher) -> None:
        super().__init__(registry, permissions)
        self.lifecycle = VersionLifecycle(registry, registry.sweeper)
        self.assets = assets
        self.handlers.update(LIFECYCLE_HANDLERS)
        self.streaming_handlers.update(STREAMING_HANDLERS)


LIFECYCLE_HANDLERS: dict[str, Handler] = {}
operation = registrar(LIFECYCLE_HANDLERS)

STREAMING_HANDLERS: dict[str, StreamingHandler] = {}


def _services(ops: Operations) -> LifecycleOperations:
    if not isinstance(ops, LifecycleOperations):
        raise Invalid("The version lifecycle is not enabled on this server")
    return ops


def _ref(p: dict[str, Any]) -> PackageRef:
    return PackageRef(p["domain"], p["repository"], p["format"], p.get("namespace"),
                      p["package"], p.get("domainOwner"))


def _answer(changes: VersionChanges) -> dict[str, Any]:
    """``successfulVersions`` and ``failedVersions`` as every lifecycle operation answers."""
    return {"successfulVersions": {version: {"revision": state.revision,
                                             "status": state.status}
                                   for version, state in changes.states.items()},
            "failedVersions": changes.plan.failed_versions()}


@operation("UpdatePackageVersionsStatus")
def _update_package_versions_status(ops: Operations, ctx: CallContext,
                                    p: dict[str, Any]) -> Any:
    return _answer(_services(ops).lifecycle.update_status(
        ctx.principal, _ref(p), p["versions"], p["targetStatus"],
        expected_status=p.get("expectedStatus"), revisions=p.get("versionRevisions")))


@operation("DisposePackageVersions")
def _dispose_package_versions(ops: Operations, ctx: CallContext, p: dict[str, Any]) -> Any:
    return _answer(_services(ops).lifecycle.dispose(
        ctx.principal, _ref(p), p["versions"], expected_status=p.get("expectedStatus"),
        revisions=p.get("versionRevisions")))


@operation("DeletePackageVersions")
def _delete_package_versions(ops: Operations, ctx: CallContext, p: dict[str, Any]) -> Any:
    return _answer(_services(ops).lifecycle.delete_versions(
        ctx.principal, _ref(p), p["versions"], expected_status=p.get("expectedStatus")))


@operation("DeletePackage")
def _delete_package(ops: Operations, ctx: CallContext, p: dict[str, Any]) -> Any:
    deleted = _services(ops).lifecycle.delete_package(ctx.principal, _ref(p))
    return {"deletedPackage": ops.package_summary(deleted)}


@operation("CopyPackageVersions")
def _copy_package_versions(ops: Operations, ctx: CallContext, p: dict[str, Any]) -> Any:
    return _answer(_services(ops).lifecycle.copy(
        ctx.principal, domain=p["domain"], source_repository=p["sourceRepository"],
        destination_repository=p["destinationRepository"], format=p["format"],
        namespace=p.get("namespace"), package=p["package"], versions=p.get("versions"),
        version_revisions=p.get("versionRevisions"),
        allow_overwrite=bool(p.get("allowOverwrite")),
        include_from_upstream=bool(p.get("includeFromUpstream")),
        domain_owner=p.get("domainOwner")))


async def _publish_package_version(ops: Operations, ctx: CallContext, p: dict[str, Any],
                                   body: RequestBody) -> Any:
    assets = _services(ops).assets
    upload = AssetUpload(domain=p["domain"], repository=p["repository"], format=p["format"],
                         namespace=p.get("namespace"), package=p["package"],
                         version=p["packageVersion"], asset_name=p["assetName"],
                         asset_sha256=p["assetSHA256"], unfinished=bool(p.get("unfinished")),
                         domain_owner=p.get("domainOwner"))
    # Names checked and the caller authorized before a byte of the asset is read.
    target = await run_in_threadpool(assets.prepare, ctx.principal, upload)
    with assets.admit(body.declared_length):
        staged = await assets.receive(body.chunks)
        try:
            body.check_sha256(staged.digests().sha256)
        except BaseException:
            ops.registry.blobs.discard(staged)
            raise
        result = await run_in_threadpool(assets.publish, target, staged)
    package, version = result.package, result.version
    return {"format": package.format, "namespace": package.namespace or None,
            "package": package.name, "version": version.version,
            "versionRevision": version.revision, "status": version.status,
            "asset": ops.asset_summary(result.asset)}


STREAMING_HANDLERS["PublishPackageVersion"] = _publish_package_version
