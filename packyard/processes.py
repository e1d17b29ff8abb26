"""Questions about other processes of this machine.

Files being written (staged blobs, upstream downloads) are named after the process writing them,
so that start-up clean-up can tell a dead writer's leftovers from a live worker's work.
"""

from __future__ import annotations

import os
from pathlib import Path

_PROC = Path("/proc")


def pid_alive(pid: int) -> bool:
    """Whether a process with this id is running (ours or another user's): not when it has
    ended and only its exit status waits for its parent (a zombie: killed with -9 and not yet
    reaped, which a restart straight after the kill meets)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, under another user: signal 0 only checks
    return process_state(pid) != "Z"


def process_state(pid: int) -> str | None:
    """Linux's one-letter state of a process (``/proc/PID/stat``: "R", "S", "Z" for a zombie
    …); None where there is no such process or no ``/proc``."""
    try:
        stat = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # "PID (COMMAND) STATE ...": the command may hold spaces and parentheses, the state
    # follows the last ")".
    return stat[stat.rfind(")") + 2:][:1] or None
