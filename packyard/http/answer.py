"""``Answer``: one complete, ready-made HTTP response (status, header list, body).

The formats' hot paths build them once and reuse them; the Starlette handlers send the same
objects (``as_response``), and so do the app (``send``) and the server's fast lane
(``server.protocol``, which writes ``wire_headers`` itself), so however a request is answered
it gets the same bytes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import cached_property

from starlette.responses import Response
from starlette.types import Scope, Send

from packyard.http.server_hints import COALESCE

Headers = list[tuple[bytes, bytes]]


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Headers
    body: bytes

    @classmethod
    def of(cls, response: Response) -> Answer:
        """A complete (not streaming) response as an answer, e.g. a surface's error."""
        return cls(response.status_code, list(response.raw_headers), bytes(response.body))

    def as_response(self) -> Response:
        response = Response(status_code=self.status)
        response.body = self.body
        response.raw_headers = list(self.headers)
        return response

    async def send(self, send: Send, request_id: str | None = None) -> None:
        # The body follows at once: uvicorn may write head and body together.
        headers = self.headers if request_id is None else [
            *self.headers, (b"x-amzn-requestid", request_id.encode("ascii"))]
        await send({"type": "http.response.start", "status": self.status,
                    "headers": headers, COALESCE: True})
        await send({"type": "http.response.body", "body": self.body})

    @cached_property
    def framed(self) -> bool:
        """Whether the headers say where the body ends (so it can go out as it is)."""
        return self.status in (204, 304) or any(name == b"content-length"
                                                 for name, _ in self.headers)

    @cached_property
    def wire_headers(self) -> bytes:
        """The header lines as sent on the wire (without the status line and the server's own
        headers), joined once."""
        return b"".join(b"%s: %s\r\n" % (name, value) for name, value in self.headers)


HotPath = Callable[[Scope], "Answer | None"]
FirstRead = Callable[[Scope], Awaitable["Answer | None"]]
"""Answers a read that a hot path missed (the first read of a page or file) without the
routes: authorizes, renders or looks up into the hot path's caches, and gives the answer, or
None to leave the request (and any error) to the routes."""
"""Answers a request from memory before routing, or leaves it to the routes (None). It must not
block or do I/O: the server calls it straight from its protocol callbacks."""
