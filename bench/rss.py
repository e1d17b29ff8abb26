"""Peak resident memory of a server's whole process tree while one figure is measured.

Two readings are combined, both from /proc (Linux): a 20 Hz poll of the tree's summed VmRSS,
and each process's VmHWM after the kernel's high-water mark was reset at the start
(writing "5" to /proc/PID/clear_refs, Linux >= 4.0). The poll misses short spikes; the
high-water mark catches them for single-process servers but overstates a tree whose members
peak at different moments. The figure reported is the larger of the two.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

_PROC = Path("/proc")
_POLL_SECONDS = 0.05


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name (field 2) may contain spaces; fields after its ")" are fixed.
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    return children


def process_tree(root_pid: int) -> list[int]:
    """Return `root_pid` and all its descendants that are alive now."""
    children = _children_map()
    tree, stack = [], [root_pid]
    while stack:
        pid = stack.pop()
        tree.append(pid)
        stack.extend(children.get(pid, []))
    return tree


def _status_kib(pid: int, field: str) -> int:
    try:
        for line in (_PROC / str(pid) / "status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def tree_rss_kib(root_pid: int) -> int:
    """Return the summed resident set size of a process tree, in KiB."""
    return sum(_status_kib(pid, "VmRSS") for pid in process_tree(root_pid))


@dataclass
class Peak:
    """The peak found by one `track_peak` block, in MiB (filled in when the block ends)."""

    mib: float = 0.0


@contextlib.contextmanager
def track_peak(root_pid: int) -> Iterator[Peak]:
    """Measure the peak RSS of `root_pid`'s tree during the `with` block."""
    peak = Peak()
    polled_kib = 0
    stop = threading.Event()
    for pid in process_tree(root_pid):
        with contextlib.suppress(OSError):
            (_PROC / str(pid) / "clear_refs").write_text("5")

    def poll() -> None:
        nonlocal polled_kib
        while not stop.is_set():
            polled_kib = max(polled_kib, tree_rss_kib(root_pid))
            stop.wait(_POLL_SECONDS)

    thread = threading.Thread(target=poll, name="rss-poll", daemon=True)
    thread.start()
    try:
        yield peak
    finally:
        stop.set()
        thread.join()
        high_water_kib = sum(_status_kib(pid, "VmHWM") for pid in process_tree(root_pid))
        peak.mib = round(max(polled_kib, high_water_kib) / 1024, 1)


def can_reset_high_water() -> bool:
    """Tell whether this kernel lets us reset VmHWM (it needs write access to clear_refs)."""
    return os.access(_PROC / "self" / "clear_refs", os.W_OK)
