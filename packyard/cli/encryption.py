"""The encryption commands: ``packyard encrypt``, ``packyard verify`` and ``packyard keys rotate``.

Each works on the server's data directory and its database and blob store (the same
``--database-url`` / ``--blob-store`` as the server's, or its ``PACKYARD_*`` settings), while the
server runs: ``encrypt`` keeps every blob readable at every step,
``keys rotate`` re-wraps data keys one row at a time, ``verify`` only reads (and deletes, with
``--delete-strays``, only what nothing serves). ``verify`` works with encryption off too; the
other two need it on. Progress goes to
stderr, the summary to stdout (``--output json`` for scripts).
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from packyard.cli.common import blob_settings, fail, plain_mode_held, progress
from packyard.cli.storage_options import storage_options
from packyard.errors import CannotStart, NotFound, PackyardError, os_error_text
from packyard.settings import Settings

if TYPE_CHECKING:
    from packyard.bootstrap import Services
    from packyard.encryption.wiring import Encryption

_DATA_DIR = click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
                         default=None,
                         help="The server's data directory (default ./data, or "
                              "PACKYARD_DATA_DIR).")
_OUTPUT = click.option("--output", type=click.Choice(["text", "json"]), default="text",
                       help="A summary for people, or JSON for scripts.")


def _settings(data_dir: Path | None, database_url: str | None,
              blob_store: str | None) -> Settings:
    return blob_settings(data_dir, database_url, blob_store,
                         not_in_memory="this command works on blobs kept on disk or in S3")


def _open_services(settings: Settings, *, iam_secrets: bool = True) -> Services:
    from packyard.bootstrap import build_services
    from packyard.data_dir import restrict_new_files

    restrict_new_files()
    try:
        return build_services(settings, iam_secrets=iam_secrets)
    except (CannotStart, PackyardError) as exc:
        fail(str(exc))


def _services(settings: Settings, *, iam_secrets: bool = True
              ) -> tuple[Services, Encryption]:
    """The services, for a command that needs encryption on (``encrypt``, ``keys rotate``)."""
    services = _open_services(settings, iam_secrets=iam_secrets)
    if services.encryption is None:
        fail("PACKYARD_ENCRYPTION=off: set it to on (the default) to use encryption")
    return services, services.encryption


def _progress() -> Progress:
    return progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn())


def _domain_id(services: Services, domain: str | None) -> int | None:
    if domain is None:
        return None
    try:
        return services.catalog.get_domain(services.settings.account_id, domain,
                                           with_stats=False).id
    except NotFound:
        fail(f"no domain {domain!r} on this server")


@click.command("encrypt")
@_DATA_DIR
@storage_options
@_OUTPUT
def encrypt(data_dir: Path | None, database_url: str | None, blob_store: str | None,
            output: str) -> None:
    """Encrypt, in place, every blob stored before encryption was on.

    Safe while the server runs and after a crash: each blob is written encrypted, its key
    recorded, and only then its plain file removed, so a run stopped at any point (even kill
    -9) loses nothing, and the next run finishes the rest.
    """
    from packyard.encryption.migration import encrypt_existing, plain_blob_count
    from packyard.encryption.mode_locks import ModeConflict, hold_encrypting_mode

    settings = _settings(data_dir, database_url, blob_store)
    if settings.encryption == "on":
        try:  # held until the command ends
            mode_lock = hold_encrypting_mode(settings.data_dir, "packyard encrypt")  # noqa: F841
        except ModeConflict as exc:
            fail(str(exc))
    services, encryption = _services(settings)
    total = plain_blob_count(services.catalog)
    try:
        with _progress() as bar:
            task = bar.add_task("encrypting blobs", total=total)
            report = encrypt_existing(services.catalog, encryption.blobs,
                                      lambda _domain, _outcome: bar.advance(task))
    except OSError as exc:
        fail(f"the encryption stopped: {os_error_text(exc)}; nothing is lost (the "
             "files not encrypted yet stay plain and readable, those encrypted so far no "
             "longer take their plain space): run it again once this is mended, and it "
              "carries on")
    services.catalog.dispose()
    if output == "json":
        click.echo(json.dumps({"counts": dict(report.counts), "problems": [
            {"domain": d, "sha256": s, "status": w} for d, s, w in report.problems]}))
    else:
        click.echo(f"{report.counts['encrypted']:,} encrypted, {report.counts['done']:,} "
                   f"finished from an earlier run, {report.counts['missing']:,} missing, "
                   f"{report.counts['corrupt']:,} corrupt (left plain)")
        for domain, sha256, what in report.problems:
            click.echo(f"  {what}: blob {sha256} of domain {domain}")
    sys.exit(1 if report.problems else 0)


@click.command("verify")
@_DATA_DIR
@storage_options
@click.option("--domain", default=None, help="Only this domain's blobs (default: all).")
@click.option("--delete-strays", "delete", is_flag=True,
              help="Also delete the stray files it lists (stored more than an hour ago, and "
                   "nothing serves them), each checked again just before: safe while the "
                   "server runs.")
@_OUTPUT
def verify(data_dir: Path | None, database_url: str | None, blob_store: str | None,
           domain: str | None, delete: bool, output: str) -> None:
    """Read every blob back: authenticate every segment of the encrypted ones and check that
    each file's sha256 is the one recorded. Exits 1 when a blob is tampered with, missing or
    corrupt (plain blobs are reported, not failures: run `packyard encrypt`). With
    PACKYARD_ENCRYPTION=off every blob is plain, as it should be: it finds the missing and
    corrupt ones.

    Also lists stray files: stored more than an hour ago, and nothing serves them (what an
    upload or a pull killed before it was recorded left, or the plain copy an interrupted
    `packyard encrypt` left beside a file's encrypted one); `--delete-strays` deletes them.
    """
    # Read from the store itself, never from the data directory's read cache of an S3 store:
    # a copy cached by an earlier run (or a replica's) is no evidence the store still holds
    # the file, and every file read would otherwise be copied to this disk.
    settings = dataclasses.replace(_settings(data_dir, database_url, blob_store),
                                   blob_cache_bytes=0)
    with plain_mode_held(settings, "packyard verify"):  # until the command ends
        _verify(settings, domain, delete, output)


def _verify(settings: Settings, domain: str | None, delete: bool, output: str) -> NoReturn:
    """``verify``'s work, its summary on stdout, and its exit: 0 when every blob is sound."""
    from packyard.encryption.verification import (
        STRAY_REMOVAL,
        delete_strays,
        stray_blobs,
        verify_blobs,
    )

    # IAM's secret key is not needed here: when its key (often the domains' own) will not open,
    # the blobs under that key say why.
    services = _open_services(settings, iam_secrets=False)
    encryption = services.encryption
    # What reads blobs back (decrypting them), and what holds the files: under encryption its
    # inner store, without it the same plain store.
    reads = encryption.blobs if encryption is not None else services.blobs
    files = encryption.blobs.inner if encryption is not None else services.blobs
    domain_id = _domain_id(services, domain)
    with _progress() as bar:
        task = bar.add_task("verifying blobs", total=None)
        report = verify_blobs(services.catalog, reads, domain_id=domain_id,
                              encryption=encryption is not None,
                              progress=lambda _finding: bar.advance(task))
    # Listed after the check: a plain copy is a stray only beside a ciphertext that read back.
    with _progress() as bar:
        task = bar.add_task("looking for stray files", total=None)
        strays = list(stray_blobs(services.catalog, files,
                                  domain_id=domain_id, unsound=report.unsound,
                                  progress=lambda _blob: bar.advance(task)))
    deleted = (delete_strays(strays, files, services.catalog,
                             services.registry.sweeper.sweep_strays) if delete else [])
    # Findings name a domain by its blobs' partition (d1), as they are stored; with its name.
    names = ({domain.blob_key: domain.name for domain in services.catalog.list_domains()}
             if any(f.status != "plain" for f in report.findings) else {})
    services.catalog.dispose()
    where = _blob_store_name(services.settings)
    if output == "json":
        click.echo(json.dumps({"ok": report.ok, "counts": dict(report.counts),
                               "stray": [stray.stored_as for stray in strays],
                               **({"deleted": [stray.stored_as for stray in deleted]}
                                  if delete else {}),
                               "findings": [
            {"domain": f.domain_key, "domainName": names.get(f.domain_key),
             "sha256": f.sha256, "status": f.status,
             "detail": f.detail, "storedAs": f.stored_as,
             "usedBy": [dataclasses.asdict(user) for user in f.used_by]}
            for f in report.findings], **report.repairs}))
    else:
        checked = sum(report.counts.values())
        if encryption is None:  # nothing is encrypted, nor has a key
            click.echo(f"{checked:,} blobs checked: {report.counts['ok']:,} ok, "
                       f"{report.counts['missing']:,} missing, "
                       f"{report.counts['corrupt']:,} corrupt")
        else:
            click.echo(f"{checked:,} blobs checked: {report.counts['ok']:,} ok, "
                       f"{report.counts['plain']:,} not encrypted yet, "
                       f"{report.counts['tampered']:,} tampered with, "
                       f"{report.counts['missing']:,} missing, "
                       f"{report.counts['corrupt']:,} corrupt, "
                       f"{report.counts['key-unavailable']:,} whose key the provider will "
                       "not open")
        for finding in report.findings:
            if finding.status != "plain":
                detail = f": {finding.detail}" if finding.detail else ""
                name = names.get(finding.domain_key)
                domain_shown = f"{name} ({finding.domain_key})" if name else finding.domain_key
                click.echo(f"  {finding.status}: blob {finding.sha256} of domain "
                           f"{domain_shown}{detail}")
                click.echo(f"    stored as {finding.stored_as}")
                for user in finding.used_by:
                    scope = "@" if user.format == "npm" else ""
                    package = (f"{scope}{user.namespace}/{user.package}" if user.namespace
                               else user.package)
                    click.echo(f"    used by {user.repository} {user.format} {package} "
                               f"{user.version} ({user.asset})")
                if not finding.used_by:
                    click.echo("    used by no package version (its version was deleted)")
        if strays:
            click.echo(f"{len(strays):,} stray file(s) under {where} that nothing serves:")
            for stray in strays:
                click.echo(f"  stray: {stray.stored_as}")
            if not delete:
                click.echo(STRAY_REMOVAL)
        if delete:
            click.echo(f"{len(deleted):,} stray file(s) deleted"
                       + (":" if deleted else ""))
            for stray in deleted:
                click.echo(f"  deleted: {stray.stored_as}")
            gone = {stray.stored_as for stray in deleted}
            for stray in strays:
                if stray.stored_as not in gone:
                    click.echo(f"  kept: {stray.stored_as}: recorded since it was listed, or "
                               "the blob store would not delete it (see the log)")
        for repair in report.repairs.values():
            click.echo(repair)
    sys.exit(0 if report.ok else 1)


def _blob_store_name(settings: Settings) -> str:
    """Where the blobs are, as the operator named them: a directory, or an s3:// URL."""
    if settings.blob_store and "://" in settings.blob_store:
        return settings.blob_store
    return str(Path(settings.blob_store) if settings.blob_store else settings.blob_dir)


@click.group("keys")
def keys() -> None:
    """Key-encryption keys: rotation."""


# A running server's write wraps a data key just before recording it: one wrapped under the
# old version as the rotation began may be recorded after its first pass, so the rotation
# looks again this long after it before retiring the old versions (``rotation.rewrap_all``).
ROTATION_SETTLE_SECONDS = 5.0


@keys.command("rotate")
@_DATA_DIR
@storage_options
@click.option("--domain", required=True, help="The domain whose key to rotate.")
@click.option("--resume", is_flag=True,
              help="Finish re-wrapping after an interrupted run, without a new version.")
@_OUTPUT
def rotate_key(data_dir: Path | None, database_url: str | None, blob_store: str | None,
               domain: str, resume: bool, output: str) -> None:
    """Make a new version of DOMAIN's key for new writes, re-wrap every data key wrapped by an
    older version (no blob is rewritten), then retire the old versions.

    The key may be shared: every domain using it gets the new version. Stopped at any point,
    `--resume` finishes the work.
    """
    from packyard.encryption.rotation import rotate
    from packyard.iam.secret_key import rewrap_secret_key
    from packyard.storage.backends import open_shared_files

    services, encryption = _services(_settings(data_dir, database_url, blob_store))
    domain_id = _domain_id(services, domain)
    assert domain_id is not None
    key_ref = encryption.keys.kek_of(domain_id)
    with _progress() as bar:
        task = bar.add_task("re-wrapping data keys", total=None)

        def started(key: object, pending: int) -> None:
            bar.update(task, total=pending)

        try:
            report = rotate(services.catalog, encryption.provider, key_ref, resume=resume,
                            progress=lambda n: bar.advance(task, n), started=started,
                            before_retire=lambda key: rewrap_secret_key(
                                open_shared_files(services.settings), encryption.provider, key),
                            settle_seconds=ROTATION_SETTLE_SECONDS)
        except PackyardError as exc:
            fail(exc.message)
    services.catalog.dispose()
    if output == "json":
        click.echo(json.dumps({"key": report.key_id, "version": report.version,
                               "rewrapped": report.rewrapped, "retired": list(report.retired)}))
    else:
        version = "" if report.version is None else f" is at version {report.version}"
        click.echo(f"Key {report.key_id}{version}: {report.rewrapped:,} data keys re-wrapped"
                   + (f", versions {', '.join(map(str, report.retired))} retired"
                      if report.retired else ""))
