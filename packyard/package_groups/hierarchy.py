"""The package group hierarchy: the group a package belongs to, and a group's parent and children.

CodeArtifact User Guide, "Package group hierarchy and pattern specificity": a package is
associated with exactly one group, the most specific one whose pattern it matches, and only that
group's configuration applies to it; when one group's packages are a proper subset of another's,
it is a subgroup of it. The root group ``/*`` exists in every domain, so every package has a
group and every other group a parent. ``DeletePackageGroup``: "the direct child package groups
will become children of the package group's direct parent", which computing parents from the
patterns that exist gives for free.

Weak matches count as matches ("weak match behavior prevents packages that are variations of a
package group's pattern from rolling up to a more general package group"); between a strong and
a weak match of equal specificity (``/npm//AsyncStorage$`` and ``/npm//asyncstorage$`` for the
package ``asyncstorage``) the strong one wins, and between two weak ones the pattern that sorts
first, so the answer never depends on the order groups are listed in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from packyard.package_groups.patterns import (
    ROOT_GROUP,
    Association,
    PackageGroupPattern,
)


@dataclass(frozen=True)
class AssociatedGroup:
    """GetAssociatedPackageGroup's answer: the group and the strength of the match."""

    pattern: PackageGroupPattern
    association: Association


def associated_group(groups: Iterable[PackageGroupPattern], fmt: str, namespace: str | None,
                     name: str) -> AssociatedGroup:
    """The most specific of ``groups`` (plus the root, always there) that the package matches."""
    best = AssociatedGroup(ROOT_GROUP, Association.STRONG)
    for group in groups:
        association = group.match(fmt, namespace, name)
        if association is None:
            continue
        candidate = AssociatedGroup(group, association)
        if _ranks_above(candidate, best):
            best = candidate
    return best


def _ranks_above(a: AssociatedGroup, b: AssociatedGroup) -> bool:
    a_key = (a.pattern.specificity, a.association is Association.STRONG)
    b_key = (b.pattern.specificity, b.association is Association.STRONG)
    if a_key != b_key:
        return a_key > b_key
    return a.pattern.text < b.pattern.text


def parent_group(group: PackageGroupPattern,
                 groups: Iterable[PackageGroupPattern]) -> PackageGroupPattern | None:
    """The group's direct parent among ``groups``: the most specific group containing it.

    None for the root; the root when no other group contains it.
    """
    if group.is_root:
        return None
    parent = ROOT_GROUP
    for candidate in groups:
        if candidate.contains(group) and candidate.specificity > parent.specificity:
            parent = candidate
    return parent


def ancestors(group: PackageGroupPattern,
              groups: Iterable[PackageGroupPattern]) -> list[PackageGroupPattern]:
    """The group's parent, its parent's parent, ... up to the root (empty for the root)."""
    containers = [g for g in groups if g.contains(group) and not g.is_root]
    chain = sorted(containers, key=lambda g: g.specificity, reverse=True)
    return chain + ([] if group.is_root else [ROOT_GROUP])


def sub_groups(group: PackageGroupPattern,
               groups: Iterable[PackageGroupPattern]) -> list[PackageGroupPattern]:
    """ListSubPackageGroups: the group's direct children (not grandchildren), sorted.

    Every group between a descendant and ``group`` is itself a descendant (the groups containing
    a package form a chain), so a descendant's parent is found among the descendants.
    """
    descendants = [g for g in set(groups) if group.contains(g)]
    children = [g for g in descendants
                if parent_group(g, [*descendants, group]) == group]
    return sorted(children, key=lambda g: g.text)
