"""Read grants reused on keep-alive connections (``RepositoryGate``, ``services/access.py``):
the next requests of a caller from the same place, on that connection or another of its own,
skip the policy evaluation, for longer than the one second grants are reused without a
connection, and every change a grant rests on (a token revoked, a key deactivated, a Deny
policy, an untag, the token's expiry) refuses the very next request on that connection,
whether the answer is cached or not.

``packyard serve``'s protocol numbers each connection in the scope (``server/protocol.py``);
here a client on ``_connection`` gets a number the same way."""

from __future__ import annotations

import itertools
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from starlette.types import Receive, Scope, Send

from packyard.auth.environment import CONNECTION
from packyard.auth.token_ledger import TokenLedger
from packyard.auth.tokens import hash_token
from packyard.metadata.change_feed import TOKENS
from tests.inprocess.harness import AsgiBridge, InProcessPackyard, InProcessRepo, assert_refused
from tests.integration.helpers import Credentials, DistFactory, DistSpec, upload_ok

JSON_V1 = "application/vnd.pypi.simple.v1+json"
PAGE = "simple/demo-pkg/"
WHEEL = "demo_pkg-1.0-py3-none-any.whl"
CA = "arn:aws:codeartifact:us-east-1:000000000000"
_numbers = itertools.count(1)


class _Connection:
    """The app as one kept-alive connection sees it: every request carries its number."""

    def __init__(self, packyard: InProcessPackyard) -> None:
        self.app = packyard.app
        self.number = next(_numbers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope[CONNECTION] = self.number
        await self.app(scope, receive, send)


def _connection(packyard: InProcessPackyard, repo: InProcessRepo) -> InProcessRepo:
    """``repo`` read through a new connection of its own."""
    bridge = AsgiBridge(cast(Any, _Connection(packyard)), packyard.portal)
    return InProcessRepo(repo.server_url, repo.domain, repo.repository, repo.endpoint,
                         repo.token, transport=bridge)


@pytest.fixture
def policy_checks(packyard: InProcessPackyard, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The ReadFromRepository decisions made, by resource."""
    authorizer = packyard.container.registry.authorizer
    made: list[str] = []
    check = authorizer.check

    def counted(principal: Any, action: str, resource: str, *args: Any, **kwargs: Any) -> None:
        if action == "codeartifact:ReadFromRepository":
            made.append(resource)
        check(principal, action, resource, *args, **kwargs)

    monkeypatch.setattr(authorizer, "check", counted)
    return made


def _reader(packyard: InProcessPackyard, name: str, *, tagged: bool = False,
            duration_seconds: int | None = None) -> tuple[InProcessRepo, Credentials]:
    """A user who may read (only repositories tagged team=data, with ``tagged``), its token
    and the repository ``shelf`` on a connection of its own."""
    iam = packyard.iam()
    iam.create_user(UserName=name)
    read: dict[str, Any] = {"Effect": "Allow", "Action": "codeartifact:ReadFromRepository",
                            "Resource": "*"}
    if tagged:
        read["Condition"] = {"StringEquals": {"aws:ResourceTag/team": "data"}}
    iam.put_user_policy(UserName=name, PolicyName="read", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["codeartifact:GetAuthorizationToken",
                                           "sts:GetServiceBearerToken"], "Resource": "*"},
            read]}))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    credentials = Credentials(key["AccessKeyId"], key["SecretAccessKey"])
    repo = packyard.pypi_repo(create=False, credentials=credentials,
                              duration_seconds=duration_seconds)
    return _connection(packyard, repo), credentials


@pytest.fixture
def shelf(packyard: InProcessPackyard, dists: DistFactory) -> InProcessRepo:
    repo = packyard.pypi_repo()
    spec = DistSpec(name="demo-pkg", version="1.0")
    upload_ok(repo, dists.wheel(spec), dists.sdist(spec))
    packyard.codeartifact().tag_resource(resourceArn=f"{CA}:repository/acme/shelf",
                                         tags=[{"key": "team", "value": "data"}])
    return repo


def test_a_grant_is_reused_past_a_second_on_its_connection_and_the_callers_others(
        packyard: InProcessPackyard, shelf: InProcessRepo, policy_checks: list[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    kept = _connection(packyard, shelf)
    assert kept.get(PAGE, Accept=JSON_V1).status_code == 200
    assert len(policy_checks) == 1
    # Five seconds later (the grant's clock), on the same connection: a new file and the
    # cached page, without a policy evaluation.
    readers = packyard.container.core.gate._readers  # noqa: SLF001 - its clock, moved
    monkeypatch.setattr(readers, "_monotonic", lambda: _later(5.0))
    assert kept.get(f"simple/demo-pkg/{WHEEL}").status_code == 200
    assert kept.get(PAGE, Accept=JSON_V1).status_code == 200
    assert len(policy_checks) == 1
    # Another connection of the same caller from the same place (uv and npm open several):
    # no policy evaluation either.
    assert _connection(packyard, shelf).get(PAGE, Accept=JSON_V1).status_code == 200
    assert len(policy_checks) == 1
    # Past the grant's lifetime, any connection is authorized afresh.
    monkeypatch.setattr(readers, "_monotonic", lambda: _later(11.0))
    assert _connection(packyard, shelf).get(PAGE, Accept=JSON_V1).status_code == 200
    assert len(policy_checks) == 2


def test_another_caller_on_a_new_connection_is_authorized_afresh(
        packyard: InProcessPackyard, shelf: InProcessRepo, policy_checks: list[str]) -> None:
    assert _connection(packyard, shelf).get(PAGE, Accept=JSON_V1).status_code == 200
    assert len(policy_checks) == 1
    other, _ = _reader(packyard, "olga")
    assert other.get(PAGE, Accept=JSON_V1).status_code == 200
    assert len(policy_checks) == 2


def _later(seconds: float) -> float:
    return time.monotonic() + seconds


def test_requests_naming_no_connection_reuse_a_grant_for_a_second_only(
        packyard: InProcessPackyard, shelf: InProcessRepo, policy_checks: list[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert shelf.get(PAGE, Accept=JSON_V1).status_code == 200
    assert shelf.get(PAGE, Accept=JSON_V1).status_code == 200
    assert len(policy_checks) == 1
    readers = packyard.container.core.gate._readers  # noqa: SLF001 - its clock, moved
    monkeypatch.setattr(readers, "_monotonic", lambda: _later(1.5))
    assert shelf.get(PAGE, Accept=JSON_V1).status_code == 200
    assert len(policy_checks) == 2


def _warm(kept: InProcessRepo) -> None:
    """The page read twice on the connection: granted, then answered from memory."""
    for _ in range(2):
        assert kept.get(PAGE, Accept=JSON_V1).status_code == 200


# Each change, made after the caller's grant on a kept-alive connection; then the cached page
# and a file never read before, on that connection, are refused at once.

def _revoke(packyard: InProcessPackyard, token: str) -> None:
    """The revocation as ``packyard token revoke`` or the console writes it."""
    ledger = TokenLedger(packyard.container.registry.catalog.engines)
    assert ledger.revoke_by_digest(hash_token(token), datetime.now(UTC))


def test_a_token_revoked_here_is_refused_at_once_on_a_kept_alive_connection(
        packyard: InProcessPackyard, shelf: InProcessRepo) -> None:
    kept, _ = _reader(packyard, "rita")
    _warm(kept)
    _revoke(packyard, kept.token)
    packyard.container.registry.tokens.forget_cached()  # as TokenAdministration.revoke does
    for path in (PAGE, f"simple/demo-pkg/{WHEEL}"):
        assert_refused(kept.get(path, Accept=JSON_V1), 401, "Invalid authorization token")


def test_a_token_revoked_by_another_process_is_refused_once_announced(
        packyard: InProcessPackyard, shelf: InProcessRepo) -> None:
    kept, _ = _reader(packyard, "ravi")
    _warm(kept)
    _revoke(packyard, kept.token)
    invalidation = packyard.container.invalidation
    assert invalidation is not None
    invalidation.changed_elsewhere(frozenset({TOKENS}))  # what the change watcher hears
    for path in (PAGE, f"simple/demo-pkg/{WHEEL}"):
        assert_refused(kept.get(path, Accept=JSON_V1), 401, "Invalid authorization token")


def test_a_deactivated_key_is_refused_at_once_on_a_kept_alive_connection(
        packyard: InProcessPackyard, shelf: InProcessRepo) -> None:
    kept, credentials = _reader(packyard, "kate")
    _warm(kept)
    packyard.iam().update_access_key(UserName="kate", AccessKeyId=credentials.access_key_id,
                                     Status="Inactive")
    for path in (PAGE, f"simple/demo-pkg/{WHEEL}"):
        assert_refused(kept.get(path, Accept=JSON_V1), 401,
                       "The credentials that requested this token are no longer valid (deleted "
                       "user, inactive or deleted access key, or deleted role); get a new token")


def test_a_new_deny_policy_is_refused_at_once_on_a_kept_alive_connection(
        packyard: InProcessPackyard, shelf: InProcessRepo) -> None:
    kept, _ = _reader(packyard, "lee")
    _warm(kept)
    packyard.iam().put_user_policy(UserName="lee", PolicyName="deny", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [
            {"Effect": "Deny", "Action": "codeartifact:ReadFromRepository", "Resource": "*"}]}))
    for path in (PAGE, f"simple/demo-pkg/{WHEEL}"):
        assert kept.get(path, Accept=JSON_V1).status_code == 403


def test_an_untag_is_refused_at_once_on_a_kept_alive_connection(
        packyard: InProcessPackyard, shelf: InProcessRepo) -> None:
    kept, _ = _reader(packyard, "tess", tagged=True)
    _warm(kept)
    packyard.codeartifact().untag_resource(resourceArn=f"{CA}:repository/acme/shelf",
                                           tagKeys=["team"])
    for path in (PAGE, f"simple/demo-pkg/{WHEEL}"):
        assert kept.get(path, Accept=JSON_V1).status_code == 403


def test_an_untag_by_another_process_is_refused_at_once(
        packyard: InProcessPackyard, shelf: InProcessRepo, packyard_factory: Any) -> None:
    kept, _ = _reader(packyard, "tom", tagged=True)
    _warm(kept)
    # Another server on the same data directory removes the tag (the catalog's shared change
    # stamp moves; replicas on PostgreSQL move it when the change is announced).
    other = packyard_factory()
    other.codeartifact().untag_resource(resourceArn=f"{CA}:repository/acme/shelf",
                                        tagKeys=["team"])
    for path in (PAGE, f"simple/demo-pkg/{WHEEL}"):
        assert kept.get(path, Accept=JSON_V1).status_code == 403


def test_an_expired_token_is_refused_the_moment_it_expires_on_a_kept_alive_connection(
        packyard: InProcessPackyard, shelf: InProcessRepo,
        monkeypatch: pytest.MonkeyPatch) -> None:
    kept, _ = _reader(packyard, "eve", duration_seconds=900)
    _warm(kept)
    clock = packyard.container.registry.clock
    monkeypatch.setattr(clock, "_offset", timedelta(seconds=901))
    for path in (PAGE, f"simple/demo-pkg/{WHEEL}"):
        assert_refused(kept.get(path, Accept=JSON_V1), 401,
                       "The authorization token has expired")


