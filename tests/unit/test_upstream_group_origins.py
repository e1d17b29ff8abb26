"""Which steps of the upstream search a package's group allows (``upstream/group_origins``):
EXTERNAL_UPSTREAM into the repository owning the connection, INTERNAL_UPSTREAM into the
requested one, the requested repository's own contents always."""

from __future__ import annotations

from packyard.package_groups.origin_controls import (
    ROOT_DEFAULT,
    OriginConfiguration,
    RestrictionMode,
    RestrictionType,
)
from packyard.package_groups.patterns import parse_pattern
from packyard.upstream.graph import SearchStep
from packyard.upstream.group_origins import DomainGroups, allowed_steps

NAMES = {1: "team", 2: "lib", 3: "public"}
# team -> lib -> public (which owns the external connection)
STEPS = [SearchStep(1), SearchStep(2), SearchStep(3), SearchStep(3, "public:pypi")]
ACME = parse_pattern("/pypi//acme~")


def _groups(**modes: str) -> DomainGroups:
    own = OriginConfiguration(
        {RestrictionType(k.upper()): RestrictionMode(v) for k, v in modes.items()},
        {RestrictionType.EXTERNAL_UPSTREAM: frozenset({"public"}),
         RestrictionType.INTERNAL_UPSTREAM: frozenset({"team"})})
    return DomainGroups({parse_pattern("/*"): ROOT_DEFAULT, ACME: own})


def _kept(groups: DomainGroups, name: str = "acme-tools") -> list[SearchStep]:
    return allowed_steps(STEPS, 1, NAMES, groups.deciding("pypi", "", name))[0]


def test_a_group_that_allows_everything_keeps_every_step() -> None:
    assert _kept(_groups()) == STEPS


def test_external_block_drops_only_the_external_connection() -> None:
    kept, refused = allowed_steps(STEPS, 1, NAMES, _groups(
        external_upstream="BLOCK").deciding("pypi", "", "acme-tools"))
    assert kept == STEPS[:3]
    assert [d.group for d in refused] == [ACME]
    assert "package group /pypi//acme~ blocks versions from external connections" in (
        refused[0].reason)


def test_internal_block_keeps_only_the_requested_repository() -> None:
    assert _kept(_groups(internal_upstream="BLOCK")) == [SearchStep(1)]


def test_allowed_lists_are_judged_for_the_repository_each_way_enters() -> None:
    # team may retain (its INTERNAL_UPSTREAM list), public may ingest (its EXTERNAL list).
    groups = _groups(internal_upstream="ALLOW_SPECIFIC_REPOSITORIES",
                     external_upstream="ALLOW_SPECIFIC_REPOSITORIES")
    assert _kept(groups) == STEPS
    # Asked of lib, which is on neither list: only its own contents.
    kept, _ = allowed_steps(STEPS[1:], 2, NAMES, groups.deciding("pypi", "", "acme-tools"))
    assert kept == [SearchStep(2)]


def test_packages_of_other_groups_are_not_touched() -> None:
    assert _kept(_groups(internal_upstream="BLOCK"), "requests") == STEPS


def test_decisions_are_remembered_per_package() -> None:
    groups = _groups()
    first = groups.deciding("pypi", "", "acme-tools")
    assert groups.deciding("pypi", "", "acme-tools") is first
    assert groups.deciding("pypi", "", "requests").associated.pattern == parse_pattern("/*")
