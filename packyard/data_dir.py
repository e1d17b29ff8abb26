"""The data directory holds the database, the blobs and the keys: only the server's user may
read it, whatever mode it had before.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger("packyard")

OWNER_ONLY = 0o700
_OWNER_ONLY_UMASK = 0o077


def restrict_new_files() -> None:
    """Create every file and directory of this process owner-only from now on (umask 077):
    the database (and SQLite's WAL and shared-memory files), blobs, staging files, keys.

    The umask is a property of the whole process, so the commands call this (``packyard
    serve``, ``packyard import``, a worker's app factory), not the library code they run.
    """
    os.umask(_OWNER_ONLY_UMASK)


def secure_data_dir(path: Path) -> None:
    """Create the data directory owner-only, or make an existing one so (0700).

    A directory made by hand or by an older Packyard is often 0755, which let every local user
    read the database and the blobs. When the mode cannot be changed (another owner, a
    read-only mount) the server still starts, and says so.
    """
    path.mkdir(mode=OWNER_ONLY, parents=True, exist_ok=True)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode == OWNER_ONLY:
        return
    try:
        os.chmod(path, OWNER_ONLY)
    except OSError as exc:
        log.warning("data directory %s is mode %04o and could not be made owner-only (0700): "
                    "%s; other users of this machine may read the database and blobs",
                    path, mode, exc.strerror or exc)
        return
    log.info("data directory %s was mode %04o; made it owner-only (0700)", path, mode)
