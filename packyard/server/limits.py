"""What one connection may hold on to: deadlines for a request's head and body, and a cap on
open connections per server process.

uvicorn has neither deadline: its keep-alive timeout covers only the wait between requests,
and the first byte of a request cancels it, so a client that sends half a request line, or
stops in the middle of a body, keeps its connection (and, for an upload, a staging file and a
place among the uploads) for as long as it likes. A flood of such connections exhausted memory
and file descriptors. Here:

- the **head** (request line and headers) must be complete within ``header_timeout`` seconds of
  the connection opening or the request's first byte: a total, so trickling bytes does not help;
- a **body** must keep moving: no more than ``body_timeout`` seconds without a byte while the
  server is reading it (time the server itself pauses reading, because the app has not taken
  what came, does not count). A total would cut off a large upload on a slow link;
- a connection past ``max_connections`` open ones is answered 503 and closed at once;
- a request **head** larger than ``max_head_bytes`` is answered 431 and the connection closed.
  Without a cap the head deadline was the only bound: a client on a fast link sent 100 MB of
  one header within it, and httptools, which gathers a header's value by concatenation, held
  the worker's event loop for ~20 s (every other connection of the process waited).

A timed-out connection gets ``408 Request Timeout`` when nothing of a response was sent yet, then
is closed. Deadlines are checked by one sweep per server every ``sweep_interval`` seconds
rather than by a timer per request: the fast lane answers a cached page in microseconds, and
arming and cancelling timers on every request would cost a noticeable part of that. Each
connection only counts its progress (a few attribute writes per request); the sweep notices a
count that has not moved. A deadline therefore fires up to one interval late.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import resource
import weakref
from collections.abc import Callable, Collection
from dataclasses import dataclass

from packyard.libc import libc_function

log = logging.getLogger("packyard")

# File descriptors a server process needs besides its connections (database, blobs being
# read or written, upstream connections, log files).
_SPARE_FILES = 256

IDLE, HEAD, BODY = 0, 1, 2
"""What a connection is waiting for: nothing of ours (between requests, or while the app
works), the rest of a request's head, or more of its body."""


@dataclass(frozen=True)
class ConnectionLimits:
    """The limits ``packyard serve`` applies to each connection (settings ``header_timeout_seconds``,
    ``body_timeout_seconds``, ``max_connections``)."""

    header_timeout: float = 30.0
    body_timeout: float = 60.0
    max_connections: int = 1000
    # nginx's default allows 4 buffers of 8 KiB, Node 16 KiB: package clients send ~1 KiB.
    max_head_bytes: int = 65536

    @property
    def sweep_interval(self) -> float:
        return min(1.0, self.header_timeout / 4, self.body_timeout / 4)


class ConnectionWatch:
    """One connection's progress, as its protocol records it and the sweep reads it."""

    __slots__ = ("head_bytes", "phase", "progress", "seen", "since")

    def __init__(self) -> None:
        self.phase = HEAD  # a new connection owes us a request head
        self.progress = 0  # bumped at each request start and each piece of body
        self.seen = -1  # the progress the sweep saw last, at `since`
        self.since = 0.0
        self.head_bytes = 0  # bytes received while the current request's head is incomplete

    def head_too_large(self, received: int, limits: ConnectionLimits,
                       progress_before: int | None = None) -> bool:
        """Count ``received`` bytes just parsed against the head's cap: whether it is exceeded.

        Called after the bytes were parsed, with the ``progress`` from before. If the head is
        still incomplete and no request began nor body moved in those bytes, they were all
        head. If a request began in them (a pipelined one, or the next after a body's end),
        how many were its head is unknown: the count starts again from the next read, so the
        cap is at most a read larger, and a long head is still caught a read later. If the
        head completed, the count starts again."""
        if self.phase != HEAD or (progress_before is not None
                                  and progress_before != self.progress):
            self.head_bytes = 0
            return False
        self.head_bytes += received
        return self.head_bytes > limits.max_head_bytes

    def overdue(self, now: float, limits: ConnectionLimits, reading_paused: bool) -> int | None:
        """The phase whose deadline passed (HEAD or BODY), or None."""
        phase = self.phase
        if phase == IDLE:
            return None
        if self.progress != self.seen or (phase == BODY and reading_paused):
            self.seen, self.since = self.progress, now
            return None
        limit = limits.header_timeout if phase == HEAD else limits.body_timeout
        return phase if now - self.since >= limit else None


class Watched:
    """What the sweep needs of a connection (``server.protocol.PackyardHttpProtocol``)."""

    def check_deadline(self, now: float) -> None:
        raise NotImplementedError


# glibc's malloc_trim(3): hand freed heap memory back to the operating system (None on musl
# or macOS: nothing to do).
_malloc_trim = libc_function("malloc_trim", ctypes.c_size_t)

# After a flood of connections drops below half its peak (and the peak was this large), the
# memory those connections held is given back (``_malloc_trim``).
_FLOOD = 64
_TRIMS_AFTER_FLOOD = 2


class DeadlineSweep:
    """Checks every connection of one server against its deadlines, while there are any.

    It also gives memory back after a flood: the buffers of hundreds of slow connections are
    freed when they close, but glibc keeps freed heap memory for reuse, so the process would
    stay at its peak size. When the number of connections falls below half its peak, the
    sweep asks glibc to return what is free (a few milliseconds, only after such a drop).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, connections: Collection[object],
                 interval: float) -> None:
        self._loop = loop
        self._connections = connections
        self._interval = interval
        self._handle: asyncio.TimerHandle | None = None
        self._peak = 0
        self._trims = 0

    def ensure_running(self) -> None:
        if self._handle is None:
            self._handle = self._loop.call_later(self._interval, self._sweep)

    def _sweep(self) -> None:
        self._handle = None
        now = self._loop.time()
        for connection in list(self._connections):
            if isinstance(connection, Watched):
                connection.check_deadline(now)
        open_now = len(self._connections)
        self._peak = max(self._peak, open_now)
        if self._peak >= _FLOOD and open_now < self._peak // 2:
            # Closed connections free their buffers when their tasks have seen the close, a
            # moment later: give memory back at the next sweeps, not this one.
            self._peak = open_now
            self._trims = _TRIMS_AFTER_FLOOD
        elif self._trims:
            self._trims -= 1
            if _malloc_trim is not None:
                _malloc_trim(0)
        if self._connections or self._trims:
            self.ensure_running()


# One sweep per server (keyed by uvicorn's per-server state object, so a test running two
# servers in one process keeps them apart).
_sweeps: weakref.WeakKeyDictionary[object, DeadlineSweep] = weakref.WeakKeyDictionary()


def sweep_for(server_state: object, make: Callable[[], DeadlineSweep]) -> DeadlineSweep:
    sweep = _sweeps.get(server_state)
    if sweep is None:
        sweep = _sweeps[server_state] = make()
    return sweep


def allow_open_files(max_connections: int) -> None:
    """Raise this process's soft limit on open files (inherited by ``--workers`` processes) so
    that ``max_connections`` connections fit; warn when the hard limit is lower.

    Otherwise the operating system's limit (often 1024) would be the real connection limit,
    and running out of descriptors would fail database and blob operations too.
    """
    needed = max_connections + _SPARE_FILES
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return
    target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError):
        target = soft
    if target < needed:
        log.warning("this process may open %d files, fewer than the %d that %d connections "
                    "(PACKYARD_MAX_CONNECTIONS) need; raise the limit (ulimit -n) or lower "
                    "the setting", target, needed, max_connections)
