"""The folder ``packyard export`` writes into: each file whole or not at all, never one
overwritten, never a path outside it, and its ``SHA256SUMS``.

A file is written to a temporary name beside its place (``.<name>.<random>.partial``, which
no format's import takes; the writer holds a ``flock`` on it), hashed as it is written, checked against the sha256 the catalog
recorded, flushed, and only then given its name, with a hard link (which fails when the name
is taken meanwhile; a rename where the file system has no hard links, as FAT's). A file
already at its place with the same bytes is left as it is (a rerun, or an incremental export
into the same folder, writes only what is missing); one with other bytes is a refusal of that
file, never replaced. The places come from the catalog (file names a publisher or an upstream
chose): each part is checked, and each folder on the way, once made, is resolved and must
still be inside the destination (a link in it pointing elsewhere is refused too).

A package document (npm's registry document, ``package.json``) is the one kind of file
replaced: it is made from the one an earlier export left there (``write_document``: merged by
its format, refused when what is there is no such document), written to a temporary name the
same way, and renamed over it.

A run killed mid-file (``kill -9``, a power cut) leaves its temporary file; a later run
removes those in the folders it exports into once it is done: each one made before that run
began whose lock no process holds (a concurrent export's file is locked while written).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import secrets
import stat
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from packyard.errors import Conflict, Invalid

SUMS = "SHA256SUMS"
"""In the destination: every file exported there, ``sha256sum -c`` compatible (relative paths;
run it in the destination)."""
PARTIAL_SUFFIX = ".partial"
_CHUNK = 1024 * 1024
# link(2) fails so where the file system has no hard links (FAT, exFAT, some network shares).
_NO_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS, errno.EMLINK,
             errno.EXDEV}


class UnsafePath(Invalid):
    """A place that would not stay inside the destination folder, or is no file name."""


def check_parts(parts: tuple[str, ...]) -> str:
    """The place ``parts`` names under the destination, as a relative path with ``/``;
    ``UnsafePath`` when a part could leave the folder (``..``, a separator, an empty part) or
    holds a control character (which no checksum list or terminal shows as it is)."""
    shown = "/".join(parts)
    if not parts:
        raise UnsafePath("no file name")
    for part in parts:
        if part in ("", ".", "..") or "/" in part or "\\" in part:
            raise UnsafePath(f"{shown!r} would not stay inside the destination folder")
        if not part.isprintable():
            raise UnsafePath(f"{shown!r} holds a control character")
    return shown


class ExportFolder:
    """The destination of one ``packyard export`` run."""

    def __init__(self, root: Path) -> None:
        try:
            root.mkdir(parents=True, exist_ok=True)
        except FileExistsError:
            raise Invalid(f"{root} is not a folder") from None
        if not root.is_dir():
            raise Invalid(f"{root} is not a folder")
        self.root = root
        self._real = Path(os.path.realpath(root))
        self._sums: dict[str, str] = {}
        self._folders: set[Path] = set()
        self._touched: set[Path] = {self._real}  # the folders to clear of dead runs' files
        self._began = time.time()

    def existing(self, parts: tuple[str, ...], sha256: str, size: int) -> str | None:
        """``present`` when the file is at its place with these bytes; None when the place is
        free; ``Conflict`` when something else is there. Makes the folders on the way."""
        relative = check_parts(parts)
        target = self._place(parts)
        self._touched.add(target.parent)
        found = _held(target, sha256, size)
        if found is None:
            return None
        if found:
            self._sums[relative] = sha256
            return "present"
        raise _other_bytes(relative, target)

    async def write(self, parts: tuple[str, ...], sha256: str, size: int,
                    chunks: AsyncIterator[bytes]) -> str:
        """Write ``chunks`` to the file's place: ``written``, or ``present`` when the same
        bytes got there meanwhile. ``Invalid`` when the bytes are not the ``sha256`` and
        ``size`` recorded (nothing is left of them), ``Conflict`` when other bytes got there
        meanwhile; an ``OSError`` (a full disk) is the caller's, the temporary file removed."""
        relative = check_parts(parts)
        target = self._place(parts)
        self._touched.add(target.parent)
        temporary = target.with_name(
            f".{target.name}.{secrets.token_hex(4)}{PARTIAL_SUFFIX}")
        # Owner-only whatever the umask, as mkstemp makes them: what a repository holds may be
        # private code.
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # this run's, until it is named or removed
            hasher = hashlib.sha256()
            written = 0
            with os.fdopen(fd, "wb", closefd=False) as out:
                async for chunk in chunks:
                    hasher.update(chunk)
                    written += len(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            found = hasher.hexdigest()
            if found != sha256 or written != size:
                raise Invalid(f"its stored bytes ({written:,} bytes, sha256 {found}) are not "
                              f"the ones recorded ({size:,} bytes, sha256 {sha256}): run "
                              "packyard verify")
            outcome = self._name(temporary, target, relative, sha256, size)
        finally:
            os.close(fd)
            temporary.unlink(missing_ok=True)
        self._sums[relative] = sha256
        self._folders.add(target.parent)
        return outcome

    def write_document(self, parts: tuple[str, ...], merge: Callable[[bytes | None], bytes],
                       max_bytes: int) -> str:
        """Write a package document: ``merge`` of the one at its place (None when none), to a
        temporary name, then renamed over it; ``present`` when that is the same bytes.
        ``Conflict`` when a link, a folder or a file over ``max_bytes`` is at its place (left
        as it is), or ``merge``'s own when the file there is no such document."""
        relative = check_parts(parts)
        target = self._place(parts)
        self._touched.add(target.parent)
        existing = _document_at(target, relative, max_bytes)
        data = merge(existing)
        sha256 = hashlib.sha256(data).hexdigest()
        if data == existing:
            self._sums[relative] = sha256
            return "present"
        _replace_whole(target, data)
        self._sums[relative] = sha256
        self._folders.add(target.parent)
        return "written"

    def finish(self) -> None:
        """Make the files written durable (their folders' entries), then write ``SHA256SUMS``:
        the files of this run and those an earlier run listed that are still there (none
        when there is none). The temporary files killed runs left in the folders this run
        exported into are removed first."""
        for folder in sorted(self._touched):
            _remove_dead_partials(folder, self._began)
        for folder in sorted(self._folders):
            _sync_folder(folder)
        sums = self.root / SUMS
        kept: list[str] = []
        listed: dict[str, str] = {}
        try:
            earlier = sums.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            earlier = []
        for line in earlier:
            parsed = _parse_sum(line)
            if parsed is None:
                kept.append(line)  # not ours to drop
            elif (self.root / parsed[1]).is_file():
                listed[parsed[1]] = parsed[0]
        listed.update(self._sums)
        if not listed and not kept and not earlier:
            return  # nothing exported: sha256sum -c refuses a list without a line
        text = "".join(f"{line}\n" for line in kept) + "".join(
            f"{sha256}  {relative}\n" for relative, sha256 in sorted(listed.items()))
        _replace_whole(sums, text.encode("utf-8"))
        _sync_folder(self.root)

    def _place(self, parts: tuple[str, ...]) -> Path:
        """The file's path, its folders made; each folder, resolved, still inside the root."""
        folder = self._real
        for part in parts[:-1]:
            step = folder / part
            with contextlib.suppress(FileExistsError):
                step.mkdir()
            resolved = Path(os.path.realpath(step))
            if not resolved.is_relative_to(self._real):
                raise UnsafePath(f"{'/'.join(parts)!r} would not stay inside the destination "
                                 f"folder ({step} leads to {resolved})")
            if not resolved.is_dir():
                raise Invalid(f"{step} is in the way: it is not a folder")
            folder = resolved
        return folder / parts[-1]

    def _name(self, temporary: Path, target: Path, relative: str, sha256: str,
              size: int) -> str:
        """Give the written file its name, unless the name was taken meanwhile."""
        try:
            os.link(temporary, target, follow_symlinks=False)
            return "written"
        except FileExistsError:
            pass
        except OSError as exc:
            if exc.errno not in _NO_LINKS:
                raise
            if _held(target, sha256, size) is None:
                os.rename(temporary, target)
                return "written"
        if _held(target, sha256, size):
            return "present"
        raise _other_bytes(relative, target)


def _replace_whole(target: Path, data: bytes) -> None:
    """``data`` written, flushed and renamed over ``target`` (a package document, SHA256SUMS):
    its temporary file is owner-only and locked while written, as a file's is (``write``)."""
    temporary = target.with_name(f".{target.name}.{secrets.token_hex(4)}{PARTIAL_SUFFIX}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with os.fdopen(fd, "wb", closefd=False) as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, target)
    finally:
        os.close(fd)
        temporary.unlink(missing_ok=True)


def _held(target: Path, sha256: str, size: int) -> bool | None:
    """None when nothing is at ``target``; whether a regular file with these bytes is."""
    try:
        described = target.lstat()
    except FileNotFoundError:
        return None
    if not target.is_file() or target.is_symlink() or described.st_size != size:
        return False
    hasher = hashlib.sha256()
    with open(target, "rb") as held:
        while chunk := held.read(_CHUNK):
            hasher.update(chunk)
    return hasher.hexdigest() == sha256


def _document_at(target: Path, relative: str, max_bytes: int) -> bytes | None:
    """The document an earlier export left at ``target`` (None when nothing is there);
    ``Conflict`` for a link, something other than a file, or a file too large to be one."""
    try:
        described = target.lstat()
    except FileNotFoundError:
        return None
    if target.is_symlink() or not stat.S_ISREG(described.st_mode):
        raise _other_bytes(relative, target)
    if described.st_size > max_bytes:
        raise Conflict(f"{relative} is in the destination already, larger than a package "
                       f"document may be ({max_bytes:,} bytes); it is left as it is (move it "
                       "away, or export into another folder)")
    # Not through a link put there meanwhile.
    with open(os.open(target, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK), "rb") as held:
        return held.read(max_bytes + 1)


def _other_bytes(relative: str, target: Path) -> Conflict:
    """The refusal of a place something else holds: other bytes, or a link or a folder
    (never followed nor replaced)."""
    if target.is_symlink():
        held = "as a link"
    elif not target.is_file():
        held = "as something other than a file"
    else:
        held = "with other bytes"
    return Conflict(f"{relative} is in the destination already {held}; it is left as it is "
                    "(move it away, or export into another folder)")


def _parse_sum(line: str) -> tuple[str, str] | None:
    """A ``sha256sum`` line's digest and path (text or binary mode); None for another line."""
    digest, _, rest = line.partition(" ")
    if len(digest) != 64 or not rest or rest[0] not in " *":
        return None
    try:
        int(digest, 16)
    except ValueError:
        return None
    return digest.lower(), rest[1:]


def _remove_dead_partials(folder: Path, began: float) -> None:
    """Remove the temporary files (``.*.partial``) in ``folder`` that a killed run left: made
    before ``began`` and locked by no process (a writer holds its file's lock until the file
    is named or removed)."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        if not (entry.name.startswith(".") and entry.name.endswith(PARTIAL_SUFFIX)):
            continue
        try:
            fd = os.open(entry.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            continue  # gone meanwhile, or a link: not ours
        try:
            described = os.fstat(fd)
            if not stat.S_ISREG(described.st_mode) or described.st_mtime >= began:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # being written by a run under way
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.path)
        finally:
            os.close(fd)


def _sync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
