"""Credentials beyond root: IAM users' access keys, role sessions, and the tokens they mint."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from unittest import mock

import botocore.auth
import botocore.credentials
import pytest
from botocore.awsrequest import AWSRequest

from packyard.auth.credentials import RootCredentials
from packyard.auth.package_auth import PackageAuthenticator
from packyard.auth.principal import ASSUMED_ROLE, USER, Principal
from packyard.auth.signed import ExpiredToken, SignedRequestAuthenticator
from packyard.auth.sigv4 import InvalidSignature, UnrecognizedClient
from packyard.auth.token_ledger import TokenLedger
from packyard.auth.tokens import TokenService, hash_token
from packyard.clock import Clock
from packyard.errors import Unauthenticated
from packyard.iam.secrets import KEY_FILE, SecretBox
from packyard.iam.store import IamStore
from packyard.metadata.catalog import SqlCatalog
from packyard.model import Domain

ACCT = "000000000000"
ROOT = RootCredentials("AKIAROOTROOTROOTROOT", "root-secret")
TRUST = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},' \
        '"Action":"sts:AssumeRole"}]}'


@pytest.fixture()
def catalog(tmp_path: Path) -> SqlCatalog:
    c = SqlCatalog(f"sqlite:///{tmp_path / 'db.sqlite'}")
    c.migrate()
    return c


@pytest.fixture()
def store(catalog: SqlCatalog) -> IamStore:
    return IamStore(catalog.engines, ACCT, SecretBox.generate())


def _now() -> datetime:
    return datetime.now(UTC)


def _signed(key_id: str, secret: str, token: str | None = None,
            when: datetime | None = None) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """Headers and body of a CodeArtifact call signed by botocore (at ``when``)."""
    body = b"{}"
    request = AWSRequest(method="POST", url="http://127.0.0.1:8080/v1/domains", data=body,
                         headers={"Content-Type": "application/json"})
    signer = botocore.auth.SigV4Auth(botocore.credentials.Credentials(key_id, secret, token),
                                     "codeartifact", "us-east-1")
    with mock.patch("botocore.auth.get_current_datetime",
                    return_value=when or datetime.now(UTC)):
        signer.add_auth(request)
    headers = [(k.lower().encode(), str(v).encode()) for k, v in request.headers.items()]
    headers.append((b"host", b"127.0.0.1:8080"))
    return headers, body


def _authenticate(authn: SignedRequestAuthenticator, key_id: str, secret: str,
                  token: str | None = None, when: datetime | None = None) -> Principal:
    headers, body = _signed(key_id, secret, token, when)
    return authn.authenticate("POST", "/v1/domains", "", headers, body, "codeartifact")


def _authn(store: IamStore, clock: Clock | None = None) -> SignedRequestAuthenticator:
    return SignedRequestAuthenticator(ROOT, ACCT, clock or Clock(), 900, store)


# -- signed requests -----------------------------------------------------------------------------

def test_root_key(store: IamStore) -> None:
    principal = _authenticate(_authn(store), ROOT.access_key_id, ROOT.secret_access_key)
    assert principal.is_root


def test_user_key_signs_as_the_user(store: IamStore) -> None:
    user = store.create_user("alice", "/", _now())
    key, secret = store.create_access_key("alice", _now())
    principal = _authenticate(_authn(store), key.id, secret)
    assert (principal.kind, principal.arn, principal.user_id) == (USER, user.arn, user.id)
    assert principal.access_key_id == key.id


def test_inactive_key_is_an_unrecognized_client(store: IamStore) -> None:
    store.create_user("alice", "/", _now())
    key, secret = store.create_access_key("alice", _now())
    store.update_access_key("alice", key.id, "Inactive")
    with pytest.raises(UnrecognizedClient,
                       match="The security token included in the request is invalid."):
        _authenticate(_authn(store), key.id, secret)


def test_wrong_user_secret_is_an_invalid_signature(store: IamStore) -> None:
    store.create_user("alice", "/", _now())
    key, _ = store.create_access_key("alice", _now())
    with pytest.raises(InvalidSignature, match="signature we calculated does not match"):
        _authenticate(_authn(store), key.id, "not-the-secret")


def test_long_term_key_with_a_session_token_is_refused(store: IamStore) -> None:
    store.create_user("alice", "/", _now())
    key, secret = store.create_access_key("alice", _now())
    with pytest.raises(UnrecognizedClient):
        _authenticate(_authn(store), key.id, secret, "some-token")


def _session(store: IamStore, minutes: int = 60) -> tuple[str, str, str]:
    role = store.create_role("ci", "/", TRUST, None, 3600, _now())
    session, secret, token = store.create_session(role, "build", "caller", _now(),
                                                  _now() + timedelta(minutes=minutes))
    return session.access_key_id, secret, token


def test_session_credentials_need_their_token(store: IamStore) -> None:
    key_id, secret, token = _session(store)
    principal = _authenticate(_authn(store), key_id, secret, token)
    assert principal.kind == ASSUMED_ROLE
    assert principal.arn == f"arn:aws:sts::{ACCT}:assumed-role/ci/build"
    assert principal.role_arn == f"arn:aws:iam::{ACCT}:role/ci"
    with pytest.raises(UnrecognizedClient):
        _authenticate(_authn(store), key_id, secret)
    with pytest.raises(UnrecognizedClient):
        _authenticate(_authn(store), key_id, secret, token + "x")


def test_expired_session_is_an_expired_token(store: IamStore) -> None:
    key_id, secret, token = _session(store, minutes=15)
    # Client and server clocks agree, 16 minutes on: only the session's expiry is wrong.
    later = _now() + timedelta(minutes=16)
    with pytest.raises(ExpiredToken, match="The security token included in the request is "
                                           "expired"):
        _authenticate(_authn(store, Clock(16 * 60)), key_id, secret, token, later)


def test_session_of_a_deleted_role_is_unrecognized(store: IamStore) -> None:
    key_id, secret, token = _session(store)
    store.delete_role("ci")
    with pytest.raises(UnrecognizedClient):
        _authenticate(_authn(store), key_id, secret, token)


# -- tokens act for their principal --------------------------------------------------------------

@pytest.fixture()
def domain(catalog: SqlCatalog) -> Domain:
    return catalog.create_domain("dom", ACCT, "k", _now())


def _mint(catalog: SqlCatalog, principal: Principal, domain: Domain) -> str:
    return TokenService(catalog).issue(principal, domain, 3600, _now()).token


def _package_authn(catalog: SqlCatalog, store: IamStore, clock: Clock | None = None
                   ) -> PackageAuthenticator:
    return PackageAuthenticator(TokenService(catalog), ACCT, clock or Clock(),
                                ROOT.access_key_id, store)


def test_user_token_resolves_to_the_user(catalog: SqlCatalog, store: IamStore,
                                         domain: Domain) -> None:
    store.create_user("alice", "/", _now())
    key, secret = store.create_access_key("alice", _now())
    principal = _authenticate(_authn(store), key.id, secret)
    token = _mint(catalog, principal, domain)
    resolved = _package_authn(catalog, store).authenticate(f"Bearer {token}", domain)
    assert resolved == principal


@pytest.mark.parametrize("change", ["deactivate key", "delete key", "delete user"])
def test_user_token_stops_with_its_credentials(catalog: SqlCatalog, store: IamStore,
                                               domain: Domain, change: str) -> None:
    store.create_user("alice", "/", _now())
    key, secret = store.create_access_key("alice", _now())
    token = _mint(catalog, _authenticate(_authn(store), key.id, secret), domain)
    authn = _package_authn(catalog, store)
    authn.authenticate(f"Bearer {token}", domain)
    if change == "deactivate key":
        store.update_access_key("alice", key.id, "Inactive")
    else:
        store.delete_access_key("alice", key.id)
        if change == "delete user":
            store.delete_user("alice")
    # The change went through the same store, so the cached principal is dropped at once.
    with pytest.raises(Unauthenticated, match="credentials that requested this token are no "
                                              "longer valid"):
        authn.authenticate(f"Bearer {token}", domain)


def test_recreated_user_does_not_inherit_old_tokens(catalog: SqlCatalog, store: IamStore,
                                                    domain: Domain) -> None:
    store.create_user("alice", "/", _now())
    key, secret = store.create_access_key("alice", _now())
    token = _mint(catalog, _authenticate(_authn(store), key.id, secret), domain)
    store.delete_access_key("alice", key.id)
    store.delete_user("alice")
    store.create_user("alice", "/", _now())
    store.create_access_key("alice", _now())
    with pytest.raises(Unauthenticated):
        _package_authn(catalog, store).authenticate(f"Bearer {token}", domain)


def test_session_token_ends_with_the_session(catalog: SqlCatalog, store: IamStore,
                                             domain: Domain) -> None:
    key_id, secret, session_token = _session(store, minutes=20)
    principal = _authenticate(_authn(store), key_id, secret, session_token)
    issued = TokenService(catalog).issue(principal, domain, 43200, _now())
    assert issued.expires_at == principal.credentials_expire_at
    later = _package_authn(catalog, store, Clock(21 * 60))
    with pytest.raises(Unauthenticated, match="expired"):
        later.authenticate(f"Bearer {issued.token}", domain)


def test_root_token_needs_the_current_root_key(catalog: SqlCatalog, store: IamStore,
                                               domain: Domain) -> None:
    principal = _authenticate(_authn(store), ROOT.access_key_id, ROOT.secret_access_key)
    token = _mint(catalog, principal, domain)
    rotated = PackageAuthenticator(TokenService(catalog), ACCT, Clock(), "AKIANEWROOTKEY000000",
                                   store)
    with pytest.raises(Unauthenticated):
        rotated.authenticate(f"Bearer {token}", domain)


def test_revoked_token_stops_after_the_cache(catalog: SqlCatalog, store: IamStore,
                                             domain: Domain) -> None:
    principal = _authenticate(_authn(store), ROOT.access_key_id, ROOT.secret_access_key)
    tokens = TokenService(catalog)
    issued = tokens.issue(principal, domain, 3600, _now())
    ledger = TokenLedger(catalog.engines)
    [info] = ledger.list(principal_arn=principal.arn, now=_now())
    assert info.state(_now()) == "active"
    tokens.resolve(issued.token, _now())  # cached as valid
    assert ledger.revoke(info.id, _now())
    assert not ledger.revoke(info.id, _now())  # already revoked
    tokens.forget_cached()  # what the cache's expiry does within CACHE_SECONDS
    with pytest.raises(Unauthenticated, match="Invalid authorization token"):
        tokens.resolve(issued.token, _now())
    assert ledger.list(now=_now()) == []
    assert ledger.list(now=_now(), include_inactive=True)[0].state(_now()) == "revoked"


def test_revoke_by_token_value_and_by_principal(catalog: SqlCatalog, store: IamStore,
                                                domain: Domain) -> None:
    principal = _authenticate(_authn(store), ROOT.access_key_id, ROOT.secret_access_key)
    first = _mint(catalog, principal, domain)
    _mint(catalog, principal, domain)
    ledger = TokenLedger(catalog.engines)
    assert ledger.revoke_by_digest(hash_token(first), _now()) is not None
    assert ledger.revoke_by_digest(hash_token("unknown"), _now()) is None
    assert ledger.revoke_all_for(principal.arn, _now()) == 1


# -- the secrets key file ------------------------------------------------------------------------

def test_key_file_is_created_owner_only_and_reused(tmp_path: Path) -> None:
    box = SecretBox.from_data_dir(tmp_path)
    path = tmp_path / KEY_FILE
    assert path.stat().st_mode & 0o777 == 0o600
    sealed = box.encrypt("s3cret")
    assert SecretBox.from_data_dir(tmp_path).decrypt(sealed) == "s3cret"


def test_loose_key_file_permissions_are_tightened(tmp_path: Path) -> None:
    SecretBox.from_data_dir(tmp_path)
    os.chmod(tmp_path / KEY_FILE, 0o644)
    SecretBox.from_data_dir(tmp_path)
    assert (tmp_path / KEY_FILE).stat().st_mode & 0o777 == 0o600
