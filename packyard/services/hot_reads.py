"""The hot path: repeat reads of cached pages and small files, answered before Starlette runs.

Clients ask for the same package pages and small files over and over (pip revalidates every
page on every install). Once a read has been authorized and its answer cached, a repeat of it
needs a few dictionary lookups; Starlette's routing, request objects and middleware cost several
times that. So the app asks this first, for plain GET/HEAD requests on a format's package
endpoint (``/{domain}-{owner}/{segment}/{repo}/...``): it answers only when the caller holds a
grant to read the repository still good (``RepositoryGate.recent_reader``: on the same
keep-alive connection, until a change it rests on or the token's expiry; the same grant the
handlers reuse) and the answer is already in the handlers' own caches
(``PackageReads``); anything else (first requests, misses, Range, query strings, errors) goes on
to the handlers, which fill the caches. Both send the same ``Answer``.

A format says which cache entry a request path names (``HotRoute``); nothing else here is a
format's.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Literal

from starlette.types import Scope

from packyard.auth.environment import connection_of, environment_of
from packyard.http.answer import Answer
from packyard.services.access import RepositoryGate
from packyard.services.answers import CachedFile, RenderedPage, page_answer
from packyard.services.response_cache import ResponseCache

_WANTED = frozenset({b"authorization", b"accept", b"accept-encoding", b"if-none-match",
                     b"if-modified-since", b"range", b"host"})


HotKey = tuple[Literal["page", "file"], Hashable]
"""The cache entry a request would be answered from: a page or a file, and its key (a plain
tuple: one is made per hot-path request)."""


HotRoute = Callable[[Sequence[str], Mapping[bytes, str], Scope], HotKey | None]
"""A format's reading of a request: its path split on "/" (``parts[1]`` is the domain label,
``parts[2]`` the format's segment, ``parts[3]`` the repository), its headers (those in
``_WANTED``, each sent once) and its scope (a format whose pages name the host they were
asked at reads the scheme there), to the entry it names, or None for the handlers."""


def plain_read(scope: Scope, segment: str, route: HotRoute, *, raw_path: bool = False
               ) -> tuple[list[str], dict[bytes, str], HotKey] | None:
    """A plain GET/HEAD of what ``route`` names under the format's ``segment``: its path split
    on "/" (still percent-encoded with ``raw_path``: npm's "@s%2fn" is one segment), the
    headers that matter and the cache entry; None for anything else (query strings, Range, a
    header sent twice: the handlers' call)."""
    if scope["method"] not in ("GET", "HEAD") or scope["query_string"]:
        return None
    if raw_path:
        raw = scope.get("raw_path")
        if raw is None:
            return None
        parts = raw.decode("latin-1").split("/")
    else:
        parts = scope["path"].split("/")
    if len(parts) < 5 or parts[2] != segment:
        return None
    headers: dict[bytes, str] = {}
    for name, value in scope["headers"]:
        if name in _WANTED:
            if name in headers:  # twice: which one counts is the handlers' call
                return None
            headers[name] = value.decode("latin-1")
    if b"range" in headers:
        return None
    wanted = route(parts, headers, scope)
    if wanted is None:
        return None
    return parts, headers, wanted


class HotReads:
    """Answers a request from memory when it can; None lets the handlers answer.

    Synchronous and free of I/O, so the server can call it before an ASGI task exists
    (``server.protocol``)."""

    def __init__(self, gate: RepositoryGate, pages: ResponseCache[RenderedPage],
                 files: ResponseCache[CachedFile], segment: str, route: HotRoute, *,
                 raw_path: bool = False, answer_files: bool = True) -> None:
        self._gate = gate
        self._answer_files = answer_files
        # Answers given, by kind and status, for /metrics (plain increments: this runs on every
        # hot-path request, on the event loop's thread).
        self.pages_ok = 0
        self.pages_not_modified = 0
        self.files_ok = 0
        self.files_not_modified = 0
        self._pages = pages
        self._files = files
        self._segment = segment
        self._route = route
        # The route reads the path still percent-encoded (npm: "@s%2fn" is one segment).
        self._raw_path = raw_path

    def __call__(self, scope: Scope) -> Answer | None:
        read = plain_read(scope, self._segment, self._route, raw_path=self._raw_path)
        if read is None:
            return None
        parts, headers, wanted = read
        access = self._gate.recent_reader(parts[1], parts[3], headers.get(b"authorization"),
                                          environment_of(scope), connection_of(scope))
        if access is None:
            return None
        kind, key = wanted
        if kind == "page":
            page = self._pages.get(access.repository.id, key)
            if page is None:
                return None
            answer = page_answer(page, headers.get(b"accept-encoding"),
                                 headers.get(b"if-none-match"), headers.get(b"if-modified-since"))
            if answer.status == 304:
                self.pages_not_modified += 1
            else:
                self.pages_ok += 1
            return answer
        if not self._answer_files:
            return None
        cached = self._files.get(access.repository.id, key)
        if cached is None:
            return None
        if cached.data is None:  # a big file: only its revalidation is answered from memory
            revalidated = cached.not_modified(headers.get(b"if-none-match"))
            if revalidated is None:
                return None
            self.files_not_modified += 1
            return revalidated
        answer = cached.answer(headers.get(b"if-none-match"))
        if answer.status == 304:
            self.files_not_modified += 1
        else:
            self.files_ok += 1
        return answer
