"""The first read of a page or file: answered without the routes (services/first_reads.py),
into the caches the hot path reads, with the same bytes and the same refusals as the routes;
and still refused at once when the caller's key or policy changes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from packyard.audit.query import AuditFilter
from packyard.audit.trail import open_trail
from packyard.metadata.catalog import SqlCatalog
from packyard.metadata.point_reads import WouldWait
from packyard.services.access import RepositoryGate
from tests.inprocess.conftest import PackyardFactory
from tests.inprocess.harness import InProcessPackyard, InProcessRepo, assert_refused, thread_hops
from tests.integration.helpers import Credentials, DistFactory, DistSpec, upload_ok

JSON_V1 = "application/vnd.pypi.simple.v1+json"
HTML_V1 = "application/vnd.pypi.simple.v1+html"
WHEEL = "demo_pkg-1.0-py3-none-any.whl"
READ = {"Effect": "Allow", "Resource": "*", "Action": [
    "codeartifact:GetAuthorizationToken", "codeartifact:ReadFromRepository",
    "codeartifact:GetRepositoryEndpoint", "sts:GetServiceBearerToken"]}


@pytest.fixture
def packyard(packyard_factory: PackyardFactory) -> InProcessPackyard:
    """A server with the defaults: the audit trail on."""
    return packyard_factory()


@pytest.fixture
def repo(packyard: InProcessPackyard, dists: DistFactory) -> InProcessRepo:
    repo = packyard.pypi_repo()
    spec = DistSpec(name="demo-pkg", version="1.0")
    upload_ok(repo, dists.wheel(spec), dists.sdist(spec),
              dists.wheel(DistSpec(name="demo-pkg", version="2.0", padding=100_000)),
              dists.wheel(DistSpec(name="other-pkg", version="1.0")))
    assert packyard.container.catalog.flush_rendered_pages(30)  # the pages kept, as after a while
    return repo


def _raw(repo: InProcessRepo, path: str, token: str | None = None,
         **headers: str) -> tuple[int, dict[str, str], bytes]:
    auth = ("aws", token) if token else ("aws", repo.token)
    with httpx.Client(transport=repo.transport, auth=auth) as http, http.stream(
            "GET", repo.endpoint + path, headers=headers) as response:
        sent = {k: v for k, v in response.headers.items() if k != "x-amzn-requestid"}
        return response.status_code, sent, b"".join(response.iter_raw())


@pytest.mark.parametrize(("path", "headers"), [
    pytest.param("simple/demo-pkg/", {"Accept": HTML_V1}, id="page-html"),
    pytest.param("simple/demo-pkg/", {"Accept": JSON_V1, "Accept-Encoding": "gzip"},
                 id="page-json-gzip"),
    pytest.param(f"simple/demo-pkg/{WHEEL}", {}, id="small-file"),
    pytest.param(f"simple/demo-pkg/{WHEEL}.metadata", {}, id="metadata"),
])
def test_first_reads_skip_the_routes_and_fill_the_hot_path(
        packyard: InProcessPackyard, repo: InProcessRepo, path: str,
        headers: dict[str, str]) -> None:
    before = packyard.starlette_calls
    first = _raw(repo, path, **headers)
    assert first[0] == 200
    assert packyard.starlette_calls == before, "a first read reached Starlette"
    assert _raw(repo, path, **headers) == first  # the repeat, from the hot path
    assert _raw(repo, path, **headers, **{"If-None-Match": first[1]["etag"]})[0] == 304
    assert packyard.starlette_calls == before


def test_a_file_too_big_for_memory_is_left_to_the_routes(packyard: InProcessPackyard,
                                                         repo: InProcessRepo) -> None:
    before = packyard.starlette_calls
    status, _, body = _raw(repo, "simple/demo-pkg/demo_pkg-2.0-py3-none-any.whl")
    assert (status, len(body) > 100_000) == (200, True)
    assert packyard.starlette_calls == before + 1


def test_a_big_file_revalidated_is_a_304_from_memory_as_the_routes_send_it(
        packyard: InProcessPackyard, repo: InProcessRepo) -> None:
    big = "simple/demo-pkg/demo_pkg-2.0-py3-none-any.whl"
    status, headers, _ = _raw(repo, big)  # streamed by the routes, its lookup kept
    assert status == 200
    before = packyard.starlette_calls
    from_memory = _raw(repo, big, **{"If-None-Match": headers["etag"]})
    assert packyard.starlette_calls == before, "a revalidation reached Starlette"
    # The routes' own 304 (a Range request is theirs; If-None-Match is evaluated first).
    by_routes = _raw(repo, big, **{"If-None-Match": headers["etag"], "Range": "bytes=0-9"})
    assert packyard.starlette_calls == before + 1
    assert from_memory == by_routes and from_memory[0] == 304


@pytest.mark.parametrize(("path", "token", "status", "message"), [
    pytest.param("simple/demo-pkg/", "not-a-token", 401, "Invalid authorization token",
                 id="bad-token"),
    pytest.param("simple/no-such-project/", None, 404,
                 "No project no-such-project in repository shelf", id="unknown-project"),
    pytest.param("simple/demo-pkg/demo_pkg-9.0-py3-none-any.whl", None, 404, None,
                 id="unknown-file"),
])
def test_refusals_on_a_first_read_are_the_routes_own(
        packyard: InProcessPackyard, repo: InProcessRepo, path: str, token: str | None,
        status: int, message: str | None) -> None:
    with httpx.Client(transport=repo.transport,
                      auth=("aws", token or repo.token)) as http:
        response = http.get(repo.endpoint + path, headers={"Accept": JSON_V1})
    assert response.status_code == status
    if message is not None:
        assert_refused(response, status, message)
    if status == 401:
        assert response.headers["www-authenticate"] == 'Basic realm="packyard"'


def _reader(packyard: InProcessPackyard, name: str) -> tuple[InProcessRepo, Credentials]:
    iam = packyard.iam()
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="read", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [READ]}))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    credentials = Credentials(key["AccessKeyId"], key["SecretAccessKey"])
    return packyard.pypi_repo(create=False, credentials=credentials), credentials


def test_first_read_after_the_key_is_deactivated_is_refused(
        packyard: InProcessPackyard, repo: InProcessRepo) -> None:
    kate, credentials = _reader(packyard, "kate")
    assert kate.get("simple/demo-pkg/", Accept=JSON_V1).status_code == 200  # granted
    packyard.iam().update_access_key(UserName="kate", AccessKeyId=credentials.access_key_id,
                                     Status="Inactive")
    # Mid-install: the next file was never read, and the grant of a second ago is gone.
    response = kate.get(f"simple/demo-pkg/{WHEEL}")
    assert_refused(response, 401, "The credentials that requested this token are no longer "
                                  "valid (deleted user, inactive or deleted access key, or "
                                  "deleted role); get a new token")


def test_first_read_after_a_deny_policy_is_refused(packyard: InProcessPackyard,
                                                   repo: InProcessRepo) -> None:
    lee, _ = _reader(packyard, "lee")
    assert lee.get("simple/demo-pkg/", Accept=JSON_V1).status_code == 200  # granted
    deny: dict[str, Any] = {"Effect": "Deny", "Action": "codeartifact:ReadFromRepository",
                            "Resource": "*"}
    packyard.iam().put_user_policy(UserName="lee", PolicyName="deny", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [deny]}))
    # A new file, a cached page, and a stored page never read (the event loop's lookup).
    for path in (f"simple/demo-pkg/{WHEEL}", "simple/demo-pkg/", "simple/other-pkg/"):
        assert lee.get(path, Accept=JSON_V1).status_code == 403


def test_a_stored_page_after_a_grant_is_read_on_the_loop_without_a_thread_hop(
        packyard: InProcessPackyard, repo: InProcessRepo,
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert repo.get("simple/demo-pkg/", Accept=JSON_V1).status_code == 200  # granted
    hops = thread_hops(monkeypatch)

    def in_a_worker_thread(*_args: object, **_kwargs: object) -> object:
        raise AssertionError("the stored page was looked up in a worker thread")

    monkeypatch.setattr(packyard.container.catalog, "rendered_page", in_a_worker_thread)
    before = packyard.starlette_calls
    status, headers, body = _raw(repo, "simple/other-pkg/", Accept=JSON_V1)
    assert (status, json.loads(body)["name"]) == (200, "other-pkg")
    assert (hops, packyard.starlette_calls) == ([], before)
    assert _raw(repo, "simple/other-pkg/", Accept=JSON_V1) == (status, headers, body)


def test_a_callers_first_read_makes_its_grant_on_the_loop_in_one_transaction(
        packyard: InProcessPackyard, repo: InProcessRepo,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # An IAM user's first request: token, access key, identity policies, domain, tags,
    # resource policies and repository, all read on the event loop's own reader at once.
    nia, _ = _reader(packyard, "nia")
    catalog = packyard.container.catalog
    assert isinstance(catalog, SqlCatalog)
    reader, _writer = catalog.engines
    loop_reader = catalog._loop_reader  # noqa: SLF001 - the transactions are what is checked
    assert loop_reader is not None
    on_reader: list[object] = []
    on_loop: list[object] = []
    count_reader, count_loop = on_reader.append, on_loop.append
    event.listen(reader, "begin", count_reader)
    event.listen(loop_reader, "begin", count_loop)
    hops = thread_hops(monkeypatch)
    before = packyard.starlette_calls
    try:
        status, _headers, body = _raw(nia, "simple/other-pkg/", Accept=JSON_V1)
        assert (status, json.loads(body)["name"]) == (200, "other-pkg")
        assert (hops, packyard.starlette_calls) == ([], before)
        # The grant's transaction, then the domain's upstream graph (does the repository
        # stand alone, so that its stored page is its whole page?).
        assert (len(on_reader), len(on_loop)) == (0, 2)
        # Both remembered as a worker thread's are: the next request reads neither again.
        assert _raw(nia, f"simple/demo-pkg/{WHEEL}")[0] == 200
        assert (len(on_reader), len(on_loop), hops) == (0, 2, [])
    finally:
        event.remove(reader, "begin", count_reader)
        event.remove(loop_reader, "begin", count_loop)


def test_a_grant_the_loop_cannot_make_without_waiting_is_made_in_a_worker_thread(
        packyard: InProcessPackyard, repo: InProcessRepo,
        monkeypatch: pytest.MonkeyPatch) -> None:
    nia, _ = _reader(packyard, "nia")
    catalog = packyard.container.catalog

    def busy(*, now: bool = False) -> Any:
        if now:
            raise WouldWait  # what a locked SQLite file answers on the loop's reader
        return real(now=now)

    real = catalog.shared_read
    monkeypatch.setattr(catalog, "shared_read", busy)
    hops = thread_hops(monkeypatch)
    before = packyard.starlette_calls
    status, _headers, body = _raw(nia, "simple/other-pkg/", Accept=JSON_V1)
    assert (status, json.loads(body)["name"]) == (200, "other-pkg")
    # The grant, then the page (the domain's graph could not be read on the loop either).
    assert hops == ["open_for_read", "_find"] and packyard.starlette_calls == before


def test_an_unexpected_failure_making_the_grant_on_the_loop_leaves_it_to_a_worker(
        packyard: InProcessPackyard, repo: InProcessRepo,
        monkeypatch: pytest.MonkeyPatch) -> None:
    nia, _ = _reader(packyard, "nia")
    real = RepositoryGate.open_for_read
    failed: list[bool] = []

    def open_for_read(self: RepositoryGate, *args: Any, **kwargs: Any) -> Any:
        if not failed:  # the loop's try (the first), not the worker's
            failed.append(True)
            raise RuntimeError("boom")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(RepositoryGate, "open_for_read", open_for_read)
    hops = thread_hops(monkeypatch)
    assert _raw(nia, "simple/other-pkg/", Accept=JSON_V1)[0] == 200
    assert failed == [True] and hops[0] == "open_for_read"


def test_no_write_is_made_inside_a_block_that_must_not_wait(
        packyard: InProcessPackyard) -> None:
    # The loop's block reads only: a write there would wait for the writer's lock.
    catalog, iam = packyard.container.catalog, packyard.container.iam_store
    assert iam is not None
    with pytest.raises(WouldWait), catalog.shared_read(now=True):
        catalog.create_domain("never", "111122223333", "key", datetime.now(UTC))
    with pytest.raises(WouldWait), catalog.shared_read(now=True):
        iam.create_user("never", "/", datetime.now(UTC))
    assert "never" not in [domain.name for domain in catalog.list_domains()]
    assert "never" not in [user.name for user in iam.list_users()]


def test_on_postgresql_a_first_reads_grant_is_made_in_a_worker_thread(
        packyard_factory: PackyardFactory, dists: DistFactory, on_postgresql: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    app = packyard_factory(database_url=on_postgresql, encryption="off")
    repo = app.pypi_repo()
    upload_ok(repo, dists.wheel(DistSpec(name="demo-pkg", version="1.0")))
    hops = thread_hops(monkeypatch)
    assert repo.get("simple/demo-pkg/", Accept=JSON_V1).status_code == 200
    assert "open_for_read" in hops


@pytest.mark.parametrize(("path", "token", "status", "message"), [
    pytest.param("simple/other-pkg/", "not-a-token", 401, "Invalid authorization token",
                 id="bad-token"),
    pytest.param("simple/no-such-project/", None, 404,
                 "No project no-such-project in repository shelf", id="unknown-project"),
])
def test_after_a_grant_a_first_read_refuses_what_the_routes_refuse(
        packyard: InProcessPackyard, repo: InProcessRepo, path: str, token: str | None,
        status: int, message: str) -> None:
    assert repo.get("simple/demo-pkg/", Accept=JSON_V1).status_code == 200  # granted
    with httpx.Client(transport=repo.transport, auth=("aws", token or repo.token)) as http:
        assert_refused(http.get(repo.endpoint + path, headers={"Accept": JSON_V1}), status,
                       message)


def test_after_anothers_grant_a_caller_without_read_access_is_refused(
        packyard: InProcessPackyard, repo: InProcessRepo) -> None:
    assert repo.get("simple/demo-pkg/", Accept=JSON_V1).status_code == 200  # root granted
    iam = packyard.iam()
    iam.create_user(UserName="max")
    iam.put_user_policy(UserName="max", PolicyName="token", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{**READ, "Action": [
            "codeartifact:GetAuthorizationToken", "sts:GetServiceBearerToken"]}]}))
    key = iam.create_access_key(UserName="max")["AccessKey"]
    max_repo = packyard.pypi_repo(create=False, credentials=Credentials(
        key["AccessKeyId"], key["SecretAccessKey"]))
    assert max_repo.get("simple/other-pkg/", Accept=JSON_V1).status_code == 403


def test_an_unexpected_failure_on_a_first_read_is_the_routes_plain_500(
        packyard: InProcessPackyard, repo: InProcessRepo,
        monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_args: object, **_kwargs: object) -> object:
        raise RuntimeError("boom")

    for lookup in ("rendered_page", "rendered_page_now"):  # in a worker thread, on the loop
        monkeypatch.setattr(packyard.container.catalog, lookup, broken)
    response = repo.get("simple/demo-pkg/", Accept=JSON_V1)
    assert (response.status_code, response.text) == (
        500, "Packyard hit an internal error; see the server log\n")


def _reads_recorded(packyard: InProcessPackyard) -> list[dict[str, Any]]:
    trail = open_trail(packyard.settings, packyard.container.catalog.engines)
    try:
        return list(trail.events(AuditFilter(name="ReadFromRepository")))
    finally:
        trail.close()


def test_with_the_audit_trail_on_refusals_are_left_to_the_routes_which_record_them_once(
        packyard: InProcessPackyard, repo: InProcessRepo) -> None:
    before = packyard.starlette_calls
    assert repo.get("simple/demo-pkg/", Accept=JSON_V1).status_code == 200
    assert packyard.starlette_calls == before, "a granted first read reached Starlette"
    with httpx.Client(transport=repo.transport, auth=("aws", "not-a-token")) as http:
        refused = http.get(repo.endpoint + "simple/demo-pkg/")
    assert_refused(refused, 401, "Invalid authorization token")
    assert packyard.starlette_calls == before + 1
    [event] = _reads_recorded(packyard)
    assert event["errorCode"] == "Unauthenticated", event


def test_first_reads_with_the_trail_off_record_nothing_and_answer_refusals_themselves(
        packyard_factory: PackyardFactory, dists: DistFactory) -> None:
    quiet = packyard_factory(audit_log="off")
    repo = quiet.pypi_repo()
    upload_ok(repo, dists.wheel(DistSpec(name="demo-pkg", version="1.0")))
    before = quiet.starlette_calls
    with httpx.Client(transport=repo.transport, auth=("aws", "not-a-token")) as http:
        assert http.get(repo.endpoint + "simple/demo-pkg/").status_code == 401
    # A repository that does not exist, to a caller the grant made on the loop lets in: its
    # 404 in the routes' words.
    missing = repo.endpoint.replace("/shelf/", "/no-such-shelf/")
    with httpx.Client(transport=repo.transport, auth=("aws", repo.token)) as http:
        refused = http.get(missing + "simple/demo-pkg/", headers={"Accept": JSON_V1})
    assert_refused(refused, 404, "Repository no-such-shelf not found in domain acme")
    assert quiet.starlette_calls == before


def test_a_first_read_is_counted_and_logged_under_its_operation_and_caller(
        packyard_factory: PackyardFactory, dists: DistFactory, tmp_path: Path) -> None:
    log = tmp_path / "access.jsonl"
    logged = packyard_factory(access_log=str(log), metrics=True)
    repo = logged.pypi_repo()
    upload_ok(repo, dists.wheel(DistSpec(name="demo-pkg", version="1.0")),
              dists.wheel(DistSpec(name="other-pkg", version="1.0")))
    assert logged.container.catalog.flush_rendered_pages(30)
    before = logged.starlette_calls
    page = repo.get("simple/demo-pkg/", Accept=JSON_V1)
    wheel = repo.get(f"simple/demo-pkg/{WHEEL}")
    other = repo.get("simple/other-pkg/", Accept=JSON_V1)  # granted: the loop's lookup
    assert (page.status_code, wheel.status_code, other.status_code) == (200, 200, 200)
    assert logged.starlette_calls == before
    lines = {line["requestId"]: line for line in map(json.loads, log.read_text().splitlines())}
    for response, operation in ((page, "project_page"), (wheel, "file"),
                                (other, "project_page")):
        line = lines[response.headers["x-amzn-requestid"]]
        assert (line["surface"], line["operation"], line["status"]) == ("pypi", operation, 200)
        assert line["principal"].endswith(":root") and line["bytesOut"] == len(response.content)
    metrics = logged.http.get("/metrics").text
    for operation, count in (("project_page", 2), ("file", 1)):
        assert (f'packyard_http_requests_total{{operation="{operation}",status="200",'
                f'surface="pypi"}} {count}.0') in metrics


def test_with_downloads_audited_first_reads_are_the_routes(
        packyard_factory: PackyardFactory, dists: DistFactory) -> None:
    audited = packyard_factory(audit_downloads=True)
    repo = audited.pypi_repo()
    upload_ok(repo, dists.wheel(DistSpec(name="demo-pkg", version="1.0")))
    before = audited.starlette_calls
    assert repo.get(f"simple/demo-pkg/{WHEEL}").status_code == 200
    assert audited.starlette_calls == before + 1
