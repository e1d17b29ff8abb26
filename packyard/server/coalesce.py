"""One write for a whole small response under uvicorn (httptools), instead of head then body.

uvicorn writes a response's status line and headers as soon as the app sends
``http.response.start``, and the body with the next message: two ``send`` system calls per
response, which for the hot path's answers (a page or a small file, already in memory) is a
large part of their cost. An answer that will send its whole body straight after the start marks
the start message with ``COALESCE``; the patch of uvicorn's request cycle
(``server.response_cycle``) then has uvicorn write the head into a ``HeadCatcher`` instead of
the socket, keeps it, and writes it together with the body through a ``HeadFirst`` (or on its
own, if no body write comes: HEAD, 304). Unmarked responses (everything Starlette sends,
streamed files) are untouched.
"""

from __future__ import annotations

from typing import Any

from packyard.http.server_hints import COALESCE

__all__ = ["COALESCE"]


class HeadCatcher:
    """Stands in for the transport while uvicorn writes a marked response's head."""

    def __init__(self) -> None:
        self.head = b""

    def write(self, data: bytes) -> None:
        self.head += data


class HeadFirst:
    """Stands in for the transport during the body: the first write carries the head too."""

    def __init__(self, transport: Any, head: bytes) -> None:
        self._transport = transport
        self.head: bytes | None = head

    def flush(self) -> None:
        if self.head is not None:
            head, self.head = self.head, None
            if not self._transport.is_closing():  # the client went away meanwhile
                self._transport.write(head)

    def write(self, data: bytes) -> None:
        if self.head is not None:
            data, self.head = self.head + data, None
        self._transport.write(data)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def is_closing(self) -> bool:
        return bool(self._transport.is_closing())


def install() -> None:
    """Check and patch uvicorn (``server.fence.install``: one patch of the request cycle does
    both this and ``server.reason``)."""
    from packyard.server import fence

    fence.install()
