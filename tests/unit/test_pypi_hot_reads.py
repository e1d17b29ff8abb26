"""The hot path in front of Starlette: which requests it answers from memory, and how."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any, cast

import pytest

from packyard.auth.environment import RequestEnvironment
from packyard.formats.pypi.hot_reads import pypi_hot_route
from packyard.formats.pypi.negotiation import SIMPLE_V1_JSON, TEXT_HTML
from packyard.metadata.changes import ChangeLog
from packyard.model import Repository
from packyard.services.access import RepositoryAccess, RepositoryGate
from packyard.services.answers import CachedFile, RenderedPage, page_answer
from packyard.services.hot_reads import HotReads
from packyard.services.response_cache import ResponseCache
from packyard.upstream.resolver import StoredFile

AUTH = "Basic YXdzOnRva2Vu"
PAGE = "/demo-000000000000/pypi/repo/simple/demo-pkg/"
FILE = "/demo-000000000000/pypi/repo/simple/demo-pkg/demo_pkg-1.0-py3-none-any.whl"
REPO = Repository(7, 1, "demo", "000000000000", "repo", "", "000000000000",
                  datetime(2026, 1, 1, tzinfo=UTC))


class Gate:
    """Grants a read to AUTH from 127.0.0.1 only, as RepositoryGate does after a check."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, str, str | None, RequestEnvironment | None]] = []

    def recent_reader(self, label: str, repo: str, authorization: str | None,
                      env: RequestEnvironment | None, connection: int | None = None
                      ) -> RepositoryAccess | None:
        self.asked.append((label, repo, authorization, env))
        if authorization == AUTH and env is not None and env.source_ip == "127.0.0.1":
            return RepositoryAccess(cast(Any, None), cast(Any, None), REPO)
        return None


def scope(path: str, *, method: str = "GET", query: bytes = b"",
          headers: dict[str, str] | None = None, client: str = "127.0.0.1") -> dict[str, Any]:
    sent = {"authorization": AUTH, "accept": TEXT_HTML, **(headers or {})}
    return {"type": "http", "method": method, "path": path, "query_string": query,
            "scheme": "http", "client": (client, 50000),
            "headers": [(k.encode(), v.encode()) for k, v in sent.items() if v]}


@pytest.fixture
def setup() -> tuple[HotReads, Gate, ChangeLog]:
    changes = ChangeLog()
    pages: ResponseCache[RenderedPage] = ResponseCache(changes)
    files: ResponseCache[CachedFile] = ResponseCache(changes)
    pages.put(7, ("demo-pkg", TEXT_HTML), changes.stamp(),
              RenderedPage.of(b"<html>" + b"x" * 2000 + b"</html>", TEXT_HTML))
    files.put(7, ("demo-pkg", "demo_pkg-1.0-py3-none-any.whl"), changes.stamp(),
              CachedFile(StoredFile("d1", "ab" * 32, 4), b"WHL!"))
    files.put(7, ("demo-pkg", "big-1.0.tar.gz"), changes.stamp(),
              CachedFile(StoredFile("d1", "cd" * 32, 10**8), None))
    gate = Gate()
    return HotReads(cast(RepositoryGate, gate), pages, files, "pypi", pypi_hot_route), gate, \
        changes


def test_a_granted_read_of_a_cached_page_is_answered(
        setup: tuple[HotReads, Gate, ChangeLog]) -> None:
    hot, gate, _ = setup
    answer = hot(scope(PAGE, headers={"accept-encoding": "gzip"}))
    assert answer is not None and answer.status == 200
    assert dict(answer.headers)[b"content-encoding"] == b"gzip"
    assert dict(answer.headers)[b"content-type"] == b"text/html; charset=utf-8"
    assert gate.asked == [("demo-000000000000", "repo", AUTH,
                           RequestEnvironment("127.0.0.1", False))]


def test_the_answer_is_the_handlers_answer(setup: tuple[HotReads, Gate, ChangeLog]) -> None:
    hot, _, _ = setup
    page = RenderedPage.of(b"<html>" + b"x" * 2000 + b"</html>", TEXT_HTML)
    expected = page_answer(page, None, None)
    assert hot(scope(PAGE)) == expected
    etag = dict(expected.headers)[b"etag"].decode()
    revalidated = hot(scope(PAGE, headers={"if-none-match": etag}))
    assert revalidated is not None and revalidated.status == 304 and revalidated.body == b""


def test_a_cached_small_file_is_answered_with_its_hash_as_etag(
        setup: tuple[HotReads, Gate, ChangeLog]) -> None:
    hot, _, _ = setup
    answer = hot(scope(FILE, method="HEAD"))
    assert answer is not None and answer.body == b"WHL!"
    headers = dict(answer.headers)
    assert headers[b"etag"] == b'"' + b"ab" * 32 + b'"'
    assert headers[b"content-length"] == b"4"
    assert headers[b"content-type"] == b"application/octet-stream"


@pytest.mark.parametrize("request_scope", [
    pytest.param(scope(PAGE, headers={"authorization": ""}), id="anonymous"),
    pytest.param(scope(PAGE, headers={"authorization": "Bearer other"}), id="other-token"),
    pytest.param(scope(PAGE, client="10.0.0.9"), id="other-address"),
    pytest.param(scope(PAGE, method="POST"), id="post"),
    pytest.param(scope(PAGE, query=b"format=" + SIMPLE_V1_JSON.encode()), id="query"),
    pytest.param(scope(PAGE, headers={"accept": SIMPLE_V1_JSON}), id="page-not-cached"),
    pytest.param(scope(PAGE.replace("demo-pkg", "Demo_Pkg")), id="not-normalized"),
    pytest.param(scope(PAGE[:-1]), id="no-trailing-slash"),
    pytest.param(scope(FILE, headers={"range": "bytes=0-1"}), id="range"),
    pytest.param(scope(FILE.replace("demo_pkg-1.0-py3-none-any.whl", "big-1.0.tar.gz")),
                 id="big-file"),
    pytest.param(scope("/demo-000000000000/pypi/repo/simple/"), id="root-index"),
    pytest.param(scope("/v1/domain"), id="api"),
    # The granted token second: the handlers read the first, so the hot path must not answer.
    pytest.param(scope(PAGE, headers={"authorization": "Bearer other"})
                 | {"headers": [*scope(PAGE, headers={"authorization": "Bearer other"})["headers"],
                                (b"authorization", AUTH.encode())]},
                 id="authorization-twice"),
])
def test_everything_else_is_left_to_the_handlers(
        setup: tuple[HotReads, Gate, ChangeLog], request_scope: dict[str, Any]) -> None:
    hot, _, _ = setup
    assert hot(request_scope) is None


def test_a_metadata_write_ends_the_cached_answers(
        setup: tuple[HotReads, Gate, ChangeLog]) -> None:
    hot, _, changes = setup
    changes.touch()
    assert hot(scope(PAGE)) is None
    assert hot(scope(FILE)) is None


def test_an_answer_is_sent_as_one_start_and_one_body(
        setup: tuple[HotReads, Gate, ChangeLog]) -> None:
    hot, _, _ = setup
    sent: list[dict[str, Any]] = []

    async def send(message: Any) -> None:
        sent.append(message)

    answer = hot(scope(FILE))
    assert answer is not None
    asyncio.run(answer.send(send))
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    assert sent[1]["body"] == b"WHL!"
    assert hot(scope(FILE, headers={"range": "bytes=0-1"})) is None
