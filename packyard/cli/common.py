"""What the commands on a server's data share: the refusal they print, the check that the
data directory they were given holds the server's database, and their progress bars."""

from __future__ import annotations

import sys
from typing import NoReturn

from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, ProgressColumn

from packyard.settings import Settings

_err = Console(stderr=True)


def fail(message: str) -> NoReturn:
    """Print ``error: message`` to stderr and exit 2."""
    # escape: a path in the message (/backups/[/b]) is text, not rich's markup (MarkupError).
    _err.print(f"[red]error:[/] {escape(message)}", soft_wrap=True, highlight=False)
    sys.exit(2)


def need_database(settings: Settings) -> None:
    """Refuse a data directory without the server's database: never start a new, empty
    registry by mistake."""
    if settings.database_url is None and not (settings.data_dir / "packyard.db").exists():
        fail(f"no Packyard database in {settings.data_dir.resolve()}; pass the server's "
             "--data-dir")


def progress(*columns: str | ProgressColumn) -> Progress:
    """A progress bar of ``columns`` on stderr, gone once done; none when stderr is not a
    terminal (a log or a pipe would keep every redraw)."""
    return Progress(*columns, console=_err, transient=True, disable=not _err.is_terminal)
