"""Ready-made answers for the reads clients repeat most: package pages and small files.

Each is an ``Answer`` (``packyard/http/answer.py``), built once and sent as it is by the
Starlette handlers and by the hot path (``services/hot_reads.py``), so a request answered either
way gets the same bytes by construction. Nothing here is a format's: a format renders a page's
body and names its media type; the caching, validators and coding are the same for all.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime

from packyard.http.answer import Answer, Headers
from packyard.http.negotiation import accepts_gzip
from packyard.upstream.resolver import StoredFile

_GZIP_MIN = 1024

_PAGE_VARY = (b"vary", b"Accept, Accept-Encoding, Authorization")
# Private: pages depend on who asks; pip and npm revalidate anyway.
_PAGE_CACHING = (b"cache-control", b"private, max-age=0, must-revalidate")
# Files never change once published.
FILE_CACHING = "private, max-age=31536000, immutable"
_FILE_CACHING = (b"cache-control", FILE_CACHING.encode())


@dataclass(frozen=True)
class _Variant:
    """One representation of a page or file, answered whole or as 304 Not Modified."""

    etag: str
    full: Answer
    not_modified: Answer
    last_modified: datetime | None = None

    def answer(self, if_none_match: str | None, if_modified_since: str | None = None) -> Answer:
        if if_none_match:
            # RFC 9110 13.1.3: If-Modified-Since counts only without If-None-Match.
            return self.not_modified if etag_matches(if_none_match, self.etag) else self.full
        if if_modified_since and self.last_modified is not None and not_modified_since(
                if_modified_since, self.last_modified):
            return self.not_modified
        return self.full


@dataclass(frozen=True)
class RenderedPage:
    """A page body with its digest, computed once and reused while it is cached; so are its
    answers (plain and gzip), built on first use."""

    body: bytes
    media_type: str
    digest: str
    _variants: dict[bool, _Variant] = field(default_factory=dict, compare=False, repr=False)
    # When what the page shows last changed: sent as Last-Modified, and If-Modified-Since is
    # answered from it (yarn revalidates with both validators).
    last_modified: datetime | None = None
    # A gzip encoding made already (off the event loop, with the body), used as is.
    gzip_body: bytes | None = field(default=None, compare=False, repr=False)
    # For a page merged from upstream documents: when the first of them is due for
    # revalidation (``UpstreamResolver.merged_listing``); the page is kept until then.
    revalidate_at: datetime | None = field(default=None, compare=False)

    @property
    def size(self) -> int:
        """About the memory it holds: its body and a gzip encoding (made already, or reckoned
        at a quarter of the body until it is)."""
        return len(self.body) + (len(self.gzip_body) if self.gzip_body is not None
                                 else len(self.body) // 4)

    @classmethod
    def of(cls, body: bytes, media_type: str, *, last_modified: datetime | None = None,
           gzip_body: bytes | None = None) -> RenderedPage:
        return cls(body, media_type, hashlib.sha256(body).hexdigest()[:32],
                   last_modified=last_modified, gzip_body=gzip_body)

    def variant(self, use_gzip: bool) -> _Variant:
        found = self._variants.get(use_gzip)
        if found is None:
            # Two requests may build it at once; either result is the same.
            found = self._variants[use_gzip] = _page_variant(self, use_gzip)
        return found


@dataclass(frozen=True)
class CachedFile:
    """Where a file the repository serves is stored, and its bytes when it is small (then its
    answer is built once too)."""

    located: StoredFile
    data: bytes | None
    media_type: str = "application/octet-stream"
    _variant: list[_Variant] = field(default_factory=list, compare=False, repr=False)

    def answer(self, if_none_match: str | None) -> Answer:
        """The whole small file (``data`` must be set), with its sha256 as a strong ETag."""
        if not self._variant:
            assert self.data is not None
            self._variant.append(_file_variant(self.media_type, self.located.sha256, self.data))
        return self._variant[0].answer(if_none_match)

    def not_modified(self, if_none_match: str | None) -> Answer | None:
        """304 when ``if_none_match`` names this file, whatever its size (a published file
        never changes: a client revalidating a big wheel needs no bytes and no blob store);
        None otherwise. A big file's 304 carries what the routes' does (``PackageReads``)."""
        etag = f'"{self.located.sha256}"'
        if not etag_matches(if_none_match, etag):
            return None
        if self.data is not None:
            return self.answer(if_none_match)
        return Answer(304, [_FILE_CACHING, (b"etag", etag.encode())], b"")


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    if if_none_match == etag:  # what pip, uv and npm send back: no list to take apart
        return True
    candidates = {c.strip().removeprefix("W/") for c in if_none_match.split(",")}
    return "*" in candidates or etag in candidates


def content_type(media_type: str) -> bytes:
    if media_type.startswith("text/"):
        return f"{media_type}; charset=utf-8".encode()
    return media_type.encode()


def not_modified_since(if_modified_since: str, last_modified: datetime) -> bool:
    """Whether a resource last changed at ``last_modified`` is unchanged since the date an
    If-Modified-Since header gives (an unreadable date never matches)."""
    try:
        since = parsedate_to_datetime(if_modified_since)
    except (TypeError, ValueError, IndexError):
        return False
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    # HTTP dates have whole seconds.
    return last_modified.replace(microsecond=0) <= since


def gzip_encoding(body: bytes) -> bytes | None:
    """The gzip body ``page_answer`` sends for ``body``, made ahead of time (a page rendered
    when it changes); None when it sends the body as it is."""
    return gzip.compress(body, compresslevel=6, mtime=0) if len(body) >= _GZIP_MIN else None


def page_answer(page: RenderedPage, accept_encoding: str | None,
                if_none_match: str | None, if_modified_since: str | None = None) -> Answer:
    """A page with a strong ETag, 304 revalidation and gzip when the client takes it."""
    use_gzip = len(page.body) >= _GZIP_MIN and accepts_gzip(accept_encoding)
    return page.variant(use_gzip).answer(if_none_match, if_modified_since)


def _page_variant(page: RenderedPage, use_gzip: bool) -> _Variant:
    etag = f'"{page.digest}-gz"' if use_gzip else f'"{page.digest}"'
    headers: Headers = [(b"etag", etag.encode()), _PAGE_VARY, _PAGE_CACHING]
    if page.last_modified is not None:
        headers.append((b"last-modified", format_datetime(
            page.last_modified.astimezone(UTC), usegmt=True).encode()))
    not_modified = Answer(304, list(headers), b"")
    body = page.body
    if use_gzip:
        headers.append((b"content-encoding", b"gzip"))
        body = page.gzip_body if page.gzip_body is not None else gzip.compress(
            body, compresslevel=6, mtime=0)
    headers.append((b"content-length", str(len(body)).encode()))
    headers.append((b"content-type", content_type(page.media_type)))
    return _Variant(etag, Answer(200, headers, body), not_modified, page.last_modified)


def _file_variant(media_type: str, sha256: str, data: bytes) -> _Variant:
    etag = f'"{sha256}"'
    headers: Headers = [_FILE_CACHING, (b"etag", etag.encode()), (b"accept-ranges", b"bytes")]
    not_modified = Answer(304, list(headers), b"")
    headers.append((b"content-length", str(len(data)).encode()))
    headers.append((b"content-type", content_type(media_type)))
    return _Variant(etag, Answer(200, headers, data), not_modified)
