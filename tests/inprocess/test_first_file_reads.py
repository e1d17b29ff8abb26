"""The first read of a file by a caller granted on its connection, answered on the event loop's
thread (``FirstReads.now``: the file's record by a point read, a small file's bytes from its
local file; ``services/reads.py`` ``stored_file_now``) with no worker thread and no Starlette;
and everything else about a file's first read exactly as before, which is what a server whose
first reads all take the worker thread (``_worker_only``, the path files took before) answers
to the same request on the same data: refusals, Unlisted/Archived/Disposed versions, origin
controls, a missing blob, Range, If-None-Match, big files, PostgreSQL."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.inprocess.conftest import PackyardFactory
from tests.inprocess.harness import (
    TOKEN_ONLY,
    InProcessPackyard,
    InProcessRepo,
    thread_hops,
    user_with,
)
from tests.integration.helpers import Dist, DistFactory, DistSpec, upload_ok

JSON_V1 = "application/vnd.pypi.simple.v1+json"
WHEEL = "demo_pkg-1.0-py3-none-any.whl"
SDIST = "demo_pkg-1.0.tar.gz"
BIG = "demo_pkg-2.0-py3-none-any.whl"
UNLISTED = "demo_pkg-3.0-py3-none-any.whl"
ARCHIVED = "demo_pkg-4.0-py3-none-any.whl"
DISPOSED = "demo_pkg-5.0-py3-none-any.whl"
BLOCKED = "guarded_pkg-1.0-py3-none-any.whl"
GONE = "gone_pkg-1.0-py3-none-any.whl"


def _dists(dists: DistFactory) -> list[Dist]:
    spec = DistSpec(name="demo-pkg", version="1.0")
    return [dists.wheel(spec), dists.sdist(spec),
            dists.wheel(DistSpec(name="demo-pkg", version="2.0", padding=100_000)),
            *(dists.wheel(DistSpec(name="demo-pkg", version=v)) for v in ("3.0", "4.0", "5.0")),
            dists.wheel(DistSpec(name="guarded-pkg", version="1.0")),
            dists.wheel(DistSpec(name="gone-pkg", version="1.0"))]


def _worker_only(app: InProcessPackyard) -> InProcessPackyard:
    """``app`` with every first read made as files' were before: granted, looked up and read
    in a worker thread (``FirstReads.__call__``), never on the event loop's thread."""
    app.app._first_reads_now.clear()  # noqa: SLF001 - the one switch between the two paths
    return app


def _prepare(app: InProcessPackyard, repo: InProcessRepo, dists: DistFactory) -> None:
    """The corpus: one version of each status, a package whose origin controls block
    everything, and a file whose blob is gone from the store."""
    upload_ok(repo, *_dists(dists))
    api = app.codeartifact()
    where = {"domain": repo.domain, "repository": repo.repository, "format": "pypi"}
    api.update_package_versions_status(**where, package="demo-pkg", versions=["3.0"],
                                       targetStatus="Unlisted")
    api.update_package_versions_status(**where, package="demo-pkg", versions=["4.0"],
                                       targetStatus="Archived")
    api.dispose_package_versions(**where, package="demo-pkg", versions=["5.0"])
    api.put_package_origin_configuration(**where, package="guarded-pkg",
                                         restrictions={"publish": "BLOCK", "upstream": "BLOCK"})
    catalog = app.container.catalog
    domain = catalog.get_domain(app.settings.account_id, repo.domain)
    found = catalog.find_listed_asset(catalog.get_repository(domain, repo.repository).id,
                                      "pypi", "gone-pkg", GONE)
    assert found is not None
    path = app.container.core.blobs.local_path(domain.blob_key, found[1].sha256)
    assert path is not None
    path.unlink()
    assert catalog.flush_rendered_pages(30)


@dataclass
class Pair:
    """Two apps on the same data (encryption off: every blob a plain local file): ``loop``
    makes first reads on the event loop's thread, ``worker`` in a worker thread only; and a
    repo on each, granted on its connection already."""

    loop: InProcessPackyard
    worker: InProcessPackyard
    repo: InProcessRepo
    worker_repo: InProcessRepo


@pytest.fixture
def pair(packyard_factory: PackyardFactory, dists: DistFactory) -> Pair:
    loop = packyard_factory(encryption="off")
    repo = loop.pypi_repo()
    _prepare(loop, repo, dists)
    worker = _worker_only(packyard_factory(encryption="off"))
    worker_repo = worker.pypi_repo(create=False)
    for each in (repo, worker_repo):
        assert each.get("simple/demo-pkg/", Accept=JSON_V1).status_code == 200  # granted
    return Pair(loop, worker, repo, worker_repo)


def _raw(repo: InProcessRepo, path: str, method: str = "GET", token: str | None = None,
         **headers: str) -> tuple[int, dict[str, str], bytes]:
    with httpx.Client(transport=repo.transport, auth=("aws", token or repo.token)) as http:
        response = http.request(method, repo.endpoint + path, headers=headers)
        sent = {k: v for k, v in response.headers.items() if k != "x-amzn-requestid"}
        return response.status_code, sent, response.content


def _no_worker_lookup(app: InProcessPackyard, monkeypatch: pytest.MonkeyPatch) -> None:
    def in_a_worker_thread(*_args: object, **_kwargs: object) -> object:
        raise AssertionError("the file was looked up in a worker thread")

    monkeypatch.setattr(app.container.catalog, "find_listed_asset", in_a_worker_thread)


@pytest.mark.parametrize(("path", "method", "headers", "status"), [
    pytest.param(f"simple/demo-pkg/{WHEEL}", "GET", {}, 200, id="wheel"),
    pytest.param(f"simple/demo-pkg/{SDIST}", "GET", {}, 200, id="sdist"),
    pytest.param(f"simple/demo-pkg/{WHEEL}.metadata", "GET", {}, 200, id="metadata"),
    pytest.param(f"simple/demo-pkg/{WHEEL}", "HEAD", {}, 200, id="head"),
    pytest.param(f"simple/demo-pkg/{UNLISTED}", "GET", {}, 200, id="unlisted-version"),
    pytest.param(f"simple/guarded-pkg/{BLOCKED}", "GET", {}, 200, id="origin-blocked"),
])
def test_a_files_first_read_after_a_grant_is_answered_on_the_loop_as_the_worker_answers_it(
        pair: Pair,
        monkeypatch: pytest.MonkeyPatch, path: str, method: str, headers: dict[str, str],
        status: int) -> None:
    loop, repo, worker_repo = pair.loop, pair.repo, pair.worker_repo
    hops = thread_hops(monkeypatch)
    before = _raw(worker_repo, path, method, **headers)
    assert before[0] == status and hops, "the worker-only app read it in a worker thread"
    hops.clear()
    _no_worker_lookup(loop, monkeypatch)
    calls = loop.starlette_calls
    first = _raw(repo, path, method, **headers)
    assert (hops, loop.starlette_calls) == ([], calls), "not answered on the loop's thread"
    assert first == before
    # Kept for the hot path: the repeat and its revalidation are answered from memory.
    hot = loop.app._hot_paths["pypi"]  # noqa: SLF001 - its counters say where it came from
    served = (hot.files_ok, hot.files_not_modified)
    assert _raw(repo, path, method, **headers) == first
    assert _raw(repo, path, **{"If-None-Match": first[1]["etag"]})[0] == 304
    assert (hot.files_ok, hot.files_not_modified) == (served[0] + 1, served[1] + 1)


def test_a_first_read_revalidated_is_a_304_on_the_loop(
        pair: Pair,
        monkeypatch: pytest.MonkeyPatch) -> None:
    loop, repo, worker_repo = pair.loop, pair.repo, pair.worker_repo
    etag = _raw(repo, f"simple/demo-pkg/{SDIST}")[1]["etag"]  # the sdist's, so the wheel is new
    wheel_etag = _raw(worker_repo, f"simple/demo-pkg/{WHEEL}")[1]["etag"]
    hops = thread_hops(monkeypatch)
    calls = loop.starlette_calls
    first = _raw(repo, f"simple/demo-pkg/{WHEEL}", **{"If-None-Match": wheel_etag})
    assert (first[0], first[2], hops, loop.starlette_calls) == (304, b"", [], calls)
    assert _raw(repo, f"simple/demo-pkg/{WHEEL}", **{"If-None-Match": etag})[0] == 200


@pytest.mark.parametrize(("path", "headers", "status"), [
    pytest.param(f"simple/demo-pkg/{WHEEL}", {"Range": "bytes=0-9"}, 206, id="range"),
    pytest.param(f"simple/demo-pkg/{BIG}", {}, 200, id="big-file"),
    pytest.param(f"simple/demo-pkg/{ARCHIVED}", {}, 404, id="archived-version"),
    pytest.param(f"simple/demo-pkg/{DISPOSED}", {}, 404, id="disposed-version"),
    pytest.param(f"simple/gone-pkg/{GONE}", {}, 404, id="missing-blob"),
    pytest.param(f"simple/demo-pkg/{WHEEL}.nope", {}, 404, id="unknown-file"),
    pytest.param(f"simple/Demo_Pkg/{WHEEL}", {}, 200, id="name-not-normalized"),
])
def test_what_the_loop_cannot_answer_is_answered_as_before(
        pair: Pair, path: str,
        headers: dict[str, str], status: int) -> None:
    repo, worker_repo = pair.repo, pair.worker_repo
    before = _raw(worker_repo, path, **headers)
    assert before[0] == status
    assert _raw(repo, path, **headers) == before
    assert _raw(repo, path, **headers) == before  # and again, after any lookup was kept


def test_a_range_after_a_first_read_on_the_loop_is_the_routes_206(pair: Pair) -> None:
    loop, repo, worker_repo = pair.loop, pair.repo, pair.worker_repo
    calls = loop.starlette_calls
    assert _raw(repo, f"simple/demo-pkg/{WHEEL}")[0] == 200  # kept with its bytes, on the loop
    assert loop.starlette_calls == calls
    ranged = _raw(repo, f"simple/demo-pkg/{WHEEL}", Range="bytes=0-9")
    assert loop.starlette_calls == calls + 1  # Range is the routes'
    assert ranged == _raw(worker_repo, f"simple/demo-pkg/{WHEEL}", Range="bytes=0-9")
    assert ranged[0] == 206 and len(ranged[2]) == 10


def test_a_big_files_revalidation_after_its_lookup_on_the_loop_is_the_routes_304(
        pair: Pair) -> None:
    loop, repo, worker_repo = pair.loop, pair.repo, pair.worker_repo
    etag = _raw(worker_repo, f"simple/demo-pkg/{BIG}")[1]["etag"]
    calls = loop.starlette_calls
    first = _raw(repo, f"simple/demo-pkg/{BIG}", **{"If-None-Match": etag})
    assert loop.starlette_calls == calls  # the lookup made on the loop, the 304 from it
    assert first == _raw(worker_repo, f"simple/demo-pkg/{BIG}", **{"If-None-Match": etag}) \
        and first[0] == 304


def test_a_refused_caller_is_refused_as_before_after_anothers_grant(
        pair: Pair) -> None:
    loop, repo, worker_repo = pair.loop, pair.repo, pair.worker_repo
    credentials = user_with(loop, "nora", TOKEN_ONLY)  # may get a token, may not read
    token = loop.codeartifact(credentials).get_authorization_token(
        domain=repo.domain)["authorizationToken"]
    for path in (f"simple/demo-pkg/{WHEEL}", f"simple/demo-pkg/{SDIST}"):
        for bad in (token, "not-a-token"):
            before = _raw(worker_repo, path, token=bad)
            assert before[0] in (401, 403)
            assert _raw(repo, path, token=bad) == before


def test_after_a_deny_policy_a_files_first_read_is_refused_as_before(
        pair: Pair) -> None:
    loop, repo, worker_repo = pair.loop, pair.repo, pair.worker_repo
    credentials = user_with(loop, "lee", [*TOKEN_ONLY, "codeartifact:ReadFromRepository"])
    token = loop.codeartifact(credentials).get_authorization_token(
        domain=repo.domain)["authorizationToken"]
    for each in (repo, worker_repo):  # lee granted on both
        assert _raw(each, "simple/demo-pkg/", token=token, Accept=JSON_V1)[0] == 200
    deny = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Deny", "Action": "codeartifact:ReadFromRepository", "Resource": "*"}]})
    for app in (loop, pair.worker):  # each hears of its own change (no change feed here)
        app.iam().put_user_policy(UserName="lee", PolicyName="deny", PolicyDocument=deny)
    before = _raw(worker_repo, f"simple/demo-pkg/{WHEEL}", token=token)
    assert before[0] == 403
    assert _raw(repo, f"simple/demo-pkg/{WHEEL}", token=token) == before


def test_a_first_read_on_the_loop_is_counted_and_logged_as_a_file_read(
        packyard_factory: PackyardFactory, dists: DistFactory, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "access.jsonl"
    app = packyard_factory(access_log=str(log), metrics=True, encryption="off")
    repo = app.pypi_repo()
    upload_ok(repo, dists.wheel(DistSpec(name="demo-pkg", version="1.0")))
    assert repo.get("simple/demo-pkg/", Accept=JSON_V1).status_code == 200  # granted
    hops = thread_hops(monkeypatch)
    responses = [repo.get(f"simple/demo-pkg/{WHEEL}.metadata"),
                 repo.get(f"simple/demo-pkg/{WHEEL}")]
    assert [r.status_code for r in responses] == [200, 200] and hops == []
    lines = {line["requestId"]: line for line in map(json.loads, log.read_text().splitlines())}
    for response in responses:
        line = lines[response.headers["x-amzn-requestid"]]
        assert (line["surface"], line["operation"], line["status"]) == ("pypi", "file", 200)
        assert line["principal"].endswith(":root") and line["bytesOut"] == len(response.content)
    assert ('packyard_http_requests_total{operation="file",status="200",surface="pypi"} 2.0'
            in app.http.get("/metrics").text)


def test_an_encrypted_file_is_read_on_the_loop_as_the_worker_reads_it(
        packyard_factory: PackyardFactory, dists: DistFactory,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Encryption on (the default), local keyring: an app that did not store the wheel (no data
    # key open) unwraps its key on the loop too (its row by a point read, the keyring in
    # memory), and sends what a worker-only app on the same data sends.
    stored = packyard_factory()
    upload_ok(stored.pypi_repo(), dists.wheel(DistSpec(name="demo-pkg", version="1.0")))
    cold = packyard_factory()
    repo = cold.pypi_repo(create=False)
    worker_repo = _worker_only(packyard_factory()).pypi_repo(create=False)
    for each in (repo, worker_repo):
        assert each.get("simple/demo-pkg/", Accept=JSON_V1).status_code == 200  # granted
    hops = thread_hops(monkeypatch)
    before = _raw(worker_repo, f"simple/demo-pkg/{WHEEL}")
    assert before[0] == 200 and hops
    hops.clear()

    def in_a_worker_thread(*_args: object, **_kwargs: object) -> object:
        raise AssertionError("the data key was looked up in a worker thread")

    monkeypatch.setattr(cold.container.catalog, "data_key", in_a_worker_thread)
    assert _raw(repo, f"simple/demo-pkg/{WHEEL}") == before and hops == []


def test_on_postgresql_a_files_first_read_takes_the_worker_thread_as_before(
        packyard_factory: PackyardFactory, dists: DistFactory, on_postgresql: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    app = packyard_factory(database_url=on_postgresql, encryption="off")
    repo = app.pypi_repo()
    wheel = dists.wheel(DistSpec(name="demo-pkg", version="1.0"))
    upload_ok(repo, wheel)
    assert repo.get("simple/demo-pkg/", Accept=JSON_V1).status_code == 200  # granted
    hops = thread_hops(monkeypatch)
    calls = app.starlette_calls
    status, _headers, body = _raw(repo, f"simple/demo-pkg/{WHEEL}")
    assert (status, body) == (200, wheel.path.read_bytes())
    assert hops and app.starlette_calls == calls  # a worker thread, but still no Starlette
