"""Custom HTTP reason phrases under uvicorn, so twine can show why an upload was refused.

ASGI has no field for the reason phrase; an app sets the private ``x-packyard-reason`` response
header instead. The patch of uvicorn's request cycle (``server.response_cycle``) takes it out of
the response's headers (``split_reason``) and, while uvicorn writes that response's head, makes
uvicorn's status-line table (httptools) or phrase table (h11) answer with it (``Phrases``).
"""

from __future__ import annotations

import contextvars
from typing import Any

from packyard.http.server_hints import REASON_HEADER

_REASON_KEY = REASON_HEADER.encode()
REASON: contextvars.ContextVar[bytes | None] = contextvars.ContextVar("reason", default=None)
"""The reason phrase of the response whose head uvicorn is writing, if it has its own."""


def _clean(value: bytes) -> bytes:
    text = value.decode("latin-1", "replace")
    text = " ".join(text.split())  # no CR/LF or runs of blanks on a status line
    text = "".join(c if 32 <= ord(c) < 127 else "?" for c in text)
    return text[:300].encode("ascii")


class Phrases(dict[int, bytes]):
    """uvicorn's status-phrase table, answering with the current response's own phrase."""

    def __init__(self, base: dict[int, bytes], *, status_line: bool) -> None:
        super().__init__(base)
        self._status_line = status_line

    def __getitem__(self, status: int) -> bytes:
        reason = REASON.get()
        if reason is None:
            return super().__getitem__(status)
        if self._status_line:
            return b"HTTP/1.1 %d %s\r\n" % (status, reason)
        return reason


def split_reason(message: Any) -> tuple[bytes | None, Any]:
    """The reason phrase an ``http.response.start`` message asks for, and the message without
    the header that carried it (the message itself when it has none)."""
    reason = None
    kept = []
    for name, value in message.get("headers", []):
        if name.lower() == _REASON_KEY:
            reason = _clean(value)
        else:
            kept.append((name, value))
    if reason is None:
        return None, message
    return reason, {**message, "headers": kept}


def install() -> None:
    """Check and patch uvicorn (``server.fence.install``: one patch of the request cycle does
    both this and ``server.coalesce``)."""
    from packyard.server import fence

    fence.install()
