"""``packyard migrate-storage``: move an embedded install onto PostgreSQL and an object store
(``services/storage_migration.py`` says what is copied and how a stopped run resumes).
Register with the main command in ``packyard/cli/main.py``."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from packyard.cli.common import fail, progress
from packyard.errors import CannotStart, PackyardError
from packyard.services.storage_migration import migrate_storage
from packyard.settings import load_settings


@click.command("migrate-storage")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="The embedded install to copy (default ./data, or PACKYARD_DATA_DIR); only "
                   "read.")
@click.option("--blob-store", "from_blob_store", default=None, metavar="DIRECTORY",
              help="Where the embedded install keeps its files, when its server was given "
                   "another directory than DATA_DIR/blobs (its --blob-store).")
@click.option("--to-database-url", required=True, metavar="URL",
              help="The new database: postgresql://USER:PASSWORD@HOST/DATABASE, empty.")
@click.option("--to-blob-store", required=True, metavar="WHERE",
              help="The new blob store: s3://BUCKET/PREFIX (with PACKYARD_S3_ENDPOINT_URL and "
                   "the AWS_* variables) or a directory.")
@click.option("--to-key-provider", type=click.Choice(["transit", "kms"]), default=None,
              help="Where the replicas' keys live (default PACKYARD_KEY_PROVIDER), with that "
                   "provider's PACKYARD_* settings as the replicas get them. Files encrypted "
                   "under the data directory's local keyring have their keys moved there.")
@click.option("--key-map", "key_map", multiple=True, metavar="LOCAL=TARGET",
              help="Move the data keys of the local keyring's key LOCAL (id, ARN or alias) to "
                   "the target provider's key TARGET; other keys go to "
                   "PACKYARD_DEFAULT_ENCRYPTION_KEY. Repeatable.")
def migrate_storage_command(data_dir: Path | None, from_blob_store: str | None,
                            to_database_url: str, to_blob_store: str,
                            to_key_provider: str | None, key_map: tuple[str, ...]) -> None:
    """Copy an embedded install (catalog, IAM, tokens, files) to PostgreSQL and an object
    store, verifying every file's sha256. The source is only read; stop its server first, or
    what it accepts meanwhile is not copied. Interrupted, it is run again and resumes.
    """
    try:
        keys = dict(_pair(entry) for entry in key_map)
        target = load_settings(data_dir=data_dir, database_url=to_database_url,
                               blob_store=to_blob_store,
                               key_provider=to_key_provider)
        # The source is the data directory's own database and blobs (or --blob-store),
        # whatever PACKYARD_DATABASE_URL and PACKYARD_BLOB_STORE (the replicas' settings) say.
        source = dataclasses.replace(target, database_url=None, blob_store=from_blob_store)
    except ValueError as exc:
        fail(str(exc))
    with progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn()) as bar:
        tasks: dict[str, TaskID] = {}

        def step(what: str, done: int, total: int) -> None:
            if what not in tasks:
                label = "Re-wrapping data keys" if what == "keys" else f"Copying {what}"
                tasks[what] = bar.add_task(label, total=total)
            bar.update(tasks[what], completed=done, total=total)

        try:
            report = migrate_storage(source, target, step, keys)
        except (PackyardError, CannotStart) as exc:
            bar.stop()
            fail(str(exc))
    rows = ("rows already copied by an earlier run" if report.rows_present
            else f"{report.rows} rows")
    moved = (f"; moved {report.keys_moved} data key(s) onto PACKYARD_KEY_PROVIDER="
             f"{target.key_provider}" if report.keys_moved else "")
    click.echo(f"copied {report.blobs_copied} file(s) ({report.blobs_present} already there) "
               f"and {rows}{moved}; start the replicas with --database-url {to_database_url} "
               f"--blob-store {to_blob_store}")
    webhooks = source.effective_webhooks_file
    if webhooks.exists():
        # A file, not rows (secrets stay out of the database): replicas without it send no
        # event, saying nothing.
        click.echo(f"the webhooks in {webhooks} are not in the database: give each replica a "
                   "copy (PACKYARD_WEBHOOKS_FILE)")


def _pair(entry: str) -> tuple[str, str]:
    local, equals, target = entry.partition("=")
    if not (local and equals and target):
        raise ValueError(f"--key-map takes LOCAL=TARGET, not {entry!r}")
    return local, target
