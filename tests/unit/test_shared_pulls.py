"""One upstream download per file across processes (``upstream/claims.py``): two ``PullThrough``
instances on one SQLite catalog stand for two workers or replicas, each with its own claims
holder, and the upstream is an ``httpx.MockTransport`` that counts its requests and holds the
last chunk until the test lets it go. (The same across real replicas on PostgreSQL, with one
killed mid-download, is tests/integration/test_replica_pulls.py.)"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from packyard.metadata.catalog import SqlCatalog
from packyard.metadata.pull_claims import PullClaimStore
from packyard.storage.blobs import Digests, StagedBlob
from packyard.upstream.claims import SharedPulls
from packyard.upstream.client import UpstreamHttp, UpstreamLimits
from packyard.upstream.pullthrough import (
    FileSource,
    Finish,
    PullThrough,
    VerificationFailed,
    claim_key,
)

INDEX = "https://index.example/simple/"
FILE_URL = "https://files.example/f/demo_pkg-1.0.tar.gz"
DATA = bytes(range(256)) * 2048  # 512 KiB
SHA = hashlib.sha256(DATA).hexdigest()
PARTITION = "d1"
KEEPER = 7  # the repository the first process keeps the file in


class Upstream:
    """Counts the file's requests; sends all but its last chunk at once, the rest on
    ``release``; answers 500 while ``failing``."""

    def __init__(self) -> None:
        self.requests = 0
        self.release = asyncio.Event()
        self.failing = False

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        if self.failing:
            return httpx.Response(500)

        async def chunks() -> AsyncIterator[bytes]:
            step = 64 * 1024
            for start in range(0, len(DATA) - step, step):
                yield DATA[start:start + step]
            await self.release.wait()
            yield DATA[-step:]

        return httpx.Response(200, content=chunks(),
                              headers={"Content-Length": str(len(DATA))})


class Process:
    """One process's pull-through, sharing claims through the catalog's database."""

    def __init__(self, catalog: SqlCatalog, upstream: Upstream, spool: Path,
                 lease_seconds: float = 5.0, adoptable: bool = True) -> None:
        http = UpstreamHttp(UpstreamLimits(retries=0, read_timeout=10.0),
                            transport=httpx.MockTransport(upstream))
        self.http = http
        self.shared = SharedPulls(PullClaimStore(catalog.engines), lease_seconds)
        self.pull = PullThrough(http, spool, 10 * len(DATA), 60, shared=self.shared)
        self.commits: list[Digests] = []
        self.adopted: list[int] = []
        self._adoptable = adoptable

    async def commit(self, staged: StagedBlob, finish: Finish) -> Digests:
        digests = finish()
        assert staged.local_path.read_bytes() == DATA
        self.commits.append(digests)
        return digests

    def adopt(self, keeper: int) -> bool:
        self.adopted.append(keeper)
        return self._adoptable

    async def get(self, sha: str = SHA) -> Digests:
        source = FileSource(FILE_URL, "demo_pkg-1.0.tar.gz", {"sha256": sha}, len(DATA),
                            frozenset({"files.example"}), INDEX)
        download = self.pull.start(PARTITION, source, self.commit, keeper=KEEPER,
                                   adopt=self.adopt)
        await download.decided()
        reader = download.open_reader()
        if reader is not None:
            assert b"".join([chunk async for chunk in reader.stream()]) == DATA
        return await download.result()

    @property
    def waits(self) -> int:
        return self.http.stats.file_pull_waits


@pytest.fixture
def catalog(tmp_path: Path) -> SqlCatalog:
    catalog = SqlCatalog(f"sqlite:///{tmp_path / 'catalog.sqlite'}")
    catalog.migrate()
    return catalog


async def _until(check: Callable[[], bool]) -> None:
    for _ in range(2000):
        if check():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("not reached in 10 s")


def test_two_processes_asked_at_once_download_once_and_the_waiter_keeps_the_copy(
        catalog: SqlCatalog, tmp_path: Path) -> None:
    async def main() -> tuple[Process, Process, int, list[Digests]]:
        upstream = Upstream()
        first, second = (Process(catalog, upstream, tmp_path / "spool-1"),
                         Process(catalog, upstream, tmp_path / "spool-2"))
        holder = asyncio.create_task(first.get())
        await _until(lambda: upstream.requests == 1)  # claimed, downloading
        waiters = [asyncio.create_task(second.get()) for _ in range(3)]
        await _until(lambda: second.waits == 1)  # one waiter per file per process
        upstream.release.set()
        results = await asyncio.gather(holder, *waiters)
        return first, second, upstream.requests, results

    first, second, requests, results = asyncio.run(main())
    assert requests == 1
    assert {digests.sha256 for digests in results} == {SHA}
    assert [d.sha256 for d in first.commits] == [SHA] and first.adopted == []
    # The second process stored nothing: it kept the copy the first kept in KEEPER.
    assert second.commits == [] and second.adopted == [KEEPER]
    assert first.http.stats.file_pulls == 1 and second.http.stats.file_pulls == 0


def test_a_claim_whose_holder_died_is_taken_over_when_it_runs_out(
        catalog: SqlCatalog, tmp_path: Path) -> None:
    source = FileSource(FILE_URL, "demo_pkg-1.0.tar.gz", {"sha256": SHA}, len(DATA),
                        frozenset({"files.example"}), INDEX)
    claims, key = PullClaimStore(catalog.engines), claim_key(PARTITION, source)
    now = datetime.now(UTC)
    # A process killed mid-download: its claim is there, and nobody renews it.
    assert claims.claim(key, "killed", now, now + timedelta(hours=1))

    async def main() -> tuple[Process, int, Digests]:
        upstream = Upstream()
        upstream.release.set()
        survivor = Process(catalog, upstream, tmp_path / "spool")
        got = asyncio.create_task(survivor.get())
        await _until(lambda: survivor.waits == 1)
        await asyncio.sleep(0.2)
        assert upstream.requests == 0  # waiting for the claim to run out
        # Its lease runs out (as the hour would).
        assert claims.renew(key, "killed", datetime.now(UTC) - timedelta(seconds=1))
        digests = await got
        return survivor, upstream.requests, digests

    survivor, requests, digests = asyncio.run(main())
    assert requests == 1 and digests.sha256 == SHA
    assert [d.sha256 for d in survivor.commits] == [SHA]
    settled = claims.look(key)
    assert settled is not None and settled.holder == survivor.shared.holder
    assert settled.outcome is not None and SHA in settled.outcome


def test_the_holder_renews_its_claim_while_a_long_download_runs(
        catalog: SqlCatalog, tmp_path: Path) -> None:
    async def main() -> tuple[int, int]:
        upstream = Upstream()
        # A lease much shorter than the download: only renewals keep the others waiting.
        first, second = (Process(catalog, upstream, tmp_path / "spool-1", lease_seconds=0.3),
                         Process(catalog, upstream, tmp_path / "spool-2", lease_seconds=0.3))
        holder = asyncio.create_task(first.get())
        await _until(lambda: upstream.requests == 1)
        waiter = asyncio.create_task(second.get())
        await _until(lambda: second.waits == 1)
        await asyncio.sleep(1.2)  # four leases
        upstream.release.set()
        await asyncio.gather(holder, waiter)
        return upstream.requests, len(second.commits)

    assert asyncio.run(main()) == (1, 0)


def test_a_verification_failure_is_shared_with_the_waiters_without_another_download(
        catalog: SqlCatalog, tmp_path: Path) -> None:
    wrong = "0" * 64

    async def main() -> tuple[int, list[BaseException | Digests]]:
        upstream = Upstream()
        first, second = (Process(catalog, upstream, tmp_path / "spool-1"),
                         Process(catalog, upstream, tmp_path / "spool-2"))
        holder = asyncio.create_task(first.get(wrong))
        await _until(lambda: upstream.requests == 1)
        waiter = asyncio.create_task(second.get(wrong))
        await _until(lambda: second.waits == 1)
        upstream.release.set()
        results = await asyncio.gather(holder, waiter, return_exceptions=True)
        # Asked again later, through a third process: refused at once, no download.
        third = Process(catalog, upstream, tmp_path / "spool-3")
        again = await asyncio.gather(third.get(wrong), return_exceptions=True)
        return upstream.requests, [*results, *again]

    requests, results = asyncio.run(main())
    assert requests == 1
    assert all(isinstance(r, VerificationFailed) for r in results)
    assert all(f"declares sha256 {'0' * 64}" in r.message for r in results
               if isinstance(r, VerificationFailed))


def test_after_a_failed_download_the_next_process_downloads_the_file_itself(
        catalog: SqlCatalog, tmp_path: Path) -> None:
    async def main() -> tuple[int, BaseException | Digests, Digests, Process]:
        upstream = Upstream()
        upstream.failing = True
        first, second = (Process(catalog, upstream, tmp_path / "spool-1"),
                         Process(catalog, upstream, tmp_path / "spool-2"))
        failed = await asyncio.gather(first.get(), return_exceptions=True)
        upstream.failing = False
        upstream.release.set()
        digests = await second.get()
        return upstream.requests, failed[0], digests, second

    requests, failed, digests, second = asyncio.run(main())
    assert isinstance(failed, Exception) and not isinstance(failed, VerificationFailed)
    assert requests == 2 and digests.sha256 == SHA
    assert [d.sha256 for d in second.commits] == [SHA] and second.waits == 0


def test_a_waiter_that_cannot_keep_the_other_copy_downloads_the_file_itself(
        catalog: SqlCatalog, tmp_path: Path) -> None:
    async def main() -> tuple[int, Process]:
        upstream = Upstream()
        upstream.release.set()
        first = Process(catalog, upstream, tmp_path / "spool-1")
        second = Process(catalog, upstream, tmp_path / "spool-2", adoptable=False)
        await first.get()
        await second.get()  # the outcome is still there: waits no time, adopts nothing
        return upstream.requests, second

    requests, second = asyncio.run(main())
    assert requests == 2
    assert second.adopted == [KEEPER] and [d.sha256 for d in second.commits] == [SHA]
