"""Small named files every process of one Packyard must agree on: the IAM secrets key.

Replicas on one database each have a data directory of their own, so a key generated there
would differ on each, and secrets one replica encrypted would be unreadable on the others. The
key lives with the blobs instead (``storage/backends.open_shared_files``): in the data directory
for the embedded default (as always), beside the blobs (``<directory>/.packyard/<name>``) for a
directory store, in the bucket (``<prefix>/.packyard/<name>``, created with
``If-None-Match: *``: the first replica's key wins, the others read it) for an S3 store. Never
in the database: a copy of the database alone then holds no usable secret.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Protocol


class SharedFiles(Protocol):
    """Named files created once, by whichever process comes first."""

    @property
    def where(self) -> str:
        """Where they are, for messages (a directory, an s3:// URL)."""
        ...

    def read(self, name: str) -> bytes | None:
        """The file's bytes, or None when nobody created it yet."""
        ...

    def get_or_create(self, name: str, make: Callable[[], bytes]) -> bytes:
        """The file's bytes, creating it with ``make()`` if it is not there; when two
        processes race, both get the bytes of the one that created it."""
        ...

    def replace(self, name: str, data: bytes) -> None:
        """Overwrite the file (a key re-wrapped by ``packyard keys rotate``)."""
        ...

    def remove(self, name: str) -> None:
        """Remove the file if it is there (a key migrated away)."""
        ...


class DirectoryFiles:
    """Files in a local directory, owner-only (0600).

    ``earlier`` is where such files were kept before (a directory store's were in the data
    directory until they moved beside its blobs): a file found only there is still that
    install's file, read, replaced and removed there; new files are made in ``directory``."""

    def __init__(self, directory: Path, earlier: Path | None = None) -> None:
        self.directory = directory
        self.earlier = earlier

    @property
    def where(self) -> str:
        return str(self.directory)

    def _home(self, name: str) -> Path:
        """The directory holding ``name``: ``earlier`` only if the file is there alone."""
        if self.earlier is not None and not (self.directory / name).exists() \
                and (self.earlier / name).exists():
            return self.earlier
        return self.directory

    def read(self, name: str) -> bytes | None:
        path = self._home(name) / name
        try:
            if path.stat().st_mode & 0o077:
                # Tighten rather than refuse: the file may have been copied with a loose umask.
                os.chmod(path, 0o600)
            return path.read_bytes()
        except FileNotFoundError:
            return None

    def get_or_create(self, name: str, make: Callable[[], bytes]) -> bytes:
        found = self.read(name)
        if found is not None:
            return found
        data = make()
        path = self.directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{name}.{secrets.token_hex(8)}.tmp")  # one per caller
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        try:
            # Link, not replace: if another process created it meanwhile, use theirs.
            os.link(tmp, path)
        except FileExistsError:
            return path.read_bytes()
        finally:
            os.unlink(tmp)
        return data

    def replace(self, name: str, data: bytes) -> None:
        home = self._home(name)
        home.mkdir(parents=True, exist_ok=True)
        path = home / name
        tmp = path.with_name(f"{name}.{secrets.token_hex(8)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        _sync_directory(home)

    def remove(self, name: str) -> None:
        (self.directory / name).unlink(missing_ok=True)
        if self.earlier is not None:
            (self.earlier / name).unlink(missing_ok=True)


def _sync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
