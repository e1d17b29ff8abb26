"""Questions about other processes of this machine.

Files being written (staged blobs, upstream downloads) are named after the process writing them,
so that start-up clean-up can tell a dead writer's leftovers from a live worker's work.
"""

from __future__ import annotations

import os


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists (ours or another user's)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        # It exists, under another user: signal 0 only checks.
        return True
    return True
