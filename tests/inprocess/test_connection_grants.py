"""Read grants reused on keep-alive connections (``RepositoryGate``, ``services/access.py``):
the next requests of a caller from the same place, on that connection or another of its own,
skip the policy evaluation, for longer than the one second grants are reused without a
connection, and every change a grant rests on (a token revoked, a key deactivated, a Deny
policy, an untag, the token's expiry) refuses the very next request on that connection,
whether the answer is cached or not, made in this process or in another; writes no grant
rests on (a publish, a pull-through keep, a status change, a version deleted) leave the grants
in place, here and in the other processes.

``packyard serve``'s protocol numbers each connection in the scope (``server/protocol.py``);
here a client on ``_connection`` gets a number the same way."""

from __future__ import annotations

import asyncio
import itertools
import json
import shutil
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from anyio.from_thread import BlockingPortal
from starlette.types import Receive, Scope, Send

from packyard.auth.environment import CONNECTION, RequestEnvironment, _current
from packyard.auth.token_ledger import TokenLedger
from packyard.auth.tokens import hash_token
from packyard.metadata.change_feed import ACCESS, CATALOG, TOKENS, watch_changes
from tests.inprocess.conftest import PackyardFactory
from tests.inprocess.harness import (
    AsgiBridge,
    AwsClients,
    InProcessPackyard,
    InProcessRepo,
    assert_refused,
    settings_for,
)
from tests.integration.helpers import Credentials, DistFactory, DistSpec, upload_ok

JSON_V1 = "application/vnd.pypi.simple.v1+json"
PAGE = "simple/demo-pkg/"
WHEEL = "demo_pkg-1.0-py3-none-any.whl"
CA = "arn:aws:codeartifact:us-east-1:000000000000"
ACCOUNT = "arn:aws:iam::000000000000"
DENY_READS = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Deny", "Principal": "*", "Action": "codeartifact:ReadFromRepository",
     "Resource": "*"}]})
# Well under a grant's life on a connection (10 s): seen by then only if heard.
SOON = 0.5
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
            duration_seconds: int | None = None,
            repository: str = "shelf") -> tuple[InProcessRepo, Credentials]:
    """A user who may read (only repositories tagged team=data, with ``tagged``), its token
    and ``repository`` on a connection of its own."""
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
    repo = packyard.pypi_repo(repository=repository, create=False, credentials=credentials,
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


def test_a_callers_connections_asking_at_once_share_one_policy_evaluation(
        packyard: InProcessPackyard, shelf: InProcessRepo, policy_checks: list[str]) -> None:
    # uv and npm open dozens of connections at the start of an install: each one's first
    # request without a grant must wait for the one evaluation, not make its own.
    _, credentials = _reader(packyard, "uma")
    token = packyard.pypi_repo(create=False, credentials=credentials).token
    reads = packyard.container.core.reads[0]
    here = RequestEnvironment("127.0.0.1", False)
    elsewhere = RequestEnvironment("10.0.0.9", False)

    async def at_once() -> list[object]:
        async def ask(env: RequestEnvironment, connection: int) -> object:
            _current.set(env)  # as RequestEnvironmentMiddleware sets it for each request
            return await reads.grant("acme-000000000000", "shelf", f"Bearer {token}", env,
                                     connection)
        return list(await asyncio.gather(*(ask(here, 900 + n) for n in range(20)),
                                         ask(elsewhere, 950)))

    granted = packyard.portal.call(at_once)
    assert len({id(access) for access in granted[:20]}) == 1  # one grant for the 20 connections
    # Another source address is another decision (aws:SourceIp), made on its own.
    assert policy_checks == [f"{CA}:repository/acme/shelf"] * 2


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




# -- writes no grant rests on ------------------------------------------------------------------

def _publish(packyard: InProcessPackyard, shelf: InProcessRepo, dists: DistFactory) -> None:
    upload_ok(shelf, dists.wheel(DistSpec(name="demo-pkg", version="2.0")))


def _archive(packyard: InProcessPackyard, shelf: InProcessRepo, dists: DistFactory) -> None:
    _publish(packyard, shelf, dists)
    packyard.codeartifact().update_package_versions_status(
        domain="acme", repository="shelf", format="pypi", package="demo-pkg",
        versions=["2.0"], targetStatus="Archived")


def _delete_version(packyard: InProcessPackyard, shelf: InProcessRepo,
                    dists: DistFactory) -> None:
    _publish(packyard, shelf, dists)
    packyard.codeartifact().delete_package_versions(
        domain="acme", repository="shelf", format="pypi", package="demo-pkg", versions=["2.0"])


@pytest.mark.parametrize(("write", "versions"), [
    pytest.param(_publish, ["1.0", "2.0"], id="publish"),
    pytest.param(_archive, ["1.0"], id="status-change"),
    pytest.param(_delete_version, ["1.0"], id="version-deleted"),
])
def test_a_version_write_leaves_the_grants_on_a_kept_alive_connection(
        packyard: InProcessPackyard, shelf: InProcessRepo, dists: DistFactory,
        policy_checks: list[str],
        write: Callable[[InProcessPackyard, InProcessRepo, DistFactory], None],
        versions: list[str]) -> None:
    kept, _ = _reader(packyard, "pia")
    _warm(kept)
    assert len(policy_checks) == 1
    write(packyard, shelf, dists)
    # The page shows the write (pages follow every catalog write)...
    assert kept.get(PAGE, Accept=JSON_V1).json()["versions"] == versions
    assert kept.get(f"simple/demo-pkg/{WHEEL}").status_code == 200
    # ...and the caller's grant outlived it: no policy evaluation since the first.
    assert len(policy_checks) == 1


def test_a_role_assumed_by_another_caller_leaves_the_grants(
        packyard: InProcessPackyard, shelf: InProcessRepo, policy_checks: list[str]) -> None:
    # A CI fleet assumes a role for every job; a new session is an IAM write no decision can
    # rest on, so it must not make every reader's next request evaluate policies again.
    kept, _ = _reader(packyard, "ada")
    _warm(kept)
    assert len(policy_checks) == 1
    iam = packyard.iam()
    arn = iam.create_user(UserName="job")["User"]["Arn"]
    key = iam.create_access_key(UserName="job")["AccessKey"]
    iam.put_user_policy(UserName="job", PolicyName="assume", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]}))
    iam.create_role(RoleName="builder", AssumeRolePolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": arn},
                                                 "Action": "sts:AssumeRole"}]}))
    _warm(kept)  # the IAM writes above drop the grant: granted again
    assert len(policy_checks) == 2
    job = Credentials(key["AccessKeyId"], key["SecretAccessKey"])
    assumed = packyard.sts(job).assume_role(RoleArn=f"{ACCOUNT}:role/builder",
                                            RoleSessionName="job-1")["Credentials"]
    assert kept.get(PAGE, Accept=JSON_V1).status_code == 200
    assert kept.get(f"simple/demo-pkg/{WHEEL}").status_code == 200
    assert len(policy_checks) == 2
    # The session's credentials work at once, here as in any process.
    session = Credentials(assumed["AccessKeyId"], assumed["SecretAccessKey"])
    identity = packyard.sts(session, assumed["SessionToken"]).get_caller_identity()
    assert identity["Arn"].endswith(":assumed-role/builder/job-1")


def test_making_users_roles_keys_and_policies_leaves_the_grants(
        packyard: InProcessPackyard, shelf: InProcessRepo, policy_checks: list[str]) -> None:
    # Provisioning (a user, its key, a role, a managed policy nobody has yet) makes only what
    # no decision has seen; attaching the policy is the write that changes decisions.
    kept, _ = _reader(packyard, "ivy")
    _warm(kept)
    assert len(policy_checks) == 1
    iam = packyard.iam()
    iam.create_user(UserName="newcomer")
    key = iam.create_access_key(UserName="newcomer")["AccessKey"]
    iam.create_role(RoleName="deployer", AssumeRolePolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": f"{ACCOUNT}:root"},
            "Action": "sts:AssumeRole"}]}))
    deny = iam.create_policy(PolicyName="no-reads", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{
            "Effect": "Deny", "Action": "codeartifact:ReadFromRepository",
            "Resource": "*"}]}))["Policy"]["Arn"]
    assert kept.get(PAGE, Accept=JSON_V1).status_code == 200
    assert kept.get(f"simple/demo-pkg/{WHEEL}").status_code == 200
    assert len(policy_checks) == 1
    # The new key works at once.
    newcomer = Credentials(key["AccessKeyId"], key["SecretAccessKey"])
    assert packyard.sts(newcomer).get_caller_identity()["Arn"] == f"{ACCOUNT}:user/newcomer"
    # Attached to the reader, the Deny refuses its very next request.
    iam.attach_user_policy(UserName="ivy", PolicyArn=deny)
    assert kept.get(PAGE, Accept=JSON_V1).status_code == 403


def test_a_pull_through_keep_leaves_the_grants_on_a_kept_alive_connection(
        packyard: InProcessPackyard, dists: DistFactory, policy_checks: list[str]) -> None:
    lib = packyard.pypi_repo(repository="lib")
    wheel = dists.wheel(DistSpec(name="lib-pkg", version="1.0"))
    upload_ok(lib, wheel)
    api = packyard.codeartifact()
    api.create_repository(domain="acme", repository="team", upstreams=[{"repositoryName": "lib"}])
    team, _ = _reader(packyard, "kim", repository="team")
    assert team.get("simple/lib-pkg/", Accept=JSON_V1).status_code == 200
    assert team.get(f"simple/lib-pkg/{wheel.filename}").content == wheel.data
    # The file was kept in team (a catalog write, as any pull-through keeps its files)...
    assert [v["version"] for v in api.list_package_versions(
        domain="acme", repository="team", format="pypi", package="lib-pkg")["versions"]] == [
        "1.0"]
    assert team.get("simple/lib-pkg/", Accept=JSON_V1).status_code == 200
    assert team.get(f"simple/lib-pkg/{wheel.filename}").content == wheel.data
    # ...and the grant made before it still answers.
    assert policy_checks == [f"{CA}:repository/acme/team"]


def test_a_publish_by_another_process_leaves_the_grants(
        packyard: InProcessPackyard, packyard_factory: PackyardFactory, shelf: InProcessRepo,
        dists: DistFactory, policy_checks: list[str]) -> None:
    kept, _ = _reader(packyard, "pat")
    _warm(kept)
    # Another server on the same data directory (the catalog's shared stamp moves)...
    other = packyard_factory()
    upload_ok(other.pypi_repo(create=False), dists.wheel(DistSpec(name="demo-pkg",
                                                                  version="2.0")))
    assert kept.get(PAGE, Accept=JSON_V1).json()["versions"] == ["1.0", "2.0"]
    # ...and a replica's publish, as announced on PostgreSQL.
    invalidation = packyard.container.invalidation
    assert invalidation is not None
    invalidation.changed_elsewhere(frozenset({CATALOG}))
    assert kept.get(PAGE, Accept=JSON_V1).status_code == 200
    assert len(policy_checks) == 1
    # What a write access rests on announces drops them.
    invalidation.changed_elsewhere(frozenset({CATALOG, ACCESS}))
    assert kept.get(PAGE, Accept=JSON_V1).status_code == 200
    assert len(policy_checks) == 2


# -- writes grants rest on, made by another process ------------------------------------------

@pytest.fixture
def replica(packyard: InProcessPackyard, shelf: InProcessRepo, data_dir: Path, tmp_path: Path,
            portal: BlockingPortal, aws_clients: AwsClients) -> Iterator[InProcessPackyard]:
    """Another server on ``packyard``'s database and blobs with a data directory of its own,
    as a replica on PostgreSQL is: it shares no stamp file, so each hears of the other's writes
    only as they are announced, once ``_listen`` starts its watcher."""
    own = tmp_path / "replica"
    own.mkdir(mode=0o700)
    for name in ("iam-secrets.wrapped", "keyring.json"):  # the keys both must have
        shutil.copy2(data_dir / name, own / name)
    other = InProcessPackyard(settings_for(
        own, blob_store=str(data_dir / "blobs"),
        database_url=packyard.settings.effective_database_url), portal, aws_clients)
    yield other
    packyard.container.stop_background()
    other.close()


def _listen(app: InProcessPackyard) -> None:
    """Start ``app``'s change watcher, hearing every write of this test process (whose
    origin it would otherwise take for its own) from now on: started after the grants are
    made, so that the writes made to set them up cannot be heard after them."""
    invalidation = app.container.invalidation
    assert invalidation is not None
    invalidation.watcher = watch_changes(app.settings.effective_database_url, own="listener")
    invalidation.start()
    time.sleep(0.15)  # its first look at the counters


def _within(seconds: float, check: Callable[[], bool]) -> None:
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < seconds, "not seen in time"
        time.sleep(0.01)


def test_regression_policy_write_in_another_process_drops_connection_grants(
        packyard: InProcessPackyard, shelf: InProcessRepo,
        packyard_factory: PackyardFactory) -> None:
    kept, _ = _reader(packyard, "pol")
    _warm(kept)
    # Another server on the same data directory: an IAM write reaches this one as announced.
    other = packyard_factory()
    _listen(packyard)
    try:
        other.codeartifact().put_repository_permissions_policy(
            domain="acme", repository="shelf", policyDocument=DENY_READS)
        _within(SOON, lambda: kept.get(PAGE, Accept=JSON_V1).status_code == 403)
        assert kept.get(f"simple/demo-pkg/{WHEEL}").status_code == 403
    finally:
        packyard.container.stop_background()


def test_regression_policy_write_by_a_replica_drops_connection_grants(
        packyard: InProcessPackyard, replica: InProcessPackyard) -> None:
    kept, _ = _reader(packyard, "pam")
    _warm(kept)
    _listen(packyard)
    replica.codeartifact().put_repository_permissions_policy(
        domain="acme", repository="shelf", policyDocument=DENY_READS)
    _within(SOON, lambda: kept.get(PAGE, Accept=JSON_V1).status_code == 403)
    assert kept.get(f"simple/demo-pkg/{WHEEL}").status_code == 403


def test_regression_untag_by_a_replica_drops_connection_grants(
        packyard: InProcessPackyard, replica: InProcessPackyard) -> None:
    # No stamp file is shared: only the ``access`` announcement can drop the grant in time.
    kept, _ = _reader(packyard, "una", tagged=True)
    _warm(kept)
    _listen(packyard)
    replica.codeartifact().untag_resource(resourceArn=f"{CA}:repository/acme/shelf",
                                          tagKeys=["team"])
    _within(SOON, lambda: kept.get(PAGE, Accept=JSON_V1).status_code == 403)
    assert kept.get(f"simple/demo-pkg/{WHEEL}").status_code == 403


def test_regression_repository_made_again_by_a_replica_drops_connection_grants(
        packyard: InProcessPackyard, replica: InProcessPackyard) -> None:
    kept, _ = _reader(packyard, "rex", tagged=True)
    _warm(kept)
    _listen(packyard)
    api = replica.codeartifact()
    api.delete_repository(domain="acme", repository="shelf")
    api.create_repository(domain="acme", repository="shelf")  # untagged, and empty
    _within(SOON, lambda: kept.get(PAGE, Accept=JSON_V1).status_code == 403)


def test_a_publish_by_a_replica_leaves_the_grants(
        packyard: InProcessPackyard, replica: InProcessPackyard, dists: DistFactory,
        policy_checks: list[str]) -> None:
    kept, _ = _reader(packyard, "rae")
    _warm(kept)
    _listen(packyard)
    upload_ok(replica.pypi_repo(create=False), dists.wheel(DistSpec(name="demo-pkg",
                                                                    version="2.0")))
    _within(SOON, lambda: kept.get(PAGE, Accept=JSON_V1).json()["versions"] == ["1.0", "2.0"])
    assert len(policy_checks) == 1
