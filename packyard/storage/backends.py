"""Choosing the blob store: the one place ``Settings.blob_store`` is read.

``PACKYARD_BLOB_STORE`` names where committed blobs live: unset, the data directory's
``blobs/``; a directory path, blobs there (another disk); ``memory://``, in this process's
memory (tests, throwaway servers); ``s3://bucket/prefix``, an S3-compatible object store
(``PACKYARD_S3_ENDPOINT_URL`` and the usual AWS variables; staging stays in the data
directory). A new backend is one more branch here, one module in ``storage/`` and one entry in
``tests/conformance/test_blob_store.py``'s backends.
"""

from __future__ import annotations

from pathlib import Path

from packyard.settings import Settings
from packyard.storage.blobs import BlobStore
from packyard.storage.local import LocalBlobStore
from packyard.storage.memory import MemoryBlobStore
from packyard.storage.read_cache import CachingBlobStore
from packyard.storage.s3_connection import S3Connection, S3Location, connect
from packyard.storage.shared_files import DirectoryFiles, SharedFiles

MEMORY = "memory://"
S3 = "s3://"
# A store's shared files, beside its blobs (no blob key has a dot: domain keys are d<N>).
SHARED_DIR = ".packyard"


def check_blob_store(settings: Settings) -> None:
    """Refuse a ``blob_store`` setting no backend serves, with the fix in the message."""
    where = settings.blob_store
    if where is None or where == "":
        return
    if where == MEMORY:
        if settings.workers > 1:
            raise ValueError("PACKYARD_BLOB_STORE=memory:// keeps blobs in one process's memory;"
                             " it cannot serve several workers (use --workers 1)")
        return
    if where.startswith(S3):
        S3Location.parse(where)
        return
    if "://" in where:
        raise ValueError(f"PACKYARD_BLOB_STORE: no blob store backend for {where!r}; use a "
                         "directory path, memory:// or s3://BUCKET/PREFIX")


def staging_dir(settings: Settings) -> Path:
    """Where uploads are staged (a local folder whatever the backend): the disk that must keep
    a reserve for them (``services/upload_capacity.py``)."""
    where = settings.blob_store
    if where and where != MEMORY and not where.startswith(S3):
        return Path(where) / ".staging"  # the local backend stages beside its blobs
    return settings.blob_dir / ".staging"


def open_blob_store(settings: Settings) -> BlobStore:
    """The blob store ``settings`` name (see the module's docstring)."""
    check_blob_store(settings)
    where = settings.blob_store
    if not where:
        return LocalBlobStore(settings.blob_dir)
    if where == MEMORY:
        # Staging is on disk in every backend; the data directory's is as good as any.
        return MemoryBlobStore(staging_dir(settings))
    if where.startswith(S3):
        # Imported here: obstore is the s3 extra's, not needed by the embedded default.
        clients = connect(S3Location.parse(where),
                          S3Connection(endpoint_url=settings.s3_endpoint_url))
        from packyard.storage.s3 import S3BlobStore

        store = S3BlobStore(clients, staging_dir(settings))
        if settings.blob_cache_bytes <= 0:
            return store
        return CachingBlobStore(store, settings.data_dir / "blob-cache",
                                settings.blob_cache_bytes)
    return LocalBlobStore(Path(where))


def open_shared_files(settings: Settings) -> SharedFiles:
    """Where the files every process must agree on live (``storage/shared_files.py``): with
    the blobs, so that whoever shares those shares them, and a store moved by
    ``migrate-storage`` takes them along: the bucket of an S3 blob store (``.packyard/``), a
    directory store's ``.packyard/`` (still read from the data directory, where they were
    kept before), else the data directory."""
    where = settings.blob_store
    if where and where.startswith(S3):
        from packyard.storage.s3 import S3SharedFiles

        return S3SharedFiles(connect(S3Location.parse(where),
                                     S3Connection(endpoint_url=settings.s3_endpoint_url)))
    if where and where != MEMORY:
        return DirectoryFiles(Path(where) / SHARED_DIR, earlier=settings.data_dir)
    return DirectoryFiles(settings.data_dir)
