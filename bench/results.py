"""What a run measured: figures per server, Packyard's ratios, and the JSON written to disk."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

REFERENCE = "packyard"


@dataclass
class Figure:
    """One number for one server, with its unit, direction and the server's peak RSS meanwhile."""

    key: str
    label: str
    unit: str
    higher_is_better: bool
    value: float | None = None
    note: str = ""
    rss_mib: float | None = None
    rss_before_mib: float | None = None
    """The server's RSS just before the measurement, where growth is the figure."""


@dataclass
class ServerResult:
    """Everything measured on one server, plus what went wrong, if anything."""

    name: str
    version: str = ""
    figures: dict[str, Figure] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    error: str = ""
    seconds: float = 0.0

    def add(self, figure: Figure) -> Figure:
        self.figures[figure.key] = figure
        return figure


def ratio(reference: Figure | None, peer: Figure | None) -> float | None:
    """Return Packyard's value divided by the peer's, when both were measured."""
    if reference is None or peer is None or reference.value is None or peer.value in (None, 0):
        return None
    assert peer.value is not None
    return reference.value / peer.value


def figure_order(results: list[ServerResult]) -> list[str]:
    """Keys of every figure in the order they were first measured."""
    seen: dict[str, None] = {}
    for result in results:
        for key in result.figures:
            seen.setdefault(key, None)
    return list(seen)


def ratios(results: list[ServerResult]) -> dict[str, dict[str, float | None]]:
    """For each peer, Packyard ÷ peer for every figure (None where either side is missing)."""
    reference = next((r for r in results if r.name == REFERENCE), None)
    if reference is None:
        return {}
    table: dict[str, dict[str, float | None]] = {}
    for peer in results:
        if peer.name == REFERENCE:
            continue
        table[peer.name] = {
            key: ratio(reference.figures.get(key), peer.figures.get(key))
            for key in figure_order(results)
        }
    return table


def to_json(meta: dict[str, Any], results: list[ServerResult]) -> dict[str, Any]:
    return {
        "meta": meta,
        "servers": {result.name: asdict(result) for result in results},
        "ratios_packyard_over_peer": ratios(results),
    }
