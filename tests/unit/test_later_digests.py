"""The filler of the digests a pull leaves for later (``upstream/later_digests.py``): it waits
for a quiet moment (or at most its patience), reads each blob back, checks it is the blob it is
named for, and fills in MD5, SHA-1, SHA-512 and BLAKE2b; a blob it cannot read is left for next time
and does not stop the others."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from packyard.errors import NotFound
from packyard.metadata.catalog import LaterDigest
from packyard.upstream.later_digests import LaterDigests


class _Catalog:
    def __init__(self, blobs: dict[str, bytes]) -> None:
        self.missing = {(1, sha) for sha in blobs}
        self.filled: dict[str, tuple[str, str, str, str]] = {}
        self.fill_times: list[float] = []
        self.writes = 0

    def digests_missing(self, limit: int = 100) -> list[tuple[int, str]]:
        return sorted(self.missing)[:limit]

    def fill_digests(self, filled: list[LaterDigest]) -> int:
        self.writes += 1
        for sha256, md5, sha1, sha512, blake2_256 in filled:
            self.filled[sha256] = (md5, sha1, sha512, blake2_256)
            self.fill_times.append(time.monotonic())
            self.missing.discard((1, sha256))
        return len(filled)


class _Blobs:
    def __init__(self, blobs: dict[str, bytes]) -> None:
        self.blobs = blobs
        self.reads: list[tuple[str, int, int | None]] = []

    async def read(self, domain_key: str, sha256: str, start: int = 0,
                   end: int | None = None) -> AsyncIterator[bytes]:
        self.reads.append((sha256, start, end))
        if sha256 not in self.blobs:
            raise NotFound(f"No blob {sha256}")
        data = self.blobs[sha256][start:end]
        for at in range(0, len(data), 70_000):
            yield data[at:at + 70_000]


def _blob(n: int) -> tuple[str, bytes]:
    data = bytes([n]) * (200_000 + n)
    return hashlib.sha256(data).hexdigest(), data


def _expected(data: bytes) -> tuple[str, str, str, str]:
    return (hashlib.md5(data).hexdigest(), hashlib.sha1(data).hexdigest(),
            hashlib.sha512(data).hexdigest(), hashlib.blake2b(data, digest_size=32).hexdigest())


def _filler(blobs: dict[str, bytes], **timing: float) -> tuple[LaterDigests, _Catalog]:
    catalog = _Catalog(blobs)
    later = LaterDigests(catalog, _Blobs(blobs), **timing)  # type: ignore[arg-type]
    return later, catalog


def test_every_missing_blob_gets_its_own_digests() -> None:
    blobs = dict(_blob(n) for n in range(45))  # more than a batch
    later, catalog = _filler(blobs)
    assert asyncio.run(later.fill()) == 45
    assert catalog.writes == 3  # a write per batch of 20, not one per blob
    assert catalog.filled == {sha: _expected(d) for sha, d in blobs.items()}


def test_a_blob_that_cannot_be_read_or_is_not_its_name_is_left_and_the_rest_filled(
        caplog: pytest.LogCaptureFixture) -> None:
    blobs = dict(_blob(n) for n in range(3))
    gone, changed, fine = sorted(blobs)
    later, catalog = _filler(blobs)
    catalog.missing.add((1, "f" * 64))  # ... and one the store does not have
    del later._blobs.blobs[gone]  # type: ignore[attr-defined]
    later._blobs.blobs[changed] = b"other bytes"  # type: ignore[attr-defined]
    with caplog.at_level(logging.WARNING, logger="packyard.digests"):
        assert asyncio.run(later.fill()) == 1
    assert list(catalog.filled) == [fine]
    assert {(1, gone), (1, changed), (1, "f" * 64)} == catalog.missing
    assert f"blob {changed} of domain 1 reads back as " in caplog.text
    assert f"could not fill in the digests of blob {gone} of domain 1: No blob" in caplog.text


def test_the_filler_waits_for_a_quiet_moment_then_fills() -> None:
    """Kept files nudge it; it fills once none came for ``quiet`` seconds (an install's burst
    is not slowed by it)."""
    blobs = dict(_blob(n) for n in range(3))
    later, catalog = _filler(blobs, quiet=0.3, patience=30)

    async def main() -> tuple[float, float]:
        started = time.monotonic()
        for _ in range(6):  # a burst of kept files, 0.1 s apart
            later.nudge()
            await asyncio.sleep(0.1)
        assert catalog.filled == {}
        last_nudge = time.monotonic()
        while len(catalog.filled) < 3:
            assert time.monotonic() - started < 10
            await asyncio.sleep(0.02)
        return last_nudge - started, catalog.fill_times[0] - last_nudge

    burst, after = asyncio.run(main())
    assert burst >= 0.55 and 0.15 <= after < 2.0


def test_the_filler_does_not_wait_longer_than_its_patience() -> None:
    blobs = dict(_blob(n) for n in range(2))
    later, catalog = _filler(blobs, quiet=0.3, patience=0.5)

    async def main() -> float:
        started = time.monotonic()
        while not catalog.filled:  # nudged without pause
            assert time.monotonic() - started < 10
            later.nudge()
            await asyncio.sleep(0.05)
        return catalog.fill_times[0] - started

    assert 0.45 <= asyncio.run(main()) < 3.0


def test_closing_stops_a_waiting_filler_and_leaves_the_digests_for_the_next_start() -> None:
    blobs = dict(_blob(n) for n in range(2))
    later, catalog = _filler(blobs, quiet=5, patience=5)

    async def main() -> None:
        later.nudge()
        await asyncio.sleep(0.05)
        await later.close()

    asyncio.run(main())
    assert catalog.filled == {} and len(catalog.missing) == 2


def test_filling_from_a_worker_thread_runs_on_the_event_loop() -> None:
    blobs = dict(_blob(n) for n in range(2))
    later, catalog = _filler(blobs)
    (first, data), _ = blobs.items()

    async def main() -> Any:
        from starlette.concurrency import run_in_threadpool
        return await run_in_threadpool(later.fill_from_thread, {(1, first)})

    assert asyncio.run(main()) is True
    assert catalog.filled == {first: _expected(data)}


def test_filling_from_worker_threads_needs_none_of_the_loops_worker_threads() -> None:
    """Requests that fill digests from worker threads hold those threads while they wait: had
    the reading waited for a worker thread of the same loop, enough of them at once (here:
    every one the loop has) would wait for each other for ever."""
    blobs = dict(_blob(n) for n in range(2))
    later, catalog = _filler(blobs)

    async def main() -> list[bool]:
        import anyio.to_thread
        from starlette.concurrency import run_in_threadpool
        anyio.to_thread.current_default_thread_limiter().total_tokens = 2
        calls = [run_in_threadpool(later.fill_from_thread, {(1, sha)}) for sha in blobs]
        return list(await asyncio.wait_for(asyncio.gather(*calls), timeout=20))

    assert asyncio.run(main()) == [True, True]
    assert set(catalog.filled) == set(blobs)


def test_a_failing_catalog_write_leaves_an_answer_its_digests_unfilled_not_failed(
        caplog: pytest.LogCaptureFixture) -> None:
    blobs = dict(_blob(n) for n in range(1))
    later, catalog = _filler(blobs)

    def away(filled: Any) -> int:
        raise RuntimeError("the database is away")

    catalog.fill_digests = away  # type: ignore[method-assign]
    with caplog.at_level(logging.ERROR, logger="packyard.digests"):
        assert later.fill_from_thread(set(catalog.missing)) is False
    assert "filling in digests for an answer" in caplog.text
    assert len(catalog.missing) == 1


def test_each_piece_of_a_blob_is_a_read_of_its_own() -> None:
    """A pause for requests between two pieces holds no read open (a long read under way keeps
    a download's decryption from going ahead)."""
    sha, data = _blob(0)
    big = data * 12  # ~2.3 MiB
    blobs = {hashlib.sha256(big).hexdigest(): big}
    later, catalog = _filler(blobs)
    assert asyncio.run(later.fill()) == 1
    [(name, expected)] = blobs.items()
    assert catalog.filled == {name: _expected(expected)}
    reads = later._blobs.reads  # type: ignore[attr-defined]
    assert [(start, end) for _, start, end in reads] == [
        (0, 1 << 20), (1 << 20, 2 << 20), (2 << 20, 3 << 20), (len(big), len(big) + (1 << 20))]


class _Requests:
    """What the server counts: requests begun, and those under way."""

    def __init__(self) -> None:
        self.begun = 0
        self.in_flight = 0

    def __call__(self) -> tuple[int, int]:
        return self.begun, self.in_flight


def test_the_filler_gives_way_to_requests_under_way_and_arriving() -> None:
    blobs = dict(_blob(n) for n in range(3))
    later, catalog = _filler(blobs, patience=30, poll=0.02)
    requests = _Requests()
    later.yield_to(requests)

    async def main() -> tuple[int, int, float]:
        requests.in_flight = 1  # a download under way
        filling = asyncio.create_task(later.fill())
        await asyncio.sleep(0.3)
        during_download = len(catalog.filled)
        requests.in_flight = 0
        for _ in range(10):  # then an install's burst of short requests
            requests.begun += 1
            await asyncio.sleep(0.01)
        during_burst = len(catalog.filled)
        quiet = time.monotonic()
        assert await asyncio.wait_for(filling, 10) == 3
        return during_download, during_burst, catalog.fill_times[0] - quiet

    during_download, during_burst, after = asyncio.run(main())
    assert (during_download, during_burst) == (0, 0)
    assert after < 2.0
    assert catalog.filled == {sha: _expected(d) for sha, d in blobs.items()}


def test_a_server_never_idle_still_gets_its_digests_after_the_patience() -> None:
    blobs = dict(_blob(n) for n in range(2))
    later, catalog = _filler(blobs, patience=0.4, poll=0.02)
    requests = _Requests()
    requests.in_flight = 1  # for ever
    later.yield_to(requests)
    started = time.monotonic()
    assert asyncio.run(asyncio.wait_for(later.fill(), 10)) == 2
    assert 0.35 <= time.monotonic() - started < 5


def test_an_answers_own_filling_does_not_wait_for_requests() -> None:
    """``ListPackageVersionAssets`` fills what it shows while it is itself a request under way:
    it must not wait for requests to end."""
    blobs = dict(_blob(n) for n in range(1))
    later, catalog = _filler(blobs, patience=30)
    requests = _Requests()
    requests.in_flight = 1
    later.yield_to(requests)
    started = time.monotonic()
    assert later.fill_from_thread(set(catalog.missing)) is True
    assert time.monotonic() - started < 2
