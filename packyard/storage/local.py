"""Blob storage on the local disk: one file per (domain, sha256), written via temp file + fsync + rename."""

from __future__ import annotations

import ctypes
import os
import shutil
import stat
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from pathlib import Path

import anyio

from packyard.errors import NotFound
from packyard.libc import libc_function
from packyard.storage.blobs import (
    LIST_PAGE,
    Digests,
    ExpectedBlob,
    StagedBlob,
    StoredBlob,
    check_blob_key,
    is_blob_name,
    is_domain_key,
    listed_domains,
    read_file_now,
)
from packyard.storage.group_flush import GroupFlush
from packyard.storage.staging import StagedFile, StagingArea

_CHUNK = 1024 * 1024


def _fsync(path: Path) -> None:
    """fsync a file or a directory by name."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# Linux's syncfs(2): flush one file system (data and metadata), waiting for it.
_syncfs = libc_function("syncfs", ctypes.c_int)


def _sync_file_system(root: Path) -> None:
    """Make every write to ``root``'s file system durable, with one syncfs(2)."""
    assert _syncfs is not None
    fd = os.open(root, os.O_RDONLY)
    try:
        if _syncfs(fd) != 0:
            error = ctypes.get_errno()
            raise OSError(error, f"syncfs: {os.strerror(error)}", str(root))
    finally:
        os.close(fd)


def _fsync_each(paths: Iterable[Path]) -> None:
    for path in paths:
        _fsync(path)


# A commit of at least this many bytes flushes its own files and folders (fsync) instead of
# the whole file system (syncfs): syncfs writes every dirty page of the file system, which
# beside a large blob includes its plaintext staged for an encrypted store (deleted once it is
# sealed, so never needed on disk) and other writes under way; one fsync per file costs
# nothing next to such a file's bytes. A 300 MiB blob's flush: 0.26 s by syncfs with its
# plaintext staged beside it, 0.13 s by fsync.
OWN_FLUSH_AT = 8 * 1024 * 1024


class LocalBlobStore:
    """Blobs under ``root/<domain>/<sha[:2]>/<sha>``; staging under ``root/.staging``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        # Inside root: a staged file becomes a blob by a rename on the same file system.
        self._staging = StagingArea(root / ".staging")
        # Commits of staged writes not flushed on their own share syncfs(2) calls with the
        # commits running at the same moment (group_flush.py); without syncfs, fsyncs.
        self.flushes = GroupFlush(lambda: _sync_file_system(self.root)) if _syncfs is not None \
            else None

    def _path(self, domain_key: str, sha256: str) -> Path:
        check_blob_key(domain_key, sha256)
        return self.root / domain_key / sha256[:2] / sha256

    def stage(self, *, batched: bool = False, expected: ExpectedBlob | None = None,
              scratch: bool = False) -> StagedFile:
        # A large file kept as it is goes to the disk as it is written, so its commit's flush
        # (OWN_FLUSH_AT) does not start from nothing.
        return self._staging.new(sync=not batched, write_back=not scratch)

    def commit(self, staged: StagedBlob, domain_key: str) -> Digests:
        digests = staged.digests()
        # A staged write flushed on its own (synced) keeps the fsyncs; one that was not is
        # flushed with whatever else is being committed now (``GroupFlush``), or by itself
        # when it is large (``OWN_FLUSH_AT``).
        unsynced = isinstance(staged, StagedFile) and not staged.synced
        grouped = self.flushes if unsynced and digests.size < OWN_FLUSH_AT else None
        if grouped is not None:
            grouped.flush()
        elif unsynced:
            _fsync(staged.local_path)
        final = self._path(domain_key, digests.sha256)
        if final.exists():
            # Same bytes already stored for this domain: keep one copy.
            staged.local_path.unlink(missing_ok=True)
            return digests
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staged.local_path, final)
        if grouped is not None:
            grouped.flush()
        else:
            _fsync_each(self._folders_naming([final]))
        return digests

    def _folders_naming(self, blobs: Iterable[Path]) -> set[Path]:
        """The folders whose entries lead to these blobs: each one's own, its domain's and the
        root. All of them, not only those this commit made: a folder another commit made a
        moment ago may not be durable yet (that commit's flush still to come)."""
        return {self.root} | {folder for blob in blobs
                              for folder in (blob.parent, blob.parent.parent)}

    def commit_many(self, staged: Sequence[StagedBlob], domain_key: str) -> list[Digests]:
        # The order of commit(), for a batch: every file's bytes reach the disk before any is
        # renamed into place, and the renames before the caller writes metadata. On Linux one
        # syncfs(2) does each step for the whole batch, instead of two fsyncs per blob (shared
        # with the commits running at the same moment: a pulled wheel and its metadata file,
        # several downloads at once); a large batch is flushed file by file (``OWN_FLUSH_AT``).
        digests = [blob.digests() for blob in staged]
        grouped = self.flushes if sum(d.size for d in digests) < OWN_FLUSH_AT else None
        if grouped is not None:
            grouped.flush()
        else:
            _fsync_each(blob.local_path for blob in staged)
        renamed: list[Path] = []
        for blob, digest in zip(staged, digests, strict=True):
            final = self._path(domain_key, digest.sha256)
            if final.exists():
                blob.local_path.unlink(missing_ok=True)
                continue
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(blob.local_path, final)
            renamed.append(final)
        if grouped is not None:
            grouped.flush()
        else:
            _fsync_each(self._folders_naming(renamed))
        return digests

    def discard(self, staged: StagedBlob) -> None:
        staged.close()
        staged.local_path.unlink(missing_ok=True)

    def put_bytes(self, data: bytes, domain_key: str) -> Digests:
        staged = self.stage(batched=True)  # flushed by the commit, with its group
        try:
            staged.write(data)
            return self.commit(staged, domain_key)
        except BaseException:
            self.discard(staged)
            raise

    def exists(self, domain_key: str, sha256: str) -> bool:
        return self._path(domain_key, sha256).is_file()

    def size(self, domain_key: str, sha256: str) -> int:
        try:
            return self._path(domain_key, sha256).stat().st_size
        except FileNotFoundError:
            raise NotFound(f"No blob {sha256}") from None

    def local_path(self, domain_key: str, sha256: str) -> Path | None:
        path = self._path(domain_key, sha256)
        return path if path.is_file() else None

    def read_small_now(self, domain_key: str, sha256: str, limit: int) -> bytes | None:
        return read_file_now(self._path(domain_key, sha256), limit)

    async def read(self, domain_key: str, sha256: str, start: int = 0,
                   end: int | None = None) -> AsyncIterator[bytes]:
        path = self._path(domain_key, sha256)
        try:
            f = await anyio.open_file(path, "rb")
        except FileNotFoundError:
            raise NotFound(f"No blob {sha256}") from None
        async with f:
            await f.seek(start)
            remaining = None if end is None else end - start
            while remaining is None or remaining > 0:
                n = _CHUNK if remaining is None else min(_CHUNK, remaining)
                chunk = await f.read(n)
                if not chunk:
                    break
                if remaining is not None:
                    remaining -= len(chunk)
                yield chunk

    def delete(self, domain_key: str, sha256: str) -> None:
        self._path(domain_key, sha256).unlink(missing_ok=True)

    def delete_domain(self, domain_key: str) -> None:
        self._path(domain_key, "0" * 64)  # validates the key
        shutil.rmtree(self.root / domain_key, ignore_errors=True)

    def recover(self) -> int:
        return self._staging.recover()

    def domain_keys(self) -> list[str]:
        return sorted(name for name in _folders(self.root) if is_domain_key(name))

    def list_blobs(self, domain_key: str | None = None, *,
                   page_size: int = LIST_PAGE) -> Iterator[StoredBlob]:
        # A folder at a time (a 256th of a domain), in the order of the names: the folders
        # are the first two digits of the names in them.
        for key in listed_domains(self, domain_key):
            for prefix in sorted(_folders(self.root / key)):
                folder = self.root / key / prefix
                try:
                    names = sorted(os.listdir(folder))
                except (FileNotFoundError, NotADirectoryError):
                    continue  # deleted meanwhile
                for name in names:
                    if not (is_blob_name(name) and name.startswith(prefix)):
                        continue  # a file put there by hand
                    try:
                        found = os.stat(folder / name, follow_symlinks=False)
                    except FileNotFoundError:
                        continue
                    if stat.S_ISREG(found.st_mode):
                        yield StoredBlob(key, name, found.st_mtime)


def _folders(path: Path) -> list[str]:
    """The names of the folders in ``path`` (none when it is missing)."""
    try:
        with os.scandir(path) as entries:
            return [entry.name for entry in entries if entry.is_dir(follow_symlinks=False)]
    except (FileNotFoundError, NotADirectoryError):
        return []
