"""CodeArtifact's permissions-policy operations for domains and repositories.

Registered in their own table (``POLICY_HANDLERS``); they need the ``PermissionsPolicies``
service, which ``PolicyOperations`` carries next to the registry and whose handlers are the
registry's operations plus these.
"""

from __future__ import annotations

from typing import Any

from packyard.api.codeartifact.operations import CallContext, Handler, Operations, registrar
from packyard.errors import Invalid
from packyard.iam.records import ResourcePolicy
from packyard.services.permissions_policies import PermissionsPolicies
from packyard.services.registry import Registry


class PolicyOperations(Operations):
    """Operations with the permissions-policy service the handlers below need."""

    def __init__(self, registry: Registry, permissions: PermissionsPolicies) -> None:
        super().__init__(registry)
        self.permissions = permissions
        self.handlers.update(POLICY_HANDLERS)


POLICY_HANDLERS: dict[str, Handler] = {}
operation = registrar(POLICY_HANDLERS)


def _permissions(ops: Operations) -> PermissionsPolicies:
    if not isinstance(ops, PolicyOperations):
        raise Invalid("Permissions policies are not enabled on this server")
    return ops.permissions


def _policy(policy: ResourcePolicy) -> dict[str, Any]:
    return {"policy": {"resourceArn": policy.resource_arn, "revision": policy.revision,
                       "document": policy.document}}


@operation("PutDomainPermissionsPolicy")
def _put_domain_policy(ops: Operations, ctx: CallContext, p: dict[str, Any]) -> Any:
    return _policy(_permissions(ops).put_domain_policy(
        ctx.principal, p["domain"], p.get("domainOwner"), p["policyDocument"],
        p.get("policyRevision")))


@operation("GetDomainPermissionsPolicy")
def _get_domain_policy(ops: Operations, ctx: CallContext, p: dict[str, Any]) -> Any:
    return _policy(_permissions(ops).get_domain_policy(ctx.principal, p["domain"],
                                                       p.get("domainOwner")))


@operation("DeleteDomainPermissionsPolicy")
def _delete_domain_policy(ops: Operations, ctx: CallContext, p: dict[str, Any]) -> Any:
    return _policy(_permissions(ops).delete_domain_policy(
        ctx.principal, p["domain"], p.get("domainOwner"), p.get("policyRevision")))


@operation("PutRepositoryPermissionsPolicy")
def _put_repository_policy(ops: Operations, ctx: CallContext, p: dict[str, Any]) -> Any:
    return _policy(_permissions(ops).put_repository_policy(
        ctx.principal, p["domain"], p["repository"], p.get("domainOwner"),
        p["policyDocument"], p.get("policyRevision")))


@operation("GetRepositoryPermissionsPolicy")
def _get_repository_policy(ops: Operations, ctx: CallContext, p: dict[str, Any]) -> Any:
    return _policy(_permissions(ops).get_repository_policy(
        ctx.principal, p["domain"], p["repository"], p.get("domainOwner")))


@operation("DeleteRepositoryPermissionsPolicy")
def _delete_repository_policy(ops: Operations, ctx: CallContext, p: dict[str, Any]) -> Any:
    return _policy(_permissions(ops).delete_repository_policy(
        ctx.principal, p["domain"], p["repository"], p.get("domainOwner"),
        p.get("policyRevision")))
