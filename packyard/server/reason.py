"""Custom HTTP reason phrases under uvicorn, so twine can show why an upload was refused.

ASGI has no field for the reason phrase; an app sets the private ``x-packyard-reason`` response
header instead, and this module makes uvicorn (httptools and h11 back ends) put it on the status
line and drop the header.
"""

from __future__ import annotations

import contextvars
from collections.abc import Awaitable, Callable
from typing import Any

REASON_HEADER = "x-packyard-reason"
_REASON_KEY = REASON_HEADER.encode()
_reason: contextvars.ContextVar[bytes | None] = contextvars.ContextVar("reason", default=None)


def _clean(value: bytes) -> bytes:
    text = value.decode("latin-1", "replace")
    text = " ".join(text.split())  # no CR/LF or runs of blanks on a status line
    text = "".join(c if 32 <= ord(c) < 127 else "?" for c in text)
    return text[:300].encode("ascii")


class _Phrases(dict[int, bytes]):
    """uvicorn's status-phrase table, answering with the current response's own phrase."""

    def __init__(self, base: dict[int, bytes], *, status_line: bool) -> None:
        super().__init__(base)
        self._status_line = status_line

    def __getitem__(self, status: int) -> bytes:
        reason = _reason.get()
        if reason is None:
            return super().__getitem__(status)
        if self._status_line:
            return b"HTTP/1.1 %d %s\r\n" % (status, reason)
        return reason


def _wrap_send(original: Callable[[Any, Any], Awaitable[None]]
               ) -> Callable[[Any, Any], Awaitable[None]]:
    async def send(self: Any, message: Any) -> None:
        if message.get("type") != "http.response.start":
            await original(self, message)
            return
        headers = list(message.get("headers", []))
        reason = None
        kept = []
        for name, value in headers:
            if name.lower() == _REASON_KEY:
                reason = _clean(value)
            else:
                kept.append((name, value))
        if reason is None:
            await original(self, message)
            return
        token = _reason.set(reason)
        try:
            await original(self, {**message, "headers": kept})
        finally:
            _reason.reset(token)

    return send


_installed = False


def install() -> None:
    """Patch uvicorn's protocol classes once per process."""
    global _installed
    if _installed:
        return
    from uvicorn.protocols.http import h11_impl

    h11_impl.STATUS_PHRASES = _Phrases(h11_impl.STATUS_PHRASES, status_line=False)
    h11_impl.RequestResponseCycle.send = _wrap_send(  # type: ignore[method-assign,assignment]
        h11_impl.RequestResponseCycle.send)
    try:
        from uvicorn.protocols.http import httptools_impl
    except ImportError:  # httptools not installed: h11 only
        pass
    else:
        httptools_impl.STATUS_LINE = _Phrases(httptools_impl.STATUS_LINE, status_line=True)
        httptools_impl.RequestResponseCycle.send = _wrap_send(  # type: ignore[method-assign,assignment]
            httptools_impl.RequestResponseCycle.send)
    _installed = True
