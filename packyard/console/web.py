"""The console's request plumbing: who is signed in, forms, CSRF, templates, headers.

Order of checks on every request: the session cookie first (a request without a live session
is sent to the sign-in page, or refused, before anything else is read), then for a POST its
size (``MAX_FORM_BYTES``, refused unread when larger), then its CSRF token and ``Origin``,
and only then the service call.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from packyard.auth.package_auth import PackageAuthenticator
from packyard.auth.principal import Principal
from packyard.console.audit import add_form_choices
from packyard.console.sessions import ConsoleSession, CookieNames, SessionCodec
from packyard.errors import Denied, PackyardError, TooLarge
from packyard.http import console_paths as paths
from packyard.http.request import base_url, declared_length
from packyard.http.request_note import note_of

MAX_FORM_BYTES = 1024 * 1024
MAX_SIGNIN_BYTES = 16 * 1024
TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"

# Scripts, styles and images from this server only; no plugins, frames, or form posts
# elsewhere. A README that got past the sanitizer still could not run a script or load an
# image from another host.
CONTENT_SECURITY_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; "
                           "img-src 'self' data:; connect-src 'self'; form-action 'self'; "
                           "base-uri 'none'; frame-ancestors 'none'")
_PAGE_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
]


class SignInRequired(PackyardError):
    """No live console session (a redirect to the sign-in page, or 401 for a POST)."""


@dataclass(frozen=True)
class Caller:
    """The signed-in principal and its session, for one request."""

    principal: Principal
    session: ConsoleSession
    csrf: str


class ConsoleHeaders:
    """Puts the console's security headers, and a renewed session cookie, on every answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith(paths.ROOT + "/static/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", [])
                           if k.lower() != b"cache-control" or static]
                headers += _PAGE_HEADERS
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                cookie = scope.get("state", {}).get("console_cookie")
                if cookie:
                    headers.append((b"set-cookie", cookie.encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


class Web:
    """Sessions, forms and templates for the console's handlers."""

    def __init__(self, codec: SessionCodec, principals: PackageAuthenticator,
                 public_url: str | None) -> None:
        self.codec = codec
        self._principals = principals
        self._public_url = public_url
        self.templates = Environment(loader=FileSystemLoader(TEMPLATES),
                                     autoescape=select_autoescape(default=True),
                                     trim_blocks=True, lstrip_blocks=True)
        self.templates.globals["paths"] = paths

    # -- who is calling ----------------------------------------------------------------------

    def caller(self, request: Request) -> Caller:
        """The live session's principal; SignInRequired when there is none."""
        session = self.session(request)
        if session is None:
            raise SignInRequired("Sign in to continue.")
        principal = self._principals.acting_principal(session.principal_arn,
                                                      session.access_key_id)
        if principal is None:
            raise SignInRequired("Your credentials no longer work (a deleted user, an "
                                 "inactive key or an ended role session); sign in again.")
        renewed = self.codec.renewed(session)
        if renewed is not None:
            self.set_session_cookie(request, renewed)
        note_of(request.scope).caller = principal  # for the audit trail
        request.state.caller = Caller(principal, session,
                                      self.codec.csrf_token(session.session_id))
        return request.state.caller  # type: ignore[no-any-return]

    def session(self, request: Request) -> ConsoleSession | None:
        """The live session the request's cookie names, read under this request's name only
        (over HTTPS never the unprefixed one, which another service on the host can set)."""
        return self.codec.decode(request.cookies.get(self.cookies(request).session))

    def secure(self, request: Request) -> bool:
        """Whether the console's cookies are ``Secure``: over HTTPS, and whenever the public
        URL is HTTPS, whatever the request says (a proxy not in the trusted list forwards
        plain HTTP, but the browser is on HTTPS and must never send the cookie without it)."""
        return request.url.scheme == "https" or (self._public_url or "").lower().startswith(
            "https://")

    def cookies(self, request: Request) -> CookieNames:
        """The cookies' names and path for this request: ``__Host-`` ones when ``secure``."""
        return CookieNames(self.secure(request))

    def set_session_cookie(self, request: Request, session: ConsoleSession | None) -> None:
        names = self.cookies(request)
        if session is None:
            value = names.header(names.session, "", max_age=0)
        else:
            value = names.header(names.session, self.codec.encode(session), max_age=None)
        request.state.console_cookie = value

    def base_url(self, request: Request) -> str:
        return self._public_url.rstrip("/") if self._public_url else base_url(request)

    # -- forms -------------------------------------------------------------------------------

    async def form(self, request: Request, caller: Caller | None,
                   limit: int = MAX_FORM_BYTES) -> dict[str, str]:
        """A urlencoded form, read only once the caller is known, after the size and origin
        checks; with a caller, its CSRF token must match."""
        self.check_origin(request)
        declared = declared_length(request)
        if declared is not None and declared > limit:
            raise TooLarge(f"The form is larger than {limit} bytes.")
        media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media != "application/x-www-form-urlencoded":
            raise Denied("Forms must be sent as application/x-www-form-urlencoded.")
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise TooLarge(f"The form is larger than {limit} bytes.")
        fields = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        add_form_choices(request, fields)
        if caller is not None and not self.codec.csrf_ok(caller.session.session_id,
                                                         fields.get("csrf")):
            raise Denied("The form's CSRF token is missing or wrong: reload the page and "
                         "try again.")
        return fields

    def check_origin(self, request: Request) -> None:
        """A POST's ``Origin``, when the browser sends one, must be this server."""
        origin = request.headers.get("origin")
        if origin is None:
            return
        got = web_origin(origin)
        if got is None or got != web_origin(self.base_url(request)):
            raise Denied(f"Cross-origin form posts are refused (Origin {origin}).")

    @staticmethod
    def new_signin_nonce() -> str:
        return secrets.token_urlsafe(24)

    def signin_cookie(self, request: Request, nonce: str) -> str:
        """The sign-in form's nonce cookie (an empty ``nonce`` deletes it)."""
        names = self.cookies(request)
        return names.header(names.signin, nonce, max_age=3600 if nonce else 0)

    def signin_nonce(self, request: Request) -> str | None:
        """The nonce cookie the browser sent, under this request's name only."""
        return request.cookies.get(self.cookies(request).signin)

    # -- answers -----------------------------------------------------------------------------

    def render(self, request: Request, template: str, status: int = 200,
               **context: Any) -> HTMLResponse:
        caller = getattr(request.state, "caller", None)
        html = self.templates.get_template(template).render(
            caller=caller, principal=caller.principal if caller else None,
            csrf=caller.csrf if caller else "", request_path=request.url.path, **context)
        return HTMLResponse(html, status_code=status)

    @staticmethod
    def redirect(location: str) -> Response:
        # 303: the browser follows with a GET, so a reload does not post the form again.
        return RedirectResponse(location, status_code=303)

    @staticmethod
    def signin_location(request: Request) -> str:
        target = request.url.path
        if request.url.query:
            target += "?" + request.url.query
        return f"{paths.ROOT}/sign-in?next={quote(target, safe='')}"

    @staticmethod
    def form_page(request: Request) -> str:
        """The console page a form was posted from (its ``Referer``, which the console's
        Referrer-Policy keeps for its own pages), or the console's start."""
        referer = urlsplit(request.headers.get("referer", ""))
        return safe_next(referer.path + (f"?{referer.query}" if referer.query else ""))

    def form_signin_location(self, request: Request) -> str:
        """The sign-in that leads back to the page a form was posted from, not to the form's
        action, which only takes a POST."""
        return f"{paths.ROOT}/sign-in?next={quote(self.form_page(request), safe='')}"


_DEFAULT_PORTS = {"http": 80, "https": 443}


def web_origin(url: str) -> tuple[str, str, int | None] | None:
    """A URL's origin as browsers compare it: scheme and host in lower case, the scheme's
    default port made explicit (a public URL written ``https://Host:443`` is the origin a
    browser sends as ``https://host``); None when it has no host or a bad port."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if not parts.hostname:
        return None
    return scheme, parts.hostname.lower(), port if port is not None else _DEFAULT_PORTS.get(scheme)


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a console path, never another site."""
    if target and target.startswith(paths.ROOT + "/") and not target.startswith("//") \
            and "\\" not in target:
        return target
    return paths.ROOT + "/"
