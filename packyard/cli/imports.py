"""``packyard import``: publish distribution files from disk straight into a repository.

The command around the formats' imports (every ``FormatPlugin.file_import``: which files, by
their names' endings, and the service that checks and publishes them): it sorts the files out
to the format that claims each, runs each format's import in turn, and reports progress, a
summary and the exit status. Register with the main command: ``main.add_command(import_files)``
in ``packyard/cli/main.py``. Works on the server's data directory, while the server runs (SQLite
in WAL mode, one writer at a time); each batch is announced to the server
(``metadata/change_feed.py``), which shows it at once.
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
    from collections.abc import Sequence

    from packyard.formats.plugin import DocumentResult, FileImport, FileResult

DEFAULT_BATCH_SIZE = 500

_DOCUMENT_SHAPES = {
    "package.json": "an npm registry document has name, versions and dist-tags",
    "index.json": "a PyPI project's index.json is a PEP 691 page: meta, name and files",
}
"""What each package document's file name must hold to be read, for a refusal to say."""


def _settings(data_dir: Path | None, database_url: str | None = None,
              blob_store: str | None = None) -> Settings:
    # The files would land in this command's memory, never in the server's.
    return blob_settings(data_dir, database_url, blob_store,
                         not_in_memory="packyard import can only add files to a server whose "
                                       "blobs are on disk or in S3")


def _file_imports() -> dict[str, FileImport]:
    """Every format that imports files from disk (PyPI's, npm's), by format name, in the order
    the formats are registered."""
    from packyard.formats import builtin_formats

    found = {p.name: p.file_import for p in builtin_formats() if p.file_import is not None}
    if not found:
        fail("no package format here imports files")
    return found


def _claimed(paths: Sequence[Path], imports: dict[str, FileImport]
             ) -> tuple[dict[str, list[Path]], dict[str, list[Path]], list[Path]]:
    """The files to import, by the format that claims each (its name ends with one of that
    format's suffixes), the package documents each format reads (by their whole names), and
    the files named that no format claims, in the order found."""
    from packyard.formats.bulk_import import find_files

    endings = {name: tuple(file_import.suffixes) for name, file_import in imports.items()}
    names = {name: tuple(file_import.documents) for name, file_import in imports.items()}
    claimed: dict[str, list[Path]] = {name: [] for name in imports}
    documents: dict[str, list[Path]] = {name: [] for name in imports}
    unclaimed: list[Path] = []
    for path in find_files(paths, [suffix for ends in endings.values() for suffix in ends],
                           [whole for wholes in names.values() for whole in wholes]):
        owner = next((name for name, ends in endings.items() if path.name.endswith(ends)),
                     None)
        if owner is not None:
            claimed[owner].append(path)
            continue
        reader = next((name for name, wholes in names.items() if path.name in wholes), None)
        (documents[reader] if reader is not None else unclaimed).append(path)
    return ({name: files for name, files in claimed.items() if files},
            {name: files for name, files in documents.items() if files}, unclaimed)


def _suffix_list(imports: dict[str, FileImport]) -> str:
    return ", ".join("*" + suffix for file_import in imports.values()
                     for suffix in file_import.suffixes)


def _shown(path: Path) -> str:
    """A path as text a terminal shows as it is: a control character in a file's name (an
    escape sequence, a new line) is written as Python writes it in a string (``\\x1b``)."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(path))


def _summary(counts: Counter[str], seconds: float) -> str:
    done = sum(counts.values())
    rate = done / seconds if seconds > 0 else 0.0
    return (f"{counts['imported']:,} imported, {counts['present']:,} already present, "
            f"{counts['refused']:,} refused ({rate:,.0f} files/s)")


def _documents_summary(results: Sequence[DocumentResult]) -> str:
    """What the package documents did, for the summary line: a rerun says it changed
    nothing."""
    read = sum(1 for r in results if r.status == "read")
    refused = len(results) - read

    def count(kind: str) -> int:
        return sum(len(getattr(r, kind)) for r in results)

    def tally(kind: str) -> str:
        return (f"{count(kind + '_set'):,} set, {count(kind + '_present'):,} already set, "
                f"{count(kind + '_skipped'):,} skipped")

    text = (f"{read:,} package document{'' if read == 1 else 's'} read, {refused:,} refused: "
            f"dist-tags {tally('tags')}; deprecations {tally('deprecations')}")
    if count("yanks_set") or count("yanks_present") or count("yanks_skipped"):
        text += f"; yanks (versions made Unlisted) {tally('yanks')}"
    if read and not any(r.changed for r in results):
        text += " (nothing changed)"
    return text


def _documents_report(results: Sequence[DocumentResult]) -> dict[str, object]:
    """The package documents in ``--output json``: every tag and deprecation set or skipped,
    and each refused document with its reason."""
    return {
        "read": sum(1 for r in results if r.status == "read"),
        "refused": [{"path": str(r.path), "package": r.package, "reason": r.reason}
                    for r in results if r.status == "refused"],
        "distTags": {
            "set": [{"package": r.package, "tag": t.tag, "version": t.version}
                    for r in results for t in r.tags_set],
            "alreadySet": sum(len(r.tags_present) for r in results),
            "skipped": [{"package": r.package, "tag": t.tag, "version": t.version,
                         "reason": t.reason} for r in results for t in r.tags_skipped]},
        "deprecations": {
            "set": [{"package": r.package, "version": d.version, "message": d.message}
                    for r in results for d in r.deprecations_set],
            "alreadySet": sum(len(r.deprecations_present) for r in results),
            "skipped": [{"package": r.package, "version": d.version, "message": d.message,
                         "reason": d.reason} for r in results for d in r.deprecations_skipped]},
        # PyPI's index.json yanks, when there are any.
        **({"yanks": {
            "set": [{"package": r.package, "version": y.version}
                    for r in results for y in r.yanks_set],
            "alreadySet": sum(len(r.yanks_present) for r in results),
            "skipped": [{"package": r.package, "version": y.version, "reason": y.reason}
                        for r in results for y in r.yanks_skipped]}}
           if any(r.yanks_set or r.yanks_present or r.yanks_skipped for r in results)
           else {}),
    }


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
    """Publish wheels, sdists and npm tarballs from PATHS into a repository, as `twine upload`
    and `npm publish` would.

    PATHS are distribution files, or directories searched recursively for *.whl, *.tar.gz and
    *.zip (PyPI) and *.tgz (npm tarballs: `npm pack` output, a Verdaccio storage folder).
    Every file gets the checks its upload gets (name, version, metadata, archive contents,
    size, package origin controls); a file already in the repository with the same bytes is
    skipped, one with other bytes is refused. An npm tarball moves `latest` as `npm publish`
    does: it ends on the package's highest release, whatever the order. Then each npm registry
    document found (a package.json with name, versions and dist-tags, as Verdaccio keeps one
    beside a package's tarballs, and as packyard export writes) sets its dist-tags (`latest`
    too) and deprecations as `npm dist-tag add` and `npm deprecate` would, on the versions
    the repository has; the others are skipped and counted. The versions and files the
    import adds are dated as the document beside them says (npm: its time; PyPI: the
    index.json packyard export writes, a PEP 691 page: each file's upload-time), never later
    than now, and a PyPI version whose files that index.json lists all yanked becomes
    Unlisted (yanked on the pages). Refusals are listed and do not
    stop the import; the exit status is 1 if there were any. Runs as the account root, on the
    data directory, and is safe while `packyard serve` runs on it: give it the settings that
    server runs with (PACKYARD_ENCRYPTION, --blob-store, --database-url).

    Example: packyard import --data-dir ./data --domain my-domain --repository my-repo wheels/
    verdaccio/storage/
    """
    # Here, not at the top: wiring the services loads botocore's models, which `packyard
    # --help` should not wait for.
    from packyard.auth.principal import root_principal
    from packyard.bootstrap import build_services
    from packyard.data_dir import restrict_new_files
    from packyard.encryption.mode_locks import ModeConflict, hold_encrypting_mode
    from packyard.formats.plugin import FileResult

    settings = _settings(data_dir, database_url, blob_store)
    imports = _file_imports()
    claimed, documents, unclaimed = _claimed(paths, imports)
    named = {path for path in paths if not path.is_dir()}
    if not claimed and not unclaimed and not documents:
        fail(f"no distribution files ({_suffix_list(imports)}) in "
             f"{', '.join(str(p) for p in paths)}")
    total = sum(len(files) for files in claimed.values()) + len(unclaimed)
    restrict_new_files()
    if settings.encryption == "on":
        try:  # held until the command ends
            mode_lock = hold_encrypting_mode(  # noqa: F841
                settings.data_dir, "packyard import", can_run_plain=True)
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
    principal = root_principal(settings.account_id)
    counts: Counter[str] = Counter()
    by_format: dict[str, Counter[str]] = {name: Counter() for name in imports
                                          if name in claimed or name in documents}
    refused: list[FileResult] = []
    read: list[DocumentResult] = []
    started = time.monotonic()
    try:
        with progress(TextColumn("importing"), BarColumn(), MofNCompleteColumn(),
                      TextColumn("{task.description}"), TimeElapsedColumn()) as bar:
            task = bar.add_task("", total=total)

            def report(batch: list[FileResult], tally: Counter[str]) -> None:
                for result in batch:
                    counts[result.status] += 1
                    tally[result.status] += 1
                    if result.status == "refused":
                        refused.append(result)
                        if output == "text":
                            bar.console.print(
                                f"[red]refused[/] {escape(_shown(result.path))}: "
                                f"{escape(result.reason or '')}",
                                soft_wrap=True, highlight=False)
                bar.update(task, advance=len(batch),
                           description=_summary(counts, time.monotonic() - started))

            report([FileResult(path, "refused", f"{path.name} is not a file packyard import "
                                                f"takes ({_suffix_list(imports)})")
                    for path in unclaimed], Counter())
            for name in imports:
                if name not in claimed and name not in documents:
                    continue
                importer = imports[name].importer(services.registry, settings, principal,
                                                  found_domain, found_repository, batch_size)
                for batch in importer.run(claimed.get(name, []), documents.get(name, [])):
                    report(batch, by_format[name])
                # Once the package's tarballs are in: a tag names a version the repository
                # has only then.
                answered: set[Path] = set()
                for document in importer.apply_documents(documents.get(name, [])):
                    read.append(document)
                    answered.add(document.path)
                    if document.status == "refused" and output == "text":
                        bar.console.print(
                            f"[red]refused[/] {escape(_shown(document.path))}: "
                            f"{escape(document.reason or '')}", soft_wrap=True,
                            highlight=False)
                # One named on the command line that is no such document is refused, as any
                # file named that no format takes; in a folder, it is passed over.
                passed_over = [FileResult(path, "refused", f"{path.name} is no package "
                                                           "document packyard import reads "
                                                           f"({_DOCUMENT_SHAPES[path.name]})")
                               for path in documents.get(name, [])
                               if path in named and path not in answered]
                total += len(passed_over)
                report(passed_over, by_format[name])
    except OSError as exc:
        # The staging area's disk (full, read-only): not a file's fault, so the import stops;
        # the batches committed before stay, and a rerun skips them.
        fail(f"the import stopped: {os_error_text(exc)}; {counts['imported']:,} "
             "file(s) were imported before it (whole batches only): run it again once this "
             "is mended, and the files already imported are skipped")
    # The imported projects' pages are rendered right after each batch; the import is done
    # when they are (``metadata/rendered_pages.py``).
    if not total and not read:
        # Only package.json files, none a registry document (a project's folder): as before.
        services.catalog.dispose()
        fail(f"no distribution files ({_suffix_list(imports)}) in "
             f"{', '.join(str(p) for p in paths)}")
    services.catalog.flush_rendered_pages()
    seconds = time.monotonic() - started
    audit = LocalAudit(settings, services.engines)
    try:
        audit.record("ImportPackageFiles", {
            "domain": found_domain.name, "domainOwner": found_domain.owner,
            "repository": found_repository.name,
            "files": total}, {
            "imported": counts["imported"], "present": counts["present"],
            "refused": counts["refused"],
            **({"documents": sum(1 for r in read if r.status == "read"),
                "documentsRefused": sum(1 for r in read if r.status == "refused"),
                "distTagsSet": sum(len(r.tags_set) for r in read),
                "deprecationsSet": sum(len(r.deprecations_set) for r in read),
                **({"yanksSet": yanked} if (yanked := sum(len(r.yanks_set) for r in read))
                   else {})} if read else {})})
    finally:
        audit.close()
    services.catalog.dispose()
    target = f"{found_domain.name}/{found_repository.name}"
    if output == "json":
        click.echo(json.dumps({
            "domain": found_domain.name, "repository": found_repository.name,
            "files": total, "imported": counts["imported"], "present": counts["present"],
            "refused": [{"path": str(r.path), "reason": r.reason} for r in refused],
            "formats": {name: {"files": sum(tally.values()), "imported": tally["imported"],
                               "present": tally["present"], "refused": tally["refused"]}
                        for name, tally in by_format.items()},
            **({"documents": _documents_report(read)} if read else {}),
            "seconds": round(seconds, 3),
            "filesPerSecond": round(total / seconds, 1) if seconds > 0 else None,
        }, indent=2))
    else:
        noun = "file" if total == 1 else "files"
        click.echo(f"{total:,} {noun} into {target} in {seconds:.1f}s: "
                   f"{_summary(counts, seconds)}"
                   + (f"; {_documents_summary(read)}" if read else ""))
    if refused or any(r.status == "refused" for r in read):
        sys.exit(1)
