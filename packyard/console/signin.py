"""Signing in to the console: a key pair proven once, optionally a role assumed with it.

The secret is compared with the stored one (``SignedRequestAuthenticator.verify_secret``: an
unknown key and a wrong secret get the same answer) and forgotten; the session holds only the
principal's ARN and access key id (``sessions.py``). Assuming a role calls the same
``StsService.assume_role`` as ``aws sts assume-role``, with the same trust-policy rules; the
session's own secret is discarded, its access key id is what the console session keeps.

Failed sign-ins are counted per source address and per access key id
(``console_max_failed_signins`` within ``console_signin_window_seconds`` of the previous
failure); past that, that address or key is refused without its secret being checked until
the window has passed. Memory is bounded: at most ``_TRACKED`` addresses and keys are
remembered, the least recent forgotten first.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from packyard.audit.events import HIDDEN
from packyard.auth.principal import Principal, session_principal
from packyard.auth.signed import SignedRequestAuthenticator
from packyard.auth.sigv4 import SignatureError
from packyard.errors import Invalid, PackyardError, Unauthenticated
from packyard.services.sts import StsService
from packyard.ttl_cache import TtlCache

_TRACKED = 10_000
_SESSION_NAME = re.compile(r"[\w+=,.@-]{2,64}")
BAD_CREDENTIALS = "The access key ID or secret access key is not valid."


class TooManySignIns(PackyardError):
    """Refused before the secret is checked: too many recent failures (HTTP 429)."""

    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__(f"Too many failed sign-ins; try again in {retry_after_seconds} "
                         "seconds.")
        self.retry_after_seconds = retry_after_seconds


@dataclass(frozen=True)
class _Failures:
    count: int
    last_at: float


class FailedSignIns:
    """Recent failures by source address and by access key id."""

    def __init__(self, max_failures: int, window_seconds: int,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._max = max_failures
        self._window = window_seconds
        self._monotonic = monotonic
        self._seen: TtlCache[tuple[str, str], _Failures] = TtlCache(
            ttl_seconds=float(window_seconds), max_entries=_TRACKED, monotonic=monotonic)

    def check(self, *keys: tuple[str, str]) -> None:
        for key in keys:
            found = self._seen.get(key)
            if found is not None and found.count >= self._max:
                wait = int(found.last_at + self._window - self._monotonic()) + 1
                raise TooManySignIns(max(wait, 1))

    def failed(self, *keys: tuple[str, str]) -> None:
        now = self._monotonic()
        for key in keys:
            found = self._seen.get(key)
            self._seen.put(key, _Failures((found.count if found else 0) + 1, now))


@dataclass(frozen=True)
class SignInForm:
    """What the sign-in form sends."""

    access_key_id: str
    secret_access_key: str
    session_token: str = ""
    role_arn: str = ""
    session_name: str = ""


class SignIn:
    """Proves a key pair and, when asked, assumes a role with it."""

    def __init__(self, authenticator: SignedRequestAuthenticator, sts: StsService,
                 failures: FailedSignIns) -> None:
        self._authn = authenticator
        self._sts = sts
        self._failures = failures

    def recorded_key_id(self, access_key_id: str) -> str:
        """The access key id as the audit trail records a sign-in: itself when it names a key,
        hidden otherwise, as CloudTrail hides an unknown user name (a secret pasted into the
        key id field would be shown to every reader of the trail)."""
        key_id = access_key_id.strip()
        if key_id and len(key_id) <= 128 and self._authn.names_a_key(key_id):
            return key_id
        return HIDDEN

    def sign_in(self, form: SignInForm, source: str) -> Principal:
        key_id = form.access_key_id.strip()
        if not key_id or not form.secret_access_key:
            raise Invalid("Enter an access key ID and its secret access key.")
        if len(key_id) > 128 or len(form.secret_access_key) > 512:
            raise Unauthenticated(BAD_CREDENTIALS)
        keys = (("address", source), ("key", key_id))
        self._failures.check(*keys)
        try:
            principal = self._authn.verify_secret(key_id, form.secret_access_key,
                                                  form.session_token.strip() or None)
        except SignatureError:
            self._failures.failed(*keys)
            raise Unauthenticated(BAD_CREDENTIALS) from None
        role_arn = form.role_arn.strip()
        if not role_arn:
            return principal
        name = form.session_name.strip() or f"console-{principal.name}"[:64]
        if not _SESSION_NAME.fullmatch(name):
            raise Invalid("The session name must be 2 to 64 letters, digits or +=,.@_- "
                          "characters.")
        # Refusals are STS's own (AccessDenied, the duration rules), shown on the form.
        credentials = self._sts.assume_role(principal, role_arn, name, None)
        session = credentials.session
        return session_principal(principal.account_id, session.arn, session.user_id,
                                 session.session_name, session.access_key_id,
                                 session.expires_at, session.role.arn, session.created_at)
