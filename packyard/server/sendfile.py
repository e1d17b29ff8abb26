"""A file's bytes sent by the kernel straight to a connection's socket: ``os.sendfile``; and
large pieces of a body written on the socket itself, the interpreter lock let go meanwhile.

Serving a 100 MiB file through ASGI the ordinary way reads it in pieces in worker threads and
hands each piece to the transport: a thread hop, a read and a copy into the socket per piece.
``sendfile(2)`` moves the bytes from the page cache to the socket with none of that. uvicorn has
no ``http.response.pathsend`` (the ASGI extension a file response uses for this), and uvloop's
``loop.sendfile`` is not implemented, so this does it on the socket itself, driven by the event
loop: send what the socket takes, and when it is full wait until it is writable again (on a
duplicate of its descriptor, since the transport owns the original's registration in the loop).

It is used only where that is sound: a plain TCP socket (no TLS, whose bytes must pass through
the transport), and nothing of the response still buffered in the transport (that must go out
first, and the transport's buffer is drained only by the transport).
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Callable
from typing import Any


class SendfileStats:
    """Files (and their bytes) sent this way by this process, and the bytes of body pieces
    written on sockets directly (``send_bytes``): plain increments on the event loop's
    thread."""

    def __init__(self) -> None:
        self.files = 0
        self.bytes = 0
        self.written = 0


stats = SendfileStats()


def plain_socket(transport: Any) -> socket.socket | None:
    """The transport's TCP socket, when bytes written to it directly reach the client in order
    (no TLS, nothing buffered in the transport); None otherwise."""
    if transport.is_closing() or transport.get_extra_info("sslcontext") is not None:
        return None
    sock = transport.get_extra_info("socket")
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6, socket.AF_UNIX):
        return None
    if transport.get_write_buffer_size() != 0:
        return None
    return sock  # type: ignore[no-any-return]


async def send_file(transport: Any, sock: socket.socket, fd: int, offset: int,
                    count: int) -> int:
    """Send ``count`` bytes of the open file ``fd`` from ``offset`` on the transport's
    (non-blocking) socket; returns how many were sent: fewer only when the file is shorter.
    Raises ``ConnectionError`` (an ``OSError``) when the connection fails or is closed
    meanwhile."""
    out = sock.fileno()

    def step(done: int) -> int:
        return os.sendfile(out, fd, offset + done, count - done)

    sent = await _pump(transport, out, step, count)
    stats.bytes += sent
    stats.files += 1
    return sent


async def send_bytes(transport: Any, sock: socket.socket, data: bytes | memoryview) -> None:
    """``data`` written on the transport's (non-blocking) socket itself: the interpreter lock
    is let go while the kernel copies (the transport's own write keeps it), so another thread
    can work meanwhile (the next piece's decryption). Raises ``ConnectionError`` (an
    ``OSError``) when the connection fails or is closed meanwhile."""
    view = memoryview(data)
    out = sock.fileno()  # the transport's socket object itself refuses send()

    def step(done: int) -> int:
        return os.write(out, view[done:])

    stats.written += await _pump(transport, out, step, len(view))


async def _pump(transport: Any, out: int, step: Callable[[int], int], total: int) -> int:
    """``step(done)`` (one non-blocking write of what is left on the socket ``out``: how many
    bytes went, 0 when the source has no more) until ``total`` bytes are out, waiting while
    the socket is full; returns how many went."""
    loop = asyncio.get_running_loop()
    done = 0
    watch = -1
    try:
        while done < total:
            if transport.is_closing():
                # Closed by the server meanwhile (a deadline, a shutdown): the socket may be
                # gone, and the client will not get the rest anyway.
                raise ConnectionAbortedError("the connection was closed while sending")
            try:
                n = step(done)
            except BlockingIOError:
                n = -1
            if n == 0:
                break  # the source ended
            if n > 0:
                done += n
                continue
            if watch < 0:
                watch = os.dup(out)
            await _writable(loop, watch)
    except OSError as error:
        error.packyard_sent = done  # type: ignore[attr-defined]  # for sent_before
        raise
    finally:
        if watch >= 0:
            os.close(watch)
    return done


def sent_before(error: OSError) -> int:
    """How many bytes a ``send_file`` or ``send_bytes`` that raised ``error`` had sent."""
    sent = getattr(error, "packyard_sent", 0)
    return sent if isinstance(sent, int) else 0


# How long a wait for the socket to take more lasts before the transport is looked at again.
_RECHECK_SECONDS = 1.0


async def _writable(loop: asyncio.AbstractEventLoop, fd: int) -> None:
    ready = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_writer(fd, wake)
    handle = loop.call_later(_RECHECK_SECONDS, wake)
    try:
        await ready
    finally:
        handle.cancel()
        loop.remove_writer(fd)
