"""Tables on standard output, for people at a terminal and for ``grep`` alike.

rich fits a table to the terminal, folding long cells onto more lines. Piped (``| grep``,
``| cat``) there is no terminal width to fit, and rich's default of 80 columns broke rows in
the middle, so ``grep`` found half a row. Piped, each row is one line, as wide as it needs.
"""

from __future__ import annotations

from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

# Wide enough for any row: only the table's own measure is used (no padding to this width).
_UNBOUNDED = 1_000_000


def print_table(table: Table, console: Console | None = None) -> None:
    """Print ``table`` to ``console`` (stdout by default): fitted to a terminal, else one
    line per row."""
    out = console or Console()
    if out.is_terminal:
        out.print(table)
        return
    wide = Console(file=out.file, width=_UNBOUNDED, color_system=None, highlight=False)
    width = Measurement.get(wide, wide.options, table).maximum
    Console(file=out.file, width=width, color_system=None, highlight=False).print(table)
