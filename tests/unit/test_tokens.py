"""Token lifetimes (CodeArtifact's durationSeconds rules) and token extraction from headers."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest

from packyard.auth.package_auth import token_from_authorization
from packyard.auth.principal import Principal, root_principal
from packyard.auth.tokens import token_lifetime
from packyard.errors import Invalid, Unauthenticated
from packyard.iam import secrets as secrets_module
from packyard.iam.secrets import new_secret_access_key, new_session_token, opaque_token

NOW = datetime(2026, 1, 1, tzinfo=UTC)
ROOT = root_principal("000000000000")


@pytest.mark.parametrize(("duration", "expected"), [
    (None, timedelta(hours=12)),
    (900, timedelta(minutes=15)),
    (43200, timedelta(hours=12)),
    (3600, timedelta(hours=1)),
    (0, timedelta(hours=12)),
])
def test_lifetimes(duration: int | None, expected: timedelta) -> None:
    assert token_lifetime(duration, ROOT, NOW) == NOW + expected


@pytest.mark.parametrize("duration", [1, 899, 43201])
def test_out_of_range_durations_are_refused(duration: int) -> None:
    with pytest.raises(Invalid, match="durationSeconds must be 0 or between 900 and 43200"):
        token_lifetime(duration, ROOT, NOW)


def test_token_never_outlives_temporary_credentials() -> None:
    session = Principal(arn="arn:aws:sts::000000000000:assumed-role/r/s",
                        account_id="000000000000", kind="assumed-role", user_id="AROA:s",
                        name="s", credentials_expire_at=NOW + timedelta(minutes=30))
    assert token_lifetime(0, session, NOW) == NOW + timedelta(minutes=30)
    assert token_lifetime(43200, session, NOW) == NOW + timedelta(minutes=30)


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize(("header", "token"), [
    (_basic("aws", "tok"), "tok"),
    (_basic("__token__", "tok:with:colons"), "tok:with:colons"),
    ("Bearer tok", "tok"),
    ("bearer   tok  ", "tok"),
])
def test_token_from_authorization(header: str, token: str) -> None:
    assert token_from_authorization(header) == token


@pytest.mark.parametrize(("header", "message"), [
    (None, "Authentication required"),
    ("", "Authentication required"),
    ("Basic !!!", "Malformed Basic authorization header"),
    (_basic("aws", ""), "needs a password"),
    ("Digest abc", "Unsupported authorization scheme"),
])
def test_bad_authorization_headers(header: str | None, message: str) -> None:
    with pytest.raises(Unauthenticated, match=message):
        token_from_authorization(header)


def test_regression_a_token_never_starts_with_a_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fresh-clone run failed when an authorization token began with ``-``: ``twine upload
    -u aws -p TOKEN`` took it for an option ("argument -p/--password: expected one
    argument"), as would any command line a user pastes a token or secret into. One random
    token in 64 began so; they are drawn again until none does."""
    drawn = iter(["-leading-dash", "_fine", "-again", "ok"])
    monkeypatch.setattr(secrets_module.secrets, "token_urlsafe", lambda _n: next(drawn))
    assert opaque_token(48) == "_fine"
    assert new_session_token() == "ok"
    monkeypatch.undo()
    # The real draws (about 30 of 2,000 begin with "-" before they are drawn again), and the
    # root and IAM secrets, of AWS's alphabet.
    assert not any(opaque_token(48).startswith("-") or new_secret_access_key().startswith("-")
                   for _ in range(2000))
