"""CodeArtifact's package group and tag operations.

Registered in their own table (``GROUP_HANDLERS``), served by ``GroupOperations``, which adds
the ``PackageGroups`` and ``ResourceTags`` services to the operations bootstrap mounts.
"""

from __future__ import annotations

from typing import Any

from packyard.api.codeartifact.operations import (
    CallContext,
    Handler,
    Operations,
    registrar,
)
from packyard.api.codeartifact.policy_operations import PolicyOperations
from packyard.api.pagination import Cursor, page
from packyard.errors import Invalid
from packyard.package_groups.origin_controls import AllowedRepositoryChange
from packyard.services.package_groups import GroupView, PackageGroups
from packyard.services.permissions_policies import PermissionsPolicies
from packyard.services.registry import Registry
from packyard.services.resource_tags import ResourceTags
from packyard.tagging.resource_tags import tags_from_list


class GroupOperations(PolicyOperations):
    """Every operation Packyard serves: the registry's, the permissions policies' and the
    package groups' and tags' below."""

    def __init__(self, registry: Registry, permissions: PermissionsPolicies) -> None:
        super().__init__(registry, permissions)
        self.groups = PackageGroups(registry)
        self.tags = ResourceTags(registry)
        self.handlers.update(GROUP_HANDLERS)


GROUP_HANDLERS: dict[str, Handler] = {}
operation = registrar(GROUP_HANDLERS)


def _ops(ops: Operations) -> GroupOperations:
    if not isinstance(ops, GroupOperations):
        raise Invalid("Package groups and tags are not enabled on this server")
    return ops


def _group_cursor(view: GroupView) -> Cursor:
    return [view.record.pattern]


def _describe(ops: GroupOperations, p: dict[str, Any], view: GroupView) -> dict[str, Any]:
    """PackageGroupDescription (and PackageGroupSummary, the same members)."""
    domain = p["domain"]
    record = view.record
    restrictions = {}
    for restriction, effective in view.restrictions.items():
        described = effective.to_api()
        if effective.inherited_from is not None:
            described["inheritedFrom"] = {
                "arn": ops.groups.arn(domain, effective.inherited_from.text),
                "pattern": effective.inherited_from.text}
        restrictions[restriction.value] = described
    description: dict[str, Any] = {
        "arn": ops.groups.arn(domain, record.pattern), "pattern": record.pattern,
        "domainName": domain, "domainOwner": p.get("domainOwner") or ops.arns.account_id,
        "createdTime": record.created_at, "description": record.description,
        "contactInfo": record.contact_info,
        "originConfiguration": {"restrictions": restrictions}}
    if view.parent is not None:
        description["parent"] = {"arn": ops.groups.arn(domain, view.parent.text),
                                 "pattern": view.parent.text}
    return description


def _changes(items: list[dict[str, str]] | None) -> list[AllowedRepositoryChange]:
    changes = []
    for item in items or []:
        # The model requires neither member of PackageGroupAllowedRepository; both are needed.
        missing = [m for m in ("originRestrictionType", "repositoryName") if not item.get(m)]
        if missing:
            raise Invalid(f"Each allowed repository to add or remove needs "
                          f"{' and '.join(missing)}")
        changes.append(AllowedRepositoryChange(item["originRestrictionType"],
                                               item["repositoryName"]))
    return changes


# -- package groups ------------------------------------------------------------------------------

@operation("CreatePackageGroup")
def _create_package_group(ops: Operations, ctx: CallContext, p: dict[str, Any]) -> Any:
    g = _ops(ops)
    view = g.groups.create(ctx.principal, p["domain"], p["packageGroup"], p.get("description"),
                           p.get("contactInfo"), p.get("domainOwner"),
                           tags=tags_from_list(p.get("tags") or []))
    return {"packageGroup": _describe(g, p, view)}


@operation("DescribePackageGroup")
def _describe_package_group(ops: Operations, ctx: CallContext, p: dict[str, Any]) -> Any:
    g = _ops(ops)
    view = g.groups.describe(ctx.principal, p["domain"], p["packageGroup"], p.get("domainOwner"))
    return {"packageGroup": _describe(g, p, view)}


@operation("ListPackageGroups")
def _list_package_groups(ops: Operations, ctx: CallContext, p: dict[str, Any]) -> Any:
    g = _ops(ops)
    views = g.groups.list_groups(ctx.principal, p["domain"], p.get("domainOwner"),
                                 p.get("prefix"))
    items, token = page(views, p, "ListPackageGroups", _group_cursor)
    return {"packageGroups": [_describe(g, p, v) for v in items], "nextToken": token}


@operation("ListSubPackageGroups")
def _list_sub_package_groups(ops: Operations, ctx: CallContext, p: dict[str, Any]) -> Any:
    g = _ops(ops)
    views = g.groups.sub_groups(ctx.principal, p["domain"], p["packageGroup"],
                                p.get("domainOwner"))
    items, token = page(views, p, "ListSubPackageGroups", _group_cursor)
    return {"packageGroups": [_describe(g, p, v) for v in items], "nextToken": token}


@operation("GetAssociatedPackageGroup")
def _get_associated_package_group(ops: Operations, ctx: CallContext, p: dict[str, Any]) -> Any:
    g = _ops(ops)
    view, association = g.groups.associated_group(
        ctx.principal, p["domain"], p["format"], p.get("namespace"), p["package"],
        p.get("domainOwner"))
    return {"packageGroup": _describe(g, p, view), "associationType": association.value}


@operation("ListAssociatedPackages")
def _list_associated_packages(ops: Operations, ctx: CallContext, p: dict[str, Any]) -> Any:
    g = _ops(ops)
    packages = g.groups.associated_packages(ctx.principal, p["domain"], p["packageGroup"],
                                            bool(p.get("preview")), p.get("domainOwner"))
    items, token = page(packages, p, "ListAssociatedPackages",
                         lambda a: [a.format, a.namespace or "", a.name])
    return {"packages": [{"format": a.format, "namespace": a.namespace or None,
                          "package": a.name, "associationType": a.association.value}
                         for a in items], "nextToken": token}


@operation("UpdatePackageGroup")
def _update_package_group(ops: Operations, ctx: CallContext, p: dict[str, Any]) -> Any:
    g = _ops(ops)
    view = g.groups.update(ctx.principal, p["domain"], p["packageGroup"], p.get("description"),
                           p.get("contactInfo"), p.get("domainOwner"))
    return {"packageGroup": _describe(g, p, view)}


@operation("UpdatePackageGroupOriginConfiguration")
def _update_package_group_origin_configuration(ops: Operations, ctx: CallContext,
                                               p: dict[str, Any]) -> Any:
    g = _ops(ops)
    view, updates = g.groups.update_origin_configuration(
        ctx.principal, p["domain"], p["packageGroup"], p.get("restrictions"),
        _changes(p.get("addAllowedRepositories")), _changes(p.get("removeAllowedRepositories")),
        p.get("domainOwner"))
    return {"packageGroup": _describe(g, p, view),
            "allowedRepositoryUpdates": {restriction.value: kinds
                                         for restriction, kinds in updates.items()}}


@operation("ListAllowedRepositoriesForGroup")
def _list_allowed_repositories_for_group(ops: Operations, ctx: CallContext,
                                         p: dict[str, Any]) -> Any:
    g = _ops(ops)
    names = g.groups.allowed_repositories(ctx.principal, p["domain"], p["packageGroup"],
                                          p["originRestrictionType"], p.get("domainOwner"))
    items, token = page(names, p, "ListAllowedRepositoriesForGroup",
                         lambda name: [name])
    return {"allowedRepositories": list(items), "nextToken": token}


@operation("DeletePackageGroup")
def _delete_package_group(ops: Operations, ctx: CallContext, p: dict[str, Any]) -> Any:
    g = _ops(ops)
    view = g.groups.delete(ctx.principal, p["domain"], p["packageGroup"], p.get("domainOwner"))
    return {"packageGroup": _describe(g, p, view)}


# -- tags ----------------------------------------------------------------------------------------

@operation("TagResource")
def _tag_resource(ops: Operations, ctx: CallContext, p: dict[str, Any]) -> Any:
    _ops(ops).tags.tag(ctx.principal, p["resourceArn"], p["tags"])
    return {}


@operation("UntagResource")
def _untag_resource(ops: Operations, ctx: CallContext, p: dict[str, Any]) -> Any:
    _ops(ops).tags.untag(ctx.principal, p["resourceArn"], p["tagKeys"])
    return {}


@operation("ListTagsForResource")
def _list_tags_for_resource(ops: Operations, ctx: CallContext, p: dict[str, Any]) -> Any:
    return {"tags": _ops(ops).tags.list_tags(ctx.principal, p["resourceArn"])}

