"""The byte budget upstream documents read whole share (``upstream/document_budget.py``), and
pages read through it: many large pages at once never all hold memory together."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from packyard.clock import Clock
from packyard.errors import UpstreamError
from packyard.formats.pypi.upstream import PypiUpstream
from packyard.metadata.catalog import SqlCatalog
from packyard.settings import load_settings
from packyard.upstream.client import UpstreamHttp, UpstreamLimits
from packyard.upstream.document_budget import STEP, DocumentBudget, Lease
from packyard.upstream.documents import UpstreamDocuments

MiB = 1024 * 1024


async def _hold(budget: DocumentBudget, what: str, sizes: list[int], started: asyncio.Event,
                finish: asyncio.Event, log: list[str]) -> None:
    async with budget.lease(what) as lease:
        for size in sizes:
            await lease.grow(size)
            log.append(f"{what} {lease.held // MiB}")
            started.set()
        await finish.wait()


def test_regression_document_budget_makes_documents_wait_for_room() -> None:
    """Twelve documents that would each hold 64 MiB held 768 MiB at once (a server went from
    300 MB to 1 GB). A document that does not fit waits until another gives its bytes back,
    and what is held never exceeds the limit."""

    async def main() -> tuple[list[str], DocumentBudget]:
        budget = DocumentBudget(3 * MiB, wait=5.0)
        log: list[str] = []
        finishes = [asyncio.Event() for _ in range(3)]
        starts = [asyncio.Event() for _ in range(3)]
        tasks = [asyncio.create_task(_hold(budget, f"d{i}", [2 * MiB], starts[i], finishes[i],
                                           log)) for i in range(3)]
        await asyncio.wait_for(starts[0].wait(), 1)
        await asyncio.sleep(0.05)
        assert log == ["d0 2"]  # d1 and d2 wait: 2 + 2 > 3
        assert budget.used == 2 * MiB
        finishes[0].set()
        await asyncio.wait_for(starts[1].wait(), 1)
        assert log == ["d0 2", "d1 2"]  # d2 still waits, in turn
        finishes[1].set()
        await asyncio.wait_for(starts[2].wait(), 1)
        finishes[2].set()
        await asyncio.gather(*tasks)
        return log, budget

    log, budget = asyncio.run(main())
    assert log == ["d0 2", "d1 2", "d2 2"]
    assert budget.peak == 2 * MiB
    assert budget.used == 0


def test_a_lease_grows_a_step_at_a_time_and_gives_everything_back() -> None:
    async def main() -> tuple[int, int, int]:
        budget = DocumentBudget(8 * MiB, wait=1.0)
        async with budget.lease("d") as lease:
            await lease.grow(1)
            first = lease.held
            await lease.grow(STEP + 1)
            second = lease.held
        return first, second, budget.used

    assert asyncio.run(main()) == (STEP, 2 * STEP, 0)


def test_a_document_waiting_too_long_for_room_is_upstream_busy() -> None:
    async def main() -> str:
        budget = DocumentBudget(2 * MiB, wait=0.1)
        async with budget.lease("https://index.example/a/") as first:
            await first.grow(2 * MiB)
            async with budget.lease("https://index.example/b/") as second:
                with pytest.raises(UpstreamError) as err:
                    await second.grow(1)
                assert budget.used == 2 * MiB
                return err.value.message

    assert asyncio.run(main()) == (
        f"Upstream busy: documents being read hold {2 * MiB} of the {2 * MiB} bytes they may "
        "hold at once (PACKYARD_UPSTREAM_DOCUMENT_BUDGET_BYTES) and none gave any back "
        "within 0.1s; not reading https://index.example/b/")


def test_a_document_larger_than_the_whole_budget_fails_at_once() -> None:
    async def main() -> str:
        budget = DocumentBudget(2 * MiB, wait=30.0)
        async with budget.lease("https://index.example/a/") as lease:
            with pytest.raises(UpstreamError) as err:
                await lease.grow(2 * MiB + 1)
            return err.value.message

    assert "sent a document larger than the 2097152 bytes" in asyncio.run(main())


def test_documents_half_read_that_all_wait_for_each_other_give_way_youngest_first() -> None:
    """Two documents holding 2 MiB each of 4 MiB, both wanting more: neither could ever go on.
    The younger gives up at once and the older finishes."""

    async def main() -> tuple[list[str], str]:
        budget = DocumentBudget(4 * MiB, wait=30.0)
        both_half = asyncio.Event()
        outcome: list[str] = []

        async def read(lease: Lease, name: str) -> None:
            await lease.grow(2 * MiB)
            if budget.used == 4 * MiB:
                both_half.set()
            await both_half.wait()
            await lease.grow(3 * MiB)
            outcome.append(name)

        async def one(name: str) -> None:
            async with budget.lease(name) as lease:
                await read(lease, name)

        results = await asyncio.wait_for(
            asyncio.gather(one("older"), one("younger"), return_exceptions=True), 2)
        failure = next(r for r in results if isinstance(r, UpstreamError))
        return outcome, failure.message

    outcome, message = asyncio.run(main())
    assert outcome == ["older"]
    assert message.startswith("Upstream busy: younger had 2097152 bytes read when every "
                              "document being read was waiting")


def test_a_new_document_waits_while_one_half_read_waits_to_grow() -> None:
    """Room given back goes to a document already being read before a new one."""

    async def main() -> list[str]:
        budget = DocumentBudget(4 * MiB, wait=5.0)
        order: list[str] = []
        release_first = asyncio.Event()

        async def first() -> None:
            async with budget.lease("first") as lease:
                await lease.grow(2 * MiB)
                await release_first.wait()

        async def growing() -> None:
            async with budget.lease("growing") as lease:
                await lease.grow(2 * MiB)
                await asyncio.sleep(0.01)
                await lease.grow(3 * MiB)
                order.append("growing")

        async def newcomer() -> None:
            await asyncio.sleep(0.02)
            async with budget.lease("new") as lease:
                await lease.grow(1 * MiB)
                order.append("new")

        tasks = [asyncio.create_task(c()) for c in (first, growing, newcomer)]
        await asyncio.sleep(0.05)
        assert order == []
        release_first.set()
        await asyncio.gather(*tasks)
        return order

    assert asyncio.run(main()) == ["growing", "new"]


# -- pages read through the budget ------------------------------------------------------------

INDEX = "https://index.example/simple/"


@pytest.fixture()
def catalog(tmp_path: Path) -> SqlCatalog:
    c = SqlCatalog(f"sqlite:///{tmp_path / 'db.sqlite'}")
    c.migrate()
    return c


def _large_page(project: str, size: int) -> bytes:
    """A PEP 691 page of ``project`` about ``size`` bytes long."""
    files = []
    page = b""
    n = 0
    while len(page) < size:
        for _ in range(500):
            n += 1
            files.append({"filename": f"{project.replace('-', '_')}-{n}.0.tar.gz",
                          "url": f"https://files.example/{project}/{n}.tar.gz",
                          "hashes": {"sha256": f"{n:064x}"}})
        page = json.dumps({"meta": {"api-version": "1.0"}, "name": project,
                           "files": files}).encode()
    return page


def test_regression_many_large_upstream_pages_at_once_do_not_all_hold_memory(
        catalog: SqlCatalog) -> None:
    """Twelve first reads of projects with large upstream pages read and parsed all twelve
    at once (the trial: 64 MiB pages took a server from 300 MB to about 1 GB). With a budget
    of three pages' bytes, no more than three are read at once, and every page still comes."""
    page_size = 1 * MiB
    pages = {f"big-{i}": _large_page(f"big-{i}", page_size) for i in range(12)}
    longest = max(len(p) for p in pages.values())
    budget = 3 * (-(-longest // STEP) * STEP)
    reading = 0
    most_reading = 0

    class Body(httpx.AsyncByteStream):
        def __init__(self, data: bytes) -> None:
            self._data = data

        async def __aiter__(self) -> AsyncIterator[bytes]:
            nonlocal reading, most_reading
            reading += 1
            most_reading = max(most_reading, reading)
            try:
                for start in range(0, len(self._data), 256 * 1024):
                    await asyncio.sleep(0.005)
                    yield self._data[start:start + 256 * 1024]
            finally:
                reading -= 1

    def handler(request: httpx.Request) -> httpx.Response:
        project = request.url.path.rstrip("/").rsplit("/", 1)[-1]
        data = pages[project]
        return httpx.Response(200, stream=Body(data), headers={
            "content-type": "application/vnd.pypi.simple.v1+json",
            "content-length": str(len(data))})

    http = UpstreamHttp(UpstreamLimits(retries=0, read_timeout=30.0, document_budget=budget),
                        transport=httpx.MockTransport(handler))
    documents = UpstreamDocuments(catalog, http, Clock(), 600, PypiUpstream())

    async def main() -> list[int]:
        results = await asyncio.gather(*(documents.get(INDEX, name) for name in pages))
        return [len(r.listing.files) if r.listing else 0 for r in results]

    counts = asyncio.run(main())
    assert all(count > 1000 for count in counts)
    assert most_reading <= 3
    assert http.budget.peak <= budget
    assert http.budget.used == 0


def test_a_budget_smaller_than_the_largest_page_is_refused_at_start() -> None:
    with pytest.raises(ValueError) as err:
        load_settings({"PACKYARD_UPSTREAM_DOCUMENT_BUDGET_BYTES": str(MiB)})
    assert str(err.value) == ("PACKYARD_UPSTREAM_DOCUMENT_BUDGET_BYTES must be at least "
                              "67108864 (the largest upstream page read)")
    assert load_settings({}).upstream_document_budget_bytes == 4 * 64 * MiB
