"""A real uvicorn server on a loopback socket, in a thread of the test process, for the server
tests: clients speak raw HTTP/1.x to it, and ``writes`` counts the write system calls its
thread made, as the kernel counts them.

It runs on uvloop, as ``packyard serve`` does (uvicorn's ``loop="auto"``): uvloop's transports
write with write(2)/writev(2), which the kernel counts per thread in ``/proc/<tid>/io``
(``syscw``), whatever the Python code above believes it wrote.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn

_COUNTS = Path("/proc/thread-self/io")


def _write_calls() -> int:
    for line in _COUNTS.read_text().splitlines():
        if line.startswith("syscw:"):
            return int(line.split()[1])
    raise AssertionError("no syscw in /proc/thread-self/io")


class RealServer:
    def __init__(self, server: uvicorn.Server, port: int, loop: asyncio.AbstractEventLoop) -> None:
        self.server = server
        self.port = port
        self.loop = loop

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=5)

    def connections(self) -> list[Any]:
        """The protocol objects of the open connections."""
        return list(self.server.server_state.connections)

    def writes(self) -> int:
        """Write system calls the server's thread made so far. Read on that thread, from a
        callback of its loop, so no write is half done (the client may already have read the
        bytes of a write whose count the kernel has not yet raised)."""
        counted: concurrent.futures.Future[int] = concurrent.futures.Future()

        def count() -> None:
            try:
                counted.set_result(_write_calls())
            except Exception as exc:
                counted.set_exception(exc)

        self.loop.call_soon_threadsafe(count)
        return counted.result(timeout=5)


def needs_write_counts() -> None:
    """Skip unless the kernel counts a thread's writes and uvloop is there to make them."""
    pytest.importorskip("uvloop")
    try:
        _write_calls()
    except (OSError, AssertionError):
        pytest.skip("the kernel does not count writes per thread here (/proc/thread-self/io)")


@contextmanager
def serving(app: Any, http: Any, **options: Any) -> Iterator[RealServer]:
    """``app`` served by uvicorn with the protocol ``http`` until the block ends."""
    import uvloop

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, http=http, lifespan="off", log_level="error",
                            server_header=False, **options)
    server = uvicorn.Server(config)
    loops: list[asyncio.AbstractEventLoop] = []

    async def serve() -> None:
        loops.append(asyncio.get_running_loop())
        await server.serve(sockets=[sock])

    def run() -> None:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(serve())

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped while starting"
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield RealServer(server, sock.getsockname()[1], loops[0])
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def read_response(conn: socket.socket, *, head: bool = False) -> bytes:
    """One whole response, framed by its content-length (none read after a HEAD's head)."""
    buffer = b""
    while True:
        end = buffer.find(b"\r\n\r\n")
        if end >= 0:
            length = 0
            for line in buffer[:end].split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.lower() == b"content-length":
                    length = int(value)
            total = end + 4 + (0 if head else length)
            if len(buffer) >= total:
                assert len(buffer) == total, f"more than one response: {buffer!r}"
                return buffer
        chunk = conn.recv(65536)
        assert chunk, f"connection closed mid-response: {buffer!r}"
        buffer += chunk
