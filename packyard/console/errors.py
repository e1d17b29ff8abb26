"""The one place the console's errors become pages.

A refusal is a page that says why, in the service's words, with the status the API would
give (403, 404, 400, 409, 413, 429). A form handler may leave a way to show the form again
with the message next to what was wrong (``request.state.redisplay``): a policy that does not
parse comes back in its editor with the engine's error above it. No live session sends a
browser to the sign-in page (a POST gets a 401 page, with a sign-in that leads back to the
form's page: what it sent would be lost on the way).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response

from packyard.console import audit
from packyard.console.signin import TooManySignIns
from packyard.console.web import SignInRequired, Web
from packyard.errors import (
    Conflict,
    Denied,
    Invalid,
    NotFound,
    PackyardError,
    TooLarge,
    Unauthenticated,
)
from packyard.http.errors import error_handlers

log = logging.getLogger("packyard.console")

_STATUS: list[tuple[type[PackyardError], int, str]] = [
    (TooManySignIns, 429, "Too many attempts"),
    (Unauthenticated, 401, "Not signed in"),
    (Denied, 403, "Not allowed"),
    (NotFound, 404, "Not found"),
    (Conflict, 409, "Conflict"),
    (TooLarge, 413, "Too large"),
    (Invalid, 400, "Not valid"),
]

Redisplay = Callable[[PackyardError, int], Response]


def status_of(exc: PackyardError) -> tuple[int, str]:
    for kind, status, title in _STATUS:
        if isinstance(exc, kind):
            return status, title
    return 400, "Refused"


def console_errors(web: Web) -> Middleware:
    async def refused(request: Request, exc: PackyardError) -> Response:
        if isinstance(exc, SignInRequired):
            if request.method in ("GET", "HEAD"):
                return web.redirect(web.signin_location(request))
            audit.refused(request, "SignInRequired", exc.message, 401)
            # A page, not a bare line: what was sent was not done, and how to get back.
            return web.render(request, "error.html", 401, title="Not signed in",
                              message=f"{exc.message} What you sent was not done.",
                              signin=web.form_signin_location(request))
        status, title = status_of(exc)
        audit.refused(request, type(exc).__name__, exc.message, status)
        redisplay: Redisplay | None = getattr(request.state, "redisplay", None)
        if redisplay is not None:
            response = redisplay(exc, status)
        elif request.method == "POST":
            # A refused action: back to the page it was taken on, to see how things are now.
            response = web.render(request, "error.html", status, title=title,
                                  message=exc.message, back=web.form_page(request))
        else:
            response = web.render(request, "error.html", status, title=title,
                                  message=exc.message)
        if isinstance(exc, TooManySignIns):
            response.headers["Retry-After"] = str(exc.retry_after_seconds)
        return response

    async def failed(request: Request, exc: Exception) -> Response:
        log.exception("console: %s %s failed", request.method, request.url.path,
                      exc_info=exc)
        audit.refused(request, "InternalError", "the server failed; its log says why", 500)
        return web.render(request, "error.html", 500, title="Server error",
                          message="Something went wrong on the server; its log says what.")

    return error_handlers(refused, failed)
