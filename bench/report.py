"""The one table a run prints: each figure per server and Packyard's ratio to each peer."""

from __future__ import annotations

from results import REFERENCE, Figure, ServerResult, figure_order, ratio
from rich.console import Console
from rich.table import Table


def _value(figure: Figure | None) -> str:
    if figure is None:
        return "-"
    if figure.value is None:
        return figure.note.split(":", 1)[0] if figure.note else "-"
    if figure.value >= 100:
        return f"{figure.value:,.0f}"
    if figure.value >= 10:
        return f"{figure.value:.1f}"
    return f"{figure.value:.2f}"


def _ratio(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.2g}×" if value < 0.1 else f"{value:.2f}×"


def _rss(figure: Figure | None) -> float | None:
    return None if figure is None or figure.value is None else figure.rss_mib


def _divide(top: float | None, bottom: float | None) -> float | None:
    return None if top is None or not bottom else top / bottom


def _label(results: list[ServerResult], key: str) -> Figure:
    return next(r.figures[key] for r in results if key in r.figures)


def build_table(results: list[ServerResult], title: str) -> Table:
    """Rows: figures, then peak RSS per figure. Columns: servers, then Packyard ÷ each peer."""
    table = Table(title=title, show_lines=False, header_style="bold")
    table.add_column("figure", overflow="fold", max_width=64)
    table.add_column("unit")
    for result in results:
        table.add_column(result.name, justify="right")
    reference = next((r for r in results if r.name == REFERENCE), None)
    peers = [r for r in results if r.name != REFERENCE] if reference else []
    for peer in peers:
        table.add_column(f"{REFERENCE}/{peer.name}", justify="right")
    keys = figure_order(results)
    for key in keys:
        first = _label(results, key)
        arrow = "↑" if first.higher_is_better else "↓"
        cells = [_value(r.figures.get(key)) for r in results]
        ratios = (
            [_ratio(ratio(reference.figures.get(key), p.figures.get(key))) for p in peers]
            if reference
            else []
        )
        table.add_row(first.label, f"{first.unit} {arrow}", *cells, *ratios)
    table.add_section()
    for key in keys:
        # One RSS row per measurement: latency figures share their requests/s row's peak.
        if not key.endswith(("_rps", "_mbps", "_per_s", "_s")):
            continue
        rss = [_rss(r.figures.get(key)) for r in results]
        if all(value is None for value in rss):
            continue
        cells = ["-" if value is None else f"{value:,.0f}" for value in rss]
        ref_rss = _rss(reference.figures.get(key)) if reference else None
        ratios = [_ratio(_divide(ref_rss, _rss(p.figures.get(key)))) for p in peers]
        label = _label(results, key).label.removesuffix(": requests/s")
        table.add_row(f"peak RSS: {label}", "MiB ↓", *cells, *ratios)
    return table


def print_report(results: list[ServerResult], title: str) -> None:
    console = Console(width=max(Console().width, 200))
    console.print(build_table(results, title))
    reference = next((r for r in results if r.name == REFERENCE), None)
    if reference is not None:
        # Why Packyard has no number somewhere is the first thing a reader asks.
        reasons = sorted({f.note for f in reference.figures.values() if f.note.startswith("n/a")})
        for reason in reasons:
            console.print(f"{REFERENCE}: {reason[:400]}")
    for result in results:
        huge = result.figures.get("huge_upload_mbps")
        if huge is not None and huge.rss_before_mib is not None and huge.rss_mib is not None:
            speed = "" if huge.value is None else f", {huge.value:,.0f} MB/s"
            console.print(
                f"{result.name}: {huge.label}: RSS {huge.rss_before_mib:,.0f} → "
                f"{huge.rss_mib:,.0f} MiB (+{max(0.0, huge.rss_mib - huge.rss_before_mib):,.0f}){speed}"
            )
    for result in results:
        if result.error:
            console.print(f"[red]{result.name}: {result.error.splitlines()[0][:400]}[/red]")
        failed = [f for f in result.figures.values() if f.note.startswith("failed")]
        for figure in failed:
            console.print(f"[yellow]{result.name}: {figure.label}: {figure.note[:400]}[/yellow]")
