"""One data directory, one encryption mode among its running processes.

A server started with ``PACKYARD_ENCRYPTION=off`` reads blobs as plain files: a blob another
process encrypts meanwhile (``packyard encrypt``, ``packyard import`` or a second server with
encryption on) is gone for it, and every download of it is a 404 until it is restarted (it then
refuses to start with encryption off, rightly). So the two kinds of process keep out of each
other's way with two ``flock`` files in the data directory:

- a plain server holds a shared lock on ``encryption-off.lock`` for as long as it runs, and so
  does a ``packyard verify`` with encryption off (it reads blobs as plain files too; beside a
  plain server it runs, the lock being shared);
- a process that writes encrypted blobs holds a shared lock on ``encryption-on.lock`` for its
  run;
- each, once it holds its own lock, checks the other's file is not held (an exclusive lock
  taken and let go at once) and refuses to go on when it is.

Whichever of two such processes took its lock second sees the first one's, so they never both
go on. Two processes checking at the same moment can see each other's momentary check as a
holder: the check is tried again for a second before it counts. The locks are the kernel's and
go with the process, however it ends (``kill -9`` too). They cover the processes of one machine
on one data directory, which is where the embedded default keeps its blobs.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path
from typing import IO

OFF_LOCK = "encryption-off.lock"
ON_LOCK = "encryption-on.lock"
_CHECK_SECONDS = 1.0


class ModeConflict(Exception):
    """A process of the other encryption mode runs on this data directory."""


def hold_plain_mode(data_dir: Path, what: str = "a server") -> IO[bytes]:
    """For a process that reads blobs as plain files, a server with encryption off or a
    ``packyard verify`` with it off (``what`` names it in the refusal): hold
    ``encryption-off.lock`` (keep the returned file open as long as it runs);
    ``ModeConflict`` while a process writes encrypted blobs there."""
    return _hold_apart(data_dir, OFF_LOCK, ON_LOCK, (
        f"a process writing encrypted files (packyard encrypt, packyard import or a server "
        f"with encryption on) is running on {data_dir}, and {what} with "
        "PACKYARD_ENCRYPTION=off could not read what it writes: start this one with "
        "encryption on (unset PACKYARD_ENCRYPTION), or once that process has ended"))


def hold_encrypting_mode(data_dir: Path, what: str, *, can_run_plain: bool = False
                         ) -> IO[bytes]:
    """For a process that writes encrypted blobs (``what`` names it in the refusal): hold
    ``encryption-on.lock`` for its run; ``ModeConflict`` while a server with encryption off
    runs there. ``can_run_plain``: the process can also run with encryption off (an import, a
    second server; not ``packyard encrypt``), and the refusal says so: a data directory kept
    plain on purpose is mended by giving this process the server's setting, not by
    encrypting it."""
    alternative = (f", or run {what} with PACKYARD_ENCRYPTION=off, as that server runs"
                   if can_run_plain else "")
    return _hold_apart(data_dir, ON_LOCK, OFF_LOCK, (
        f"a server with PACKYARD_ENCRYPTION=off is running on {data_dir}, and it could not "
        f"read the files {what} encrypts: restart that server with encryption on (unset "
        f"PACKYARD_ENCRYPTION) first{alternative}"))


def held_by_a_process(data_dir: Path) -> bool:
    """Whether a process holds either lock on ``data_dir``: a server (either mode), or
    ``packyard encrypt`` / ``import`` at work there. For the commands that must run with the
    servers stopped (``packyard iam reset-secret-key``)."""
    return any(_held_by_others(data_dir / name) for name in (OFF_LOCK, ON_LOCK))


def _hold_apart(data_dir: Path, own: str, other: str, refusal: str) -> IO[bytes]:
    """Hold ``own`` (shared), then refuse with ``refusal`` if ``other`` is held."""
    held = _hold(data_dir / own)
    if _held_by_others(data_dir / other):
        held.close()
        raise ModeConflict(refusal)
    return held


def _hold(path: Path) -> IO[bytes]:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    held = os.fdopen(os.open(path, os.O_RDWR | os.O_CREAT, 0o600), "r+b")
    fcntl.flock(held, fcntl.LOCK_SH)  # only ever blocked by a check, for an instant
    return held


def _held_by_others(path: Path) -> bool:
    if not path.exists():
        return False
    with open(path, "rb") as probe:
        deadline = time.monotonic() + _CHECK_SECONDS
        while True:
            try:
                fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if time.monotonic() > deadline:
                    return True
                time.sleep(0.05)
            else:
                fcntl.flock(probe, fcntl.LOCK_UN)
                return False
