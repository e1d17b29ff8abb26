"""Blob storage on the local disk: one file per (domain, sha256), written via temp file + fsync + rename."""

from __future__ import annotations

import ctypes
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from pathlib import Path

import anyio

from packyard.errors import NotFound
from packyard.processes import pid_alive
from packyard.storage.blobs import Digests, Hasher, StagedBlob

_CHUNK = 1024 * 1024


class LocalStagedBlob:
    """A temp file in the store's staging folder, hashed while written."""

    def __init__(self, path: Path, *, batched: bool = False) -> None:
        self._path = path
        self._file = open(path, "wb")  # noqa: SIM115 - closed in digests()/discard
        self._hasher = Hasher()
        self._digests: Digests | None = None
        # Batched writes leave the flush to commit_many (one for the whole batch).
        self.synced = not batched

    @property
    def size(self) -> int:
        return self._hasher.size

    @property
    def local_path(self) -> Path:
        return self._path

    def write(self, chunk: bytes) -> None:
        self._hasher.update(chunk)
        self._file.write(chunk)

    def digests(self) -> Digests:
        if self._digests is None:
            self._file.flush()
            if self.synced:
                os.fsync(self._file.fileno())
            self._file.close()
            self._digests = self._hasher.digests()
        return self._digests

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()


def _fsync(path: Path) -> None:
    """fsync a file or a directory by name."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _load_syncfs() -> Callable[[int], int] | None:
    """Linux's syncfs(2): flush one file system (data and metadata), waiting for it."""
    try:
        function = ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int]
    function.restype = ctypes.c_int
    return function


_syncfs = _load_syncfs()


def _flush(root: Path, paths: Iterable[Path]) -> None:
    """Make these files and directories under ``root`` durable: with one syncfs(2) of root's
    file system where Linux has it, else with an fsync each."""
    if _syncfs is None:
        for path in paths:
            _fsync(path)
        return
    fd = os.open(root, os.O_RDONLY)
    try:
        if _syncfs(fd) != 0:
            error = ctypes.get_errno()
            raise OSError(error, f"syncfs: {os.strerror(error)}", str(root))
    finally:
        os.close(fd)


class LocalBlobStore:
    """Blobs under ``root/<domain>/<sha[:2]>/<sha>``; staging under ``root/.staging``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._staging = root / ".staging"
        self._staging.mkdir(parents=True, exist_ok=True)

    def _path(self, domain_key: str, sha256: str) -> Path:
        if not (len(sha256) == 64 and all(c in "0123456789abcdef" for c in sha256)):
            raise NotFound(f"No blob {sha256!r}")
        if not domain_key or "/" in domain_key or domain_key.startswith("."):
            raise ValueError(f"bad domain key {domain_key!r}")
        return self.root / domain_key / sha256[:2] / sha256

    def stage(self, *, batched: bool = False) -> LocalStagedBlob:
        return LocalStagedBlob(self._staging / f"{os.getpid()}.{uuid.uuid4().hex}.part",
                               batched=batched)

    def commit(self, staged: StagedBlob, domain_key: str) -> Digests:
        digests = staged.digests()
        if isinstance(staged, LocalStagedBlob) and not staged.synced:
            _fsync(staged.local_path)
        final = self._path(domain_key, digests.sha256)
        if final.exists():
            # Same bytes already stored for this domain: keep one copy.
            staged.local_path.unlink(missing_ok=True)
            return digests
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staged.local_path, final)
        _fsync(final.parent)
        return digests

    def commit_many(self, staged: Sequence[StagedBlob], domain_key: str) -> list[Digests]:
        # The order of commit(), for a batch: every file's bytes reach the disk before any is
        # renamed into place, and the renames before the caller writes metadata. On Linux one
        # syncfs(2) does each step for the whole batch, instead of two fsyncs per blob.
        digests = [blob.digests() for blob in staged]
        _flush(self.root, [blob.local_path for blob in staged])
        parents: set[Path] = set()
        for blob, digest in zip(staged, digests, strict=True):
            final = self._path(domain_key, digest.sha256)
            if final.exists():
                blob.local_path.unlink(missing_ok=True)
                continue
            if final.parent not in parents:
                final.parent.mkdir(parents=True, exist_ok=True)
                parents.add(final.parent)
            os.replace(blob.local_path, final)
        _flush(self.root, parents | {parent.parent for parent in parents})
        return digests

    def discard(self, staged: StagedBlob) -> None:
        staged.close()
        staged.local_path.unlink(missing_ok=True)

    def put_bytes(self, data: bytes, domain_key: str) -> Digests:
        staged = self.stage()
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
        # Only files of processes that are gone: other workers may be mid-upload.
        removed = 0
        for leftover in self._staging.iterdir():
            pid_text = leftover.name.split(".", 1)[0]
            if pid_text.isdigit() and int(pid_text) != os.getpid() and pid_alive(int(pid_text)):
                continue
            leftover.unlink(missing_ok=True)
            removed += 1
        return removed
