"""The least pace of a file pulled from an upstream (``upstream/pace.py``): a trickle is given
up, freeing its upstream slot; a file that keeps moving is kept however long it takes."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from packyard.errors import UpstreamError
from packyard.settings import load_settings
from packyard.storage.blobs import Digests, StagedBlob
from packyard.upstream.client import UpstreamHttp, UpstreamLimits
from packyard.upstream.pace import Pace
from packyard.upstream.pullthrough import FileSource, Finish, PullThrough

INDEX = "https://index.example/simple/"
FILE_URL = "https://files.example/f/demo_pkg-1.0.tar.gz"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_regression_time_packyard_held_the_download_up_is_not_the_upstreams() -> None:
    # A disk stalled for a minute (the write queue full) made a steady upstream look slow.
    clock = Clock()
    pace = Pace(1000, 60.0, "demo.whl", clock)
    clock.now = 10.0
    pace.received(10_000)  # 1000 bytes a second so far
    clock.now = 80.0
    pace.waited(70.0)  # the writes held it up for 70 s
    clock.now = 90.0
    pace.received(30_000)  # 20,000 more in the 20 s the upstream was read: its pace holds
    clock.now = 200.0
    with pytest.raises(UpstreamError, match="less than the 1000"):
        pace.received(31_000)  # a real trickle is still caught


def test_a_window_below_the_rate_is_given_up_and_a_faster_one_starts_the_next() -> None:
    clock = Clock()
    pace = Pace(1000, 60.0, "demo.whl", clock)
    clock.now = 30.0
    pace.received(10)  # within the first window (the grace): not judged
    clock.now = 60.0
    pace.received(60_000)  # 1000 bytes a second over the first window: enough
    clock.now = 100.0
    pace.received(60_001)  # within the second window
    clock.now = 121.0
    with pytest.raises(UpstreamError) as err:
        pace.received(60_002)  # 2 bytes in 61 s
    assert err.value.message == (
        "Upstream sent demo.whl at 0 bytes a second over the last 61s, less than the 1000 a "
        "file must keep up (PACKYARD_UPSTREAM_MIN_FILE_BYTES_PER_SECOND); given up")


def test_a_file_that_started_fast_and_then_trickles_is_caught_within_a_window() -> None:
    clock = Clock()
    pace = Pace(1024, 60.0, "demo.whl", clock)
    clock.now = 60.0
    pace.received(500 * 1024 * 1024)  # fast at first
    clock.now = 125.0
    with pytest.raises(UpstreamError):
        pace.received(500 * 1024 * 1024 + 100)


def test_a_rate_of_zero_checks_nothing() -> None:
    clock = Clock()
    pace = Pace(0, 60.0, "demo.whl", clock)
    clock.now = 10_000.0
    pace.received(1)


def test_the_setting_defaults_to_a_kibibyte_a_second_and_refuses_a_negative() -> None:
    assert load_settings({}).upstream_min_file_bytes_per_second == 1024
    with pytest.raises(ValueError) as err:
        load_settings({"PACKYARD_UPSTREAM_MIN_FILE_BYTES_PER_SECOND": "-1"})
    assert "PACKYARD_UPSTREAM_MIN_FILE_BYTES_PER_SECOND must be 0" in str(err.value)


def _trickle(body: bytes, piece: int, pause: float) -> httpx.MockTransport:
    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith(".metadata"):
            return httpx.Response(200, content=b"Metadata-Version: 2.1\n")

        async def chunks() -> AsyncIterator[bytes]:
            for start in range(0, len(body), piece):
                await asyncio.sleep(pause)
                yield body[start:start + piece]

        return httpx.Response(200, content=chunks(), headers={"Content-Length": str(len(body))})

    return httpx.MockTransport(handler)


async def _keep_nothing(staged: StagedBlob, finish: Finish) -> Digests:
    return finish()


def _pull(tmp_path: Path, transport: httpx.MockTransport, body: bytes) -> tuple[
        UpstreamHttp, PullThrough, FileSource]:
    http = UpstreamHttp(UpstreamLimits(retries=0, max_concurrency=1, read_timeout=5.0,
                                       file_min_rate=1000, file_rate_window=0.3),
                        transport=transport)
    source = FileSource(FILE_URL, "demo_pkg-1.0.tar.gz",
                        {"sha256": hashlib.sha256(body).hexdigest()}, len(body),
                        frozenset({"files.example"}), INDEX)
    return http, PullThrough(http, tmp_path / "spool", 10 * len(body), 60), source


def test_regression_a_file_trickled_from_an_upstream_gives_its_slot_back(
        tmp_path: Path) -> None:
    """An upstream sending a file ten bytes at a time, each well within the read timeout, held
    one of the upstream slots until the file ended (days, at a byte a second): with every
    slot so held, every pull-through stopped. It is given up after a window below the least
    pace, and the slot serves the next request."""
    body = b"x" * 4000  # 20 s at this pace
    http, pull, source = _pull(tmp_path, _trickle(body, 10, 0.05), body)

    async def main() -> tuple[str, bytes]:
        download = pull.start("d1", source, _keep_nothing)
        with pytest.raises(UpstreamError) as err:
            await asyncio.wait_for(download.result(), 5)
        # The only slot is free again: another request gets it at once.
        page = await asyncio.wait_for(
            http.fetch_bytes(FILE_URL + ".metadata", {"files.example"}, 10_000,
                             upstream=INDEX), 2)
        return err.value.message, page

    message, page = asyncio.run(main())
    assert page == b"Metadata-Version: 2.1\n"
    assert message.startswith("Upstream sent demo_pkg-1.0.tar.gz at ")
    assert "less than the 1000 a file must keep up" in message


def test_a_file_that_keeps_its_pace_is_kept_however_long_it_takes(tmp_path: Path) -> None:
    body = b"y" * 4000
    _, pull, source = _pull(tmp_path, _trickle(body, 500, 0.1), body)  # 5000 bytes a second

    async def main() -> int:
        download = pull.start("d1", source, _keep_nothing)
        digests = await asyncio.wait_for(download.result(), 5)
        return digests.size

    assert asyncio.run(main()) == len(body)
