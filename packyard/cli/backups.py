"""``packyard backup DEST`` and ``packyard restore SRC``: the embedded default's data directory
copied while the server runs, and put back (``services/backups.py`` says how it stays
consistent). Register with the main command in ``packyard/cli/main.py``."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn

from packyard.cli.common import fail, progress
from packyard.cli.storage_options import blob_store_option
from packyard.data_dir import restrict_new_files
from packyard.errors import Invalid
from packyard.services import backups
from packyard.settings import Settings, load_settings

_err = Console(stderr=True)

_data_dir_option = click.option(
    "--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
    help="The server's data directory (default ./data, or PACKYARD_DATA_DIR).")


def _settings(data_dir: Path | None, blob_store: str | None) -> Settings:
    try:
        return load_settings(data_dir=data_dir, blob_store=blob_store)
    except ValueError as exc:
        fail(str(exc))


@contextmanager
def _progress(what: str) -> Iterator[backups.Progress]:
    with progress(TextColumn(what), BarColumn(), MofNCompleteColumn(), TextColumn("files"),
                  TimeElapsedColumn()) as bar:
        task = bar.add_task(what, total=None)

        def step(done: int, total: int, _bytes: int) -> None:
            bar.update(task, completed=done, total=total)

        yield step


def _size(count: int) -> str:
    return f"{count / 1024 ** 2:.1f} MiB"


@click.command("backup")
@click.argument("dest", type=click.Path(file_okay=False, path_type=Path))
@_data_dir_option
@blob_store_option
def backup_data(dest: Path, data_dir: Path | None, blob_store: str | None) -> None:
    """Copy the data directory (SQLite database, blobs, secrets key, root credentials) into
    the new directory DEST, consistently, while the server runs.

    For PostgreSQL and S3 use pg_dump and bucket versioning (docs/deployment.md).
    """
    settings = _settings(data_dir, blob_store)
    restrict_new_files()  # the copy holds the keyring and secrets: owner-only, as the original
    try:
        with _progress("Backing up") as step:
            report = backups.backup(settings, dest, step)
    except Invalid as exc:
        fail(str(exc))
    if report.missing:
        _err.print(f"[red]error:[/] {len(report.missing)} file(s) were deleted while the backup "
                   f"ran, so {escape(str(dest))} is incomplete (marked so in {backups.MANIFEST}); run the "
                   "backup again into a new directory", soft_wrap=True)
        sys.exit(1)
    click.echo(f"backed up {report.blobs} file(s), {_size(report.bytes)}, to {dest}")
    if report.secret_key_missing:
        _err.print(f"[red]error:[/] {escape(report.secret_key_missing)}", soft_wrap=True,
                   highlight=False)
        sys.exit(1)


@click.command("restore")
@click.argument("src", type=click.Path(exists=True, file_okay=False, path_type=Path))
@_data_dir_option
@blob_store_option
def restore_data(src: Path, data_dir: Path | None, blob_store: str | None) -> None:
    """Restore the backup in SRC into a new, empty data directory (then `packyard serve` it).

    Every file is checked against its sha256 on the way; the database is written last, so a
    restore that was interrupted is simply run again.
    """
    settings = _settings(data_dir, blob_store)
    restrict_new_files()  # a data directory's files are owner-only (README, Storage and safety)
    try:
        with _progress("Restoring") as step:
            report = backups.restore(src, settings, step)
    except Invalid as exc:
        fail(str(exc))
    click.echo(f"restored {report.blobs} file(s), {_size(report.bytes)}, into "
               f"{settings.data_dir}")
    if report.unauthenticated:
        click.echo(f"The backup predates SHA256SUMS: its {report.unauthenticated} encrypted "
                   "file(s) were checked by size only; `packyard verify --data-dir "
                   f"{settings.data_dir}` authenticates them")
