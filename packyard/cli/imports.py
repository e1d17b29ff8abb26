"""``packyard import``: publish distribution files from disk straight into a repository.

The command around a format's import (``FormatPlugin.file_import``: which files, and the
service that checks and publishes them): progress, summary, exit status. Register with the main command: ``main.add_command(import_files)`` in ``packyard/cli/main.py``. Works
on the server's data directory, while the server runs (SQLite in WAL mode, one writer at a time);
each batch is announced to the server (``metadata/change_feed.py``), which shows it at once.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn

from packyard.audit.local import LocalAudit
from packyard.cli.common import blob_settings, fail, progress
from packyard.cli.storage_options import storage_options
from packyard.errors import CannotStart, NotFound, PackyardError, os_error_text
from packyard.settings import Settings

if TYPE_CHECKING:
    from packyard.formats.plugin import FileImport, FileResult

DEFAULT_BATCH_SIZE = 500


def _settings(data_dir: Path | None, database_url: str | None = None,
              blob_store: str | None = None) -> Settings:
    # The files would land in this command's memory, never in the server's.
    return blob_settings(data_dir, database_url, blob_store,
                         not_in_memory="packyard import can only add files to a server whose "
                                       "blobs are on disk")


def _file_import() -> FileImport:
    """The import of the format that imports files from disk (PyPI's, today the only one)."""
    from packyard.formats import builtin_formats

    found = [p.file_import for p in builtin_formats() if p.file_import is not None]
    if not found:
        fail("no package format here imports files")
    return found[0]


def _shown(path: Path) -> str:
    """A path as text a terminal shows as it is: a control character in a file's name (an
    escape sequence, a new line) is written as Python writes it in a string (``\\x1b``)."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(path))


def _summary(counts: Counter[str], seconds: float) -> str:
    done = sum(counts.values())
    rate = done / seconds if seconds > 0 else 0.0
    return (f"{counts['imported']:,} imported, {counts['present']:,} already present, "
            f"{counts['refused']:,} refused ({rate:,.0f} files/s)")


@click.command("import")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="The server's data directory (default ./data, or PACKYARD_DATA_DIR).")
@click.option("--domain", required=True, help="The domain of the repository.")
@click.option("--repository", required=True,
              help="The repository to publish into; it must exist already.")
@click.option("--owner", default=None,
              help="The domain owner's account id (default: this server's account).")
@click.option("--batch-size", type=click.IntRange(1, 100_000), default=DEFAULT_BATCH_SIZE,
              show_default=True, help="Files stored per metadata transaction.")
@click.option("--output", type=click.Choice(["text", "json"]), default="text",
              help="A summary for people, or JSON for scripts (every refusal with its reason).")
@click.argument("paths", nargs=-1, required=True,
                type=click.Path(exists=True, path_type=Path))
@storage_options
def import_files(data_dir: Path | None, domain: str, repository: str, owner: str | None,
                 batch_size: int, output: str, paths: tuple[Path, ...],
                 database_url: str | None, blob_store: str | None) -> None:
    """Publish wheels and sdists from PATHS into a repository, as `twine upload` would.

    PATHS are distribution files, or directories searched recursively for *.whl, *.tar.gz and
    *.zip. Every file gets the checks an upload gets (file name, metadata, archive contents,
    package origin controls); a file already in the repository with the same bytes is skipped,
    one with other bytes is refused. Refusals are listed and do not stop the import; the exit
    status is 1 if there were any. Runs as the account root, on the data directory, and is safe
    while `packyard serve` runs on it.

    Example: packyard import --data-dir ./data --domain my-domain --repository my-repo wheels/
    """
    # Here, not at the top: wiring the services loads botocore's models, which `packyard
    # --help` should not wait for.
    from packyard.auth.principal import root_principal
    from packyard.bootstrap import build_services
    from packyard.data_dir import restrict_new_files
    from packyard.encryption.mode_locks import ModeConflict, hold_encrypting_mode

    settings = _settings(data_dir, database_url, blob_store)
    file_import = _file_import()
    files = file_import.find(paths)
    if not files:
        fail(f"no distribution files ({', '.join('*' + s for s in file_import.suffixes)}) in "
             f"{', '.join(str(p) for p in paths)}")
    restrict_new_files()
    if settings.encryption == "on":
        try:  # held until the command ends
            mode_lock = hold_encrypting_mode(settings.data_dir, "packyard import")  # noqa: F841
        except ModeConflict as exc:
            fail(str(exc))
    try:
        services = build_services(settings)
    except CannotStart as exc:
        fail(str(exc))
    try:
        services.registry.get_domain(domain, owner)
    except NotFound as exc:
        fail(f"{exc.message} (create it first: aws codeartifact create-domain --domain {domain})")
    except PackyardError as exc:
        fail(exc.message)
    try:
        found_domain, found_repository = services.registry.get_repository(domain, repository,
                                                                          owner)
    except NotFound as exc:
        fail(f"{exc.message} (create it first: aws codeartifact create-repository "
             f"--domain {domain} --repository {repository})")
    except PackyardError as exc:
        fail(exc.message)
    importer = file_import.importer(services.registry, settings.max_upload_bytes,
                                    root_principal(settings.account_id), found_domain,
                                    found_repository, batch_size)
    counts: Counter[str] = Counter()
    refused: list[FileResult] = []
    started = time.monotonic()
    try:
        with progress(TextColumn("importing"), BarColumn(), MofNCompleteColumn(),
                      TextColumn("{task.description}"), TimeElapsedColumn()) as bar:
            task = bar.add_task("", total=len(files))
            for batch in importer.run(files):
                for result in batch:
                    counts[result.status] += 1
                    if result.status == "refused":
                        refused.append(result)
                        if output == "text":
                            bar.console.print(
                                f"[red]refused[/] {escape(_shown(result.path))}: "
                                f"{escape(result.reason or '')}",
                                soft_wrap=True, highlight=False)
                bar.update(task, advance=len(batch),
                                description=_summary(counts, time.monotonic() - started))
    except OSError as exc:
        # The staging area's disk (full, read-only): not a file's fault, so the import stops;
        # the batches committed before stay, and a rerun skips them.
        fail(f"the import stopped: {os_error_text(exc)}; {counts['imported']:,} "
             "file(s) were imported before it (whole batches only): run it again once this "
             "is mended, and the files already imported are skipped")
    # The imported projects' pages are rendered right after each batch; the import is done
    # when they are (``metadata/rendered_pages.py``).
    services.catalog.flush_rendered_pages()
    seconds = time.monotonic() - started
    audit = LocalAudit(settings, services.engines)
    try:
        audit.record("ImportPackageFiles", {
            "domain": found_domain.name, "domainOwner": found_domain.owner,
            "repository": found_repository.name,
            "files": len(files)}, {
            "imported": counts["imported"], "present": counts["present"],
            "refused": counts["refused"]})
    finally:
        audit.close()
    services.catalog.dispose()
    target = f"{found_domain.name}/{found_repository.name}"
    if output == "json":
        click.echo(json.dumps({
            "domain": found_domain.name, "repository": found_repository.name,
            "files": len(files), "imported": counts["imported"], "present": counts["present"],
            "refused": [{"path": str(r.path), "reason": r.reason} for r in refused],
            "seconds": round(seconds, 3),
            "filesPerSecond": round(len(files) / seconds, 1) if seconds > 0 else None,
        }, indent=2))
    else:
        noun = "file" if len(files) == 1 else "files"
        click.echo(f"{len(files):,} {noun} into {target} in {seconds:.1f}s: "
                   f"{_summary(counts, seconds)}")
    if refused:
        sys.exit(1)
