"""Ready-made answers for the reads pip and uv repeat most: project pages and small files.

An ``Answer`` is the exact status, header list and body of one response. The Starlette handlers
send it (``as_response``) and so does the hot path in front of Starlette (``hot_reads``), so a
request answered either way gets the same bytes by construction.
"""

from __future__ import annotations

import gzip
import hashlib
from collections import OrderedDict
from dataclasses import dataclass
from threading import Lock

from starlette.responses import Response
from starlette.types import Send

from packyard.formats.pypi.negotiation import accepts_gzip
from packyard.upstream.resolver import StoredFile

_GZIP_MIN = 1024

Headers = list[tuple[bytes, bytes]]

_PAGE_VARY = (b"vary", b"Accept, Accept-Encoding, Authorization")
# Private: pages depend on who asks; pip revalidates with max-age=0 anyway.
_PAGE_CACHING = (b"cache-control", b"private, max-age=0, must-revalidate")
# Files never change once published.
FILE_CACHING = "private, max-age=31536000, immutable"
_FILE_CACHING = (b"cache-control", FILE_CACHING.encode())


@dataclass(frozen=True)
class RenderedPage:
    """A page body with its digest, computed once and reused while it is cached."""

    body: bytes
    media_type: str
    digest: str

    @classmethod
    def of(cls, body: bytes, media_type: str) -> RenderedPage:
        return cls(body, media_type, hashlib.sha256(body).hexdigest()[:32])


@dataclass(frozen=True)
class CachedFile:
    """Where a file the repository serves is stored, and its bytes when it is small."""

    located: StoredFile
    data: bytes | None


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Headers
    body: bytes

    def as_response(self) -> Response:
        response = Response(status_code=self.status)
        response.body = self.body
        response.raw_headers = list(self.headers)
        return response

    async def send(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status,
                    "headers": self.headers})
        await send({"type": "http.response.body", "body": self.body})


class _GzipCache:
    """Compressed page bodies by ETag; pages are re-requested far more often than they change."""

    def __init__(self, size: int = 512) -> None:
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self._size = size
        self._lock = Lock()

    def get(self, etag: str, body: bytes) -> bytes:
        with self._lock:
            hit = self._items.get(etag)
            if hit is not None:
                self._items.move_to_end(etag)
                return hit
        packed = gzip.compress(body, compresslevel=6, mtime=0)
        with self._lock:
            self._items[etag] = packed
            if len(self._items) > self._size:
                self._items.popitem(last=False)
        return packed


_gzip_cache = _GzipCache()


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    candidates = {c.strip().removeprefix("W/") for c in if_none_match.split(",")}
    return "*" in candidates or etag in candidates


def content_type(media_type: str) -> bytes:
    if media_type.startswith("text/"):
        return f"{media_type}; charset=utf-8".encode()
    return media_type.encode()


def page_answer(page: RenderedPage, accept_encoding: str | None,
                if_none_match: str | None) -> Answer:
    """A page with a strong ETag, 304 revalidation and gzip when the client takes it."""
    use_gzip = len(page.body) >= _GZIP_MIN and accepts_gzip(accept_encoding)
    etag = f'"{page.digest}-gz"' if use_gzip else f'"{page.digest}"'
    headers: Headers = [(b"etag", etag.encode()), _PAGE_VARY, _PAGE_CACHING]
    if etag_matches(if_none_match, etag):
        return Answer(304, headers, b"")
    body = page.body
    if use_gzip:
        headers.append((b"content-encoding", b"gzip"))
        body = _gzip_cache.get(etag, body)
    headers.append((b"content-length", str(len(body)).encode()))
    headers.append((b"content-type", content_type(page.media_type)))
    return Answer(200, headers, body)


def file_media_type(filename: str) -> str:
    return "text/plain" if filename.endswith(".metadata") else "application/octet-stream"


def small_file_answer(filename: str, sha256: str, data: bytes,
                      if_none_match: str | None) -> Answer:
    """A file held in memory (whole, no Range), with its sha256 as a strong ETag."""
    etag = f'"{sha256}"'
    headers: Headers = [_FILE_CACHING, (b"etag", etag.encode()), (b"accept-ranges", b"bytes")]
    if etag_matches(if_none_match, etag):
        return Answer(304, headers, b"")
    headers.append((b"content-length", str(len(data)).encode()))
    headers.append((b"content-type", content_type(file_media_type(filename))))
    return Answer(200, headers, data)
