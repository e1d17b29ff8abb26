"""The first read of a page or file, answered without Starlette.

An install is almost all first reads: each project page, ``.metadata`` file and wheel is
fetched once, so the hot path (``hot_reads.py``), which answers only what is already cached,
misses nearly every time, and each miss used to pay for Starlette's routing, its middleware and
the handler's request objects on top of the grant and the render or lookup. This path does only
the latter: for the same plain GET/HEAD requests the hot path reads, it makes the grant (the
same ``RepositoryGate.open_for_read``, once for all who ask at once), fills the same caches
through the format's own render or lookup, and sends the same ``Answer``.

It describes the request in the request's note as the routes do (``http/request_note.py``: the
format's surface and operation, the caller once granted), so ``/metrics`` and the access log
count it under the same labels (``server/app.py`` reads the note). A refusal (404, an
upstream's 502) is answered with the format's own mapping of errors (the one its routes use),
not tried again by the routes: a failure can leave traces (an upstream host remembered as down)
that a second try would report differently. The refusals the audit trail records (401 and 403:
who asked, and why not) are left to the routes when the trail is on (``defer_refusals``); they
come from the grant, which leaves no traces, so the routes make the same refusal again and
record it. What it cannot answer from memory — a file too big to keep there, a file still to
be pulled from an upstream, an unexpected exception — is left to the routes too, which then
find the grant and any cached entry ready.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from starlette.types import Scope

from packyard.auth.environment import (
    RequestEnvironment,
    connection_of,
    environment_of,
    request_environment,
)
from packyard.errors import Denied, PackyardError, Unauthenticated
from packyard.http.answer import Answer
from packyard.http.request_note import RequestNote, note_of
from packyard.metadata.point_reads import WouldWait
from packyard.services.access import RepositoryAccess
from packyard.services.answers import CachedFile, RenderedPage, page_answer
from packyard.services.hot_reads import HotKey, HotRoute, plain_read

Grant = Callable[[str, str, str | None, RequestEnvironment | None, int | None],
                 Awaitable[RepositoryAccess]]
"""The read grant for (domain label, repository, Authorization header, environment,
connection)."""

Recent = Callable[[str, str, str | None, RequestEnvironment | None, int | None],
                 RepositoryAccess | None]
"""A read grant still good for (domain label, repository, Authorization header, environment,
connection), from memory (``RepositoryGate.recent_reader``)."""

GrantNow = Callable[[str, str, str | None, int | None], RepositoryAccess]
"""The read grant for (domain label, repository, Authorization header, connection) made on the
caller's thread for the current environment, or ``WouldWait`` (``RepositoryGate
.open_for_read_now``)."""

Refused = Callable[[PackyardError, Scope], Answer]
"""The format's answer to a domain error in the request of ``Scope`` (what its routes' error
mapping sends)."""

Fill = Callable[[RepositoryAccess, HotKey], Awaitable[RenderedPage | CachedFile | None]]
"""A format's render or lookup of the entry a request names, through ``PackageReads``' caches;
None when the routes must answer (a name to redirect, a file only an upstream has)."""

FillNow = Callable[[RepositoryAccess, HotKey], RenderedPage | CachedFile | None]
"""A format's lookup of the page or file a request names on the caller's own thread, where
that never waits (a page kept by the write that changed it, a stored file's record, on
embedded SQLite: ``metadata/point_reads.py``; a small file's bytes where the blob store reads
them without waiting: ``BlobStore.read_small_now``); None when ``Fill`` must answer."""


class FirstReads:
    """Answers what the hot path missed, or None for the routes."""

    def __init__(self, grant: Grant, segment: str, route: HotRoute, fill: Fill,
                 refused: Refused, operations: Mapping[str, str], events: str, *,
                 recent: Recent | None = None, grant_now: GrantNow | None = None,
                 fill_now: FillNow | None = None, raw_path: bool = False) -> None:
        self._grant = grant
        self._grant_now = grant_now
        # The path as the hot path reads it: still percent-encoded for npm's "@s%2fn".
        self._raw_path = raw_path
        self._recent = recent
        self._fill_now = fill_now
        self._refused = refused
        self._segment = segment
        self._route = route
        self._fill = fill
        # The operation the routes name each kind of entry by ("page": "project_page"), and
        # the audit trail's event source of package reads.
        self._operations = operations
        self._events = events
        # With the audit trail on, 401 and 403 are the routes' to answer and record.
        self.defer_refusals = False

    def now(self, scope: Scope) -> Answer | None:
        """The answer made on the caller's thread (the event loop's: the server's fast lane
        asks before any ASGI task exists), when the caller holds a read grant still good for
        this connection (``recent``: the routes' grant, so nothing is revealed that they would
        refuse) or it is made here without waiting (``grant_now``), and the page or file is
        found without waiting (``fill_now``); None otherwise, and then ``__call__`` answers.
        Noted as ``__call__`` notes it: the same operation and caller for ``/metrics`` and the
        access log; answered as ``__call__`` answers it, refusals too."""
        if self._recent is None or self._fill_now is None:
            return None
        read = plain_read(scope, self._segment, self._route, raw_path=self._raw_path)
        if read is None:
            return None
        parts, headers, wanted = read
        authorization = headers.get(b"authorization")
        access = self._recent(parts[1], parts[3], authorization, environment_of(scope),
                              connection_of(scope))
        if access is None:
            if self._grant_now is None:
                return None
            with request_environment(scope):
                try:
                    access = self._grant_now(parts[1], parts[3], authorization,
                                             connection_of(scope))
                except WouldWait:
                    return None
                except PackyardError as error:
                    refusal = self._refusal(error, scope)
                    if refusal is not None:
                        self._noted(scope, wanted).reason = error.message
                    return refusal
                except Exception:  # noqa: BLE001 - ``__call__`` meets it again: the routes answer
                    return None
        try:
            found = self._fill_now(access, wanted)
        except Exception:  # noqa: BLE001 - ``__call__`` meets it again and leaves it to the routes
            return None
        if found is None:
            return None
        answer = _answer(found, headers)
        if answer is not None:
            self._noted(scope, wanted).caller = access.principal
        return answer

    def _refusal(self, error: PackyardError, scope: Scope) -> Answer | None:
        """The format's answer to ``error``; None for the routes to answer a 401 or 403 while
        the audit trail records those (``defer_refusals``)."""
        if self.defer_refusals and isinstance(error, (Unauthenticated, Denied)):
            return None
        return self._refused(error, scope)

    def _noted(self, scope: Scope, wanted: HotKey) -> RequestNote:
        note = note_of(scope)
        note.surface, note.route = self._segment, self._operations.get(wanted[0], "other")
        note.source, note.name = self._events, "ReadFromRepository"
        # As the routes' reads: recorded when refused, successes only as downloads (which
        # leave every first read to the routes, ``server/app.py``).
        note.read_only, note.record_success = True, False
        return note

    async def __call__(self, scope: Scope) -> Answer | None:
        read = plain_read(scope, self._segment, self._route, raw_path=self._raw_path)
        if read is None:
            return None
        parts, headers, wanted = read
        note = self._noted(scope, wanted)
        with request_environment(scope):
            try:
                access = await self._grant(parts[1], parts[3], headers.get(b"authorization"),
                                           environment_of(scope), connection_of(scope))
                note.caller = access.principal
                found = await self._fill(access, wanted)
            except PackyardError as error:
                note.reason = error.message  # for the server log's line (``server/app.py``)
                return self._refusal(error, scope)
            except Exception:  # noqa: BLE001 - a bug: the routes answer and log it as theirs
                return None
        return None if found is None else _answer(found, headers)


def _answer(found: RenderedPage | CachedFile, headers: Mapping[bytes, str]) -> Answer | None:
    """What a first read sends of what it found: a page, a small file, or a big file's 304;
    None for a big file's bytes (the routes stream them)."""
    if isinstance(found, RenderedPage):
        return page_answer(found, headers.get(b"accept-encoding"),
                           headers.get(b"if-none-match"), headers.get(b"if-modified-since"))
    if found.data is not None:
        return found.answer(headers.get(b"if-none-match"))
    return found.not_modified(headers.get(b"if-none-match"))
