"""One write for a whole small response under uvicorn (httptools), instead of head then body.

uvicorn writes a response's status line and headers as soon as the app sends
``http.response.start``, and the body with the next message: two ``send`` system calls per
response, which for the hot path's answers (a page or a small file, already in memory) is a
large part of their cost. An answer that will send its whole body straight after the start marks
the start message with ``COALESCE``; uvicorn's head bytes are then held and written together with
the body (or on their own, if no body write comes: HEAD, 304). Unmarked responses (everything
Starlette sends, streamed files) are untouched.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

COALESCE = "packyard.coalesce"
"""Key of the ``http.response.start`` message that asks for the head to be held."""


class _HeadCatcher:
    """Stands in for the transport while uvicorn writes a marked response's head."""

    def __init__(self) -> None:
        self.head = b""

    def write(self, data: bytes) -> None:
        self.head += data


class _HeadFirst:
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


def _wrap_send(original: Callable[[Any, Any], Awaitable[None]]
               ) -> Callable[[Any, Any], Awaitable[None]]:
    async def send(self: Any, message: Any) -> None:
        held: bytes | None = self.__dict__.pop("_packyard_head", None)
        if held is not None:
            real = self.transport
            first = _HeadFirst(real, held)
            self.transport = first
            try:
                await original(self, message)
            finally:
                self.transport = real
                first.flush()
            return
        if message.get(COALESCE) and message.get("type") == "http.response.start":
            real, catcher = self.transport, _HeadCatcher()
            self.transport = catcher
            try:
                await original(self, message)
            finally:
                self.transport = real
            if catcher.head:
                self._packyard_head = catcher.head
            return
        await original(self, message)

    return send


_installed = False


def install() -> None:
    """Patch uvicorn's httptools protocol once per process (h11 is left as it is)."""
    global _installed
    if _installed:
        return
    try:
        from uvicorn.protocols.http import httptools_impl
    except ImportError:
        return
    httptools_impl.RequestResponseCycle.send = _wrap_send(  # type: ignore[method-assign,assignment]
        httptools_impl.RequestResponseCycle.send)
    _installed = True
