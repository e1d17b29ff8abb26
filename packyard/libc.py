"""The C library's calls that Python's ``os`` does not offer (Linux's syncfs(2) and
sync_file_range(2), glibc's malloc_trim(3)), looked up once through ctypes. Each is None where
the C library lacks it (macOS, musl): its caller then does without."""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from typing import Any


def libc_function(name: str, *argtypes: Any) -> Callable[..., int] | None:
    """The C library's ``name`` taking ``argtypes`` and returning an int (errno kept for
    ``ctypes.get_errno``); ctypes lets the interpreter lock go while it runs."""
    try:
        function = getattr(ctypes.CDLL(None, use_errno=True), name)
    except (OSError, AttributeError):
        return None
    function.argtypes = list(argtypes)
    function.restype = ctypes.c_int
    return function  # type: ignore[no-any-return]


_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def set_parent_death_signal(signum: int) -> bool:
    """Linux's ``prctl(PR_SET_PDEATHSIG, signum)``: the kernel sends ``signum`` to this process
    when the thread that started it ends, however it ends (``kill -9`` included). False where
    that cannot be asked (not Linux)."""
    prctl = libc_function("prctl", ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong,
                          ctypes.c_ulong, ctypes.c_ulong)
    return prctl is not None and prctl(_PR_SET_PDEATHSIG, signum, 0, 0, 0) == 0
