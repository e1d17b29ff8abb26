"""ThreadHop: a blocking call awaited in a worker thread, with the caller's context."""

from __future__ import annotations

import asyncio
import contextvars
import threading

import pytest

from packyard.thread_hop import ThreadHop

_WHO: contextvars.ContextVar[str] = contextvars.ContextVar("who", default="nobody")


def test_the_call_runs_in_another_thread_and_sees_the_callers_context() -> None:
    hop = ThreadHop(max_workers=2)

    def where(suffix: str) -> tuple[str, int]:
        return _WHO.get() + suffix, threading.get_ident()

    async def main() -> tuple[str, int]:
        _WHO.set("request 1")
        return await hop.run(where, "!")

    try:
        seen, thread = asyncio.run(main())
    finally:
        hop.close()
    assert seen == "request 1!"  # what policy conditions read (aws:SourceIp) goes along
    assert thread != threading.get_ident()


def test_an_exception_reaches_the_caller() -> None:
    hop = ThreadHop(max_workers=1)

    def fail() -> None:
        raise LookupError("no such file")

    try:
        with pytest.raises(LookupError, match="no such file"):
            asyncio.run(hop.run(fail))
    finally:
        hop.close()


def test_a_started_call_is_under_way_before_it_is_awaited() -> None:
    """``start``: the next piece of a download decrypted while the caller sends this one."""
    hop = ThreadHop(1, "test-hop")
    began = threading.Event()

    async def main() -> tuple[bool, int]:
        future = hop.start(lambda: began.set() or 7)
        ran_meanwhile = await asyncio.to_thread(began.wait, 5)  # nothing awaited it yet
        return ran_meanwhile, await future

    try:
        assert asyncio.run(main()) == (True, 7)
    finally:
        hop.close()
