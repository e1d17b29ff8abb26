"""``packyard migrate-storage``: an embedded install copied onto PostgreSQL and an object store.

What is copied, in this order, so that a run stopped at any point is simply run again:

1. a snapshot of the source database (SQLite's online backup, into a temporary file; the source
   is only read), brought to the newest schema like the destination, its data keys moved off
   the local keyring when they move (below);
2. every blob the snapshot lists, into the destination store, each verified against its sha256
   on the way (the store hashes what it commits); blobs already there are skipped, which is
   what makes a second run resume;
3. the IAM secrets key into the destination's shared files (``storage/shared_files.py``: with
   its blobs, the bucket's or the directory's ``.packyard/``), so the
   copied secret access keys stay readable, and the generated root credentials into
   ``server_secrets``, so the replicas keep the install's root key. With encryption at rest the
   key is wrapped (``iam-secrets.wrapped``): copied as it is when transit or KMS wraps it; when
   the local keyring does, re-wrapped by the destination's provider when keys move there, and
   otherwise (encryption off at the destination) unwrapped here and written as
   ``iam-secrets.key``, which the destination's first start wraps (``iam/secret_key.py``);
4. every row (catalog, IAM, tokens) in one transaction: the destination holds all of them or
   none. Blobs before rows, as every upload does: no row ever names a missing blob.

Encrypted blobs are copied as they are stored: the ciphertext (``d<N>.enc/``, checked by its
size, which follows from the plaintext's) and its data key's row, then opened as a replica will
(``encryption/key_move.check_copy``: the key unwrapped by the destination's provider, the
header and the first and last segments authenticated). The destination must use a key provider
replicas share (``PACKYARD_KEY_PROVIDER``, checked before anything is copied): the one that
wrapped them, or, for an install under its local keyring (which replicas cannot share:
docs/decisions/0015), transit or KMS, onto which the keys are moved on the way
(``encryption/key_move.py``): each data key is re-wrapped in the snapshot, the domains record
the new keys, IAM's wrapped key is re-wrapped too, and no blob is rewritten. A stopped run
re-wraps again from the source (its snapshot is gone) and skips the blobs already copied.

The destination must be empty (no domain, no IAM user) unless this is a rerun of the same
copy, which the source's domains and IAM users found there (ids, names, creation times)
recognize.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Integer, func, insert, select, text, update
from sqlalchemy.engine import Connection, Engine

import packyard.iam.schema  # noqa: F401  (registers the IAM tables on the shared metadata)
from packyard.crypto.context import EncryptionContext
from packyard.crypto.errors import KeyUnavailable, TamperedKey, UnknownKey
from packyard.crypto.keys import KeyProvider, WrappedKey
from packyard.crypto.stream import LAYOUT
from packyard.encryption.blob_store import sealed_partition
from packyard.encryption.key_move import (
    KeyMove,
    check_copy,
    moves_keys,
    open_key_move,
    open_target_provider,
)
from packyard.errors import Invalid, PackyardError
from packyard.iam.secret_key import (
    WRAPPED_FILE,
    move_secret_key,
    open_secret_box,
    secret_key_of,
    unwrap_secret_key,
)
from packyard.iam.secrets import KEY_FILE, SecretBox
from packyard.iam.shared_secrets import ServerSecrets
from packyard.metadata.catalog import SqlCatalog
from packyard.metadata.schema import metadata
from packyard.services.backups import embedded_paths, snapshot_sqlite, still_listed
from packyard.settings import Settings
from packyard.storage.backends import open_blob_store, open_shared_files
from packyard.storage.blobs import BlobStore

# Not copied: each database keeps its own change counters and schema revision, and its own
# server secrets (the root credentials are sealed anew with the destination's key).
_SKIPPED = {"change_counters", "server_secrets"}
_CREDENTIALS = "credentials.json"
_ROOT_SECRET = "root-credentials"
_BATCH = 1000
# A name no blob can have (domain keys are d<N>): what ``_check_store`` looks for.
_PROBE = ("packyard-migrate", "0" * 64)
_KEY_PAGE = 200
_CHUNK = 1024 * 1024

# (what, done, total)
Progress = Callable[[str, int, int], None]


@dataclass
class MigrationReport:
    blobs_copied: int = 0
    blobs_present: int = 0  # already in the destination (a resumed run)
    rows: int = 0
    rows_present: bool = False  # the rows were copied by an earlier run
    keys_moved: int = 0  # data keys re-wrapped off the local keyring


def migrate_storage(source: Settings, target: Settings, progress: Progress | None = None,
                    key_map: Mapping[str, str] | None = None) -> MigrationReport:
    """Copy the embedded install ``source`` names to the database and blob store ``target``
    names (see the module's docstring); ``key_map`` sends a local key's data keys to a target
    key other than the default one (``--key-map``)."""
    database, blob_dir = embedded_paths(source, "packyard migrate-storage")
    if not database.exists():
        raise Invalid(f"no Packyard database at {database}; pass the server's --data-dir")
    if target.effective_database_url == source.effective_database_url:
        raise Invalid("--to-database-url is the source database")
    report = MigrationReport()
    with tempfile.TemporaryDirectory(prefix="packyard-migrate-") as scratch:
        # The destination's own data directory, a scratch one: its settings came with the
        # source's, and nothing of the destination (its shared files, an S3 store's staging)
        # may be written into the source, or be taken for the destination's from there.
        target = replace(target, database_url=target.effective_database_url,
                         data_dir=Path(scratch) / "destination")
        snapshot = Path(scratch) / "snapshot.db"
        snapshot_sqlite(database, snapshot)
        source_catalog = SqlCatalog(f"sqlite:///{snapshot}")
        target_catalog = SqlCatalog(target.effective_database_url)
        try:
            source_catalog.migrate()
            move = open_key_move(source, target, key_map) if moves_keys(source, target) \
                else None
            if key_map and move is None:
                raise Invalid("--key-map moves keys off this data directory's local keyring, "
                              "onto --to-key-provider transit or kms")
            with source_catalog.engines[0].connect() as reader:
                providers = _check_key_provider(reader, target, move is not None)
            opener = move.target if move else (open_target_provider(target) if providers
                                               else None)
            target_catalog.migrate()
            with source_catalog.engines[0].connect() as reader, \
                    target_catalog.engines[0].connect() as target_reader:
                _destination_in_use(reader, target_reader)  # another install's: refused now
            # No read cache: it would be written into the source's data directory.
            store = open_blob_store(replace(target, blob_cache_bytes=0))
            _check_store(store, str(target.blob_store))
            if move is not None:
                report.keys_moved = _move_keys(source_catalog.engines[1], move, progress)
            with source_catalog.engines[0].connect() as reader:
                _copy_blobs(reader, database, blob_dir, store, opener, report, progress)
            _copy_secrets(source, target, target_catalog, move)
            with source_catalog.engines[0].connect() as reader, \
                    target_catalog.engines[1].connect() as writer, writer.begin():
                _copy_rows(reader, writer, report, progress)
        finally:
            source_catalog.dispose()
            target_catalog.dispose()
    return report


def _check_store(store: BlobStore, where: str) -> None:
    """Look for a name no blob has, before anything is copied: wrong credentials, a missing
    bucket or an endpoint that does not answer are one line naming the store, not a traceback
    from the middle of the copy."""
    try:
        store.exists(*_PROBE)
    except Exception as error:  # noqa: BLE001 - the backends' own errors (obstore, botocore)
        cause = error.__cause__ if isinstance(error, PackyardError) and error.__cause__ \
            else error
        first = (str(cause).strip().splitlines() or [""])[0]
        raise Invalid(f"cannot use the blob store {where}: {type(cause).__name__}: {first} "
                      "(nothing was copied)") from None


def _move_keys(snapshot: Engine, move: KeyMove, progress: Progress | None) -> int:
    """Re-wrap, in the snapshot, every data key of the local keyring by its target KEK, and
    let each domain that records a local key record its target one; the number moved."""
    domains, keys = metadata.tables["domains"], metadata.tables["data_keys"]
    local = keys.c.provider == "local"
    with snapshot.connect() as conn, conn.begin():
        for domain_id, recorded in conn.execute(select(domains.c.id,
                                                       domains.c.encryption_key)).all():
            moved = move.domain_key(recorded)
            if moved is not None:
                conn.execute(update(domains).where(domains.c.id == domain_id)
                             .values(encryption_key=moved))
        total = conn.execute(select(func.count()).select_from(keys).where(local)).scalar_one()
    done = 0
    # Each page's rows leave the filter once moved, so the next page is the next rows.
    while True:
        with snapshot.connect() as conn, conn.begin():
            page = conn.execute(select(keys).where(local).order_by(
                keys.c.domain_id, keys.c.sha256).limit(_KEY_PAGE)).all()
            for row in page:
                try:
                    new = move.move(WrappedKey(row.key_id, row.key_version, bytes(row.wrapped)),
                                    EncryptionContext(f"d{row.domain_id}", row.sha256))
                except (TamperedKey, KeyUnavailable, UnknownKey) as e:
                    raise Invalid(f"the data key of blob {row.sha256} of d{row.domain_id} "
                                  f"does not move: {e.message}; nothing was copied") from None
                conn.execute(update(keys).where(keys.c.domain_id == row.domain_id,
                                                keys.c.sha256 == row.sha256).values(
                    provider=move.target.name, key_id=new.key_id,
                    key_version=new.key_version, wrapped=new.ciphertext))
        if not page:
            return done
        done += len(page)
        if progress:
            progress("keys", done, total)


def _copy_blobs(reader: Connection, database: Path, blob_dir: Path, store: BlobStore,
                opener: KeyProvider | None, report: MigrationReport,
                progress: Progress | None) -> None:
    """Copy every blob the snapshot lists; ``opener`` (the destination's provider) opens each
    encrypted one's copy."""
    blobs, keys = metadata.tables["blobs"], metadata.tables["data_keys"]
    listed = reader.execute(
        select(blobs.c.domain_id, blobs.c.sha256, blobs.c.size, keys.c.sha256.is_not(None),
               keys.c.key_id, keys.c.key_version, keys.c.wrapped)
        .select_from(blobs.outerjoin(keys, (keys.c.domain_id == blobs.c.domain_id)
                                     & (keys.c.sha256 == blobs.c.sha256)))
        .order_by(blobs.c.domain_id, blobs.c.sha256)).all()
    for n, (domain_id, sha256, size, has_key, key_id, key_version, wrapped) in \
            enumerate(listed, 1):
        key = f"d{domain_id}"
        path = blob_dir / key / sha256[:2] / sha256
        sealed = has_key and (blob_dir / sealed_partition(key) / sha256[:2] / sha256).exists() \
            or (has_key and not path.exists())
        if sealed:
            # The ciphertext as it is, named by the plaintext's sha256 like the encrypting
            # store names it; its data key's row comes with the rows.
            key, path = sealed_partition(key), blob_dir / sealed_partition(key) / sha256[:2] / sha256
        if store.exists(key, sha256):
            report.blobs_present += 1
        else:
            staged = store.stage()
            try:
                if sealed:
                    staged.name_as(sha256)
                try:
                    source = path.open("rb")
                except FileNotFoundError:
                    if not still_listed(database, [f"d{domain_id}/{sha256}"]):
                        # Its version was deleted since the snapshot: a server runs there.
                        raise Invalid(f"{path} was deleted after the copy began: a server "
                                      f"running on {database.parent} deletes files; stop it, "
                                      "then run migrate-storage again (no row was "
                                      "copied)") from None
                    raise Invalid(f"{path} is missing, though the database lists it: if the "
                                  "server keeps its files elsewhere, pass its --blob-store; "
                                  "else run packyard verify (no row was copied)") from None
                with source:
                    while chunk := source.read(_CHUNK):
                        staged.write(chunk)
                if sealed and staged.size != LAYOUT.ciphertext_size(size):
                    raise Invalid(f"{path} is damaged: its size is not that of the ciphertext "
                                  f"of {size} bytes recorded in the catalog; nothing of it was "
                                  "copied")
                if not sealed and (staged.digests().sha256 != sha256 or staged.size != size):
                    raise Invalid(f"{path} is damaged: its "
                                  f"bytes do not match sha256 {sha256} and size {size} "
                                  "recorded in the catalog; nothing of it was copied")
                store.commit(staged, key)
            except BaseException:
                store.discard(staged)
                raise
            report.blobs_copied += 1
        if sealed and opener is not None:
            check_copy(store, opener, f"d{domain_id}", sha256,
                       WrappedKey(key_id, key_version, bytes(wrapped)), size)
        if progress:
            progress("files", n, len(listed))


def _check_key_provider(reader: Connection, target: Settings, moving: bool) -> set[str]:
    """Refuse, before anything is copied, encrypted blobs the destination could not open;
    the providers whose keys the destination will hold."""
    keys = metadata.tables["data_keys"]
    providers = set(reader.execute(select(keys.c.provider).distinct()).scalars())
    if "local" in providers and not moving:
        raise Invalid("this data directory's files are encrypted under its local keyring "
                      "(keyring.json), which replicas on one database cannot share: migrate "
                      "with --to-key-provider transit or kms (and that provider's settings, "
                      "PACKYARD_DEFAULT_ENCRYPTION_KEY naming its key), which moves their keys "
                      "there")
    if moving:
        providers = (providers - {"local"}) | {target.key_provider}
    if providers and target.encryption == "off":
        raise Invalid("this data directory's files are encrypted: migrate with "
                      "PACKYARD_ENCRYPTION=on and its key provider")
    for provider in providers - {target.key_provider}:
        raise Invalid(f"this data directory's files are encrypted with keys of "
                      f"PACKYARD_KEY_PROVIDER={provider}: migrate with the same provider "
                      f"(not {target.key_provider}), which must open them as it does now")
    return providers


def _secret_key(source: Settings, move: KeyMove | None) -> tuple[str, bytes] | None:
    """Which of IAM's secrets key files the destination gets, and its bytes: the wrapped key
    as it is, unless the local keyring wraps it (then re-wrapped by ``move``'s provider, or
    without a move the key itself, for the destination's provider to wrap at its first
    start)."""
    files = open_shared_files(source)
    wrapped, plain = files.read(WRAPPED_FILE), files.read(KEY_FILE)
    if wrapped is not None and plain is not None:
        raise Invalid("IAM's secrets key is being moved onto the key provider (both "
                      f"{WRAPPED_FILE} and {KEY_FILE} are there): start the server once on "
                      "this data directory to finish that, then migrate")
    if wrapped is not None:
        if json.loads(wrapped).get("provider") != "local":
            return WRAPPED_FILE, wrapped
        if move is not None:
            return WRAPPED_FILE, move_secret_key(wrapped, move)
        return KEY_FILE, unwrap_secret_key(source, wrapped) + b"\n"
    return (KEY_FILE, plain) if plain is not None else None


def _same_key(held: bytes, copied: bytes, name: str, move: KeyMove | None) -> bool:
    """Whether the destination's ``name`` is the one this copy writes: the same bytes, or
    (re-wrapped by an earlier run of a move, with another nonce) the same key inside."""
    if held.strip() == copied.strip():
        return True
    if move is None or name != WRAPPED_FILE:
        return False
    try:
        return secret_key_of(held, move.target) == secret_key_of(copied, move.target)
    except (PackyardError, ValueError, KeyError):
        return False


def _copy_secrets(source: Settings, target: Settings, target_catalog: SqlCatalog,
                  move: KeyMove | None) -> None:
    files = open_shared_files(target)
    found = _secret_key(source, move)
    if found is not None:
        name, key = found
        if not _same_key(files.get_or_create(name, lambda: key), key, name, move):
            raise Invalid(f"{files.where} already holds another {name}: the destination "
                          "is used by another Packyard; migrate into an empty bucket prefix")
    credentials = source.data_dir / _CREDENTIALS
    if credentials.exists():
        data = json.loads(credentials.read_text())
        value = json.dumps({"access_key_id": data["access_key_id"],
                            "secret_access_key": data["secret_access_key"]})
        box = (open_secret_box(target, None, target_catalog.engines[1], files)
               if found is not None and found[0] == WRAPPED_FILE
               else SecretBox.from_shared_files(files))
        ServerSecrets(target_catalog.engines, box).get_or_create(
            _ROOT_SECRET, lambda: value, datetime.now(UTC))


def _copy_rows(reader: Connection, writer: Connection, report: MigrationReport,
               progress: Progress | None) -> None:
    tables = [table for table in metadata.sorted_tables if table.name not in _SKIPPED]
    if _destination_in_use(reader, writer):
        report.rows_present = True  # an earlier run committed them (one transaction)
        return
    for n, table in enumerate(tables, 1):
        rows = reader.execute(select(table)).mappings()
        batch: list[dict[str, object]] = []
        for row in rows:
            batch.append(dict(row))
            if len(batch) == _BATCH:
                writer.execute(insert(table), batch)
                report.rows += len(batch)
                batch = []
        if batch:
            writer.execute(insert(table), batch)
            report.rows += len(batch)
        if progress:
            progress("tables", n, len(tables))
    if writer.dialect.name == "postgresql":
        _advance_sequences(writer)


def _destination_in_use(reader: Connection, writer: Connection) -> bool:
    """Whether the destination holds rows already: this copy's, from an earlier run (True), or
    another install's (refused: checked before anything is copied, and again in the rows'
    transaction)."""
    occupied = [name for name in ("domains", "iam_users") if writer.execute(
        select(func.count()).select_from(metadata.tables[name])).scalar_one()]
    if not occupied:
        return False
    if _copied_before(reader, writer):
        return True
    raise Invalid(f"the destination database is not empty ({', '.join(occupied)}) and "
                  "holds another install's domains or users; migrate into a new database "
                  "(nothing was copied)")


def _copied_before(reader: Connection, writer: Connection) -> bool:
    """Whether the destination's rows are the ones an earlier run of this copy committed: each
    domain and IAM user of the source is there, with its id, name and creation time (as many
    domains is not enough: another install's one ``my-domain`` would pass for this one's)."""
    identities = {"domains": ("id", "name", "owner", "created_at"),
                  "iam_users": ("id", "name", "created_at")}
    found = False
    for name, columns in identities.items():
        table = metadata.tables[name]
        wanted = select(*(table.c[column] for column in columns))
        source = {tuple(row) for row in reader.execute(wanted)}
        if not source <= {tuple(row) for row in writer.execute(wanted)}:
            return False
        found = found or bool(source)
    return found


def _advance_sequences(writer: Connection) -> None:
    """Rows were inserted with their ids: move each id sequence past the largest, or the next
    insert would collide."""
    for table in metadata.sorted_tables:
        keys = list(table.primary_key.columns)
        if len(keys) != 1 or not isinstance(keys[0].type, Integer):
            continue
        sequence = writer.execute(text("SELECT pg_get_serial_sequence(:t, :c)"),
                                  {"t": table.name, "c": keys[0].name}).scalar_one()
        if sequence is not None:
            writer.execute(text(f"SELECT setval('{sequence}', COALESCE((SELECT MAX({keys[0].name}"
                                f") FROM {table.name}), 0) + 1, false)"))
