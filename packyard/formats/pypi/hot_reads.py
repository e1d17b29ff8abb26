"""The hot path: repeat reads of cached pages and small files, answered before Starlette runs.

pip and uv ask for the same project pages and small files over and over (every install
revalidates every page). Once a read has been authorized and its answer cached, a repeat of it
needs three dictionary lookups; Starlette's routing, request objects and middleware cost several
times that. So the app asks this first, for plain GET/HEAD requests on the package endpoint:
it answers only when the caller was granted a read of the repository within the last second
(``RepositoryGate.recent_reader``, the same grant the Starlette handlers reuse) and the answer
is already in the handlers' own caches; anything else (first requests, misses, Range, query
strings, errors) goes on to the handlers, which fill the caches. Both send the same ``Answer``.
"""

from __future__ import annotations

from starlette.types import Scope

from packyard.auth.environment import environment_of
from packyard.formats.pypi.answers import CachedFile, RenderedPage, page_answer
from packyard.formats.pypi.negotiation import negotiate
from packyard.http.answer import Answer
from packyard.services.access import RepositoryGate
from packyard.services.response_cache import ResponseCache

_WANTED = frozenset({b"authorization", b"accept", b"accept-encoding", b"if-none-match",
                     b"range"})


class HotReads:
    """Answers a request from memory when it can; None lets the handlers answer.

    Synchronous and free of I/O, so the server can call it before an ASGI task exists
    (``server.protocol``)."""

    def __init__(self, gate: RepositoryGate, pages: ResponseCache[RenderedPage],
                 files: ResponseCache[CachedFile]) -> None:
        self._gate = gate
        self._pages = pages
        self._files = files

    def __call__(self, scope: Scope) -> Answer | None:
        if scope["method"] not in ("GET", "HEAD") or scope["query_string"]:
            return None
        # /{domain}-{owner}/pypi/{repo}/simple/{project}/[{filename}]
        parts = scope["path"].split("/")
        if len(parts) != 7 or parts[2] != "pypi" or parts[4] != "simple" or not parts[5]:
            return None
        headers: dict[bytes, str] = {}
        for name, value in scope["headers"]:
            if name in _WANTED:
                if name in headers:  # twice: which one counts is the handlers' call
                    return None
                headers[name] = value.decode("latin-1")
        if b"range" in headers:
            return None
        access = self._gate.recent_reader(parts[1], parts[3], headers.get(b"authorization"),
                                          environment_of(scope))
        if access is None:
            return None
        # Cache keys use normalized project names, so a name that is not normalized misses
        # here and gets the handlers' redirect.
        project, filename = parts[5], parts[6]
        if not filename:
            media_type = negotiate(headers.get(b"accept"))
            if media_type is None:
                return None
            page = self._pages.get(access.repository.id, (project, media_type))
            if page is None:
                return None
            return page_answer(page, headers.get(b"accept-encoding"),
                               headers.get(b"if-none-match"))
        cached = self._files.get(access.repository.id, (project, filename))
        if cached is None or cached.data is None:
            return None
        return cached.answer(filename, headers.get(b"if-none-match"))
