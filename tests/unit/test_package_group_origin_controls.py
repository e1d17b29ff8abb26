"""Package group origin controls: inheritance, updates, and decisions with their reasons.

Cases follow the CodeArtifact User Guide, "Package group origin controls" (restriction settings,
allowed repository lists, and its two configuration examples), "Strong and weak match", and
"Editing package origin controls" on how a package's own settings combine with its group's.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from packyard.errors import Invalid
from packyard.package_groups.hierarchy import AssociatedGroup, associated_group
from packyard.package_groups.origin_controls import (
    NEW_GROUP_DEFAULT,
    ROOT_DEFAULT,
    AllowedRepositoryChange,
    OriginConfiguration,
    OriginDecision,
    RestrictionMode,
    RestrictionType,
    allowed_repositories,
    effective_restrictions,
    group_decision,
    origin_decision,
    update_origin_configuration,
)
from packyard.package_groups.patterns import (
    ROOT_GROUP,
    Association,
    PackageGroupPattern,
    parse_pattern,
)
from packyard.upstream.origin import PUBLISHED_FIRST as PUBLISHED
from packyard.upstream.origin import RETAINED_FIRST as RETAINED

PUBLISH = RestrictionType.PUBLISH
EXTERNAL = RestrictionType.EXTERNAL_UPSTREAM
INTERNAL = RestrictionType.INTERNAL_UPSTREAM
ALLOW, BLOCK = RestrictionMode.ALLOW, RestrictionMode.BLOCK
SPECIFIC, INHERIT = RestrictionMode.ALLOW_SPECIFIC_REPOSITORIES, RestrictionMode.INHERIT


def config(publish: RestrictionMode = INHERIT, external: RestrictionMode = INHERIT,
           internal: RestrictionMode = INHERIT, **lists: list[str]) -> OriginConfiguration:
    allowed = {RestrictionType(k.upper()): frozenset(v) for k, v in lists.items()}
    return OriginConfiguration({PUBLISH: publish, EXTERNAL: external, INTERNAL: internal},
                               allowed)


def g(text: str) -> PackageGroupPattern:
    return parse_pattern(text)


def test_the_root_allows_everything_and_new_groups_inherit() -> None:
    assert all(ROOT_DEFAULT.mode(t) is ALLOW for t in RestrictionType)
    assert all(NEW_GROUP_DEFAULT.mode(t) is INHERIT for t in RestrictionType)
    effective = effective_restrictions(g("/npm/*"), {})
    assert {t: (e.mode, e.effective_mode, e.inherited_from) for t, e in effective.items()} == {
        t: (INHERIT, ALLOW, ROOT_GROUP) for t in RestrictionType}


def test_inherit_takes_the_first_ancestor_that_does_not_inherit() -> None:
    configurations = {
        ROOT_GROUP: ROOT_DEFAULT,
        g("/npm/*"): config(publish=BLOCK, internal=SPECIFIC, internal_upstream=["repoA"]),
        g("/npm/space/*"): config(external=BLOCK, internal_upstream=["mine", "also-mine"]),
        g("/npm/space/ui$"): config(),
    }
    effective = effective_restrictions(g("/npm/space/ui$"), configurations)
    assert effective[PUBLISH].to_api() == {
        "mode": "INHERIT", "effectiveMode": "BLOCK", "repositoriesCount": 0,
        "inheritedFrom": {"pattern": "/npm/*"}}
    assert effective[EXTERNAL].to_api() == {
        "mode": "INHERIT", "effectiveMode": "BLOCK", "repositoriesCount": 0,
        "inheritedFrom": {"pattern": "/npm/space/*"}}
    # The allowed list that applies is the one of the group the mode comes from.
    assert effective[INTERNAL].allowed_repositories == {"repoA"}
    space = effective_restrictions(g("/npm/space/*"), configurations)
    # repositoriesCount is the group's own list, kept even while the mode inherits.
    assert space[INTERNAL].to_api() == {
        "mode": "INHERIT", "effectiveMode": "ALLOW_SPECIFIC_REPOSITORIES",
        "repositoriesCount": 2, "inheritedFrom": {"pattern": "/npm/*"}}
    assert space[EXTERNAL].to_api() == {"mode": "BLOCK", "effectiveMode": "BLOCK",
                                        "repositoriesCount": 0}


def test_deleting_a_parent_changes_what_its_children_inherit() -> None:
    # DeletePackageGroup: "if any of the child groups are inheriting any settings from the
    # parent, those settings could change."
    configurations = {g("/npm/*"): config(publish=BLOCK), g("/npm/space/*"): config()}
    assert effective_restrictions(g("/npm/space/*"), configurations)[PUBLISH] \
        .effective_mode is BLOCK
    del configurations[g("/npm/*")]
    assert effective_restrictions(g("/npm/space/*"), configurations)[PUBLISH] \
        .effective_mode is ALLOW


def decide(restriction: RestrictionType, repository: str,
           configurations: dict[PackageGroupPattern, OriginConfiguration],
           package: tuple[str, str | None, str]) -> OriginDecision:
    associated = associated_group(configurations, *package)
    return group_decision(restriction, repository, associated,
                          effective_restrictions(associated.pattern, configurations))


def test_guide_example_private_names_published_but_not_ingested() -> None:
    # "Allowing packages with private names to be published, but not ingested".
    configurations = {g("/npm/space/anycompany~"): config(publish=ALLOW, external=BLOCK,
                                                          internal=ALLOW)}
    private = ("npm", "space", "anycompany-ui")
    assert decide(PUBLISH, "my-repo", configurations, private) == OriginDecision(
        True, "package group /npm/space/anycompany~ allows publishing (PUBLISH: ALLOW)",
        g("/npm/space/anycompany~"))
    assert decide(EXTERNAL, "my-repo", configurations, private) == OriginDecision(
        False, "package group /npm/space/anycompany~ blocks versions from external connections "
        "(EXTERNAL_UPSTREAM: BLOCK)", g("/npm/space/anycompany~"))
    assert decide(INTERNAL, "my-repo", configurations, private).allowed
    # Everything else is the root's: ALLOW by default.
    assert decide(EXTERNAL, "my-repo", configurations, ("npm", None, "react")) == \
        OriginDecision(True, "package group /* allows versions from external connections "
                       "(EXTERNAL_UPSTREAM: ALLOW)", ROOT_GROUP)


GUIDE_THROUGH_ONE_REPOSITORY = {
    # "Allowing ingestion from external repositories through one repository":
    # repoA --> repoB --> npmjs.com
    g("/npm/space/anycompany~"): config(publish=BLOCK, external=SPECIFIC, internal=SPECIFIC,
                                        internal_upstream=["repoA"],
                                        external_upstream=["repoB"]),
}


@pytest.mark.parametrize(("restriction", "repository", "allowed", "reason"), [
    (EXTERNAL, "repoB", True, "package group /npm/space/anycompany~ allows versions from "
     "external connections into repository repoB (EXTERNAL_UPSTREAM: "
     "ALLOW_SPECIFIC_REPOSITORIES)"),
    (INTERNAL, "repoA", True, "package group /npm/space/anycompany~ allows versions from "
     "upstream repositories into repository repoA (INTERNAL_UPSTREAM: "
     "ALLOW_SPECIFIC_REPOSITORIES)"),
    (EXTERNAL, "repoA", False, "package group /npm/space/anycompany~ allows versions from "
     "external connections only into the repositories on its allowed list "
     "(EXTERNAL_UPSTREAM: ALLOW_SPECIFIC_REPOSITORIES: repoB), and repoA is not one of them"),
    (INTERNAL, "repoC", False, "package group /npm/space/anycompany~ allows versions from "
     "upstream repositories only into the repositories on its allowed list "
     "(INTERNAL_UPSTREAM: ALLOW_SPECIFIC_REPOSITORIES: repoA), and repoC is not one of them"),
    (PUBLISH, "repoA", False, "package group /npm/space/anycompany~ blocks publishing "
     "(PUBLISH: BLOCK)"),
])
def test_guide_example_ingestion_through_one_repository(
        restriction: RestrictionType, repository: str, allowed: bool, reason: str) -> None:
    decision = decide(restriction, repository, GUIDE_THROUGH_ONE_REPOSITORY,
                      ("npm", "space", "anycompany-ui"))
    assert (decision.allowed, decision.reason) == (allowed, reason)


def test_an_inherited_block_names_both_groups() -> None:
    configurations = {g("/pypi/*"): config(external=BLOCK), g("/pypi//acme~"): config()}
    assert decide(EXTERNAL, "r", configurations, ("pypi", None, "acme-tools")).reason == (
        "package group /pypi//acme~ blocks versions from external connections "
        "(EXTERNAL_UPSTREAM: BLOCK, inherited from package group /pypi/*)")


def test_an_empty_allowed_list_allows_no_repository() -> None:
    configurations = {g("/pypi/*"): config(publish=SPECIFIC)}
    assert decide(PUBLISH, "r", configurations, ("pypi", None, "x")).reason == (
        "package group /pypi/* allows publishing only into the repositories on its allowed "
        "list (PUBLISH: ALLOW_SPECIFIC_REPOSITORIES: none), and r is not one of them")


@pytest.mark.parametrize("restriction", list(RestrictionType))
def test_a_weak_match_blocks_whatever_the_group_allows(restriction: RestrictionType) -> None:
    # "the package is blocked instead of applying the group's origin control configuration"
    configurations = {g("/npm/*"): config(publish=BLOCK),
                      g("/npm//anycompany-spicy-client$"): config(ALLOW, ALLOW, ALLOW)}
    decision = decide(restriction, "r", configurations, ("npm", None, "AnyCompany-spicy-client"))
    what = {PUBLISH: "publishing", EXTERNAL: "versions from external connections",
            INTERNAL: "versions from upstream repositories"}[restriction]
    assert decision == OriginDecision(
        False, "the package is a variation of package group /npm//anycompany-spicy-client$'s "
        f"pattern (a weak match), so {what} is blocked: create a package group for its exact "
        "name to configure it", g("/npm//anycompany-spicy-client$"))
    assert decide(restriction, "r", configurations,
                  ("npm", None, "anycompany-spicy-client")).allowed


@dataclass(frozen=True)
class _Package:
    origin_publish: str
    origin_upstream: str


OPEN = _Package("ALLOW", "ALLOW")
# upstream/origin.py's defaults, as a package record carries them.
PUBLISHED_FIRST = _Package(PUBLISHED.publish, PUBLISHED.upstream)
RETAINED_FIRST = _Package(RETAINED.publish, RETAINED.upstream)

# "How package origin controls interact with package group origin controls": BLOCK on either
# side wins; a package left at publish/upstream ALLOW defers to its group.
COMBINED = [
    # package, group (publish, external, internal), effective (publish, external, internal)
    (OPEN, (ALLOW, ALLOW, ALLOW), (True, True, True)),
    (_Package("BLOCK", "ALLOW"), (ALLOW, ALLOW, ALLOW), (False, True, True)),
    (OPEN, (ALLOW, BLOCK, ALLOW), (True, False, True)),
    (PUBLISHED_FIRST, (ALLOW, ALLOW, ALLOW), (True, False, False)),
    (RETAINED_FIRST, (ALLOW, ALLOW, ALLOW), (False, True, True)),
    (RETAINED_FIRST, (ALLOW, BLOCK, ALLOW), (False, False, True)),
    (PUBLISHED_FIRST, (BLOCK, ALLOW, ALLOW), (False, False, False)),
    (None, (ALLOW, BLOCK, BLOCK), (True, False, False)),  # not in the repository yet
    (None, (ALLOW, ALLOW, ALLOW), (True, True, True)),
]


@pytest.mark.parametrize(("package", "modes", "expected"), COMBINED)
def test_the_more_restrictive_of_package_and_group_wins(
        package: _Package | None, modes: tuple[RestrictionMode, ...],
        expected: tuple[bool, bool, bool]) -> None:
    group = g("/pypi/*")
    configurations = {group: config(*modes)}
    associated = AssociatedGroup(group, Association.STRONG)
    effective = effective_restrictions(group, configurations)
    got = tuple(origin_decision(t, "r", associated, effective, package).allowed
                for t in (PUBLISH, EXTERNAL, INTERNAL))
    assert got == expected


def test_a_package_block_says_so_and_a_group_block_names_the_group() -> None:
    group = g("/pypi//acme~")
    associated = AssociatedGroup(group, Association.STRONG)
    open_group = effective_restrictions(group, {group: config(ALLOW, ALLOW, ALLOW)})
    assert origin_decision(PUBLISH, "r", associated, open_group, RETAINED_FIRST) == \
        OriginDecision(False, "the package's origin configuration in repository r blocks "
                       "publishing (publish: BLOCK)")
    assert origin_decision(EXTERNAL, "r", associated, open_group, PUBLISHED_FIRST).reason == (
        "the package's origin configuration in repository r blocks versions from external "
        "connections (upstream: BLOCK)")
    closed = effective_restrictions(group, {group: config(BLOCK, BLOCK, BLOCK)})
    assert origin_decision(PUBLISH, "r", associated, closed, RETAINED_FIRST).group == group


def test_update_sets_named_modes_and_edits_allowed_lists() -> None:
    current = config(publish=ALLOW, external=SPECIFIC, external_upstream=["old"])
    update = update_origin_configuration(
        g("/npm/*"), current,
        restrictions={"PUBLISH": "BLOCK", "INTERNAL_UPSTREAM": "ALLOW_SPECIFIC_REPOSITORIES"},
        add=[AllowedRepositoryChange("INTERNAL_UPSTREAM", "my_repo"),
             AllowedRepositoryChange("INTERNAL_UPSTREAM", "my_repo2"),
             AllowedRepositoryChange("INTERNAL_UPSTREAM", "my_repo")],
        remove=[AllowedRepositoryChange("INTERNAL_UPSTREAM", "my_repo2"),
                AllowedRepositoryChange("EXTERNAL_UPSTREAM", "old")])
    assert update.configuration.modes == {PUBLISH: BLOCK, EXTERNAL: SPECIFIC, INTERNAL: SPECIFIC}
    # Additions first, then removals: the guide's example adds and removes my_repo2 in one call.
    assert allowed_repositories(update.configuration, INTERNAL) == ["my_repo"]
    assert allowed_repositories(update.configuration, EXTERNAL) == []
    assert update.allowed_repository_updates == {
        INTERNAL: {"ADDED": ["my_repo", "my_repo2"], "REMOVED": ["my_repo2"]},
        EXTERNAL: {"REMOVED": ["old"]}}


def test_the_root_cannot_inherit() -> None:
    with pytest.raises(Invalid) as err:
        update_origin_configuration(ROOT_GROUP, ROOT_DEFAULT, restrictions={"PUBLISH": "INHERIT"})
    assert err.value.message == (
        "The root package group /* cannot inherit PUBLISH: it has no parent group; set ALLOW, "
        "BLOCK or ALLOW_SPECIFIC_REPOSITORIES")
    assert update_origin_configuration(g("/npm/*"), ROOT_DEFAULT,
                                       restrictions={"PUBLISH": "INHERIT"}) \
        .configuration.mode(PUBLISH) is INHERIT


@pytest.mark.parametrize(("restrictions", "add", "message"), [
    ({"DOWNLOAD": "ALLOW"}, [], '"DOWNLOAD" is not an origin restriction type (one of PUBLISH, '
     'EXTERNAL_UPSTREAM, INTERNAL_UPSTREAM)'),
    ({"PUBLISH": "MAYBE"}, [], '"MAYBE" is not an origin restriction mode (one of ALLOW, BLOCK, '
     'ALLOW_SPECIFIC_REPOSITORIES, INHERIT)'),
    ({}, [AllowedRepositoryChange("UPSTREAM", "r")], '"UPSTREAM" is not an origin restriction '
     'type (one of PUBLISH, EXTERNAL_UPSTREAM, INTERNAL_UPSTREAM)'),
])
def test_update_refuses_unknown_types_and_modes(restrictions: dict[str, str],
                                                add: list[AllowedRepositoryChange],
                                                message: str) -> None:
    with pytest.raises(Invalid) as err:
        update_origin_configuration(g("/npm/*"), NEW_GROUP_DEFAULT, restrictions, add)
    assert err.value.message == message


def test_a_stored_root_that_inherits_counts_as_allow() -> None:
    # Updates refuse it, but a root stored by hand with INHERIT must not leave groups without
    # an effective mode.
    effective = effective_restrictions(g("/npm/*"), {ROOT_GROUP: config()})
    assert effective[PUBLISH].effective_mode is ALLOW
