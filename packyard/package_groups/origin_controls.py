"""Package group origin controls: restriction modes, inheritance, and the decision for one way a
version may enter one repository.

CodeArtifact User Guide, "Package group origin controls":

- Three restrictions: ``PUBLISH`` (published directly to a repository), ``EXTERNAL_UPSTREAM``
  (ingested from a public repository through an external connection) and ``INTERNAL_UPSTREAM``
  (retained from another repository of the domain configured as an upstream). In the guide's
  example ``repoA --> repoB --> npmjs.com``, ``repoB`` (which owns the external connection) is
  on the ``EXTERNAL_UPSTREAM`` list and ``repoA`` (which takes the version from ``repoB``) on
  the ``INTERNAL_UPSTREAM`` list: each repository a version enters is checked for the way it
  enters that repository.
- Modes ``ALLOW`` (into every repository), ``BLOCK`` (into none), ``ALLOW_SPECIFIC_REPOSITORIES``
  (only into the repositories on that restriction's allowed list) and ``INHERIT`` ("inherited
  from the first parent package group with a setting that is not INHERIT"); the API's
  PackageGroupOriginRestriction reports ``mode``, ``effectiveMode``, ``inheritedFrom`` and
  ``repositoriesCount``. The root group ``/*`` allows everything by default ("allows package
  versions to enter repositories in the domain from all origin types by default"); it has no
  parent, so it cannot inherit. A new group inherits all three.
- A package that weakly matches its group ("Strong and weak match") is blocked "instead of
  applying the group's origin control configuration".
- Package groups and a package's own origin configuration (``upstream/origin.py``: ``publish``
  and ``upstream`` ALLOW/BLOCK) both apply, and the more restrictive wins: a BLOCK on either
  side blocks; a package left at ``publish: ALLOW, upstream: ALLOW`` defers to its group. The
  package's ``upstream`` setting covers both upstream restrictions. The guide's "Package group
  origin controls" page defers this to "How package origin controls interact with package
  group origin controls" (package-origin-controls.md), whose text could not be read when this
  was checked; the rule is the issue's ("the more restrictive wins"), and with package settings
  that are only ALLOW or BLOCK it has one reading. docs/decisions/0009 records this.

Pure functions: the caller loads the groups' configurations and puts a decision's reason, which
names the deciding group, into its own error message.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, Protocol

from packyard.errors import Invalid
from packyard.package_groups.hierarchy import AssociatedGroup, ancestors
from packyard.package_groups.patterns import Association, PackageGroupPattern


class RestrictionType(enum.StrEnum):
    """A way a package version enters a repository (PackageGroupOriginRestrictionType)."""

    PUBLISH = "PUBLISH"
    EXTERNAL_UPSTREAM = "EXTERNAL_UPSTREAM"
    INTERNAL_UPSTREAM = "INTERNAL_UPSTREAM"


class RestrictionMode(enum.StrEnum):
    """PackageGroupOriginRestrictionMode."""

    ALLOW = "ALLOW"
    BLOCK = "BLOCK"
    ALLOW_SPECIFIC_REPOSITORIES = "ALLOW_SPECIFIC_REPOSITORIES"
    INHERIT = "INHERIT"


_WHAT: Final = {
    RestrictionType.PUBLISH: "publishing",
    RestrictionType.EXTERNAL_UPSTREAM: "versions from external connections",
    RestrictionType.INTERNAL_UPSTREAM: "versions from upstream repositories",
}


@dataclass(frozen=True)
class OriginConfiguration:
    """One group's own origin control settings: a mode per restriction, and the allowed
    repository lists (kept whatever the mode, as the API keeps them)."""

    modes: Mapping[RestrictionType, RestrictionMode]
    allowed_repositories: Mapping[RestrictionType, frozenset[str]] = field(default_factory=dict)

    def mode(self, restriction: RestrictionType) -> RestrictionMode:
        return self.modes.get(restriction, RestrictionMode.INHERIT)

    def allowed(self, restriction: RestrictionType) -> frozenset[str]:
        return self.allowed_repositories.get(restriction, frozenset())


ROOT_DEFAULT: Final = OriginConfiguration({t: RestrictionMode.ALLOW for t in RestrictionType})
"""The root group's settings until someone changes them."""

NEW_GROUP_DEFAULT: Final = OriginConfiguration({t: RestrictionMode.INHERIT
                                                for t in RestrictionType})
"""A group's settings when it is created."""


@dataclass(frozen=True)
class EffectiveRestriction:
    """One restriction of one group as PackageGroupOriginRestriction describes it, plus the
    allowed list that applies (the list of the group the mode comes from)."""

    restriction: RestrictionType
    mode: RestrictionMode
    effective_mode: RestrictionMode
    inherited_from: PackageGroupPattern | None  # the first non-INHERIT ancestor, if inherited
    repositories_count: int  # the group's own allowed list
    allowed_repositories: frozenset[str]

    def to_api(self) -> dict[str, object]:
        """The PackageGroupOriginRestriction structure (the caller adds the ARN to the
        reference)."""
        described: dict[str, object] = {"mode": self.mode.value,
                                        "effectiveMode": self.effective_mode.value,
                                        "repositoriesCount": self.repositories_count}
        if self.inherited_from is not None:
            described["inheritedFrom"] = {"pattern": self.inherited_from.text}
        return described


def effective_restrictions(group: PackageGroupPattern,
                           configurations: Mapping[PackageGroupPattern, OriginConfiguration]
                           ) -> dict[RestrictionType, EffectiveRestriction]:
    """Each restriction of ``group`` with INHERIT resolved up the hierarchy.

    ``configurations`` holds every group of the domain (the hierarchy comes from its keys); a
    group missing from it has the defaults (``ROOT_DEFAULT`` for the root, else
    ``NEW_GROUP_DEFAULT``).
    """
    own = _configuration(group, configurations)
    chain = ancestors(group, configurations.keys())
    result: dict[RestrictionType, EffectiveRestriction] = {}
    for restriction in RestrictionType:
        mode = own.mode(restriction)
        source, source_config = group, own
        if mode is RestrictionMode.INHERIT:
            for ancestor in chain:
                config = _configuration(ancestor, configurations)
                if config.mode(restriction) is not RestrictionMode.INHERIT:
                    source, source_config = ancestor, config
                    break
        effective = source_config.mode(restriction)
        if effective is RestrictionMode.INHERIT:
            effective = RestrictionMode.ALLOW  # only a stored root set to INHERIT gets here
        result[restriction] = EffectiveRestriction(
            restriction=restriction, mode=mode, effective_mode=effective,
            inherited_from=source if source != group else None,
            repositories_count=len(own.allowed(restriction)),
            allowed_repositories=source_config.allowed(restriction))
    return result


def _configuration(group: PackageGroupPattern,
                   configurations: Mapping[PackageGroupPattern, OriginConfiguration]
                   ) -> OriginConfiguration:
    found = configurations.get(group)
    if found is not None:
        return found
    return ROOT_DEFAULT if group.is_root else NEW_GROUP_DEFAULT


# ---------------------------------------------------------------------------------------------
# UpdatePackageGroupOriginConfiguration


@dataclass(frozen=True)
class AllowedRepositoryChange:
    """One entry of ``addAllowedRepositories`` or ``removeAllowedRepositories``."""

    restriction: str  # a RestrictionType; checked when applied
    repository: str


@dataclass(frozen=True)
class OriginUpdate:
    """The configuration after an update, and ``allowedRepositoryUpdates`` for the answer."""

    configuration: OriginConfiguration
    allowed_repository_updates: dict[RestrictionType, dict[str, list[str]]]


def update_origin_configuration(group: PackageGroupPattern, current: OriginConfiguration,
                                restrictions: Mapping[str, str] | None = None,
                                add: Sequence[AllowedRepositoryChange] = (),
                                remove: Sequence[AllowedRepositoryChange] = ()
                                ) -> OriginUpdate:
    """Apply UpdatePackageGroupOriginConfiguration to a group's own settings.

    ``restrictions`` sets the modes it names and leaves the others; additions are applied, then
    removals (so a repository both added and removed in one call ends up off the list).
    ``allowedRepositoryUpdates`` lists, per restriction, the repositories the request added
    and removed (``ADDED``/``REMOVED``), each once, in request order. Whether the repositories
    exist is the caller's to check (ResourceNotFoundException).
    """
    modes = dict(current.modes)
    for raw_type, raw_mode in (restrictions or {}).items():
        restriction = _restriction_type(raw_type)
        mode = _restriction_mode(raw_mode)
        if mode is RestrictionMode.INHERIT and group.is_root:
            raise Invalid(f"The root package group {group} cannot inherit {restriction}: it has "
                          "no parent group; set ALLOW, BLOCK or ALLOW_SPECIFIC_REPOSITORIES",
                          resource_id=group.text, resource_type="package-group")
        modes[restriction] = mode
    lists = {t: set(current.allowed(t)) for t in RestrictionType}
    updates: dict[RestrictionType, dict[str, list[str]]] = {}
    for kind, changes in (("ADDED", add), ("REMOVED", remove)):
        for change in changes:
            restriction = _restriction_type(change.restriction)
            if kind == "ADDED":
                lists[restriction].add(change.repository)
            else:
                lists[restriction].discard(change.repository)
            names = updates.setdefault(restriction, {}).setdefault(kind, [])
            if change.repository not in names:
                names.append(change.repository)
    configuration = OriginConfiguration(
        modes=modes,
        allowed_repositories={t: frozenset(names) for t, names in lists.items() if names})
    return OriginUpdate(configuration, updates)


def _restriction_type(raw: str) -> RestrictionType:
    try:
        return RestrictionType(raw)
    except ValueError:
        raise Invalid(f'"{raw}" is not an origin restriction type (one of '
                      f'{", ".join(RestrictionType)})') from None


def _restriction_mode(raw: str) -> RestrictionMode:
    try:
        return RestrictionMode(raw)
    except ValueError:
        raise Invalid(f'"{raw}" is not an origin restriction mode (one of '
                      f'{", ".join(RestrictionMode)})') from None


def allowed_repositories(configuration: OriginConfiguration,
                         restriction: RestrictionType) -> list[str]:
    """ListAllowedRepositoriesForGroup: the group's own list for one restriction, sorted."""
    return sorted(configuration.allowed(restriction))


# ---------------------------------------------------------------------------------------------
# Decisions


@dataclass(frozen=True)
class OriginDecision:
    """Whether a version may enter a repository one way, and why, in words for a message.

    ``group`` is the package group whose setting decided (None when the package's own origin
    configuration did).
    """

    allowed: bool
    reason: str
    group: PackageGroupPattern | None = None


def group_decision(restriction: RestrictionType, repository: str, associated: AssociatedGroup,
                   effective: Mapping[RestrictionType, EffectiveRestriction]) -> OriginDecision:
    """What the package's group says about ``restriction`` into ``repository``.

    ``associated`` is the package's group (``hierarchy.associated_group``) and ``effective``
    that group's ``effective_restrictions``.
    """
    group = associated.pattern
    what = _WHAT[restriction]
    if associated.association is Association.WEAK:
        return OriginDecision(
            False, f"the package is a variation of package group {group}'s pattern (a weak "
            f"match), so {what} is blocked: create a package group for its exact name to "
            "configure it", group)
    setting = effective[restriction]
    mode = setting.effective_mode
    source = (f", inherited from package group {setting.inherited_from}"
              if setting.inherited_from is not None else "")
    label = f"{restriction}: {mode}{source}"
    if mode is RestrictionMode.ALLOW:
        return OriginDecision(True, f"package group {group} allows {what} ({label})", group)
    if mode is RestrictionMode.BLOCK:
        return OriginDecision(False, f"package group {group} blocks {what} ({label})", group)
    names = ", ".join(sorted(setting.allowed_repositories)) or "none"
    if repository in setting.allowed_repositories:
        return OriginDecision(True, f"package group {group} allows {what} into repository "
                              f"{repository} ({label})", group)
    return OriginDecision(False, f"package group {group} allows {what} only into the "
                          f"repositories on its allowed list ({label}: {names}), and "
                          f"{repository} is not one of them", group)


class PackageRestrictions(Protocol):
    """A package's own origin configuration in one repository (``upstream/origin.py``)."""

    @property
    def origin_publish(self) -> str: ...

    @property
    def origin_upstream(self) -> str: ...


def origin_decision(restriction: RestrictionType, repository: str, associated: AssociatedGroup,
                    effective: Mapping[RestrictionType, EffectiveRestriction],
                    package: PackageRestrictions | None) -> OriginDecision:
    """The group's and the package's settings together: the more restrictive wins.

    ``package`` is the package's record in ``repository``, None when the repository does not
    hold it yet (no package-level setting then). When both block, the group is named: it is the
    setting that holds for every repository.
    """
    by_group = group_decision(restriction, repository, associated, effective)
    if not by_group.allowed or package is None:
        return by_group
    if restriction is RestrictionType.PUBLISH:
        setting, value = "publish", package.origin_publish
    else:
        setting, value = "upstream", package.origin_upstream
    if value == RestrictionMode.BLOCK:
        return OriginDecision(False, f"the package's origin configuration in repository "
                              f"{repository} blocks {_WHAT[restriction]} ({setting}: BLOCK)")
    return by_group

