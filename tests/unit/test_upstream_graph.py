"""The upstream graph: list checks, cycle detection and CodeArtifact's search order."""

from __future__ import annotations

import pytest

from packyard.errors import Invalid, QuotaExceeded
from packyard.upstream.graph import (
    MAX_SEARCHED_REPOSITORIES,
    SearchStep,
    check_upstream_names,
    find_cycle,
    search_steps,
)


def _order(steps: list[SearchStep]) -> list[str]:
    return [f"{s.repository_id}:{s.external_connection}" if s.is_external
            else str(s.repository_id) for s in steps]


def _all(_: int) -> bool:
    return True


@pytest.mark.parametrize(("graph", "external", "expected"), [
    # Only the repository itself.
    ({}, {}, ["1"]),
    # Upstreams in the order listed (CodeArtifact's "Simple priority order example").
    ({1: [2, 3, 4]}, {}, ["1", "2", "3", "4"]),
    # Depth first: an upstream's upstreams come before the next direct upstream.
    ({1: [2, 3], 2: [4], 3: [5]}, {}, ["1", "2", "4", "3", "5"]),
    # A repository reachable twice is searched once, where it is first met.
    ({1: [2, 3], 2: [4], 3: [4]}, {}, ["1", "2", "4", "3"]),
    # The external connection comes after the repository's own upstreams.
    ({1: [2], 2: [3]}, {2: "public:pypi"}, ["1", "2", "3", "2:public:pypi"]),
    # The recommended layout: team -> store (external connection).
    ({1: [2]}, {2: "public:pypi"}, ["1", "2", "2:public:pypi"]),
    # A repository with its own external connection.
    ({}, {1: "public:pypi"}, ["1", "1:public:pypi"]),
])
def test_search_order(graph: dict[int, list[int]], external: dict[int, str],
                      expected: list[str]) -> None:
    assert _order(search_steps(1, graph, external, _all)) == expected


def test_blocked_repository_contributes_only_its_own_contents() -> None:
    # Repository 2 holds the package with upstream: BLOCK: neither its upstream 3 nor its
    # external connection is searched through it.
    steps = search_steps(1, {1: [2, 4], 2: [3]}, {2: "public:pypi"}, lambda repo: repo != 2)
    assert _order(steps) == ["1", "2", "4"]


def test_blocked_requesting_repository_searches_nothing_else() -> None:
    steps = search_steps(1, {1: [2]}, {2: "public:pypi"}, lambda repo: repo != 1)
    assert _order(steps) == ["1"]


def test_search_stops_at_25_repositories() -> None:
    chain = {i: [i + 1] for i in range(1, 40)}
    steps = search_steps(1, chain, {}, _all)
    assert len(steps) == MAX_SEARCHED_REPOSITORIES
    assert steps[-1].repository_id == 25


@pytest.mark.parametrize(("graph", "upstreams", "cycle"), [
    ({}, [2], None),
    ({2: [3]}, [2], None),
    ({2: [1]}, [2], [2, 1]),  # direct
    ({2: [3], 3: [1]}, [2], [2, 3, 1]),  # through another repository
    ({2: [3], 3: [4]}, [5, 2], None),
    ({1: [2], 2: [1]}, [3], None),  # the old list of 1 is replaced, so no cycle remains
])
def test_find_cycle(graph: dict[int, list[int]], upstreams: list[int],
                    cycle: list[int] | None) -> None:
    assert find_cycle(1, upstreams, graph) == cycle


def test_more_than_ten_upstreams_is_a_quota_error() -> None:
    with pytest.raises(QuotaExceeded) as err:
        check_upstream_names("team", [f"r{i}" for i in range(11)])
    assert err.value.message == ("Repository team would have 11 upstream repositories; a "
                                 "repository can have at most 10")


def test_ten_upstreams_are_fine() -> None:
    check_upstream_names("team", [f"r{i}" for i in range(10)])


def test_repository_cannot_be_its_own_upstream() -> None:
    with pytest.raises(Invalid) as err:
        check_upstream_names("team", ["store", "team"])
    assert err.value.message == "Repository team cannot be an upstream repository of itself"


def test_upstream_listed_twice_is_refused() -> None:
    with pytest.raises(Invalid) as err:
        check_upstream_names("team", ["store", "store"])
    assert err.value.message == "Upstream repository store is listed twice for team"
