"""``packyard export``: a repository's package files written to a folder that ``packyard
import`` (of another server, across an air gap) or another tool reads.

The command around ``formats/bulk_export.py`` (which files, read through the blob store) and
every format's ``FileExport`` (where each goes): progress, a summary, the audit event and the
exit status. Register with the main command: ``main.add_command(export_files)`` in
``packyard/cli/main.py``. It only reads the server's data (the audit event aside), so it runs
beside ``packyard serve`` on the same data directory.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn

from packyard.audit.local import LocalAudit
from packyard.cli.common import blob_settings, fail, plain_mode_held, progress
from packyard.cli.storage_options import storage_options
from packyard.errors import CannotStart, PackyardError, os_error_text

if TYPE_CHECKING:
    from packyard.formats.bulk_export import DocumentExportResult, ExportResult, PlannedFile

_STATUSES = ("Published", "Unlisted", "Archived")  # formats/bulk_export.EXPORTABLE_STATUSES
_DISPOSED = "Disposed"


def _since(_ctx: click.Context, _param: click.Parameter, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 date or time (2026-03-01, "
                                 "2026-03-01T12:00:00Z)") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _summary(counts: Counter[str], seconds: float) -> str:
    done = sum(counts.values())
    rate = done / seconds if seconds > 0 else 0.0
    return (f"{counts['written']:,} written, {counts['present']:,} already present, "
            f"{counts['failed']:,} failed, {counts['left-out']:,} left out "
            f"({rate:,.0f} files/s)")


def _documents_summary(documents: list[DocumentExportResult]) -> str:
    tally = Counter(d.status for d in documents)
    return (f"package documents: {tally['written']:,} written, {tally['present']:,} already "
            f"present, {tally['failed']:,} failed")


def _shown(text: str) -> str:
    """Text a terminal shows as it is: a control character (in a name a publisher chose) is
    written as Python writes it in a string (``\\x1b``)."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _described(file: PlannedFile, reason: str | None) -> dict[str, Any]:
    return {"file": file.shown, "format": file.format,
            "namespace": file.package.namespace or None, "package": file.package.name,
            "version": file.version.version, "asset": file.asset.name, "reason": reason}


@click.command("export")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="The server's data directory (default ./data, or PACKYARD_DATA_DIR).")
@click.option("--domain", required=True, help="The domain of the repository.")
@click.option("--repository", required=True, help="The repository whose files to export.")
@click.option("--owner", default=None,
              help="The domain owner's account id (default: this server's account).")
@click.option("--status", "statuses", multiple=True, default=("Published",),
              type=click.Choice((*_STATUSES, _DISPOSED), case_sensitive=False),
              metavar=f"[{'|'.join(_STATUSES)}]", show_default=True,
              help="The versions to export, by status; repeat it for several (--status "
                   "Published --status Unlisted). Disposed versions have no files.")
@click.option("--format", "fmt", default=None,
              help="Only this format's packages (pypi, npm).")
@click.option("--namespace", default=None, metavar="PREFIX",
              help="Only packages whose namespace starts with PREFIX (npm: the scope, with or "
                   "without its @), as ListPackages filters.")
@click.option("--package", default=None, metavar="PREFIX",
              help="Only packages whose name starts with PREFIX (normalized as the format "
                   "normalizes names), as ListPackages' --package-prefix filters.")
@click.option("--since", default=None, metavar="ISO-DATE", callback=_since,
              help="Only packages whose versions or files changed at or after this date or "
                   "time (UTC unless it names its zone): published, kept from an upstream, "
                   "copied in or changed status since; and versions published since. For "
                   "incremental transfers.")
@click.option("--output", type=click.Choice(["text", "json"]), default="text",
              help="A summary for people, or JSON for scripts (every failure with its reason).")
@click.argument("dest", type=click.Path(file_okay=False, path_type=Path))
@storage_options
def export_files(data_dir: Path | None, domain: str, repository: str, owner: str | None,
                 statuses: tuple[str, ...], fmt: str | None, namespace: str | None,
                 package: str | None, since: datetime | None, output: str, dest: Path,
                 database_url: str | None, blob_store: str | None) -> None:
    """Write a repository's package files into the folder DEST, for `packyard import DEST`
    into another server (across an air gap) or for another tool.

    PyPI files go to DEST/pypi/<project>/<file> with the project's DEST/pypi/<project>/index.json
    beside them (a PEP 691 page: each file's upload-time, and its yank, as the upstream's page
    last stored says or because its version is Unlisted), npm tarballs to
    DEST/npm/<name>/<name>-<version>.tgz and DEST/npm/@<scope>/<name>/<name>-<version>.tgz
    with each package's registry document beside them, DEST/npm/<name>/package.json (its
    dist-tags and deprecations; merged with the one an earlier export left there), as
    Verdaccio's storage keeps them; generic packages are left out (counted). Each
    file is read through the blob store (decrypted), checked against its recorded sha256 and
    written whole under its name; a file already in DEST with the same bytes is skipped, so a rerun or an
    incremental export into the same folder writes only what is missing, and one with other
    bytes is never overwritten (it fails, listed; exit status 1). DEST/SHA256SUMS lists every
    file exported there (`sha256sum -c SHA256SUMS` in DEST). Only reads the server's data:
    safe while `packyard serve` runs on it.

    Example: packyard export --data-dir ./data --domain my-domain --repository my-repo
    /media/usb/my-repo
    """
    # Here, not at the top: wiring the services loads botocore's models, which `packyard
    # --help` should not wait for.
    from packyard.bootstrap import build_services
    from packyard.data_dir import restrict_new_files
    from packyard.formats.bulk_export import (
        BulkExporter,
        ExportFilter,
        export_documents,
        plan_export,
    )
    from packyard.services.export_folder import SUMS, ExportFolder

    chosen = {_STATUSES[[s.lower() for s in _STATUSES].index(s.lower())]
              for s in statuses if s.lower() != _DISPOSED.lower()}
    if len(chosen) != len(statuses):
        fail("Disposed versions have no files (disposing a version deletes them): choose "
             "--status Published, Unlisted or Archived")
    settings = blob_settings(data_dir, database_url, blob_store,
                             not_in_memory="packyard export reads the files of a server whose "
                                           "blobs are on disk or in S3")
    restrict_new_files()  # what it adds to the data directory (the audit trail) stays private
    with plain_mode_held(settings, "packyard export"):  # until the command ends
        try:
            services = build_services(settings, iam_secrets=False)
        except (CannotStart, PackyardError) as exc:
            fail(str(exc))
        try:
            found_domain, found_repository = services.registry.get_repository(
                domain, repository, owner)
        except PackyardError as exc:
            fail(exc.message)
        try:
            planned = plan_export(services.catalog, services.plugins, found_repository,
                                  ExportFilter(frozenset(chosen), fmt, namespace, package,
                                               since))
            folder = ExportFolder(dest)
        except PackyardError as exc:
            fail(exc.message)
        except OSError as exc:
            fail(f"cannot write into {dest}: {os_error_text(exc)}")
        exporter = BulkExporter(services.blobs, found_domain, folder)
        counts: Counter[str] = Counter()
        by_format: dict[str, Counter[str]] = {}
        failed: list[ExportResult] = []
        left_out: list[ExportResult] = []
        results: list[ExportResult] = []
        documents: list[DocumentExportResult] = []
        started = time.monotonic()
        try:
            with progress(TextColumn("exporting"), BarColumn(), MofNCompleteColumn(),
                          TextColumn("{task.description}"), TimeElapsedColumn()) as bar:
                task = bar.add_task("", total=len(planned))
                for result in exporter.run(planned):
                    results.append(result)
                    counts[result.status] += 1
                    by_format.setdefault(result.file.format, Counter())[result.status] += 1
                    if result.status == "left-out":
                        left_out.append(result)
                    elif result.status == "failed":
                        failed.append(result)
                        if output == "text":
                            bar.console.print(
                                f"[red]failed[/] {escape(_shown(result.file.shown))}: "
                                f"{escape(_shown(result.reason or ''))}",
                                soft_wrap=True, highlight=False)
                    bar.update(task, advance=1,
                               description=_summary(counts, time.monotonic() - started))
                # Once a package's files are there: its document names them.
                for document in export_documents(services.catalog, services.plugins, folder,
                                                 results, settings.npm_max_document_bytes):
                    documents.append(document)
                    if document.status == "failed" and output == "text":
                        bar.console.print(
                            f"[red]failed[/] {escape(_shown(document.shown))}: "
                            f"{escape(_shown(document.reason or ''))}",
                            soft_wrap=True, highlight=False)
        except OSError as exc:
            # The destination's disk (full, gone, read-only): not a file's fault, so the
            # export stops; what was written stays, whole, and a rerun skips it.
            with suppress(OSError):
                folder.finish()
            fail(f"the export stopped: {os_error_text(exc)}; {counts['written']:,} file(s) "
                 f"were written into {dest} before it: run it again once this is mended, "
                 "and the files already there are skipped")
        try:
            folder.finish()
        except OSError as exc:
            fail(f"could not write {dest / SUMS}: {os_error_text(exc)}; the files are "
                 "written: run the export again once this is mended")
        seconds = time.monotonic() - started
        audit = LocalAudit(settings, services.engines)
        try:
            audit.record("ExportPackageFiles", {
                "domain": found_domain.name, "domainOwner": found_domain.owner,
                "repository": found_repository.name, "destination": str(dest),
                "statuses": sorted(chosen), "files": len(planned),
                **{key: value for key, value in (
                    ("format", fmt), ("namespace", namespace), ("package", package),
                    ("since", since.isoformat() if since else None)) if value is not None}}, {
                "written": counts["written"], "present": counts["present"],
                "leftOut": counts["left-out"], "failed": counts["failed"],
                **({"documentsWritten": sum(1 for d in documents if d.status == "written"),
                    "documentsFailed": sum(1 for d in documents if d.status == "failed")}
                   if documents else {})})
        finally:
            audit.close()
        services.catalog.dispose()
    total = len(planned)
    if output == "json":
        click.echo(json.dumps({
            "domain": found_domain.name, "repository": found_repository.name,
            "destination": str(dest), "files": total, "written": counts["written"],
            "present": counts["present"],
            "failed": [_described(r.file, r.reason) for r in failed],
            "leftOut": [_described(r.file, r.reason) for r in left_out],
            "formats": {name: {"files": sum(tally.values()), "written": tally["written"],
                               "present": tally["present"], "failed": tally["failed"],
                               "leftOut": tally["left-out"]}
                        for name, tally in by_format.items()},
            **({"documents": {
                "written": sum(1 for d in documents if d.status == "written"),
                "present": sum(1 for d in documents if d.status == "present"),
                "failed": [{"file": d.shown, "format": d.format,
                            "namespace": d.package.namespace or None,
                            "package": d.package.name, "reason": d.reason}
                           for d in documents if d.status == "failed"]}} if documents else {}),
            "seconds": round(seconds, 3),
            "filesPerSecond": round(total / seconds, 1) if seconds > 0 else None,
        }, indent=2))
    else:
        noun = "file" if total == 1 else "files"
        click.echo(f"{total:,} {noun} of {found_domain.name}/{found_repository.name} into "
                   f"{dest} in {seconds:.1f}s: {_summary(counts, seconds)}"
                   + (f"; {_documents_summary(documents)}" if documents else ""))
        reasons = Counter((r.file.format, r.reason) for r in left_out)
        for (name, reason), count in reasons.items():
            click.echo(f"  left out: {count:,} {name} file{'' if count == 1 else 's'} "
                       f"({reason})")
    if failed or any(d.status == "failed" for d in documents):
        sys.exit(1)
