"""A file still arriving from an upstream, as an HTTP response that follows its download.

The bytes are in the download's spool file (``upstream/pullthrough.py``) as they are released to
readers. Where the server offers ASGI's ``http.response.zerocopysend`` (Packyard's own request
cycle on a plain TCP socket, ``server/response_cycle.py``), each released range is sent by the
kernel from the spool's descriptor (``sendfile(2)``): no worker-thread hop, no read into Python
and no copy per piece, and the interpreter lock is let go while the kernel copies. A 300 MiB
wheel pulled through is ~300 such hops and copies fewer. Anywhere else (another server, the
tests' clients) the bytes are read in worker threads and streamed as before.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from packyard.upstream.pullthrough import SpoolReader

ZEROCOPYSEND = "http.response.zerocopysend"  # the ASGI extension's name


class SpoolResponse(Response):
    """A download's bytes as they are released, then the end of the body; a download that
    fails cuts the response short (its error is raised to the server, which closes the
    connection). With ``span`` (``[start, end)`` of a file of ``size`` bytes), a 206 of that
    range, sent as its bytes are released (a range at the end of the file waits for the file
    to be verified and kept, as the last bytes of a whole read do)."""

    def __init__(self, reader: SpoolReader, media_type: str,
                 headers: Mapping[str, str],
                 span: tuple[int, int, int] | None = None) -> None:
        self._reader = reader
        self._span = span
        self.status_code = 200 if span is None else 206
        self.media_type = media_type
        self.background = None
        if span is not None:
            start, end, size = span
            headers = {**headers, "Content-Range": f"bytes {start}-{end - 1}/{size}",
                       "Content-Length": str(end - start)}
        self.init_headers(headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        start, end = (0, None) if self._span is None else self._span[:2]
        if ZEROCOPYSEND not in scope.get("extensions", {}):
            await StreamingResponse(self._reader.stream(start, end),
                                    status_code=self.status_code,
                                    headers=dict(self.headers),
                                    media_type=self.media_type)(scope, receive, send)
            return
        ranges = self._reader.ranges(start, end)
        try:
            await send({"type": "http.response.start", "status": self.status_code,
                        "headers": self.raw_headers})
            async for offset, count in ranges:
                await send({"type": ZEROCOPYSEND, "file": self._reader, "offset": offset,
                            "count": count, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            await ranges.aclose()
