"""Staging: where every backend spools bytes on their way in, hashed while they are written.

Staging is always a file on local disk, whatever the backend keeps committed blobs in: an
upload is inspected as a file before it is accepted (``StagedBlob.local_path``: zip and tar
readers seek), and memory stays bounded however large it is. The local backend renames the
file into place; the others (memory, S3) copy it into their storage on commit.

Files are named ``<pid>.<uuid>.part`` after the process writing them, so ``recover`` can tell
what a crashed process left from what a live worker is still writing.
"""

from __future__ import annotations

import ctypes
import os
import uuid
from collections.abc import Collection
from dataclasses import replace
from pathlib import Path

from packyard.libc import libc_function
from packyard.processes import pid_alive
from packyard.storage.blobs import Digests, Hasher

# A staged file that is to be kept as it is written hands its bytes to the disk every this many
# bytes (``write_back``), so that the commit's flush finds them written: a 300 MiB wheel's
# flush took 0.13 s after the last byte arrived, 2 ms with its pages written as they came
# (bench/UPSTREAM.md round 13). As large as the local store's own-flush threshold: smaller
# files are flushed together with others, where starting early would buy nothing.
WRITE_BACK_EVERY = 8 * 1024 * 1024

_SYNC_FILE_RANGE_WRITE = 2  # start writing the range's dirty pages, without waiting


# Linux's sync_file_range(2), which Python's ``os`` does not offer.
_sync_file_range = libc_function("sync_file_range", ctypes.c_int, ctypes.c_longlong,
                                 ctypes.c_longlong, ctypes.c_uint)


class StagedFile:
    """A file in a staging folder, hashed while written (the ``StagedBlob`` every backend
    hands out)."""

    def __init__(self, path: Path, *, sync: bool, write_back: bool = False) -> None:
        self._path = path
        self._file = open(path, "wb")  # noqa: SIM115 - closed in digests()/close()
        self._hasher = Hasher()
        self._digests: Digests | None = None
        self._name: str | None = None
        self._written = 0
        # Whether digests() fsyncs the bytes; batched writes leave that to commit_many (one
        # flush for the whole batch), and backends that copy the bytes elsewhere never need it.
        self.synced = sync
        # Whether the bytes go to the disk as they come (``WRITE_BACK_EVERY``): only for a file
        # that will be flushed as it is, not one copied elsewhere or read once and deleted.
        self._write_back = write_back and _sync_file_range is not None
        self._written_back = 0

    @property
    def size(self) -> int:
        return self._written

    @property
    def local_path(self) -> Path:
        return self._path

    def name_as(self, sha256: str) -> None:
        """Commit these bytes under ``sha256`` instead of their own hash, which is then never
        computed: an encrypted blob is stored under its plaintext's sha256
        (``encryption/blob_store.py``). Called before the first write."""
        self._name = sha256

    def hash_only(self, digests: Collection[str]) -> None:
        if self._written:
            raise RuntimeError("hash_only() after the first write")
        self._hasher = Hasher(digests)

    def write(self, chunk: bytes | memoryview) -> None:
        if self._name is None:
            self._hasher.update(chunk)
        self._written += len(chunk)
        self._file.write(chunk)
        if self._write_back and self._written - self._written_back >= WRITE_BACK_EVERY:
            self._start_write_back()

    def _start_write_back(self) -> None:
        """Have the kernel start writing what was written since the last call (it does not
        wait for the disk; the commit's fsync still makes the whole file durable)."""
        assert _sync_file_range is not None
        self._file.flush()
        start, self._written_back = self._written_back, self._written
        if _sync_file_range(self._file.fileno(), start, self._written - start,
                            _SYNC_FILE_RANGE_WRITE) != 0:
            self._write_back = False  # not supported by this file system: the fsync does it all

    def flush(self) -> None:
        """Hand what was written so far to the file, for readers that follow it by its path
        (a pull-through's clients read the download as it arrives)."""
        self._file.flush()

    def digests(self) -> Digests:
        if self._digests is None:
            self._file.flush()
            if self.synced:
                os.fsync(self._file.fileno())
            self._file.close()
            if self._name is None:
                self._digests = self._hasher.digests()
            else:
                self._digests = replace(Hasher().digests(), size=self._written,
                                        sha256=self._name)
        return self._digests

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()


class StagingArea:
    """One folder of staged files."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def new(self, *, sync: bool, write_back: bool = False) -> StagedFile:
        return StagedFile(self.new_path(), sync=sync, write_back=write_back)

    def new_path(self) -> Path:
        """A fresh file name here, for a writer that writes it itself (pull-through spools)."""
        return self.folder / f"{os.getpid()}.{uuid.uuid4().hex}.part"

    def recover(self) -> int:
        """Remove the files of writers that are gone; returns how many.

        Runs at start-up, so files named after this very process are an earlier process's
        that had the same pid (containers restart with the same pids); those of other live
        processes are other workers' uploads in progress and stay.
        """
        removed = 0
        for leftover in self.folder.iterdir():
            pid_text = leftover.name.split(".", 1)[0]
            if pid_text.isdigit() and int(pid_text) != os.getpid() and pid_alive(int(pid_text)):
                continue
            leftover.unlink(missing_ok=True)
            removed += 1
        return removed
