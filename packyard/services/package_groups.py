"""Package groups through the API: CreatePackageGroup and the nine operations around it.

Every method authorizes the CodeArtifact action on the group's ARN (the domain's for
ListPackageGroups and GetAssociatedPackageGroup) with the names from the request, before
anything is looked up. The rules are ``packyard.package_groups``'s; enforcement (publishing,
upstream fetches) is in the catalog's publishing transaction and the upstream resolver.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from packyard.auth.principal import Principal
from packyard.errors import Invalid, NotFound
from packyard.metadata.catalog import PackageGroupRecord
from packyard.model import Domain
from packyard.package_groups.hierarchy import AssociatedGroup, associated_group, parent_group
from packyard.package_groups.hierarchy import sub_groups as direct_children
from packyard.package_groups.origin_controls import (
    AllowedRepositoryChange,
    EffectiveRestriction,
    OriginConfiguration,
    RestrictionType,
    effective_restrictions,
    update_origin_configuration,
)
from packyard.package_groups.patterns import (
    Association,
    Component,
    PackageGroupPattern,
    parse_pattern,
)
from packyard.policy.tags import tag_context
from packyard.services.registry import Registry
from packyard.tagging.resource_tags import tags_for_new_resource

_MAX_TEXT = 1000  # Description and PackageGroupContactInfo in the model


@dataclass(frozen=True)
class GroupView:
    """A group as DescribePackageGroup describes it: the record, its parent and the effective
    restrictions (INHERIT resolved)."""

    record: PackageGroupRecord
    parent: PackageGroupPattern | None
    restrictions: Mapping[RestrictionType, EffectiveRestriction]


@dataclass(frozen=True)
class AssociatedPackage:
    format: str
    namespace: str
    name: str
    association: Association


class PackageGroups:
    """The package group operations, on the registry's catalog, authorizer and ARNs."""

    def __init__(self, registry: Registry) -> None:
        self._registry = registry
        self._catalog = registry.catalog
        self._authorizer = registry.authorizer
        self._arns = registry.arns
        self._rules = {rules.name: rules for rules in registry.formats}

    # -- names ---------------------------------------------------------------------------------

    def arn(self, domain_name: str, pattern: str) -> str:
        return self._arns.package_group(domain_name, pattern)

    def _normalize(self, fmt: str, component: Component, value: str) -> str:
        rules = self._rules.get(fmt)
        if rules is None:  # a format this server does not serve: names as written
            return value
        if component == "name":
            return rules.normalize_name(value)
        return rules.normalize_namespace(value)

    def parse(self, pattern: str) -> PackageGroupPattern:
        """A pattern from a request, checked (ValidationException with what is wrong)."""
        return parse_pattern(pattern, normalize=self._normalize)

    def _check(self, principal: Principal, action: str, domain_name: str, pattern: str,
               context: Mapping[str, object] | None = None) -> None:
        self._authorizer.check(principal, f"codeartifact:{action}",
                               self.arn(domain_name, pattern), context)

    def _domain(self, domain_name: str, domain_owner: str | None) -> Domain:
        return self._registry.get_domain(domain_name, domain_owner)

    def _views(self, domain: Domain) -> tuple[list[PackageGroupRecord],
                                              dict[PackageGroupPattern, PackageGroupRecord]]:
        records = self._catalog.list_package_groups(domain)
        return records, {record.parsed: record for record in records}

    def _view(self, record: PackageGroupRecord,
              by_pattern: Mapping[PackageGroupPattern, PackageGroupRecord]) -> GroupView:
        configurations = {p: r.configuration for p, r in by_pattern.items()}
        parsed = record.parsed
        return GroupView(record, parent_group(parsed, by_pattern.keys()),
                         effective_restrictions(parsed, configurations))

    def _find(self, domain: Domain, pattern: str,
              by_pattern: Mapping[PackageGroupPattern, PackageGroupRecord]
              ) -> PackageGroupRecord:
        found = by_pattern.get(self.parse(pattern))
        if found is None:
            raise NotFound(f"Package group {pattern} not found in domain {domain.name}",
                           resource_id=pattern, resource_type="package-group")
        return found

    # -- operations ----------------------------------------------------------------------------

    def create(self, principal: Principal, domain_name: str, pattern: str,
               description: str | None, contact_info: str | None,
               domain_owner: str | None = None,
               tags: Mapping[str, str] | None = None) -> GroupView:
        parsed = self.parse(pattern)
        new_tags = tags_for_new_resource(tags or {})
        context = tag_context(request_tags=new_tags)
        self._check(principal, "CreatePackageGroup", domain_name, parsed.text, context)
        if new_tags:
            self._check(principal, "TagResource", domain_name, parsed.text, context)
        _check_text("description", description)
        _check_text("contactInfo", contact_info)
        domain = self._domain(domain_name, domain_owner)
        record = self._catalog.create_package_group(domain, parsed.text, description,
                                                    contact_info, self._registry.clock.now(),
                                                    new_tags)
        return self._view(record, self._views(domain)[1])

    def describe(self, principal: Principal, domain_name: str, pattern: str,
                 domain_owner: str | None = None) -> GroupView:
        parsed = self.parse(pattern)
        self._check(principal, "DescribePackageGroup", domain_name, parsed.text)
        domain = self._domain(domain_name, domain_owner)
        _, by_pattern = self._views(domain)
        return self._view(self._find(domain, parsed.text, by_pattern), by_pattern)

    def list_groups(self, principal: Principal, domain_name: str,
                    domain_owner: str | None = None,
                    prefix: str | None = None) -> list[GroupView]:
        self._authorizer.check(principal, "codeartifact:ListPackageGroups",
                               self._arns.domain(domain_name))
        domain = self._domain(domain_name, domain_owner)
        records, by_pattern = self._views(domain)
        return [self._view(r, by_pattern) for r in records
                if not prefix or r.pattern.startswith(prefix)]

    def sub_groups(self, principal: Principal, domain_name: str, pattern: str,
                   domain_owner: str | None = None) -> list[GroupView]:
        parsed = self.parse(pattern)
        self._check(principal, "ListSubPackageGroups", domain_name, parsed.text)
        domain = self._domain(domain_name, domain_owner)
        _, by_pattern = self._views(domain)
        group = self._find(domain, parsed.text, by_pattern).parsed
        return [self._view(by_pattern[child], by_pattern)
                for child in direct_children(group, by_pattern.keys())]

    def associated_group(self, principal: Principal, domain_name: str, fmt: str,
                         namespace: str | None, package: str,
                         domain_owner: str | None = None
                         ) -> tuple[GroupView, Association]:
        self._authorizer.check(principal, "codeartifact:GetAssociatedPackageGroup",
                               self._arns.domain(domain_name))
        domain = self._domain(domain_name, domain_owner)
        _, by_pattern = self._views(domain)
        ns = self._normalize(fmt, "namespace", namespace) if namespace else None
        found = associated_group(by_pattern.keys(), fmt, ns, self._normalize(fmt, "name",
                                                                              package))
        return self._view(by_pattern[found.pattern], by_pattern), found.association

    def associated_packages(self, principal: Principal, domain_name: str, pattern: str,
                            preview: bool = False, domain_owner: str | None = None
                            ) -> list[AssociatedPackage]:
        """The domain's packages whose group this is; with ``preview``, those that would be
        if the group existed (ListAssociatedPackages ``--preview``)."""
        parsed = self.parse(pattern)
        self._check(principal, "ListAssociatedPackages", domain_name, parsed.text)
        domain = self._domain(domain_name, domain_owner)
        _, by_pattern = self._views(domain)
        groups = set(by_pattern)
        if parsed not in groups:
            if not preview:
                self._find(domain, parsed.text, by_pattern)
            groups.add(parsed)
        found: list[AssociatedPackage] = []
        for fmt, namespace, name in self._catalog.domain_packages(domain.id):
            group: AssociatedGroup = associated_group(groups, fmt, namespace or None, name)
            if group.pattern == parsed:
                found.append(AssociatedPackage(fmt, namespace, name, group.association))
        return found

    def update(self, principal: Principal, domain_name: str, pattern: str,
               description: str | None, contact_info: str | None,
               domain_owner: str | None = None) -> GroupView:
        parsed = self.parse(pattern)
        self._check(principal, "UpdatePackageGroup", domain_name, parsed.text)
        _check_text("description", description)
        _check_text("contactInfo", contact_info)
        domain = self._domain(domain_name, domain_owner)
        record = self._catalog.update_package_group(domain, parsed.text, description,
                                                    contact_info)
        return self._view(record, self._views(domain)[1])

    def update_origin_configuration(
            self, principal: Principal, domain_name: str, pattern: str,
            restrictions: Mapping[str, str] | None,
            add: Sequence[AllowedRepositoryChange], remove: Sequence[AllowedRepositoryChange],
            domain_owner: str | None = None
    ) -> tuple[GroupView, dict[RestrictionType, dict[str, list[str]]]]:
        parsed = self.parse(pattern)
        self._check(principal, "UpdatePackageGroupOriginConfiguration", domain_name,
                    parsed.text)
        domain = self._domain(domain_name, domain_owner)
        updates: dict[RestrictionType, dict[str, list[str]]] = {}

        def change(current: OriginConfiguration) -> OriginConfiguration:
            update = update_origin_configuration(parsed, current, restrictions, add, remove)
            updates.update(update.allowed_repository_updates)
            return update.configuration

        _, after = self._catalog.update_package_group_origin(domain, parsed.text, change)
        return self._view(after, self._views(domain)[1]), updates

    def allowed_repositories(self, principal: Principal, domain_name: str, pattern: str,
                             restriction: str, domain_owner: str | None = None) -> list[str]:
        parsed = self.parse(pattern)
        self._check(principal, "ListAllowedRepositoriesForGroup", domain_name, parsed.text)
        try:
            kind = RestrictionType(restriction)
        except ValueError:
            raise Invalid(f'"{restriction}" is not an origin restriction type (one of '
                          f'{", ".join(RestrictionType)})') from None
        domain = self._domain(domain_name, domain_owner)
        record = self._catalog.get_package_group(domain, parsed.text)
        return sorted(record.configuration.allowed(kind))

    def delete(self, principal: Principal, domain_name: str, pattern: str,
               domain_owner: str | None = None) -> GroupView:
        """Delete a group; returns it as it was. Its sub-groups move up to its parent."""
        parsed = self.parse(pattern)
        self._check(principal, "DeletePackageGroup", domain_name, parsed.text)
        if parsed.is_root:
            raise Invalid("The root package group /* cannot be deleted: every domain has it",
                          resource_id=parsed.text, resource_type="package-group")
        domain = self._domain(domain_name, domain_owner)
        _, by_pattern = self._views(domain)
        view = self._view(self._find(domain, parsed.text, by_pattern), by_pattern)
        self._catalog.delete_package_group(domain, parsed.text)
        return view


def _check_text(field: str, value: str | None) -> None:
    if value is not None and len(value) > _MAX_TEXT:
        raise Invalid(f"{field} has {len(value)} characters; at most {_MAX_TEXT}")
