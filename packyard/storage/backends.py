"""Choosing the blob store: the one place ``Settings.blob_store`` is read.

``PACKYARD_BLOB_STORE`` names where committed blobs live: unset, the data directory's
``blobs/``; a directory path, blobs there (another disk); ``memory://``, in this process's
memory (tests, throwaway servers). A new backend (``s3://bucket/prefix``, issue 15) is one
more branch here, one module in ``storage/`` and one fixture parameter in
``tests/conformance/test_blob_store.py``.
"""

from __future__ import annotations

from pathlib import Path

from packyard.settings import Settings
from packyard.storage.blobs import BlobStore
from packyard.storage.local import LocalBlobStore
from packyard.storage.memory import MemoryBlobStore

MEMORY = "memory://"


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
    if "://" in where:
        raise ValueError(f"PACKYARD_BLOB_STORE: no blob store backend for {where!r}; use a "
                         "directory path or memory://")


def staging_dir(settings: Settings) -> Path:
    """Where uploads are staged (a local folder whatever the backend): the disk that must keep
    a reserve for them (``services/upload_capacity.py``)."""
    where = settings.blob_store
    root = Path(where) if where and where != MEMORY else settings.blob_dir
    return root / ".staging"


def open_blob_store(settings: Settings) -> BlobStore:
    """The blob store ``settings`` name (see the module's docstring)."""
    check_blob_store(settings)
    where = settings.blob_store
    if not where:
        return LocalBlobStore(settings.blob_dir)
    if where == MEMORY:
        # Staging is on disk in every backend; the data directory's is as good as any.
        return MemoryBlobStore(staging_dir(settings))
    return LocalBlobStore(Path(where))
