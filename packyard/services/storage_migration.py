"""``packyard migrate-storage``: an embedded install copied onto PostgreSQL and an object store.

What is copied, in this order, so that a run stopped at any point is simply run again:

1. a snapshot of the source database (SQLite's online backup, into a temporary file; the source
   is only read), brought to the newest schema like the destination;
2. every blob the snapshot lists, into the destination store, each verified against its sha256
   on the way (the store hashes what it commits); blobs already there are skipped, which is
   what makes a second run resume;
3. the IAM secrets key into the destination's shared files (``storage/shared_files.py``), so the
   copied secret access keys stay readable, and the generated root credentials into
   ``server_secrets``, so the replicas keep the install's root key;
4. every row (catalog, IAM, tokens) in one transaction: the destination holds all of them or
   none. Blobs before rows, as every upload does: no row ever names a missing blob.

The destination must be empty (no domain, no IAM user) unless this is a rerun of the same
copy, which a marker secret in ``server_secrets`` recognizes.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Integer, func, insert, select, text
from sqlalchemy.engine import Connection

import packyard.iam.schema  # noqa: F401  (registers the IAM tables on the shared metadata)
from packyard.errors import Invalid
from packyard.iam.secrets import KEY_FILE, SecretBox
from packyard.iam.shared_secrets import ServerSecrets
from packyard.metadata.catalog import SqlCatalog
from packyard.metadata.schema import metadata
from packyard.services.backups import embedded_paths, snapshot_sqlite
from packyard.settings import Settings
from packyard.storage.backends import open_blob_store, open_shared_files
from packyard.storage.blobs import BlobStore

# Not copied: each database keeps its own change counters and schema revision, and its own
# server secrets (the root credentials are sealed anew with the destination's key).
_SKIPPED = {"change_counters", "server_secrets"}
_CREDENTIALS = "credentials.json"
_ROOT_SECRET = "root-credentials"
_BATCH = 1000
_CHUNK = 1024 * 1024

# (what, done, total)
Progress = Callable[[str, int, int], None]


@dataclass
class MigrationReport:
    blobs_copied: int = 0
    blobs_present: int = 0  # already in the destination (a resumed run)
    rows: int = 0
    rows_present: bool = False  # the rows were copied by an earlier run


def migrate_storage(source: Settings, target: Settings,
                    progress: Progress | None = None) -> MigrationReport:
    """Copy the embedded install ``source`` names to the database and blob store ``target``
    names (see the module's docstring)."""
    database, blob_dir = embedded_paths(source, "packyard migrate-storage")
    if not database.exists():
        raise Invalid(f"no Packyard database at {database}; pass the server's --data-dir")
    if target.effective_database_url == source.effective_database_url:
        raise Invalid("--to-database-url is the source database")
    report = MigrationReport()
    with tempfile.TemporaryDirectory(prefix="packyard-migrate-") as scratch:
        snapshot = Path(scratch) / "snapshot.db"
        snapshot_sqlite(database, snapshot)
        source_catalog = SqlCatalog(f"sqlite:///{snapshot}")
        target_catalog = SqlCatalog(target.effective_database_url)
        try:
            source_catalog.migrate()
            target_catalog.migrate()
            with source_catalog.engines[0].connect() as reader:
                _copy_blobs(reader, blob_dir, open_blob_store(target), report, progress)
            _copy_secrets(source, target, target_catalog)
            with source_catalog.engines[0].connect() as reader, \
                    target_catalog.engines[1].connect() as writer, writer.begin():
                _copy_rows(reader, writer, report, progress)
        finally:
            source_catalog.dispose()
            target_catalog.dispose()
    return report


def _copy_blobs(reader: Connection, blob_dir: Path, store: BlobStore, report: MigrationReport,
                progress: Progress | None) -> None:
    blobs = metadata.tables["blobs"]
    listed = reader.execute(select(blobs.c.domain_id, blobs.c.sha256, blobs.c.size)
                            .order_by(blobs.c.domain_id, blobs.c.sha256)).all()
    for n, (domain_id, sha256, size) in enumerate(listed, 1):
        key = f"d{domain_id}"
        if store.exists(key, sha256):
            report.blobs_present += 1
        else:
            staged = store.stage()
            try:
                with (blob_dir / key / sha256[:2] / sha256).open("rb") as source:
                    while chunk := source.read(_CHUNK):
                        staged.write(chunk)
                if staged.digests().sha256 != sha256 or staged.size != size:
                    raise Invalid(f"{blob_dir / key / sha256[:2] / sha256} is damaged: its "
                                  f"bytes do not match sha256 {sha256} and size {size} "
                                  "recorded in the catalog; nothing of it was copied")
                store.commit(staged, key)
            except BaseException:
                store.discard(staged)
                raise
            report.blobs_copied += 1
        if progress:
            progress("files", n, len(listed))


def _copy_secrets(source: Settings, target: Settings, target_catalog: SqlCatalog) -> None:
    key_path = source.data_dir / KEY_FILE
    files = open_shared_files(target)
    if key_path.exists():
        key = key_path.read_bytes()
        if files.get_or_create(KEY_FILE, lambda: key).strip() != key.strip():
            raise Invalid(f"{files.where} already holds another {KEY_FILE}: the destination "
                          "is used by another Packyard; migrate into an empty bucket prefix")
    credentials = source.data_dir / _CREDENTIALS
    if credentials.exists():
        data = json.loads(credentials.read_text())
        value = json.dumps({"access_key_id": data["access_key_id"],
                            "secret_access_key": data["secret_access_key"]})
        box = SecretBox.from_shared_files(files)
        ServerSecrets(target_catalog.engines, box).get_or_create(
            _ROOT_SECRET, lambda: value, datetime.now(UTC))


def _copy_rows(reader: Connection, writer: Connection, report: MigrationReport,
               progress: Progress | None) -> None:
    tables = [table for table in metadata.sorted_tables if table.name not in _SKIPPED]
    occupied = [table.name for table in tables if table.name in ("domains", "iam_users")
                and writer.execute(select(func.count()).select_from(table)).scalar_one()]
    if occupied:
        source_domains = reader.execute(select(func.count()).select_from(
            metadata.tables["domains"])).scalar_one()
        target_domains = writer.execute(select(func.count()).select_from(
            metadata.tables["domains"])).scalar_one()
        if source_domains == target_domains:
            report.rows_present = True  # an earlier run committed them (one transaction)
            return
        raise Invalid(f"the destination database is not empty ({', '.join(occupied)}); "
                      "migrate into a new database")
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
