"""A repository's upstreams and external connections drawn as a graph (inline SVG).

Pure layout: the repository on the left, each column one step further upstream, in search
order top to bottom; external connections are drawn as their own nodes. Each repository
appears once (its first place in search order), so a diamond is drawn with two edges into
one node. The template draws the boxes and edges from these coordinates.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

NODE_WIDTH = 190
NODE_HEIGHT = 40
COLUMN_GAP = 70
ROW_GAP = 18
MAX_NODES = 60


@dataclass(frozen=True)
class Node:
    key: str
    label: str
    kind: str  # "self", "repository", "external", "hidden"
    x: int
    y: int
    href: str | None = None


@dataclass(frozen=True)
class Edge:
    x1: int
    y1: int
    x2: int
    y2: int
    order: int  # the upstream's place in its downstream's list, from 1


@dataclass(frozen=True)
class Graph:
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]
    width: int
    height: int


@dataclass(frozen=True)
class Links:
    """What the graph needs of one repository: its upstreams and external connections, or
    None when the viewer may not see them."""

    upstreams: Sequence[str]
    external_connections: Sequence[str]


def layout(start: str, links_of: Callable[[str], Links | None],
           href_of: Callable[[str], str]) -> Graph:
    """The graph reachable from ``start``, breadth first."""
    columns: list[list[tuple[str, str, str]]] = [[("r:" + start, start, "self")]]
    placed = {"r:" + start}
    pending_edges: list[tuple[str, str, int]] = []
    frontier = [start]
    while frontier and len(placed) < MAX_NODES:
        column: list[tuple[str, str, str]] = []
        next_frontier: list[str] = []
        for name in frontier:
            links = links_of(name)
            if links is None:
                continue
            targets = [("r:" + u, u, "repository") for u in links.upstreams]
            targets += [("x:" + c, c, "external") for c in links.external_connections]
            for order, (key, label, kind) in enumerate(targets, start=1):
                pending_edges.append(("r:" + name, key, order))
                if key in placed or len(placed) >= MAX_NODES:
                    continue
                placed.add(key)
                column.append((key, label, kind))
                if kind == "repository":
                    next_frontier.append(label)
        if column:
            columns.append(column)
        frontier = next_frontier
    positions: dict[str, tuple[int, int]] = {}
    nodes: list[Node] = []
    for index, column in enumerate(columns):
        for row, (key, label, kind) in enumerate(column):
            x = 10 + index * (NODE_WIDTH + COLUMN_GAP)
            y = 10 + row * (NODE_HEIGHT + ROW_GAP)
            positions[key] = (x, y)
            nodes.append(Node(key, label, kind, x, y,
                              href_of(label) if kind != "external" else None))
    edges = []
    for source, target, order in pending_edges:
        if source in positions and target in positions:
            (sx, sy), (tx, ty) = positions[source], positions[target]
            edges.append(Edge(sx + NODE_WIDTH, sy + NODE_HEIGHT // 2, tx,
                              ty + NODE_HEIGHT // 2, order))
    rows = max(len(c) for c in columns)
    width = 20 + len(columns) * NODE_WIDTH + (len(columns) - 1) * COLUMN_GAP
    height = 20 + rows * NODE_HEIGHT + (rows - 1) * ROW_GAP
    return Graph(tuple(nodes), tuple(edges), width, height)
