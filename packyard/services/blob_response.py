"""A stored blob as an HTTP response, with Range support, from any ``BlobStore``.

A backend with local files answers through Starlette's ``FileResponse`` (zero-copy, 1 MiB
chunks); one without them (memory, S3) streams ``BlobStore.read``, which takes a byte range, so
that ``Range`` requests (uv asks for ranges of big wheels; resumed downloads do too) get the same
answers on every backend: 206 with ``Content-Range`` for one range, ``multipart/byteranges``
for several, 416 for a range past the end, and the whole file when ``If-Range`` names another
version (RFC 9110 section 14). The rules mirror ``FileResponse``'s, so the backends agree.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Mapping

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.types import Receive, Scope, Send

from packyard.http.client_gone import client_gone
from packyard.storage.blobs import BlobStore, primed

_MAX_RANGES = 100


class LargeChunkFileResponse(FileResponse):
    # Starlette's 64 KiB default costs a thread hop per chunk; 1 MiB keeps big downloads
    # near disk speed while memory stays bounded.
    chunk_size = 1024 * 1024


class _BadRange(Exception):
    def __init__(self, message: str = "Malformed range header.") -> None:
        self.message = message


class _Unsatisfiable(Exception):
    pass


def parse_ranges(header: str, size: int) -> list[tuple[int, int]]:
    """The ``[start, end)`` ranges a Range header asks of ``size`` bytes (merged, in order), as
    ``FileResponse`` reads them; [] means "send the whole file"."""
    units, sep, spec = header.partition("=")
    if not sep:
        raise _BadRange()
    if units.strip().lower() != "bytes":
        raise _BadRange("Only support bytes range")
    if spec.count(",") + 1 > _MAX_RANGES:
        return []
    ranges: list[tuple[int, int]] = []
    for part in spec.split(","):
        part = part.strip()
        if not part or part == "-" or "-" not in part:
            continue
        first, last = (p.strip() for p in part.split("-", 1))
        try:
            start = int(first) if first else max(size - int(last), 0)
            end = int(last) + 1 if first and last and int(last) < size else size
        except ValueError:
            continue
        ranges.append((start, end))
    if not ranges:
        raise _BadRange("Range header: range must be requested")
    if any(not 0 <= start < size for start, _ in ranges):
        raise _Unsatisfiable()
    if any(start >= end for start, end in ranges):
        raise _BadRange("Range header: start must be less than end")
    ranges.sort()
    merged = [ranges[0]]
    for start, end in ranges[1:]:
        if start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


class BlobResponse(Response):
    """A blob streamed from its store, whole or in the ranges the request asks for."""

    def __init__(self, blobs: BlobStore, blob_key: str, sha256: str, size: int,
                 media_type: str, headers: Mapping[str, str]) -> None:
        self._blobs = blobs
        self._key = blob_key
        self._sha256 = sha256
        self._size = size
        self.status_code = 200
        self.media_type = media_type
        self.background = None
        self.init_headers({**headers, "Content-Length": str(size)})
        self.headers.setdefault("accept-ranges", "bytes")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        head_only = scope["method"].upper() == "HEAD"
        request = Headers(scope=scope)
        wanted, if_range = request.get("range"), request.get("if-range")
        ranges: list[tuple[int, int]] = []
        if wanted is not None and (if_range is None or if_range == self.headers.get("etag")):
            try:
                ranges = parse_ranges(wanted, self._size)
            except _BadRange as exc:
                await PlainTextResponse(exc.message, status_code=400)(scope, receive, send)
                return
            except _Unsatisfiable:
                await PlainTextResponse(status_code=416, headers={
                    "Content-Range": f"bytes */{self._size}"})(scope, receive, send)
                return
        if not ranges:
            await self._send(scope, send, 200, self.raw_headers, head_only, [(0, self._size)])
            return
        headers = MutableHeaders(raw=list(self.raw_headers))
        if len(ranges) == 1:
            start, end = ranges[0]
            headers["content-range"] = f"bytes {start}-{end - 1}/{self._size}"
            headers["content-length"] = str(end - start)
            await self._send(scope, send, 206, headers.raw, head_only, ranges)
            return
        boundary = secrets.token_hex(13)
        content_type = self.headers["content-type"]
        parts = [(f"--{boundary}\r\nContent-Type: {content_type}\r\nContent-Range: bytes "
                  f"{start}-{end - 1}/{self._size}\r\n\r\n").encode("latin-1")
                 for start, end in ranges]
        closing = f"--{boundary}--".encode("latin-1")
        headers["content-type"] = f"multipart/byteranges; boundary={boundary}"
        headers["content-length"] = str(sum(len(p) + end - start + 2 for p, (start, end)
                                            in zip(parts, ranges, strict=True)) + len(closing))
        first = None if head_only else await primed(self._read(*ranges[0]))
        await send({"type": "http.response.start", "status": 206, "headers": headers.raw})
        if first is None:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        for index, (part, (start, end)) in enumerate(zip(parts, ranges, strict=True)):
            await send({"type": "http.response.body", "body": part, "more_body": True})
            if not await _sent_all(first if index == 0 else self._read(start, end), scope, send):
                return
            await send({"type": "http.response.body", "body": b"\r\n", "more_body": True})
        await send({"type": "http.response.body", "body": closing, "more_body": False})

    async def _send(self, scope: Scope, send: Send, status: int,
                    headers: list[tuple[bytes, bytes]], head_only: bool,
                    ranges: list[tuple[int, int]]) -> None:
        assert len(ranges) == 1
        # The first piece is read before the answer starts: an encrypted blob that fails its
        # check is then a 500 (the surface's error mapping), not a cut-short 200.
        chunks = None if head_only else await primed(self._read(*ranges[0]))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        if chunks is not None and not await _sent_all(chunks, scope, send):
            return
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    def _read(self, start: int, end: int) -> AsyncIterator[bytes]:
        return self._blobs.read(self._key, self._sha256, start, end)


async def _sent_all(chunks: AsyncIterator[bytes], scope: Scope, send: Send) -> bool:
    """Each of ``chunks`` sent as a body piece; False, the rest unread, once the client has
    gone (the server drops what follows without a word: an encrypted or remote blob would be
    read, and decrypted, to its end for nobody)."""
    try:
        async for chunk in chunks:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            if client_gone(scope):
                return False
        return True
    finally:
        close = getattr(chunks, "aclose", None)
        if close is not None:
            await close()
