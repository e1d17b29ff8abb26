"""The first read of a page or file, answered without Starlette.

An install is almost all first reads: each project page, ``.metadata`` file and wheel is
fetched once, so the hot path (``hot_reads.py``), which answers only what is already cached,
misses nearly every time, and each miss used to pay for Starlette's routing, its middleware and
the handler's request objects on top of the grant and the render or lookup. This path does only
the latter: for the same plain GET/HEAD requests the hot path reads, it makes the grant (the
same ``RepositoryGate.open_for_read``, once for all who ask at once), fills the same caches
through the format's own render or lookup, and sends the same ``Answer``. A refusal (401,
403, 404, an upstream's 502) is answered with the format's own mapping of errors (the one its
routes use), not tried again by the routes: a failure can leave traces (an upstream host
remembered as down) that a second try would report differently. What it cannot answer that
way — a file too big to keep in memory, a file still to be pulled from an upstream, an
unexpected exception — is left to the routes, which then find the grant and any cached entry
ready.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.types import Scope

from packyard.auth.environment import RequestEnvironment, environment_of, request_environment
from packyard.errors import PackyardError
from packyard.http.answer import Answer
from packyard.services.access import RepositoryAccess
from packyard.services.answers import CachedFile, RenderedPage, page_answer
from packyard.services.hot_reads import HotKey, HotRoute, plain_read

Grant = Callable[[str, str, str | None, RequestEnvironment | None], Awaitable[RepositoryAccess]]
"""The read grant for (domain label, repository, Authorization header, environment)."""

Refused = Callable[[PackyardError], Answer]
"""The format's answer to a domain error (what its routes' error mapping sends)."""

Fill = Callable[[RepositoryAccess, HotKey], Awaitable[RenderedPage | CachedFile | None]]
"""A format's render or lookup of the entry a request names, through ``PackageReads``' caches;
None when the routes must answer (a name to redirect, a file only an upstream has)."""


class FirstReads:
    """Answers what the hot path missed, or None for the routes."""

    def __init__(self, grant: Grant, segment: str, route: HotRoute, fill: Fill,
                 refused: Refused) -> None:
        self._grant = grant
        self._refused = refused
        self._segment = segment
        self._route = route
        self._fill = fill

    async def __call__(self, scope: Scope) -> Answer | None:
        read = plain_read(scope, self._segment, self._route)
        if read is None:
            return None
        parts, headers, wanted = read
        with request_environment(scope):
            try:
                access = await self._grant(parts[1], parts[3], headers.get(b"authorization"),
                                           environment_of(scope))
                found = await self._fill(access, wanted)
            except PackyardError as error:
                return self._refused(error)
            except Exception:  # noqa: BLE001 - a bug: the routes answer and log it as theirs
                return None
        if isinstance(found, RenderedPage):
            return page_answer(found, headers.get(b"accept-encoding"),
                               headers.get(b"if-none-match"))
        if isinstance(found, CachedFile) and found.data is not None:
            return found.answer(headers.get(b"if-none-match"))
        return None
