"""Ranges read from a Range header the way Starlette's FileResponse reads them, so that a blob
store without files (``BlobResponse``) answers exactly as one with files does; and a blob
streamed to a client that has gone is read no further."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, cast

import anyio
import pytest
from starlette.responses import FileResponse, MalformedRangeHeader, RangeNotSatisfiable
from starlette.types import Message

from packyard.http.client_gone import mark_client_gone
from packyard.services.blob_response import BlobResponse, _BadRange, _Unsatisfiable, parse_ranges
from packyard.storage.blobs import BlobStore

SIZE = 1000


def _starlette(header: str) -> object:
    try:
        return FileResponse._parse_range_header(header, SIZE)
    except MalformedRangeHeader as exc:
        return ("bad", exc.content)
    except RangeNotSatisfiable:
        return "unsatisfiable"


def _ours(header: str) -> object:
    try:
        return parse_ranges(header, SIZE)
    except _BadRange as exc:
        return ("bad", exc.message)
    except _Unsatisfiable:
        return "unsatisfiable"


@pytest.mark.parametrize("header", [
    "bytes=0-0", "bytes=0-99", "bytes=100-", "bytes=-10", "bytes=-2000", "bytes=990-5000",
    "bytes=0-1,10-11", "bytes=10-11,0-1", "bytes=0-10,5-20", "bytes=0-1, 3-4 ,",
    "bytes=1000-", "bytes=5-1", "bytes=x-y", "bytes=", "bytes=-", "items=0-1", "bytes 0-1",
    "BYTES=0-1", "bytes=" + ",".join(f"{i}-{i}" for i in range(101)),
])
def test_ranges_are_read_as_file_response_reads_them(header: str) -> None:
    assert _ours(header) == _starlette(header)


class _CountedBlob:
    """A blob store's ``read`` of ten 1 MiB pieces, counting what was taken and whether the
    read was closed."""

    def __init__(self) -> None:
        self.taken = 0
        self.closed = False

    async def read(self, domain_key: str, sha256: str, start: int = 0,
                   end: int | None = None) -> AsyncIterator[bytes]:
        try:
            for _ in range(10):
                self.taken += 1
                yield b"x" * (1024 * 1024)
        finally:
            self.closed = True


def _answer(store: _CountedBlob, gone_after: int | None) -> list[Message]:
    """The messages a GET of the blob sends, the client going away (marked as the server
    marks it) after ``gone_after`` body pieces."""
    scope: dict[str, Any] = {"type": "http", "method": "GET", "headers": []}
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)
        pieces = sum(1 for m in sent if m["type"] == "http.response.body")
        if gone_after is not None and pieces >= gone_after:
            mark_client_gone(scope)

    response = BlobResponse(cast(BlobStore, store), "domain", "0" * 64, 10 * 1024 * 1024,
                            "application/octet-stream", {})
    anyio.run(response, scope, receive, send)
    return sent


def test_regression_a_blob_streamed_to_a_client_that_has_gone_is_read_no_further() -> None:
    store = _CountedBlob()
    sent = _answer(store, gone_after=2)
    assert [m["type"] for m in sent] == ["http.response.start"] + ["http.response.body"] * 2
    assert store.taken == 2 and store.closed


def test_a_blob_streamed_to_a_client_that_stays_is_sent_whole() -> None:
    store = _CountedBlob()
    sent = _answer(store, gone_after=None)
    body = [m for m in sent if m["type"] == "http.response.body"]
    assert sum(len(m["body"]) for m in body) == 10 * 1024 * 1024
    assert body[-1]["more_body"] is False
    assert store.taken == 10 and store.closed
