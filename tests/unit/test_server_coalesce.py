"""Writing a marked response's head and body in one call (``server.coalesce``)."""

from __future__ import annotations

import asyncio
from typing import Any

from packyard.server.coalesce import COALESCE, _wrap_send


class Transport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        assert not self.closed, "write after close"
        self.writes.append(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed


class Cycle:
    """Writes like uvicorn's httptools cycle: the head on start, the body (unless HEAD) after."""

    def __init__(self, method: str = "GET", keep_alive: bool = True) -> None:
        self.transport = Transport()
        self.method = method
        self.keep_alive = keep_alive

    async def original(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.transport.write(b"HEAD%d|" % message["status"])
            return
        if self.method != "HEAD" and message.get("body"):
            self.transport.write(message["body"])
        if not message.get("more_body") and not self.keep_alive:
            self.transport.close()


send = _wrap_send(Cycle.original)


def run(cycle: Cycle, *messages: dict[str, Any]) -> list[bytes]:
    async def main() -> None:
        for message in messages:
            await send(cycle, message)

    asyncio.run(main())
    return cycle.transport.writes


def start(marked: bool, status: int = 200) -> dict[str, Any]:
    message: dict[str, Any] = {"type": "http.response.start", "status": status, "headers": []}
    if marked:
        message[COALESCE] = True
    return message


def body(data: bytes) -> dict[str, Any]:
    return {"type": "http.response.body", "body": data}


def test_a_marked_response_is_one_write() -> None:
    assert run(Cycle(), start(True), body(b"page")) == [b"HEAD200|page"]


def test_an_unmarked_response_is_left_alone() -> None:
    assert run(Cycle(), start(False), body(b"page")) == [b"HEAD200|", b"page"]


def test_a_head_request_or_empty_body_still_sends_the_head() -> None:
    assert run(Cycle(method="HEAD"), start(True), body(b"page")) == [b"HEAD200|"]
    assert run(Cycle(), start(True, 304), body(b"")) == [b"HEAD304|"]


def test_the_head_goes_out_before_the_connection_closes() -> None:
    cycle = Cycle(method="HEAD", keep_alive=False)
    assert run(cycle, start(True), body(b"page")) == [b"HEAD200|"]
    assert cycle.transport.closed


def test_nothing_is_written_to_a_connection_already_closing() -> None:
    cycle = Cycle()
    run(cycle, start(True))
    cycle.transport.close()
    assert run(cycle, body(b"")) == []


def test_responses_on_one_connection_do_not_mix() -> None:
    cycle = Cycle()
    assert run(cycle, start(True), body(b"one"), start(False), body(b"two")) == [
        b"HEAD200|one", b"HEAD200|", b"two"]
