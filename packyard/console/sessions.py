"""Console sessions: a signed cookie that names the signed-in principal, never a secret.

A sign-in proves a key pair once (``signin.py``); from then on the browser holds a cookie
``v1.<payload>.<mac>`` whose payload is the principal's ARN and access key id, a random
session id, when the session started and when it was last used, and whose MAC is an
HMAC-SHA256 under a key derived from the data directory's secrets key, so every worker and
replica sharing that key accepts it. The cookie is ``HttpOnly`` (no script reads it) and
``SameSite=Strict`` (no other site's page sends it).

Cookies are not isolated by port or scheme: any service on the same host name (another port,
a plain-HTTP page) may set a cookie of the console's name for the host, planting a sign-in
nonce (a login CSRF) or fixing a session. So over HTTPS both cookies carry the ``__Host-``
prefix (RFC 6265bis §4.1.3.2), which a browser accepts only ``Secure``, from a secure origin,
with ``Path=/`` and no ``Domain``: no plain-HTTP service or subdomain can set one (an HTTPS
service on another port of the same host name still can: cookies ignore ports), and the
unprefixed names are never read there. Over plain HTTP (the local default) a browser refuses
``__Host-`` cookies, so there they keep their plain names and ``Path=/console``
(``CookieNames``).

Each request checks the MAC, the idle timeout (``console_idle_timeout_seconds`` since the last
request, the cookie being renewed at most once a minute), the absolute lifetime
(``console_session_seconds``), and then that the credentials still work, with the same rules
as a token's (``PackageAuthenticator.acting_principal``): a deleted user, a deactivated key or
an expired role session ends its console sessions.

Sign-out clears the cookie and remembers the session id in this process until it would have
timed out anyway; other worker processes learn nothing of it, so a copy of the cookie taken
before sign-out works there until its idle timeout (docs/decisions/0008-console-sessions.md).

Forms carry a CSRF token derived from the session id (``csrf_token``), checked on every POST.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from packyard.ttl_cache import TtlCache

COOKIE = "packyard_console"
# Set on the sign-in page and echoed by its form: a sign-in another site posts is refused.
SIGNIN_COOKIE = "packyard_console_signin"
PATH = "/console"
# A cookie only a secure origin of this very host may set (RFC 6265bis §4.1.3.2).
HOST_PREFIX = "__Host-"
RENEW_AFTER_SECONDS = 60
_SIGNED_OUT_MAX = 100_000


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class ConsoleSession:
    """What a session cookie says."""

    session_id: str
    principal_arn: str
    access_key_id: str | None
    started_at: float
    last_seen_at: float


class SessionCodec:
    """Issues and checks session cookies and the CSRF tokens bound to them."""

    def __init__(self, key: bytes, *, idle_seconds: int, lifetime_seconds: int,
                 now: Callable[[], float] = time.time) -> None:
        self._key = key
        self._idle = idle_seconds
        self._lifetime = lifetime_seconds
        self._now = now
        # Session ids signed out in this process, until they would have timed out anyway.
        self._signed_out: TtlCache[str, bool] = TtlCache(ttl_seconds=float(idle_seconds),
                                                         max_entries=_SIGNED_OUT_MAX)

    @property
    def idle_seconds(self) -> int:
        return self._idle

    def _mac(self, purpose: bytes, data: bytes) -> bytes:
        return hmac.new(self._key, purpose + b"|" + data, hashlib.sha256).digest()

    def start(self, principal_arn: str, access_key_id: str | None) -> ConsoleSession:
        now = self._now()
        return ConsoleSession(secrets.token_urlsafe(18), principal_arn, access_key_id, now, now)

    def encode(self, session: ConsoleSession) -> str:
        payload = _b64(json.dumps({
            "s": session.session_id, "a": session.principal_arn, "k": session.access_key_id,
            "t": int(session.started_at), "l": int(session.last_seen_at)},
            separators=(",", ":")).encode())
        return f"v1.{payload}.{_b64(self._mac(b'session', payload.encode()))}"

    def decode(self, cookie: str | None) -> ConsoleSession | None:
        """The live session a cookie names, or None (forged, expired, signed out, garbled)."""
        if not cookie or len(cookie) > 4096:
            return None
        version, _, rest = cookie.partition(".")
        payload, _, mac = rest.partition(".")
        if version != "v1" or not payload or not mac:
            return None
        try:
            if not hmac.compare_digest(_unb64(mac), self._mac(b"session", payload.encode())):
                return None
            data = json.loads(_unb64(payload))
            session = ConsoleSession(str(data["s"]), str(data["a"]),
                                     None if data["k"] is None else str(data["k"]),
                                     float(data["t"]), float(data["l"]))
        except (ValueError, KeyError, TypeError):
            return None
        now = self._now()
        if (now - session.last_seen_at > self._idle or now - session.started_at > self._lifetime
                or session.last_seen_at > now + 60):
            return None
        if self._signed_out.get(session.session_id):
            return None
        return session

    def renewed(self, session: ConsoleSession) -> ConsoleSession | None:
        """The session with its last use moved to now, when the cookie is due for renewal."""
        now = self._now()
        if now - session.last_seen_at < RENEW_AFTER_SECONDS:
            return None
        return ConsoleSession(session.session_id, session.principal_arn,
                              session.access_key_id, session.started_at, now)

    def sign_out(self, session: ConsoleSession) -> None:
        self._signed_out.put(session.session_id, True)

    def csrf_token(self, session_id: str) -> str:
        """The token every form of this session carries."""
        return _b64(self._mac(b"csrf", session_id.encode()))[:32]

    def csrf_ok(self, session_id: str, presented: str | None) -> bool:
        return bool(presented) and hmac.compare_digest(
            self.csrf_token(session_id).encode(), (presented or "").encode("utf-8", "replace"))


@dataclass(frozen=True)
class CookieNames:
    """The console's cookies as one request sees them: over HTTPS (``secure``) the
    ``__Host-`` names with ``Path=/``, over plain HTTP the plain names under ``/console``."""

    secure: bool

    @property
    def session(self) -> str:
        return self._name(COOKIE)

    @property
    def signin(self) -> str:
        return self._name(SIGNIN_COOKIE)

    @property
    def path(self) -> str:
        return "/" if self.secure else PATH

    def _name(self, name: str) -> str:
        return HOST_PREFIX + name if self.secure else name

    def header(self, name: str, value: str, *, max_age: int | None) -> str:
        """A ``Set-Cookie`` value with the console's flags for one of this request's names
        (``max_age=0`` deletes it, under the name and path it was set with)."""
        parts = [f"{name}={value}", f"Path={self.path}", "HttpOnly", "SameSite=Strict"]
        if max_age is not None:
            parts.append(f"Max-Age={max_age}")
        if self.secure:
            parts.append("Secure")
        return "; ".join(parts)
