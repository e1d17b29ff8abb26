"""Blocking calls of the read path, run in worker threads of their own with a light hop.

Starlette's ``run_in_threadpool`` goes through anyio's ``to_thread``: a cancel scope, a
capacity limiter and run-variable look-ups around every call. On the requests an install is
made of (the first read of each page, ``.metadata`` file and wheel) that hop was a visible
share of the server's CPU (py-spy during a 50-package pip install), and a plain executor hop
costs about half as much CPU and a fraction of the wait (``bench/README.md``). The caller's
context variables go along (the request environment that policy conditions read).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


class ThreadHop:
    """A bounded pool of worker threads and the one way to await a call in it."""

    def __init__(self, max_workers: int = 16, name: str = "packyard-reads") -> None:
        self._pool = ThreadPoolExecutor(max_workers, thread_name_prefix=name)

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``fn(*args, **kwargs)`` in a worker thread, in a copy of the caller's context."""
        return await self.start(fn, *args, **kwargs)

    def start(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> asyncio.Future[T]:
        """``run``, started now, for the caller to await later (work under way while it does
        something else)."""
        call = functools.partial(contextvars.copy_context().run, fn, *args, **kwargs)
        return asyncio.get_running_loop().run_in_executor(self._pool, call)

    def close(self) -> None:
        self._pool.shutdown(wait=False)
