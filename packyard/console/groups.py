"""The console's package groups: a domain's groups with their origin controls, a group's page
(associated packages, allowed repositories, sub-groups) and its actions.

As in ``browse.py``, every read and action goes through ``PackageGroups``, the service the
API's package group operations call, authorized there for the signed-in principal
(ListPackageGroups, DescribePackageGroup, ListAssociatedPackages, ...); ``may`` only decides
which forms to show.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from packyard.auth.principal import Principal
from packyard.console.services import ConsoleServices, Section, section
from packyard.errors import Invalid
from packyard.http import console_paths as paths
from packyard.package_groups.origin_controls import (
    AllowedRepositoryChange,
    EffectiveRestriction,
    RestrictionMode,
    RestrictionType,
)
from packyard.services.package_groups import AssociatedPackage, GroupView

# The restrictions in the order the pages show them, with their column headings.
RESTRICTIONS = (
    (RestrictionType.PUBLISH, "Publish"),
    (RestrictionType.EXTERNAL_UPSTREAM, "External upstream"),
    (RestrictionType.INTERNAL_UPSTREAM, "Internal upstream"),
)
MODES = tuple(mode.value for mode in RestrictionMode)


@dataclass(frozen=True)
class RestrictionCell:
    """One restriction of one group as the pages show it."""

    label: str
    restriction: str
    mode: str
    effective_mode: str
    inherited_from: str | None
    inherited_href: str | None
    allowed: list[str]  # the list that applies (the inherited group's when inherited)

    @property
    def text(self) -> str:
        shown = self.effective_mode
        if self.inherited_from is not None:
            shown += f" (inherited from {self.inherited_from})"
        return shown


@dataclass(frozen=True)
class GroupRow:
    pattern: str
    href: str
    description: str | None
    restrictions: list[RestrictionCell]


def _cells(domain: str, view: GroupView) -> list[RestrictionCell]:
    cells = []
    for restriction, label in RESTRICTIONS:
        effective: EffectiveRestriction = view.restrictions[restriction]
        source = effective.inherited_from
        cells.append(RestrictionCell(
            label, restriction.value, effective.mode.value, effective.effective_mode.value,
            source.text if source else None,
            paths.package_group_path(domain, source.text) if source else None,
            sorted(effective.allowed_repositories)))
    return cells


def _row(domain: str, view: GroupView) -> GroupRow:
    pattern = view.record.pattern
    return GroupRow(pattern, paths.package_group_path(domain, pattern), view.record.description,
                    _cells(domain, view))


def domain_groups(c: ConsoleServices, p: Principal, domain: str) -> Section[list[GroupRow]]:
    """ListPackageGroups, for the domain's page."""
    return section(lambda: [_row(domain, v) for v in c.groups.list_groups(p, domain)])


def may_create_group(c: ConsoleServices, p: Principal, domain: str) -> bool:
    return c.may(p, "codeartifact:CreatePackageGroup", c.groups.arn(domain, "/*"))


@dataclass(frozen=True)
class GroupLink:
    pattern: str
    href: str


@dataclass(frozen=True)
class PackageLink:
    package: AssociatedPackage
    text: str


@dataclass(frozen=True)
class GroupPage:
    domain: str
    group: GroupRow
    contact_info: str | None
    created_at: datetime
    is_root: bool
    parent: GroupLink | None
    sub_groups: Section[list[GroupRow]]
    packages: Section[list[PackageLink]]
    # The group's own allowed repository list per restriction (ListAllowedRepositoriesForGroup).
    allowed: dict[str, Section[list[str]]]
    repositories: list[str]  # the domain's, to add to a list
    can_update_origin: bool
    can_update: bool
    can_delete: bool


def _package_text(found: AssociatedPackage) -> str:
    namespace = f"{found.namespace}/" if found.namespace else ""
    if found.namespace and found.format == "npm":
        namespace = f"@{namespace}"
    return f"{found.format}: {namespace}{found.name}"


def group_page(c: ConsoleServices, p: Principal, domain: str, pattern: str) -> GroupPage:
    view = c.groups.describe(p, domain, pattern)
    text = view.record.pattern
    arn = c.groups.arn(domain, text)
    parent = (GroupLink(view.parent.text, paths.package_group_path(domain, view.parent.text))
              if view.parent is not None else None)
    can_update_origin = c.may(p, "codeartifact:UpdatePackageGroupOriginConfiguration", arn)
    repositories: list[str] = []
    if can_update_origin:
        listed = section(lambda: c.registry.list_repositories(p, domain_name=domain))
        repositories = sorted(r.name for r in listed.value or [])
    return GroupPage(
        domain, _row(domain, view), view.record.contact_info, view.record.created_at,
        view.record.parsed.is_root,
        parent,
        section(lambda: [_row(domain, v) for v in c.groups.sub_groups(p, domain, text)]),
        section(lambda: [PackageLink(a, _package_text(a))
                         for a in c.groups.associated_packages(p, domain, text)]),
        {r.value: section(lambda r=r: c.groups.allowed_repositories(  # type: ignore[misc]
            p, domain, text, r.value)) for r, _ in RESTRICTIONS},
        repositories, can_update_origin,
        c.may(p, "codeartifact:UpdatePackageGroup", arn),
        not view.record.parsed.is_root and c.may(p, "codeartifact:DeletePackageGroup", arn))


@dataclass(frozen=True)
class PackageGroupOf:
    """The group a package belongs to (GetAssociatedPackageGroup), for the package's page."""

    group: GroupRow
    association: str


def package_group_of(c: ConsoleServices, p: Principal, domain: str, fmt: str,
                     namespace: str | None, name: str) -> Section[PackageGroupOf]:
    def read() -> PackageGroupOf:
        view, association = c.groups.associated_group(p, domain, fmt, namespace, name)
        return PackageGroupOf(_row(domain, view), association.value)

    return section(read)


# -- actions ----------------------------------------------------------------------------------

def _text_or_none(value: str) -> str | None:
    return value.strip() or None


def create_group(c: ConsoleServices, p: Principal, domain: str, pattern: str,
                 description: str, contact_info: str) -> str:
    """CreatePackageGroup; returns the group's pattern as stored."""
    if not pattern.strip():
        raise Invalid("Enter the package group's pattern, for example /pypi//acme~")
    view = c.groups.create(p, domain, pattern.strip(), _text_or_none(description),
                           _text_or_none(contact_info))
    return view.record.pattern


def update_group(c: ConsoleServices, p: Principal, domain: str, pattern: str,
                 description: str, contact_info: str) -> None:
    """UpdatePackageGroup: the description and contact information."""
    c.groups.update(p, domain, pattern, description.strip(), contact_info.strip())


def set_origin_modes(c: ConsoleServices, p: Principal, domain: str, pattern: str,
                     fields: dict[str, str]) -> None:
    """UpdatePackageGroupOriginConfiguration with the three modes the form sends."""
    modes = {r.value: fields.get(r.value, "") for r, _ in RESTRICTIONS}
    c.groups.update_origin_configuration(p, domain, pattern, modes, (), ())


def change_allowed_repository(c: ConsoleServices, p: Principal, domain: str, pattern: str,
                              restriction: str, repository: str, add: bool) -> None:
    """UpdatePackageGroupOriginConfiguration adding a repository to one restriction's allowed
    list, or removing it."""
    if not repository:
        raise Invalid("Choose a repository")
    change = [AllowedRepositoryChange(restriction, repository)]
    c.groups.update_origin_configuration(p, domain, pattern, None,
                                         change if add else (), () if add else change)


def delete_group(c: ConsoleServices, p: Principal, domain: str, pattern: str) -> None:
    c.groups.delete(p, domain, pattern)
