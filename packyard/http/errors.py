"""How a protocol surface registers the one place its errors become responses.

Each surface (the CodeArtifact API, IAM/STS, a format's package endpoint) maps domain errors to
its own wire format in one module; this puts that mapping in front of the surface's routes as
Starlette exception handlers (``ExceptionMiddleware``, as Starlette's own
``middleware/exceptions.py`` does for the app), so no handler catches errors itself: a service's
``PackyardError`` goes to the surface's ``refused`` handler and anything unexpected to its
``failed`` handler (a 500 with a pointer to the log, never a reset connection). What the
refusal said is noted for the request's line in the server log (``server/observe.py``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.middleware import Middleware
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.requests import Request
from starlette.responses import Response

from packyard.errors import PackyardError
from packyard.http.request_note import note_of

Refused = Callable[[Request, PackyardError], Awaitable[Response]]
Failed = Callable[[Request, Exception], Awaitable[Response]]


def error_handlers(refused: Refused, failed: Failed) -> Middleware:
    """The middleware a surface's ``Mount`` or ``Route`` takes: ``refused`` for domain errors,
    ``failed`` for every other exception (HTTP errors of the routing itself, 404 and 405, keep
    Starlette's own answers)."""

    async def on_refusal(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, PackyardError)
        note_of(request.scope).reason = exc.message  # for the request's log line
        return await refused(request, exc)

    async def on_failure(request: Request, exc: Exception) -> Response:
        note_of(request.scope).logged = True  # every surface logs its traceback
        return await failed(request, exc)

    return Middleware(ExceptionMiddleware, handlers={PackyardError: on_refusal,
                                                     Exception: on_failure})
