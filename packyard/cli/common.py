"""What the commands on a server's data share: the refusal they print, the check that the
data directory they were given holds the server's database, their settings, and their
progress bars."""

from __future__ import annotations

import sys
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import NoReturn

from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, ProgressColumn

from packyard.settings import Settings, load_settings

_err = Console(stderr=True)


def fail(message: str) -> NoReturn:
    """Print ``error: message`` to stderr and exit 2."""
    # escape: a path in the message (/backups/[/b]) is text, not rich's markup (MarkupError).
    _err.print(f"[red]error:[/] {escape(message)}", soft_wrap=True, highlight=False)
    sys.exit(2)


def plain_mode_held(settings: Settings, command: str) -> AbstractContextManager[object]:
    """With encryption off, the plain mode's lock for ``command`` (to hold until it ends),
    which it shares with a server with encryption off: it reads blobs as plain files, as such
    a server does, and a blob encrypted meanwhile would look missing. Nothing to hold with
    encryption on. Refuses (``fail``) beside a command or server encrypting."""
    if settings.encryption != "off":
        return nullcontext()
    from packyard.encryption.mode_locks import ModeConflict, hold_plain_mode

    try:
        return hold_plain_mode(settings.data_dir, command)
    except ModeConflict as exc:
        fail(str(exc))


def need_database(settings: Settings) -> None:
    """Refuse a data directory without the server's database: never start a new, empty
    registry by mistake."""
    if settings.database_url is None and not (settings.data_dir / "packyard.db").exists():
        fail(f"no Packyard database in {settings.data_dir.resolve()}; pass the server's "
             "--data-dir")


def blob_settings(data_dir: Path | None, database_url: str | None, blob_store: str | None, *,
                  not_in_memory: str) -> Settings:
    """The settings of a command that works on the server's database and stored blobs: a
    usable blob store, not ``memory://`` (refused with ``not_in_memory``: the blobs would be
    this command's own), and a data directory holding the database."""
    from packyard.storage.backends import MEMORY, check_blob_store

    try:
        settings = load_settings(data_dir=data_dir, database_url=database_url,
                                 blob_store=blob_store)
        check_blob_store(settings)
    except ValueError as exc:
        fail(str(exc))
    if settings.blob_store == MEMORY:
        fail("PACKYARD_BLOB_STORE=memory:// keeps blobs inside the server's process; "
             + not_in_memory)
    need_database(settings)
    return settings


def progress(*columns: str | ProgressColumn) -> Progress:
    """A progress bar of ``columns`` on stderr, gone once done; none when stderr is not a
    terminal (a log or a pipe would keep every redraw)."""
    return Progress(*columns, console=_err, transient=True, disable=not _err.is_terminal)
