"""Package group origin controls on the upstream search: which steps a request may take.

A version found upstream enters repositories two ways (CodeArtifact User Guide, "Package group
origin controls", its example ``repoA --> repoB --> npmjs.com``): the repository that owns the
external connection ingests it (``EXTERNAL_UPSTREAM`` into that repository), and the requested
repository retains it from its upstream (``INTERNAL_UPSTREAM`` into the requested repository).
So a step of the search is taken only when the package's group allows each way the version
would enter a repository through it; a step left out is never fetched from. The package's own
origin configuration (``upstream: BLOCK``) is applied by the search itself
(``graph.search_steps``): a BLOCK on either side wins.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from packyard.package_groups.hierarchy import AssociatedGroup, associated_group
from packyard.package_groups.origin_controls import (
    EffectiveRestriction,
    OriginConfiguration,
    OriginDecision,
    RestrictionType,
    effective_restrictions,
    group_decision,
)
from packyard.package_groups.patterns import PackageGroupPattern
from packyard.upstream.graph import SearchStep

_MAX_REMEMBERED: Final = 4096


@dataclass(frozen=True)
class DomainGroups:
    """A domain's package groups with their own origin configurations, patterns parsed.

    One lives as long as the resolver's cache keeps it (until the next catalog write, or its
    TTL), so it remembers each package's decisions: matching a name against every group and
    resolving INHERIT cost tens of microseconds a group, paid once per name instead of on every
    upstream search.
    """

    configurations: Mapping[PackageGroupPattern, OriginConfiguration]
    _remembered: dict[tuple[str, str, str], PackageDecisions] = field(
        default_factory=dict, compare=False, repr=False)
    _effective: dict[PackageGroupPattern, Mapping[RestrictionType, EffectiveRestriction]] = (
        field(default_factory=dict, compare=False, repr=False))

    def deciding(self, fmt: str, namespace: str, name: str) -> PackageDecisions:
        key = (fmt, namespace, name)
        remembered = self._remembered.get(key)
        if remembered is not None:
            return remembered
        found = associated_group(self.configurations.keys(), fmt, namespace or None, name)
        effective = self._effective.get(found.pattern)
        if effective is None:
            effective = effective_restrictions(found.pattern, self.configurations)
            self._effective[found.pattern] = effective
        decisions = PackageDecisions(found, effective)
        if len(self._remembered) >= _MAX_REMEMBERED:
            self._remembered.clear()  # bounded: names are the caller's to choose
        self._remembered[key] = decisions
        return decisions


@dataclass(frozen=True)
class PackageDecisions:
    """What one package's group says, for any restriction and repository."""

    associated: AssociatedGroup
    effective: Mapping[RestrictionType, EffectiveRestriction]

    def decide(self, restriction: RestrictionType, repository: str) -> OriginDecision:
        return group_decision(restriction, repository, self.associated, self.effective)


def allowed_steps(steps: Sequence[SearchStep], requester_id: int, names: Mapping[int, str],
                  decisions: PackageDecisions) -> tuple[list[SearchStep], list[OriginDecision]]:
    """The steps the package's group lets a request to ``requester_id`` take, and the
    decisions that left the others out."""
    kept: list[SearchStep] = []
    refused: list[OriginDecision] = []
    retained = decisions.decide(RestrictionType.INTERNAL_UPSTREAM, names[requester_id])
    for step in steps:
        if step.repository_id == requester_id and not step.is_external:
            kept.append(step)
            continue
        if step.repository_id != requester_id and not retained.allowed:
            refused.append(retained)
            continue
        if step.is_external:
            ingested = decisions.decide(RestrictionType.EXTERNAL_UPSTREAM,
                                        names[step.repository_id])
            if not ingested.allowed:
                refused.append(ingested)
                continue
        kept.append(step)
    return kept, refused
