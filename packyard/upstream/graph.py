"""The upstream graph of a domain's repositories: checking a new upstream list and the search order.

CodeArtifact's rules ("Working with upstream repositories", "Upstream repository priority
order", "Requesting a package version with upstream repositories"):

- upstreams are repositories of the same domain, listed in priority order, at most 10 direct ones;
- a repository cannot be its own upstream, directly or through others (no cycles);
- a request looks in the repository, then in each upstream in order, depth first (an upstream's
  own upstreams are searched before the next direct upstream), and stops at the first match;
- at most 25 repositories are searched for one request.

A repository's external connection is searched after its own upstreams, so a package that any
repository of the domain holds is preferred to the public one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from packyard.errors import Invalid, QuotaExceeded

MAX_DIRECT_UPSTREAMS = 10
MAX_SEARCHED_REPOSITORIES = 25

Graph = Mapping[int, Sequence[int]]
"""Repository id -> its upstream repository ids, in priority order."""


@dataclass(frozen=True)
class SearchStep:
    """One place a request looks: a repository's own contents, or its external connection."""

    repository_id: int
    external_connection: str | None = None

    @property
    def is_external(self) -> bool:
        return self.external_connection is not None


def check_upstream_names(repository: str, upstreams: Sequence[str]) -> None:
    """Refuse an upstream list that breaks a rule visible without the graph."""
    if len(upstreams) > MAX_DIRECT_UPSTREAMS:
        raise QuotaExceeded(
            f"Repository {repository} would have {len(upstreams)} upstream repositories; a "
            f"repository can have at most {MAX_DIRECT_UPSTREAMS}",
            resource_id=repository, resource_type="repository")
    seen: set[str] = set()
    for name in upstreams:
        if name == repository:
            raise Invalid(f"Repository {repository} cannot be an upstream repository of itself")
        if name in seen:
            raise Invalid(f"Upstream repository {name} is listed twice for {repository}")
        seen.add(name)


def find_cycle(repository_id: int, upstreams: Sequence[int], graph: Graph) -> list[int] | None:
    """A path from one of ``upstreams`` back to ``repository_id``, if the new list makes a cycle.

    ``graph`` is the domain's current graph; ``repository_id``'s entry in it is ignored because
    ``upstreams`` replaces it. The path starts at the offending upstream and ends at
    ``repository_id``.
    """
    proposed = dict(graph)
    proposed[repository_id] = list(upstreams)
    for start in upstreams:
        path = _path(start, repository_id, proposed)
        if path is not None:
            return path
    return None


def _path(start: int, goal: int, graph: Graph) -> list[int] | None:
    stack: list[tuple[int, list[int]]] = [(start, [start])]
    visited: set[int] = set()
    while stack:
        node, path = stack.pop()
        if node == goal:
            return path
        if node in visited:
            continue
        visited.add(node)
        for nxt in reversed(graph.get(node, ())):
            stack.append((nxt, [*path, nxt]))
    return None


def search_steps(start: int, graph: Graph, external: Mapping[int, str],
                 may_descend: Callable[[int], bool],
                 limit: int = MAX_SEARCHED_REPOSITORIES) -> list[SearchStep]:
    """Where a request to ``start`` looks, in order.

    Each repository contributes its own contents; then, if ``may_descend`` says its origin
    controls let it take packages from upstream, its upstreams (depth first, each repository
    once) and last its external connection. At most ``limit`` repositories are searched.
    """
    steps: list[SearchStep] = []
    visited: set[int] = set()

    def visit(repo: int) -> None:
        if repo in visited or len(visited) >= limit:
            return
        visited.add(repo)
        steps.append(SearchStep(repo))
        if not may_descend(repo):
            return
        for upstream in graph.get(repo, ()):
            visit(upstream)
        connection = external.get(repo)
        if connection is not None:
            steps.append(SearchStep(repo, connection))

    visit(start)
    return steps
