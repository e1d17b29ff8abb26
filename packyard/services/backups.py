"""``packyard backup`` / ``packyard restore`` for the embedded default: SQLite and local blobs.

A backup is consistent while the server runs, without stopping it:

1. the database is copied with SQLite's online backup API, a snapshot of one moment (under WAL
   a reader holds no writer up);
2. the blobs that snapshot lists (the ``blobs`` table) are copied, each verified against its
   sha256 as it is read. Blobs are content-addressed and never rewritten, and each one is
   durable before the row naming it commits, so every blob the snapshot names is on disk —
   unless a deletion after the snapshot removed it, which is reported (the run fails; run it
   again);
3. the IAM secrets key (or, with encryption at rest, its wrapped key), the local keyring and the
   generated root credentials, without which the copy's secret access keys and encrypted blobs
   are unreadable, are copied owner-only, after the snapshot (so the keyring holds every key its
   data keys name, unless ``packyard keys rotate`` retired a version meanwhile: checked, and
   the backup fails then).

Encrypted blobs (those with a data key in the snapshot) are copied as they are stored, ciphertext
under ``blobs/d<N>.enc/``, with their data keys in the database copy: nothing is decrypted, so
the copy is checked by size (a ciphertext's size follows from the plaintext's), and ``packyard
verify`` on the restored directory authenticates every segment and checks every sha256.

Every file the backup writes is listed with the sha256 of its bytes in ``SHA256SUMS``
(``sha256sum -c``'s format), written just before the manifest: a ciphertext changed in the
backup since, a file removed or a truncated database is found by the restore (or by
``sha256sum -c SHA256SUMS`` in the backup), not served.

``restore`` copies the same back into an empty data directory, verifying every file again,
the database last: a restore that stopped half-way leaves no database, so it is run again. A
backup found damaged on the way is not half-restored: what the restore wrote is removed.
PostgreSQL and S3 are backed up with their own tools (docs/deployment.md).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import make_url

from packyard import __version__
from packyard.crypto.keyring import KEYRING_FILE, key_versions
from packyard.crypto.stream import LAYOUT
from packyard.encryption.blob_store import SEALED_SUFFIX
from packyard.errors import Invalid, os_error_text
from packyard.iam.secret_key import WRAPPED_FILE
from packyard.iam.secrets import KEY_FILE, LOST_PREFIX
from packyard.metadata.engine import backend_name
from packyard.settings import Settings
from packyard.storage.backends import open_shared_files

MANIFEST = "backup.json"
# Every file of the backup, as ``sha256sum`` lists them: the restore checks each against it.
SUMS = "SHA256SUMS"
# In a data directory being restored into, until the restore is done: which backup it is.
RESTORING = "restore-in-progress.json"
DATABASE = "packyard.db"
BLOBS = "blobs"
# Besides the database and the blobs: the key that decrypts stored secret access keys, and the
# root credentials a first start generated; and the webhooks (their secrets too), without which
# a restored server would send no event, saying nothing.
WEBHOOKS_FILE = "webhooks.json"
SECRET_FILES = (KEY_FILE, WRAPPED_FILE, "keyring.json", "credentials.json", WEBHOOKS_FILE)
_CHUNK = 1024 * 1024

# (files done, files in all, bytes done)
Progress = Callable[[int, int, int], None]


class DamagedBackup(Invalid):
    """A file of the backup is missing, or its bytes are not those it was written with."""


@dataclass
class BackupReport:
    blobs: int = 0
    bytes: int = 0
    # Blobs the snapshot lists that were gone when copied (deleted since): the backup lacks
    # them and is not complete.
    missing: list[str] = field(default_factory=list)
    # Encrypted files restored from a backup without SHA256SUMS: checked by size only.
    unauthenticated: int = 0
    # Why the backup's IAM secrets will not open: the key file that seals them was not there.
    secret_key_missing: str = ""


def embedded_paths(settings: Settings, command: str = "packyard backup") -> tuple[Path, Path]:
    """The SQLite file and the blob directory of the embedded default; ``Invalid`` naming the
    tools for anything else."""
    url = settings.effective_database_url
    if backend_name(url) != "sqlite":
        raise Invalid(f"{command} covers the embedded default (SQLite); back PostgreSQL up "
                      "with pg_dump (docs/deployment.md, Backup and restore)")
    where = settings.blob_store
    if where and "://" in where:
        raise Invalid(f"{command} covers blobs in a directory, not {where}; use the "
                      "object store's versioning or replication (docs/deployment.md)")
    database = make_url(url).database
    if not database:
        raise Invalid(f"no SQLite file in {url}")
    return Path(database), Path(where) if where else settings.blob_dir


def backup(settings: Settings, dest: Path, progress: Progress | None = None) -> BackupReport:
    """Copy the embedded install ``settings`` names into the new directory ``dest``.

    A backup that stops half-way (a full or read-only destination, a damaged blob, Ctrl-C)
    removes what it wrote: ``dest`` is left as it was found, never holding half a backup."""
    database, blob_dir = embedded_paths(settings)
    if not database.exists():
        raise Invalid(f"no Packyard database at {database}; pass the server's --data-dir")
    if dest.exists() and any(dest.iterdir()):
        if (dest / DATABASE).exists() and not (dest / MANIFEST).exists():
            raise Invalid(f"{dest} holds an unfinished backup (it was stopped before it wrote "
                          f"{MANIFEST}): remove it, or back up into a new directory")
        raise Invalid(f"{dest} is not empty; back up into a new directory")
    created = not dest.exists()
    try:
        dest.mkdir(mode=0o700, parents=True, exist_ok=True)
        return _backup(settings, database, blob_dir, dest, progress)
    except BaseException as exc:
        _remove_partial(dest, created)
        if isinstance(exc, OSError):
            raise Invalid(f"the backup stopped: {os_error_text(exc)}; nothing of it was kept "
                          f"in {dest}") from None
        if isinstance(exc, sqlite3.Error):
            # SQLite's own words for a full or read-only destination ("database or disk is
            # full", "unable to open database file"), naming the file it was writing.
            raise Invalid(f"the backup stopped: {exc} ({dest / DATABASE}); nothing of it was "
                          f"kept in {dest}") from None
        raise


def _backup(settings: Settings, database: Path, blob_dir: Path, dest: Path,
            progress: Progress | None) -> BackupReport:
    snapshot_sqlite(database, dest / DATABASE)
    sums = {DATABASE: _file_sha256(dest / DATABASE)}
    report = BackupReport()
    listed = _listed_blobs(dest / DATABASE)
    for n, (key, sha256, size, sealed) in enumerate(listed, 1):
        try:
            name, stored = _copy_blob(blob_dir, dest / BLOBS, key, sha256, size, sealed)
            sums[f"{BLOBS}/{name}"] = stored
        except FileNotFoundError:
            report.missing.append(f"{key}/{sha256}")
        else:
            report.blobs += 1
            report.bytes += size
        if progress:
            progress(n, len(listed), report.bytes)
    lost = still_listed(database, report.missing)
    if lost:
        # Not deleted while it ran (the database lists them still): elsewhere, or lost.
        raise Invalid(f"{len(lost)} file(s) the database lists are not in {blob_dir} (the "
                      f"first: {lost[0]}): if the server keeps its files elsewhere, pass its "
                      "--blob-store (PACKYARD_BLOB_STORE); else run packyard verify")
    shared = open_shared_files(settings)  # a directory store keeps IAM's key beside its blobs
    for name in SECRET_FILES:
        if name in (KEY_FILE, WRAPPED_FILE):
            data = shared.read(name)
            if data is not None:
                _write_durably(dest / name, data)
                sums[name] = hashlib.sha256(data).hexdigest()
            elif name == WRAPPED_FILE and KEY_FILE not in sums:
                needing = _sealed_secrets(dest / DATABASE)
                if needing:
                    report.secret_key_missing = (
                        f"IAM's secret key ({WRAPPED_FILE}, or {KEY_FILE}) is missing from "
                        f"{shared.where}, and the database holds {needing} IAM access key(s) "
                        "or role session(s) sealed with it: the backup cannot open them (nor "
                        "can a server started on it). Put the file back from an "
                        "earlier backup and back up again; or give those secrets up with "
                        "`packyard iam reset-secret-key`")
        else:
            # The webhooks where the server reads them (PACKYARD_WEBHOOKS_FILE may name a file
            # outside the data directory); restored as the data directory's webhooks.json.
            source = (settings.effective_webhooks_file if name == WEBHOOKS_FILE
                      else settings.data_dir / name)
            if source.exists():
                _copy_private(source, dest / name)
                sums[name] = _file_sha256(dest / name)
    _check_keyring_opens(dest / DATABASE, dest / KEYRING_FILE)
    manifest = {"packyardVersion": __version__, "created": datetime.now(UTC).isoformat(),
                "blobs": report.blobs, "bytes": report.bytes, "complete": not report.missing}
    _write_durably(dest / SUMS, "".join(f"{digest}  {name}\n"
                                        for name, digest in sums.items()).encode())
    # Last, and on disk before it is in place: its presence says the copy above is whole.
    _write_durably(dest / MANIFEST, (json.dumps(manifest, indent=2) + "\n").encode())
    return report


def restore(src: Path, settings: Settings, progress: Progress | None = None) -> BackupReport:
    """Copy the backup in ``src`` into the empty data directory ``settings`` names.

    A restore that stopped (a full disk, Ctrl-C) is run again and carries on: a marker in the
    data directory names the backup it was restoring, and no other data directory that holds
    anything is written to (its keyring and secrets would be replaced by the backup's)."""
    database, blob_dir = embedded_paths(settings, "packyard restore")
    manifest = src / MANIFEST
    if (src / DATABASE).exists() and not manifest.exists():
        raise Invalid(f"{src} is an unfinished backup (it was stopped before it wrote "
                      f"{MANIFEST}); use another, or run the backup again into a new directory")
    if not manifest.exists() or not (src / DATABASE).exists():
        raise Invalid(f"{src} is not a Packyard backup (no {MANIFEST} and {DATABASE})")
    described = json.loads(manifest.read_text())
    if not described.get("complete", False):
        raise Invalid(f"{src} is an incomplete backup (blobs were deleted while it ran); "
                      "use another")
    marker = settings.data_dir / RESTORING
    if database.exists():
        if _finished_but_marked(src, database, marker, str(described.get("created"))):
            # Stopped between its last two steps: the database was in place, the marker not
            # yet removed (and no server would start there).
            marker.unlink()
            return BackupReport(blobs=int(described.get("blobs", 0)),
                                bytes=int(described.get("bytes", 0)))
        raise Invalid(f"{database} exists; restore into a new --data-dir (or move it away)")
    _check_restorable_into(settings.data_dir, blob_dir, marker, str(described.get("created")))
    sums = _read_sums(src)
    created = not settings.data_dir.exists()
    try:
        settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        _write_durably(marker, json.dumps({"backup": str(described.get("created")),
                                           "from": str(src)}).encode())
        report = _restore_files(src, sums, settings.data_dir, blob_dir, progress)
        _copy_private(src / DATABASE, database)  # last: its presence means the restore finished
    except DamagedBackup as exc:
        # Running it again would not help: leave nothing a server (or a later restore of
        # another backup) would take for a restore under way.
        _remove_restored(settings.data_dir, blob_dir, created)
        raise DamagedBackup(f"{exc}: the backup is damaged; nothing of it was kept in "
                            f"{settings.data_dir}: restore another backup") from None
    except OSError as exc:
        raise Invalid(f"the restore stopped: {os_error_text(exc)}; no server starts on "
                      f"{settings.data_dir} until it is done: run the restore again once this "
                      "is mended, and it carries on") from None
    marker.unlink()
    return report


def _finished_but_marked(src: Path, database: Path, marker: Path, backup: str) -> bool:
    """Whether ``database`` is this backup's, put in place by a restore of it that stopped
    before it removed its marker."""
    if not marker.exists() or json.loads(marker.read_text() or "{}").get("backup") != backup:
        return False
    return _file_sha256(database) == _file_sha256(src / DATABASE)


def _restore_files(src: Path, sums: dict[str, str] | None, data_dir: Path, blob_dir: Path,
                   progress: Progress | None) -> BackupReport:
    """Check the backup's database, then copy its blobs and secret files into place, each
    checked against ``SHA256SUMS`` (a backup from before it: blobs against the catalog)."""
    if sums is not None:
        _check_sum(src, DATABASE, sums)
    needed: tuple[bool, set[tuple[str, int]]] = (False, set())
    try:
        if sums is None:
            _check_database_pages(src / DATABASE)
            needed = _keys_needed(src / DATABASE)
        listed = _listed_blobs(src / DATABASE)
    except sqlite3.Error as exc:
        raise DamagedBackup(f"{src / DATABASE} cannot be read ({exc})") from None
    if sums is None:
        _check_older_secrets(src, *needed)
    report = BackupReport()
    for n, (key, sha256, size, sealed) in enumerate(listed, 1):
        try:
            _copy_blob(src / BLOBS, blob_dir, key, sha256, size, sealed,
                       None if sums is None else sums)
        except FileNotFoundError as exc:
            if exc.filename and Path(exc.filename).is_relative_to(src):
                raise DamagedBackup(f"{exc.filename} is missing") from None
            raise
        report.blobs += 1
        report.bytes += size
        if sums is None and sealed:
            report.unauthenticated += 1
        if progress:
            progress(n, len(listed), report.bytes)
    for name in SECRET_FILES:
        if sums is not None and name in sums:
            _check_sum(src, name, sums)  # a keyring lost: every restored file unreadable
        if (src / name).exists():
            _copy_private(src / name, data_dir / name)
    return report


def _read_sums(src: Path) -> dict[str, str] | None:
    """The backup's ``SHA256SUMS`` as {relative path: sha256}; ``None`` for a backup taken
    before there was one."""
    try:
        text = (src / SUMS).read_text()
    except FileNotFoundError:
        return None
    sums = {}
    for line in text.splitlines():
        digest, _, name = line.partition("  ")
        sums[name] = digest
    return sums


def _check_sum(src: Path, name: str, sums: dict[str, str]) -> None:
    try:
        found = _file_sha256(src / name)
    except FileNotFoundError:
        raise DamagedBackup(f"{src / name} is missing") from None
    if found != sums.get(name):
        raise DamagedBackup(f"{src / name} is not the file that was backed up (its sha256 is "
                            f"not the one in {src / SUMS})")


def _check_database_pages(database: Path) -> None:
    """SQLite's quick check of a backup's database (one taken before ``SHA256SUMS``)."""
    conn = sqlite3.connect(f"file:{database}?mode=ro&immutable=1", uri=True)
    try:
        found = conn.execute("PRAGMA quick_check").fetchone()[0]
    finally:
        conn.close()
    if found != "ok":
        raise sqlite3.DatabaseError(str(found))


def _keys_needed(database: Path) -> tuple[bool, set[tuple[str, int]]]:
    """What a backup's database cannot be read without: whether it holds secrets sealed by
    IAM's secret key, and the local keyring's key versions its data keys are wrapped by."""
    conn = sqlite3.connect(f"file:{database}?mode=ro&immutable=1", uri=True)
    try:
        secrets = _sealed_count(conn) > 0
        versions = set() if not _has_table(conn, "data_keys") else set(conn.execute(
            "SELECT DISTINCT key_id, key_version FROM data_keys WHERE provider = 'local'"))
    finally:
        conn.close()
    return secrets, versions


def _sealed_secrets(database: Path) -> int:
    """How many secrets in the SQLite copy ``database`` need IAM's secret key."""
    conn = sqlite3.connect(f"file:{database}?mode=ro&immutable=1", uri=True)
    try:
        return _sealed_count(conn)
    finally:
        conn.close()


def _sealed_count(conn: sqlite3.Connection) -> int:
    """Access keys not given up (``packyard iam reset-secret-key`` marks them lost: nothing
    opens them) and role sessions; tables an older database lacks count none."""
    keys = sessions = 0
    if _has_table(conn, "iam_access_keys"):
        keys = conn.execute("SELECT count(*) FROM iam_access_keys WHERE secret_encrypted "
                            "NOT LIKE ?", (f"{LOST_PREFIX}%",)).fetchone()[0]
    if _has_table(conn, "sts_sessions"):
        sessions = conn.execute("SELECT count(*) FROM sts_sessions").fetchone()[0]
    return int(keys) + int(sessions)


def _has_table(conn: sqlite3.Connection, name: str) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                        (name,)).fetchone() is not None


def _check_older_secrets(src: Path, secrets: bool, versions: set[tuple[str, int]]) -> None:
    """A backup from before ``SHA256SUMS`` lists no secret file, so check that it holds those
    its database needs: without them the restore would 'succeed' into an install whose access
    keys fail with 500s and whose every encrypted file is unreadable."""
    wrapped = src / WRAPPED_FILE
    if secrets and not (src / KEY_FILE).exists() and not wrapped.exists():
        raise DamagedBackup(f"{wrapped} is missing (and so is {KEY_FILE}): the backup's "
                            "secret access keys could not be read")
    versions = set(versions)
    if wrapped.exists():
        try:
            document = json.loads(wrapped.read_bytes())
            if document["provider"] == "local":
                versions.add((str(document["key_id"]), int(document["key_version"])))
        except (ValueError, KeyError, TypeError):
            raise DamagedBackup(f"{wrapped} is damaged (not the wrapped key it was)") from None
    if not versions:
        return
    keyring = src / KEYRING_FILE
    try:
        held = key_versions(keyring)
    except FileNotFoundError:
        raise DamagedBackup(f"{keyring} is missing") from None
    except (ValueError, KeyError, TypeError, AttributeError):
        raise DamagedBackup(f"{keyring} is damaged (not the keyring it was)") from None
    lacking = sorted(f"{key_id} version {version}" for key_id, version in versions
                     if version not in held.get(key_id, set()))
    if lacking:
        raise DamagedBackup(f"{keyring} lacks key {lacking[0]}, which the backup's files are "
                            "wrapped by")


def _remove_restored(data_dir: Path, blob_dir: Path, created: bool) -> None:
    """Remove what a restore of a damaged backup wrote: the directories held nothing else
    (``_check_restorable_into``)."""
    for where in (blob_dir, data_dir):
        if not where.is_dir():
            continue
        if where == data_dir and created:
            shutil.rmtree(where, ignore_errors=True)
            continue
        for entry in where.iterdir():
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as reader:
        while chunk := reader.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _check_restorable_into(data_dir: Path, blob_dir: Path, marker: Path, backup: str) -> None:
    """Refuse a data directory (or blob directory) that holds anything, unless it is what an
    interrupted restore of this same backup left."""
    if marker.exists():
        restoring = json.loads(marker.read_text() or "{}")
        if restoring.get("backup") == backup:
            return  # run again: carry on
        raise Invalid(f"{data_dir} holds an interrupted restore of another backup (from "
                      f"{restoring.get('from')}): restore that one again, or restore into a "
                      "new, empty --data-dir")
    for where, option in ((data_dir, "--data-dir"), (blob_dir, "--blob-store")):
        if where.is_dir() and any(where.iterdir()):
            raise Invalid(f"{where} is not empty; restore into a new, empty {option} (the "
                          "backup's keyring, secrets and files would replace what is there)")


def still_listed(database: Path, missing: list[str]) -> list[str]:
    """Those of the ``missing`` blobs (``d<N>/<sha256>``) the live database lists still: not
    deleted since the snapshot, so not where the backup looked."""
    if not missing:
        return []
    conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30)
    try:
        return [blob for blob in missing if conn.execute(
            "SELECT 1 FROM blobs WHERE domain_id = ? AND sha256 = ?",
            (int(blob.split("/")[0][1:]), blob.split("/")[1])).fetchone() is not None]
    finally:
        conn.close()


def _check_keyring_opens(database: Path, keyring: Path) -> None:
    """Refuse a copy whose keyring lacks a key version the copied data keys are wrapped by:
    ``packyard keys rotate`` retired it between the database's snapshot and the keyring's copy,
    and the copy's encrypted files could never be read."""
    if not keyring.exists():
        return
    # Immutable: a finished copy, read without the -wal and -shm files a read-only connection
    # to a WAL database leaves behind (they were left in every backup and every restore).
    conn = sqlite3.connect(f"file:{database}?mode=ro&immutable=1", uri=True)
    try:
        if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = "
                        "'data_keys'").fetchone() is None:
            return
        needed = conn.execute("SELECT DISTINCT key_id, key_version FROM data_keys "
                              "WHERE provider = 'local'").fetchall()
    finally:
        conn.close()
    held = key_versions(keyring)
    for key_id, version in needed:
        if version not in held.get(key_id, set()):
            raise Invalid(f"key {key_id} version {version}, which the copied files' data keys "
                          "are wrapped by, was retired while the backup ran (packyard keys "
                          "rotate): run the backup again once the rotation is done")


def snapshot_sqlite(database: Path, target: Path) -> None:
    """The SQLite database as of one moment, copied to ``target`` (0600) while it is in use."""
    partial = target.with_name(target.name + ".partial")
    source = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30)
    try:
        copy = sqlite3.connect(partial)
        try:
            source.backup(copy)  # all pages in one step: one consistent moment
        finally:
            copy.close()
    finally:
        source.close()
    os.chmod(partial, 0o600)
    os.replace(partial, target)


def _listed_blobs(database: Path) -> list[tuple[str, str, int, bool]]:
    """Each blob the database lists: (domain key, sha256, size, whether it has a data key).
    ``database`` is a backup's copy, read as ``_check_keyring_opens`` reads it."""
    conn = sqlite3.connect(f"file:{database}?mode=ro&immutable=1", uri=True)
    try:
        keyed = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = "
                             "'data_keys'").fetchone() is not None  # none before encryption
        rows = conn.execute(
            "SELECT b.domain_id, b.sha256, b.size, "
            + ("k.sha256 IS NOT NULL FROM blobs b LEFT JOIN data_keys k ON k.domain_id = "
               "b.domain_id AND k.sha256 = b.sha256 " if keyed else "0 FROM blobs b ")
            + "ORDER BY b.domain_id, b.sha256").fetchall()
    finally:
        conn.close()
    return [(f"d{domain_id}", sha256, size, bool(sealed))
            for domain_id, sha256, size, sealed in rows]


def _copy_blob(source_dir: Path, target_dir: Path, key: str, sha256: str, size: int,
               sealed: bool, sums: dict[str, str] | None = None) -> tuple[str, str]:
    """One blob as it is stored: its ciphertext when it has a data key (checked by size, and
    by its sha256 when ``sums``, a backup's ``SHA256SUMS``, lists it), else the plain file
    (checked by sha256). A blob with a data key whose ciphertext is not there yet (``packyard
    encrypt`` writes the key row first) is still plain, and copied so. Returns the name it has
    under the blob directory and the sha256 of its stored bytes."""
    if sealed:
        name = Path(key + SEALED_SUFFIX) / sha256[:2] / sha256
        if (source_dir / name).exists() or not (source_dir / key / sha256[:2] / sha256).exists():
            listed = _listed_sum(sums, name)
            return name.as_posix(), _copy_verified(source_dir / name, target_dir / name, listed,
                                                   LAYOUT.ciphertext_size(size))
    name = Path(key) / sha256[:2] / sha256
    if sums is not None:
        _listed_sum(sums, name)
    return name.as_posix(), _copy_verified(source_dir / name, target_dir / name, sha256, size)


def _listed_sum(sums: dict[str, str] | None, name: Path) -> str | None:
    if sums is None:
        return None
    listed = sums.get(f"{BLOBS}/{name.as_posix()}")
    if listed is None:
        raise DamagedBackup(f"{BLOBS}/{name.as_posix()} is not in the backup's {SUMS}")
    return listed


def _copy_verified(source: Path, target: Path, sha256: str | None, size: int) -> str:
    """Copy ``source`` to ``target`` through a temporary file, refusing bytes whose sha256 (when
    given: not for ciphertext, unless a backup's ``SHA256SUMS`` lists it) or size is not the
    recorded one (a damaged blob is not backed up, or restored, as if it were good). Returns
    the sha256 of the bytes copied."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    digest = hashlib.sha256()
    copied = 0
    with source.open("rb") as reader, partial.open("wb") as writer:
        try:
            while chunk := reader.read(_CHUNK):
                digest.update(chunk)
                writer.write(chunk)
                copied += len(chunk)
            writer.flush()
            os.fsync(writer.fileno())
        except OSError as exc:
            exc.filename = exc.filename or str(target)  # a full disk's error names no file
            raise
    if (sha256 is not None and digest.hexdigest() != sha256) or copied != size:
        partial.unlink()
        what = f"sha256 {sha256} and size {size}" if sha256 else f"the size {size}"
        raise DamagedBackup(f"{source} is damaged: its bytes do not match {what} recorded "
                            "for it")
    os.replace(partial, target)
    return digest.hexdigest()


def _write_durably(target: Path, data: bytes) -> None:
    """Write ``target`` (0600) through a temporary file, on disk before it takes the name."""
    partial = target.with_name(target.name + ".partial")
    with partial.open("wb") as writer:
        writer.write(data)
        writer.flush()
        os.fsync(writer.fileno())
    os.chmod(partial, 0o600)
    os.replace(partial, target)


def _remove_partial(dest: Path, created: bool) -> None:
    """Remove what a backup that stopped wrote into ``dest`` (``dest`` too if it made it)."""
    if created:
        shutil.rmtree(dest, ignore_errors=True)
        return
    for entry in dest.iterdir() if dest.is_dir() else ():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


def _copy_private(source: Path, target: Path) -> None:
    partial = target.with_name(target.name + ".partial")
    shutil.copyfile(source, partial)
    os.chmod(partial, 0o600)
    os.replace(partial, target)
