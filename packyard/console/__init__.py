"""The web console: a protocol surface like the API and the package endpoints.

Server-rendered pages (Jinja2 templates in ``templates/``, a little JavaScript and CSS in
``static/``, nothing from another host) over the same services as the API: every read and
action is authorized by the one ``Authorizer`` for the signed-in principal. ``sessions``
(signed cookies), ``signin`` (key pairs and roles, failures rate-limited), ``web`` (forms,
CSRF, headers), ``routes`` (the handlers), ``browse``, ``groups`` and ``access`` (what each
page shows), ``readme`` (READMEs rendered safely), ``instructions`` (connection instructions),
``graph`` (upstreams drawn), ``errors`` (refusals as pages). docs/console.md shows it.
"""

from __future__ import annotations

from packyard.auth.package_auth import PackageAuthenticator
from packyard.auth.signed import SignedRequestAuthenticator
from packyard.console.routes import Console, browser_root
from packyard.console.services import ConsoleServices
from packyard.console.sessions import SessionCodec
from packyard.console.signin import FailedSignIns, SignIn
from packyard.console.web import Web
from packyard.services.sts import StsService

__all__ = ["Console", "ConsoleServices", "browser_root", "build_console"]


def build_console(services: ConsoleServices, authenticator: SignedRequestAuthenticator,
                  sts: StsService, principals: PackageAuthenticator,
                  cookie_key: bytes) -> Console:
    settings = services.settings
    codec = SessionCodec(cookie_key, idle_seconds=settings.console_idle_timeout_seconds,
                         lifetime_seconds=settings.console_session_seconds)
    failures = FailedSignIns(settings.console_max_failed_signins,
                             settings.console_signin_window_seconds)
    return Console(services, Web(codec, principals, settings.public_url),
                   SignIn(authenticator, sts, failures))
