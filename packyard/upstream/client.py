"""HTTP to upstream indexes: bounded in time and in concurrency, retried a little, confined.

- Every request has a connect timeout and a per-read timeout; a whole file may take as long as
  it keeps moving (at ``file_min_rate`` bytes a second at least, ``pace.py``), a page has a
  size cap, and a document read whole (a page, a core metadata file, an answer to a query)
  must arrive within ``document_timeout``: an upstream trickling a byte a second never meets
  the read timeout, and would hold one of the concurrency slots for as long as it liked.
- Documents read whole hold a share of one byte budget while they are read and parsed
  (``document_budget``): sixteen 64 MiB pages at once would hold a gigabyte.
- At most ``max_concurrency`` upstream requests are in flight; more wait for a slot no longer
  than the read timeout and then fail, so a slow upstream cannot pile up unbounded work.
- Connection errors, timeouts and 5xx/429 answers are retried ``retries`` times with a short
  backoff, but only before any byte of the body has been used.
- Redirects are followed by hand, at most five, and only to hosts the caller allows: the index's
  own host and the hosts its pages name for files (issue: "upstream traffic is confined").
- No connection goes to an internal address (loopback, private, link-local…) but the index's
  own host and port, whatever a page or a redirect names (``destinations``).
- A host that just failed (unreachable, timing out, 5xx after the retries) is not tried again
  for ``cooldown`` seconds by the upstream that saw it fail: requests fail at once, so cached
  pages are served without first waiting out the timeouts on every request while an upstream
  is down. Then one request is let through to try it (the others still fail at once while it
  does): an answer puts the host back in use for every request, a failure starts another
  cooldown. So an upstream that comes back is used within seconds, and one that stays down
  costs one request's timeouts per cooldown, not every request's. The cooldown is kept per
  upstream (its index URL) and host, not per host alone: two upstreams on one host (a PyPI and
  an npm index behind one proxy) are different services, and one's outage must not stop the
  other.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import math
import ssl
import sys
import time
from collections.abc import AsyncIterator, Callable, Collection
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urljoin, urlsplit

import httpcore
import httpx

from packyard import __version__
from packyard.errors import UpstreamError
from packyard.upstream.byte_ranges import parse_content_range, unsatisfied_size
from packyard.upstream.destinations import ConfinedBackend, for_index
from packyard.upstream.document_budget import DocumentBudget, Lease

log = logging.getLogger("packyard.upstream")

MAX_REDIRECTS = 5
MAX_PAGE_BYTES = 64 * 1024 * 1024  # the largest PyPI pages and npm packuments are a few MB
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_BACKOFF_SECONDS = 0.25


def fail_sniffio_imports_at_once() -> bool:
    """Make ``import sniffio`` fail at once when sniffio is not installed; whether it did.

    httpcore (under httpx) runs ``import sniffio`` each time it makes a lock, an event or a
    cancellation shield, several per upstream request, and uses sniffio only when it is there
    (``httpcore/_synchronization.py``: without it, asyncio). A failed import is not remembered,
    so each one searched every ``sys.path`` entry again: 9% of the server's CPU in a cold
    pull-through (bench/UPSTREAM.md). A None in ``sys.modules`` is Python's documented way to
    make an import fail without searching; a sniffio installed later in the process's life is
    not seen (nothing here installs packages at run time).
    """
    if "sniffio" in sys.modules or importlib.util.find_spec("sniffio") is not None:
        return False
    sys.modules["sniffio"] = None  # type: ignore[assignment]
    return True


# What httpcore asks of the socket per read of an HTTP/1.1 response (its default is 64 KiB).
# Each read is a round of Python work (h11's event, httpcore's and httpx's iterators, anyio's
# checkpoint), so a wheel arriving 64 KiB at a time cost ~900 rounds for 57 MB; at 1 MiB a
# read takes what the socket holds (a few hundred KiB on loopback), ~300 rounds, and a
# client's CPU for those 57 MB fell from ~0.33 to ~0.23 s (bench/UPSTREAM.md).
UPSTREAM_READ_BYTES = 1024 * 1024


def read_responses_in_larger_pieces(size: int = UPSTREAM_READ_BYTES) -> bool:
    """Make httpcore read HTTP/1.1 responses up to ``size`` bytes at a time; whether it did.

    httpcore has no setting for it: ``READ_NUM_BYTES`` is a class attribute of its HTTP/1.1
    connection (``httpcore/_async/http11.py``, unchanged since 0.x). Checked before it is
    changed: where it is missing or not the integer it was (another httpcore), nothing is
    changed and responses are read 64 KiB at a time, as before. Process-wide, so every async
    httpx client here reads so; a read never waits to fill the buffer, it returns what the
    socket has, so small answers are not delayed.
    """
    try:
        from httpcore._async.http11 import AsyncHTTP11Connection
    except ImportError:  # pragma: no cover - another httpcore
        return False
    current = getattr(AsyncHTTP11Connection, "READ_NUM_BYTES", None)
    if not isinstance(current, int) or isinstance(current, bool):
        log.debug("httpcore has no READ_NUM_BYTES; upstream responses are read as it reads")
        return False
    if current < size:
        AsyncHTTP11Connection.READ_NUM_BYTES = size
    return True


class UpstreamStats:
    """What the upstream machinery did, as plain counters (read by ``/metrics``): documents
    answered from cache (``hits``) or fetched (``fetches``), fetches that failed (``errors``),
    cached copies served because the upstream failed or was slow (``stale``), files pulled and
    pulls that failed, and pulls that waited for another process's download of the same file
    (``file_pull_waits``)."""

    def __init__(self) -> None:
        self.hits = 0
        self.fetches = 0
        self.errors = 0
        self.stale = 0
        self.file_pulls = 0
        self.file_pull_errors = 0
        self.file_pull_bytes = 0
        self.file_pull_waits = 0


@dataclass(frozen=True)
class UpstreamLimits:
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    retries: int = 2
    max_concurrency: int = 16
    cooldown: float = 2.0
    document_timeout: float = 120.0
    # Bytes of documents read whole (pages, packuments, metadata files) held at once
    # (``document_budget``): four of the largest pages.
    document_budget: int = 4 * MAX_PAGE_BYTES
    # The least pace of a file pulled (``pace.py``): bytes a second over each window (0: none).
    file_min_rate: int = 1024
    file_rate_window: float = 60.0
    # Internal networks (CIDRs) connections may still go to (``destinations``).
    internal_networks_allowed: tuple[str, ...] = ()


@dataclass(frozen=True)
class PageFetch:
    """The answer to a (conditional) project page request."""

    status: Literal["ok", "not_modified", "absent"]
    url: str  # the final URL, after redirects: relative file URLs resolve against it
    body: bytes = b""
    content_type: str = ""
    etag: str | None = None
    last_modified: str | None = None


def host_of(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


@dataclass(slots=True)
class _Down:
    """A host that failed for one upstream: its requests fail at once until ``retry_at``, when
    one of them is let through to try it (``trying``)."""

    why: str
    retry_at: float
    trying: bool = False


class UpstreamHttp:
    """The one HTTP client Packyard uses to reach upstream indexes."""

    def __init__(self, limits: UpstreamLimits,
                 transport: httpx.AsyncBaseTransport | None = None,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self._transport = transport
        self._monotonic = monotonic  # the cooldowns' clock (tests move it by hand)
        self._client: httpx.AsyncClient | None = None
        self._making: asyncio.Future[httpx.AsyncClient] | None = None
        self._slots: asyncio.Semaphore | None = None
        # (upstream index URL, host) -> until when its requests fail at once, why, and whether
        # one is trying it now
        self._down: dict[tuple[str, str], _Down] = {}
        self.requests = 0  # upstream requests sent (for tests and logs)
        self.stats = UpstreamStats()
        # Documents wait for room as long as requests wait for a slot.
        self.budget = DocumentBudget(limits.document_budget, limits.read_timeout)
        fail_sniffio_imports_at_once()
        read_responses_in_larger_pieces()

    async def _http(self) -> httpx.AsyncClient:
        """The client, made on first use in a worker thread: loading the system's trusted
        certificates (``ssl.create_default_context``) and building the client take ~90 ms,
        which every request in flight would otherwise wait out on the event loop."""
        if self._client is None:
            if self._making is None:
                self._making = asyncio.ensure_future(asyncio.to_thread(self._make_client))
            making = self._making
            try:
                # Shielded: a caller cancelled while it waits leaves it to the others.
                client = await asyncio.shield(making)
            except Exception:
                if self._making is making and making.done():
                    self._making = None  # failed: the next request tries again
                raise
            if self._client is None:
                self._client = client
        return self._client

    def _make_client(self) -> httpx.AsyncClient:
        timeout = httpx.Timeout(connect=self.limits.connect_timeout,
                                read=self.limits.read_timeout,
                                write=self.limits.read_timeout,
                                pool=self.limits.read_timeout)
        # TLS trusts the system store (SSL_CERT_FILE is honoured).
        verify = ssl.create_default_context()
        limits = httpx.Limits(max_connections=self.limits.max_concurrency,
                              max_keepalive_connections=self.limits.max_concurrency)
        return httpx.AsyncClient(
            timeout=timeout, follow_redirects=False,
            # No proxies or netrc from the environment: only the configured URL is
            # contacted.
            trust_env=False,
            transport=self._transport or _confined_transport(
                verify, limits, self.limits.internal_networks_allowed),
            headers={"User-Agent": f"packyard/{__version__}"})

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        self._making = None

    @asynccontextmanager
    async def _slot(self, url: str) -> AsyncIterator[None]:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.limits.max_concurrency)
        try:
            await asyncio.wait_for(self._slots.acquire(), timeout=self.limits.read_timeout)
        except TimeoutError:
            raise UpstreamError(
                f"Upstream busy: {self.limits.max_concurrency} requests already in flight and "
                f"none finished within {self.limits.read_timeout:g}s; not fetching {url}") from None
        try:
            yield
        finally:
            self._slots.release()

    def _check_host(self, upstream: str, url: str) -> _Down | None:
        """None when the host is in use; its mark when this request is the one let through to
        try it again (``_tried`` ends the try); otherwise UpstreamError, at once."""
        down = self._down.get((upstream, host_of(url)))
        if down is None:
            return None
        now = self._monotonic()
        if not down.trying and now >= down.retry_at:
            down.trying = True
            return down
        when = ("another request is trying it now" if down.trying
                else f"trying again in {math.ceil(down.retry_at - now)}s")
        raise UpstreamError(f"Upstream {url} not tried: its host failed just before "
                            f"({down.why}); {when}")

    @asynccontextmanager
    async def _tried(self, upstream: str, url: str) -> AsyncIterator[None]:
        """Around a request to ``url``: a try of a host marked down that ends with neither an
        answer nor a failure of the host (cancelled, a redirect refused) leaves the next
        request to try it."""
        trial = self._check_host(upstream, url)
        try:
            yield
        finally:
            if trial is not None:
                trial.trying = False

    def _mark_down(self, upstream: str, url: str, error: UpstreamError) -> None:
        self._down[(upstream, host_of(url))] = _Down(error.message,
                                                     self._monotonic() + self.limits.cooldown)

    def _mark_up(self, upstream: str, url: str) -> None:
        """The host answered: back in use for every request."""
        if self._down:
            self._down.pop((upstream, host_of(url)), None)

    @asynccontextmanager
    async def _open(self, upstream: str, url: str, headers: dict[str, str],
                    allowed_hosts: Collection[str], method: str = "GET"
                    ) -> AsyncIterator[httpx.Response]:
        """A streaming response for ``url`` after redirects and retries; 4xx are returned.
        ``upstream`` is the index URL of the upstream asking, which its cooldown is kept
        under."""
        async with self._tried(upstream, url), self._slot(url):
            attempt = 0
            while True:
                try:
                    with for_index(upstream):
                        response = await self._follow(url, headers, allowed_hosts, method)
                except httpx.TransportError as exc:
                    if attempt < self.limits.retries:
                        attempt += 1
                        await asyncio.sleep(_BACKOFF_SECONDS * 2 ** (attempt - 1))
                        continue
                    error = UpstreamError(f"Upstream {url} unreachable: "
                                          f"{type(exc).__name__} {exc}".rstrip())
                    self._mark_down(upstream, url, error)
                    raise error from None
                if response.status_code in _RETRY_STATUSES and attempt < self.limits.retries:
                    await response.aclose()
                    attempt += 1
                    await asyncio.sleep(_BACKOFF_SECONDS * 2 ** (attempt - 1))
                    continue
                break
            try:
                # A 501 to a HEAD is a server without HEAD (Python's http.server), not one in
                # trouble: the caller asks otherwise.
                refused_method = method != "GET" and response.status_code == 501
                if (response.status_code >= 500 and not refused_method) \
                        or response.status_code == 429:
                    error = UpstreamError(f"Upstream {response.url} answered "
                                          f"{response.status_code} {response.reason_phrase}")
                    self._mark_down(upstream, url, error)
                    raise error
                self._mark_up(upstream, url)
                yield response
            except httpx.TransportError as exc:
                raise UpstreamError(f"Upstream {url} failed while sending: "
                                    f"{type(exc).__name__} {exc}".rstrip()) from None
            finally:
                await response.aclose()

    async def _follow(self, url: str, headers: dict[str, str],
                      allowed_hosts: Collection[str], method: str = "GET") -> httpx.Response:
        client = await self._http()
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            self.requests += 1
            request = client.build_request(method, current, headers=headers)
            response = await client.send(request, stream=True)
            if not response.has_redirect_location:  # 304 is a 3xx without a Location
                return response
            location = response.headers.get("location", "")
            await response.aclose()
            target = urljoin(current, location)
            if urlsplit(target).scheme not in ("http", "https"):
                raise UpstreamError(f"Upstream {current} redirected to {target!r}, which is not "
                                    "http(s); refused")
            if host_of(target) not in allowed_hosts:
                raise UpstreamError(
                    f"Upstream {current} redirected to host {host_of(target)!r}, which is not "
                    f"one of the upstream's own hosts ({', '.join(sorted(allowed_hosts))}); "
                    "refused")
            current = target
        raise UpstreamError(f"Upstream {url} redirected more than {MAX_REDIRECTS} times")

    async def fetch_page(self, url: str, *, upstream: str, accept: str = "*/*",
                         etag: str | None = None,
                         last_modified: str | None = None,
                         lease: Lease | None = None) -> PageFetch:
        """GET an upstream document (a project page, a packument), conditionally when
        validators are given (RFC 9110 13.1). Its body is counted in ``lease`` (the caller
        holds it until the document is parsed), else in a lease of its own."""
        headers = {"Accept": accept}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        async with self._whole(url), \
                self._open(upstream, url, headers, {host_of(url)}) as response:
            final = str(response.url)
            if response.status_code == 304:
                return PageFetch("not_modified", final, etag=response.headers.get("etag", etag),
                                 last_modified=response.headers.get("last-modified",
                                                                    last_modified))
            if response.status_code in (404, 410):
                return PageFetch("absent", final)
            if response.status_code != 200:
                raise UpstreamError(f"Upstream {final} answered {response.status_code} "
                                    f"{response.reason_phrase}")
            if lease is not None:
                body = await _read_capped(response, MAX_PAGE_BYTES, lease)
            else:
                async with self.budget.lease(final) as own:
                    body = await _read_capped(response, MAX_PAGE_BYTES, own)
            return PageFetch("ok", final, body, response.headers.get("content-type", ""),
                             response.headers.get("etag"), response.headers.get("last-modified"))

    async def fetch_bytes(self, url: str, allowed_hosts: Collection[str], limit: int, *,
                          upstream: str) -> bytes:
        """A small file (core metadata) in one piece; UpstreamError unless the answer is 200."""
        async with self._whole(url), \
                self._open(upstream, url, {"Accept-Encoding": "identity"},
                           allowed_hosts) as response:
            if response.status_code != 200:
                raise UpstreamError(f"Upstream {response.url} answered "
                                    f"{response.status_code} {response.reason_phrase}")
            async with self.budget.lease(str(response.url)) as lease:
                return await _read_capped(response, limit, lease)

    async def post(self, url: str, body: bytes, headers: dict[str, str],
                   limit: int, *, upstream: str) -> tuple[int, str, bytes]:
        """POST a query to an upstream (npm's advisories): (status, content type, body), the
        answer capped at ``limit`` bytes; no redirects followed, no retries."""
        async with self._tried(upstream, url), self._slot(url), self._whole(url):
            client = await self._http()
            self.requests += 1
            try:
                with for_index(upstream):
                    response = await client.send(
                        client.build_request("POST", url, content=body, headers=headers),
                        stream=True)
                try:
                    data = await _read_capped(response, limit)
                finally:
                    await response.aclose()
            except httpx.TransportError as exc:
                error = UpstreamError(f"Upstream {url} unreachable: "
                                      f"{type(exc).__name__} {exc}".rstrip())
                self._mark_down(upstream, url, error)
                raise error from None
            self._mark_up(upstream, url)
            return response.status_code, response.headers.get("content-type", ""), data

    @asynccontextmanager
    async def _whole(self, url: str) -> AsyncIterator[None]:
        """Around a request whose answer is read whole: it ends within ``document_timeout``,
        or UpstreamError."""
        try:
            async with asyncio.timeout(self.limits.document_timeout):
                yield
        except TimeoutError:
            raise UpstreamError(f"Upstream {url} did not send its answer within "
                                f"{self.limits.document_timeout:g}s; given up") from None

    @asynccontextmanager
    async def stream_file(self, url: str, allowed_hosts: Collection[str], *,
                          upstream: str) -> AsyncIterator[httpx.Response]:
        """A 200 response whose body is the file, to be read with ``aiter_bytes``."""
        # identity: the bytes hashed are the file's, never a transfer-compressed form.
        async with self._open(upstream, url, {"Accept-Encoding": "identity"},
                              allowed_hosts) as response:
            if response.status_code != 200:
                raise UpstreamError(f"Upstream {response.url} answered "
                                    f"{response.status_code} {response.reason_phrase}")
            yield response

    @asynccontextmanager
    async def stream_range(self, url: str, allowed_hosts: Collection[str], byte_range: str, *,
                           upstream: str) -> AsyncIterator[httpx.Response]:
        """A response to a Range request (``byte_range``, a Range header's value) for a file:
        206 (the range), 200 (the upstream ignored the Range: the whole file follows) or 416;
        UpstreamError for any other answer, as ``stream_file``. Read whole (at most
        ``MAX_FORWARDED_RANGE``), so within ``document_timeout``."""
        async with self._whole(url), \
                self._open(upstream, url, {"Accept-Encoding": "identity", "Range": byte_range},
                           allowed_hosts) as response:
            if response.status_code not in (200, 206, 416):
                raise UpstreamError(f"Upstream {response.url} answered "
                                    f"{response.status_code} {response.reason_phrase}")
            yield response

    async def content_length(self, url: str, allowed_hosts: Collection[str], *,
                             upstream: str) -> int | None:
        """A file's length as the upstream states it without sending it: a HEAD's
        Content-Length, else (a server that refuses HEAD, as Python's http.server does, or
        answers it without a length) the total in the Content-Range of a one-byte range;
        None when neither says. UpstreamError for a 5xx or an unreachable upstream."""
        async with self._whole(url), \
                self._open(upstream, url, {"Accept-Encoding": "identity"}, allowed_hosts,
                           method="HEAD") as response:
            if response.status_code == 200 and "content-encoding" not in response.headers:
                length = _length(response.headers.get("content-length"))
                if length is not None:
                    return length
        async with self.stream_range(url, allowed_hosts, "bytes=0-0",
                                     upstream=upstream) as response:
            if response.status_code == 416:  # an empty file
                return unsatisfied_size(response.headers.get("content-range"))
            if "content-encoding" in response.headers:
                return None
            if response.status_code == 200:
                return _length(response.headers.get("content-length"))
            answered = parse_content_range(response.headers.get("content-range"))
            return None if answered is None else answered[2]


def _confined_transport(verify: ssl.SSLContext, limits: httpx.Limits,
                        networks_allowed: Collection[str] = ()) -> httpx.AsyncHTTPTransport:
    """httpx's transport, connecting through ``ConfinedBackend``.

    httpx has no setting for httpcore's network backend: the transport's connection pool
    (``_pool``, httpx 0.2x) is made again with it. Checked, not assumed: another httpx whose
    transport holds no ``AsyncConnectionPool`` there stops Packyard's first upstream request
    rather than let it connect unconfined.
    """
    transport = httpx.AsyncHTTPTransport(verify=verify, limits=limits, trust_env=False)
    if not isinstance(getattr(transport, "_pool", None), httpcore.AsyncConnectionPool):
        raise RuntimeError(f"httpx {httpx.__version__}'s transport has no connection pool "
                           "where Packyard expects one; upstream connections cannot be confined")
    transport._pool = httpcore.AsyncConnectionPool(  # the docstring says why
        ssl_context=verify, max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry, http1=True, http2=False,
        network_backend=ConfinedBackend(networks_allowed=networks_allowed))
    return transport


def _length(value: str | None) -> int | None:
    text = (value or "").strip()
    return int(text) if text.isdigit() else None


async def _read_capped(response: httpx.Response, limit: int,
                       lease: Lease | None = None) -> bytes:
    """The body, at most ``limit`` bytes, counted in ``lease`` as it grows (from the
    length the response declares, when it declares one)."""
    declared = _length(response.headers.get("content-length"))
    if declared is not None and declared > limit and "content-encoding" not in response.headers:
        raise UpstreamError(f"Upstream {response.url} sent more than {limit} bytes")
    if lease is not None and declared:
        await lease.grow(min(declared, limit))
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise UpstreamError(f"Upstream {response.url} sent more than {limit} bytes")
        if lease is not None and size > lease.held:
            await lease.grow(size)
        chunks.append(chunk)
    return b"".join(chunks)
