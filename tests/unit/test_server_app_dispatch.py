"""``PackyardApp`` offers a request to its own format's hot and first-read paths only, chosen
by the URL segment that names the format (``/{domain}-{owner}/{segment}/{repo}/...``)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from packyard.http.answer import Answer
from packyard.server.app import PackyardApp, _segment

HOT = Answer(200, [(b"content-length", b"3")], b"hot")
FIRST = Answer(200, [(b"content-length", b"5")], b"first")


@pytest.mark.parametrize(("path", "segment"), [
    ("/d-000000000000/npm/repo/demo-lib", "npm"),
    ("/d-000000000000/pypi/repo/simple/demo/", "pypi"),
    ("/d-000000000000/npm", "npm"),
    ("/d-000000000000/", ""),
    ("/health", ""),
    ("/", ""),
    ("", ""),
])
def test_the_segment_of_a_path(path: str, segment: str) -> None:
    assert _segment(path) == segment


def test_a_request_reaches_only_its_own_formats_paths() -> None:
    asked: list[str] = []

    def hot(name: str, answer: Answer | None) -> Any:
        def path(scope: Any) -> Answer | None:
            asked.append(f"hot {name}")
            return answer
        return path

    def first(name: str) -> Any:
        async def path(scope: Any) -> Answer | None:
            asked.append(f"first {name}")
            return FIRST
        return path

    app = PackyardApp(Starlette(routes=[Route("/health", lambda r: PlainTextResponse("ok"))]),
                      {"pypi": hot("pypi", HOT), "npm": hot("npm", None)},
                      first_reads={"pypi": first("pypi"), "npm": first("npm")})
    sent: list[Any] = []

    async def send(message: Any) -> None:
        sent.append(message)

    async def receive() -> Any:
        return {"type": "http.request", "body": b"", "more_body": False}

    def request(path: str) -> bytes:
        sent.clear()
        scope = {"type": "http", "method": "GET", "path": path, "raw_path": path.encode(),
                 "query_string": b"", "headers": [], "scheme": "http", "http_version": "1.1",
                 "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80), "root_path": ""}
        asyncio.run(app(scope, receive, send))
        return b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")

    assert app.hot_answer({"path": "/d-000000000000/pypi/repo/simple/x/"}) is HOT
    assert app.hot_answer({"path": "/d-000000000000/generic/repo/x"}) is None
    assert asked == ["hot pypi"]
    asked.clear()
    assert request("/d-000000000000/npm/repo/demo-lib") == b"first"
    assert asked == ["hot npm", "first npm"]
    asked.clear()
    assert request("/health") == b"ok"
    assert asked == []
