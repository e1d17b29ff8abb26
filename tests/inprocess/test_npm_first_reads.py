"""npm's first reads: a packument or tarball not cached yet, answered by the first-read path
without Starlette (``FirstReads``: the grant, then ``NpmEndpoint.first_read`` into the hot
path's caches), and a small tarball's first read by a caller granted on its connection
answered on the event loop's thread (``FirstReads.now``: its record by a point read of its
version's file, its bytes from its local file). Every answer is compared whole (status,
headers, body) with what an app whose npm reads all go through the routes (``_routes_only``,
the path they took before) sends for the same request on the same data: scoped names in every
spelling, Unlisted/Archived/Disposed versions, origin controls, a missing blob, Range,
If-None-Match, big tarballs, refusals."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass

import pytest

from tests.inprocess.conftest import PackyardFactory
from tests.inprocess.harness import TOKEN_ONLY, InProcessPackyard, thread_hops, user_with
from tests.inprocess.npm_support import CORGI, FULL, NpmRepo, npm_repo

SCOPED = "@acme/util"
ONE = "@acme%2futil/-/util-1.0.0.tgz"


def _routes_only(app: InProcessPackyard) -> InProcessPackyard:
    """``app`` with every npm read answered by the routes, as before npm had a first-read
    path."""
    app.app._first_reads.pop("npm")  # noqa: SLF001 - the one switch between the two paths
    app.app._first_reads_now.pop("npm")  # noqa: SLF001
    return app


def _worker_only(app: InProcessPackyard) -> InProcessPackyard:
    """``app`` with npm's first reads made in a worker thread only, never on the loop's."""
    app.app._first_reads_now.pop("npm")  # noqa: SLF001
    return app


def _prepare(repo: NpmRepo) -> None:
    """The corpus: a scoped and an unscoped package with versions of each status, a package
    whose origin controls block everything, a tarball over 64 KiB, and a tarball whose blob is
    gone from the store."""
    for version in ("1.0.0", "1.1.0", "3.0.0", "4.0.0", "5.0.0"):
        assert repo.publish(SCOPED, version).status_code == 201
    assert repo.publish("plain", "1.0.0").status_code == 201
    assert repo.publish("guarded", "1.0.0").status_code == 201
    noise = random.Random(16).randbytes(100_000).hex()  # ~100 KB even gzipped
    assert repo.publish("bulky", "1.0.0", readme=noise).status_code == 201
    assert repo.publish("gone", "1.0.0").status_code == 201
    api = repo.app.codeartifact()
    where = {"domain": repo.domain, "repository": repo.repository, "format": "npm"}
    for version, status in (("3.0.0", "Unlisted"), ("4.0.0", "Archived")):
        api.update_package_versions_status(**where, namespace="acme", package="util",
                                           versions=[version], targetStatus=status)
    api.dispose_package_versions(**where, namespace="acme", package="util",
                                 versions=["5.0.0"])
    api.put_package_origin_configuration(**where, package="guarded",
                                         restrictions={"publish": "BLOCK", "upstream": "BLOCK"})
    assets = api.list_package_version_assets(**where, package="gone", packageVersion="1.0.0")
    sha256 = assets["assets"][0]["hashes"]["SHA-256"]
    catalog = repo.app.container.catalog
    domain = catalog.get_domain(repo.app.settings.account_id, repo.domain)
    path = repo.app.container.core.blobs.local_path(domain.blob_key, sha256)
    assert path is not None
    path.unlink()


@dataclass
class Pair:
    """Two apps on the same data (encryption off: every blob a plain local file): ``loop``
    with npm's first-read path, ``routes`` without it; a repo on each, granted on its
    connection already."""

    loop: InProcessPackyard
    routes: InProcessPackyard
    repo: NpmRepo
    routes_repo: NpmRepo


@pytest.fixture
def pair(packyard_factory: PackyardFactory) -> Pair:
    loop = packyard_factory(encryption="off")
    repo = npm_repo(loop)
    _prepare(repo)
    routes = _routes_only(packyard_factory(encryption="off"))
    routes_repo = npm_repo(routes, create=False)
    for each in (repo, routes_repo):
        assert each.get("-/ping").status_code == 200  # granted
    return Pair(loop, routes, repo, routes_repo)


Sent = tuple[int, dict[str, str], bytes]


def _raw(repo: NpmRepo, path: str, method: str = "GET", token: str | None = "default",
         **headers: str) -> Sent:
    response = repo.request(method, path, token=token, headers=headers)
    sent = {k: v for k, v in response.headers.items() if k != "x-amzn-requestid"}
    return response.status_code, sent, response.content


def _no_worker_lookup(app: InProcessPackyard, monkeypatch: pytest.MonkeyPatch) -> None:
    def in_a_worker_thread(*_args: object, **_kwargs: object) -> object:
        raise AssertionError("the tarball was looked up in a worker thread")

    monkeypatch.setattr(app.container.catalog, "find_asset", in_a_worker_thread)


@pytest.mark.parametrize(("path", "method", "status"), [
    pytest.param(ONE, "GET", 200, id="scoped-npm-spelling"),
    pytest.param("@acme%2Futil/-/util-1.0.0.tgz", "GET", 200, id="scoped-pnpm-spelling"),
    pytest.param("@acme/util/-/util-1.0.0.tgz", "GET", 200, id="scoped-lockfile-spelling"),
    pytest.param("plain/-/plain-1.0.0.tgz", "GET", 200, id="unscoped"),
    pytest.param(ONE, "HEAD", 200, id="head"),
    pytest.param("@acme%2futil/-/util-3.0.0.tgz", "GET", 200, id="unlisted-version"),
    pytest.param("guarded/-/guarded-1.0.0.tgz", "GET", 200, id="origin-blocked"),
])
def test_a_tarballs_first_read_after_a_grant_is_answered_on_the_loop_as_the_routes_answer_it(
        pair: Pair, monkeypatch: pytest.MonkeyPatch, path: str, method: str,
        status: int) -> None:
    loop, repo = pair.loop, pair.repo
    before = _raw(pair.routes_repo, path, method)
    assert before[0] == status
    hops = thread_hops(monkeypatch)
    _no_worker_lookup(loop, monkeypatch)
    calls = loop.starlette_calls
    first = _raw(repo, path, method)
    assert (hops, loop.starlette_calls) == ([], calls), "not answered on the loop's thread"
    assert first == before
    # Kept for the hot path: the repeat and its revalidation are answered from memory.
    hot = loop.app._hot_paths["npm"]  # noqa: SLF001 - its counters say where it came from
    served = (hot.files_ok, hot.files_not_modified)
    assert _raw(repo, path, method) == first
    assert _raw(repo, path, **{"If-None-Match": first[1]["etag"]})[0] == 304
    assert (hot.files_ok, hot.files_not_modified) == (served[0] + 1, served[1] + 1)


def test_on_the_worker_thread_a_tarballs_first_read_skips_only_starlette(
        packyard_factory: PackyardFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    # Without the loop's lookup (no grant on the connection yet, or a backend that waits):
    # granted and looked up in worker threads, answered without the routes, as they answer.
    loop = _worker_only(packyard_factory(encryption="off"))
    repo = npm_repo(loop)
    _prepare(repo)
    routes_repo = npm_repo(_routes_only(packyard_factory(encryption="off")), create=False)
    before = _raw(routes_repo, ONE)
    hops = thread_hops(monkeypatch)
    calls = loop.starlette_calls
    assert _raw(repo, ONE) == before and before[0] == 200
    assert hops and loop.starlette_calls == calls


@pytest.mark.parametrize(("path", "headers", "status"), [
    pytest.param(ONE, {"Range": "bytes=0-9"}, 206, id="range"),
    pytest.param("bulky/-/bulky-1.0.0.tgz", {}, 200, id="big-tarball"),
    pytest.param("@acme%2futil/-/util-4.0.0.tgz", {}, 404, id="archived-version"),
    pytest.param("@acme%2futil/-/util-5.0.0.tgz", {}, 404, id="disposed-version"),
    pytest.param("@acme%2futil/-/util-9.9.9.tgz", {}, 404, id="unknown-version"),
    pytest.param("gone/-/gone-1.0.0.tgz", {}, 404, id="missing-blob"),
    pytest.param("@other%2futil/-/util-1.0.0.tgz", {}, 404, id="other-scope"),
    pytest.param("util/-/util-1.0.0.tgz", {}, 404, id="scope-left-out"),
    pytest.param("@acme%2futil/-/utils-1.0.0.tgz", {}, 404, id="not-its-tarball"),
])
def test_what_the_loop_cannot_answer_is_answered_as_before(
        pair: Pair, path: str, headers: dict[str, str], status: int) -> None:
    before = _raw(pair.routes_repo, path, **headers)
    assert before[0] == status
    assert _raw(pair.repo, path, **headers) == before
    assert _raw(pair.repo, path, **headers) == before  # and again, after any lookup was kept


def test_a_tarballs_first_read_revalidated_is_a_304_on_the_loop(
        pair: Pair, monkeypatch: pytest.MonkeyPatch) -> None:
    etag = _raw(pair.routes_repo, ONE)[1]["etag"]
    hops = thread_hops(monkeypatch)
    calls = pair.loop.starlette_calls
    first = _raw(pair.repo, ONE, **{"If-None-Match": etag})
    assert (first[0], first[2], hops, pair.loop.starlette_calls) == (304, b"", [], calls)
    assert first == _raw(pair.routes_repo, ONE, **{"If-None-Match": etag})


@pytest.mark.parametrize(("path", "accept", "method"), [
    pytest.param("@acme%2futil", FULL, "GET", id="scoped-full"),
    pytest.param("@acme%2futil", CORGI, "HEAD", id="head"),
    pytest.param("@acme%2Futil", CORGI, "GET", id="scoped-abbreviated"),
    pytest.param("@acme/util", FULL, "GET", id="scoped-unencoded"),
    pytest.param("plain", CORGI, "GET", id="unscoped"),
    pytest.param("guarded", FULL, "GET", id="origin-blocked"),
    pytest.param("nothing-here", FULL, "GET", id="unknown-package"),
    pytest.param("@acme%2fnothing", CORGI, "GET", id="unknown-scoped-package"),
])
def test_a_packuments_first_read_skips_starlette_and_is_the_routes_answer(
        pair: Pair, path: str, accept: str, method: str) -> None:
    loop = pair.loop
    before = _raw(pair.routes_repo, path, method, Accept=accept)
    calls = loop.starlette_calls
    first = _raw(pair.repo, path, method, Accept=accept)
    assert loop.starlette_calls == calls, "the routes answered"
    assert first == before
    for encoding in ("gzip", "identity"):
        assert (_raw(pair.repo, path, Accept=accept, **{"Accept-Encoding": encoding})
                == _raw(pair.routes_repo, path, Accept=accept,
                        **{"Accept-Encoding": encoding}))
    if before[0] == 200:
        revalidated = _raw(pair.repo, path, Accept=accept, **{"If-None-Match": first[1]["etag"]})
        assert revalidated[0] == 304


def test_the_routes_still_answer_what_the_first_read_path_does_not_read(pair: Pair) -> None:
    # A version's manifest, a write document, a dist-tag, a query string: the routes' alone.
    for path in ("@acme%2futil/1.0.0", "@acme%2futil?write=true", "-/package/@acme%2futil/"
                 "dist-tags", "@acme%2futil?x=1", "@acme%2futil/-rev/1-abc"):
        calls = pair.loop.starlette_calls
        assert _raw(pair.repo, path) == _raw(pair.routes_repo, path)
        assert pair.loop.starlette_calls == calls + 1, path


def test_an_encoded_label_is_left_to_the_routes(pair: Pair) -> None:
    # The routes decode the label and the repository; the raw path would name others.
    label, repository = pair.repo.path.strip("/").split("/")[0], pair.repo.repository
    encoded = f"/{label.replace('-', '%2D', 1)}/npm/{repository}/{ONE}"
    calls = pair.loop.starlette_calls
    loop_answer = pair.loop.http.get(encoded, headers={"Authorization": f"Bearer {pair.repo.token}"})
    assert pair.loop.starlette_calls == calls + 1
    routes_answer = pair.routes.http.get(
        encoded, headers={"Authorization": f"Bearer {pair.routes_repo.token}"})
    assert (loop_answer.status_code, loop_answer.content) == (routes_answer.status_code,
                                                              routes_answer.content)


def test_a_refused_caller_is_refused_as_before_after_anothers_grant(pair: Pair) -> None:
    credentials = user_with(pair.loop, "nora", TOKEN_ONLY)  # may get a token, may not read
    token = pair.loop.codeartifact(credentials).get_authorization_token(
        domain=pair.repo.domain)["authorizationToken"]
    for path in (ONE, "plain/-/plain-1.0.0.tgz", "@acme%2futil", "plain"):
        for bad in (token, "not-a-token", None):
            before = _raw(pair.routes_repo, path, token=bad)
            assert before[0] in (401, 403)
            assert _raw(pair.repo, path, token=bad) == before


def test_after_a_deny_policy_a_tarballs_first_read_is_refused_as_before(pair: Pair) -> None:
    credentials = user_with(pair.loop, "lee", [*TOKEN_ONLY, "codeartifact:ReadFromRepository"])
    token = pair.loop.codeartifact(credentials).get_authorization_token(
        domain=pair.repo.domain)["authorizationToken"]
    for each in (pair.repo, pair.routes_repo):  # lee granted on both
        assert _raw(each, "-/ping", token=token)[0] == 200
    deny = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Deny", "Action": "codeartifact:ReadFromRepository", "Resource": "*"}]})
    for app in (pair.loop, pair.routes):  # each hears of its own change (no change feed here)
        app.iam().put_user_policy(UserName="lee", PolicyName="deny", PolicyDocument=deny)
    before = _raw(pair.routes_repo, ONE, token=token)
    assert before[0] == 403
    assert _raw(pair.repo, ONE, token=token) == before


def test_with_the_audit_trail_off_the_first_read_path_refuses_as_the_routes_do(
        packyard_factory: PackyardFactory) -> None:
    # With the trail on, 401 and 403 are the routes' (they record them); with it off, the
    # first-read path answers them itself, in npm's wire format.
    loop = packyard_factory(encryption="off", audit_log="off")
    repo = npm_repo(loop)
    assert repo.publish(SCOPED, "1.0.0").status_code == 201
    routes_repo = npm_repo(_routes_only(packyard_factory(encryption="off", audit_log="off")),
                           create=False)
    credentials = user_with(loop, "nora", TOKEN_ONLY)
    token = loop.codeartifact(credentials).get_authorization_token(
        domain=repo.domain)["authorizationToken"]
    for path in (ONE, "@acme%2futil", "nothing-here"):
        for bad in (token, "not-a-token", None):
            calls = loop.starlette_calls
            before = _raw(routes_repo, path, token=bad)
            assert before[0] in (401, 403)
            assert _raw(repo, path, token=bad) == before
            assert loop.starlette_calls == calls, "the routes answered"


def test_an_encrypted_tarball_is_read_on_the_loop_as_the_routes_read_it(
        packyard_factory: PackyardFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    # Encryption on (the default), local keyring: an app that did not store the tarball (no
    # data key open) unwraps its key on the loop too and sends what the routes send.
    stored = npm_repo(packyard_factory())
    assert stored.publish(SCOPED, "1.0.0").status_code == 201
    cold = packyard_factory()
    repo = npm_repo(cold, create=False)
    routes_repo = npm_repo(_routes_only(packyard_factory()), create=False)
    for each in (repo, routes_repo):
        assert each.get("-/ping").status_code == 200  # granted
    before = _raw(routes_repo, ONE)
    assert before[0] == 200
    hops = thread_hops(monkeypatch)
    _no_worker_lookup(cold, monkeypatch)
    calls = cold.starlette_calls
    assert _raw(repo, ONE) == before
    assert (hops, cold.starlette_calls) == ([], calls)


def test_on_postgresql_a_tarballs_first_read_takes_the_worker_thread_as_before(
        packyard_factory: PackyardFactory, on_postgresql: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    app = packyard_factory(database_url=on_postgresql, encryption="off")
    repo = npm_repo(app)
    assert repo.publish(SCOPED, "1.0.0").status_code == 201
    assert repo.get("-/ping").status_code == 200  # granted
    hops = thread_hops(monkeypatch)
    calls = app.starlette_calls
    status, _headers, body = _raw(repo, ONE)
    assert status == 200 and body[:2] == b"\x1f\x8b"  # the gzipped tarball
    assert hops and app.starlette_calls == calls  # a worker thread, but still no Starlette
