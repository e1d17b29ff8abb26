"""Talking to an upstream: confined redirects, bounded retries, the page cache, pull-through.

The upstream is an ``httpx.MockTransport``: these tests count every request it receives.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import importlib.machinery
import importlib.util
import ipaddress
import json
import os
import ssl
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from importlib.machinery import ModuleSpec
from pathlib import Path
from typing import Any

import httpx
import pytest

from packyard.clock import Clock
from packyard.errors import UpstreamError
from packyard.formats.npm.upstream import NpmUpstream
from packyard.formats.pypi import attributes as pypi_attributes
from packyard.formats.pypi.upstream import PypiUpstream
from packyard.metadata.catalog import SqlCatalog
from packyard.metadata.later_digests import ATTRIBUTE_DIGESTS
from packyard.settings import load_settings
from packyard.storage.blobs import LATER_DIGESTS, Digests, ExpectedBlob, StagedBlob
from packyard.storage.staging import StagedFile, StagingArea
from packyard.upstream import client as client_module
from packyard.upstream import documents as documents_module
from packyard.upstream.client import (
    UPSTREAM_READ_BYTES,
    PageFetch,
    UpstreamHttp,
    UpstreamLimits,
    read_responses_in_larger_pieces,
)
from packyard.upstream.destinations import is_internal
from packyard.upstream.documents import Loaded, UpstreamDocuments
from packyard.upstream.format import UpstreamListing
from packyard.upstream.merge import OfferedFile
from packyard.upstream.pullthrough import _WRITE_BATCH as WRITE_BATCH
from packyard.upstream.pullthrough import (
    Commit,
    FileSource,
    Finish,
    PullThrough,
    VerificationFailed,
)
from tests.unit.pypi_samples import build_wheel, metadata_text

INDEX = "https://index.example/simple/"
FILE_URL = "https://files.example/f/demo_pkg-1.0.tar.gz"
DATA = bytes(range(256)) * 16384  # 4 MiB: several of the batches a download is written in
SHA = hashlib.sha256(DATA).hexdigest()

Handler = Callable[[httpx.Request], httpx.Response]


def UpstreamPages(catalog: SqlCatalog, http: UpstreamHttp, clock: Clock,  # noqa: N802
                  ttl_seconds: float, revalidate_wait: float = 5.0) -> UpstreamDocuments:
    """The neutral document cache with PyPI's reading of the documents."""
    return UpstreamDocuments(catalog, http, clock, ttl_seconds, PypiUpstream(),
                             revalidate_wait=revalidate_wait)


def page_url(index_url: str, project: str) -> str:
    return PypiUpstream().document_url(index_url, project)


class FakeClock(Clock):
    def __init__(self) -> None:
        super().__init__()
        self.moment = datetime(2026, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        return self.moment


def _http(handler: Handler, **limits: float) -> UpstreamHttp:
    settings = {"retries": 2, "cooldown": 30.0, "read_timeout": 5.0, **limits}
    return UpstreamHttp(UpstreamLimits(**settings),  # type: ignore[arg-type]
                        transport=httpx.MockTransport(handler))


def _page(sha: str = SHA) -> bytes:
    return json.dumps({"meta": {"api-version": "1.0"}, "name": "demo-pkg", "files": [
        {"filename": "demo_pkg-1.0.tar.gz", "url": FILE_URL, "hashes": {"sha256": sha}}]}
    ).encode()


# -- the client --------------------------------------------------------------------------------


def test_redirect_to_a_host_the_upstream_does_not_use_is_refused() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(302, headers={"Location": "https://evil.example/x.tar.gz"})

    async def main() -> None:
        async with _http(handler).stream_file(FILE_URL, {"files.example"}, upstream=INDEX):
            pass

    with pytest.raises(UpstreamError) as err:
        asyncio.run(main())
    assert err.value.message == (
        f"Upstream {FILE_URL} redirected to host 'evil.example', which is not one of the "
        "upstream's own hosts (files.example); refused")
    assert seen == [FILE_URL]


def test_redirect_within_the_upstream_hosts_is_followed() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "index.example":
            return httpx.Response(301, headers={"Location": FILE_URL})
        return httpx.Response(200, content=b"ok")

    async def main() -> bytes:
        return await _http(handler).fetch_bytes(INDEX + "x", {"index.example", "files.example"},
                                                100, upstream=INDEX)

    assert asyncio.run(main()) == b"ok"


def test_5xx_is_retried_a_bounded_number_of_times_then_the_host_cools_down() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(503)

    http = _http(handler, retries=2)

    async def main() -> list[str]:
        messages = []
        for _ in range(2):
            try:
                await http.fetch_page(INDEX + "demo-pkg/", upstream=INDEX)
            except UpstreamError as exc:
                messages.append(exc.message)
        return messages

    first, second = asyncio.run(main())
    assert calls == 3  # one try and two retries; the second call never reaches the upstream
    assert first == f"Upstream {INDEX}demo-pkg/ answered 503 Service Unavailable"
    assert second.startswith(f"Upstream {INDEX}demo-pkg/ not tried: its host failed just "
                             f"before ({first}); trying again in ")


def test_cooldown_of_one_upstream_does_not_stop_another_upstream_on_the_same_host() -> None:
    # A PyPI index and an npm registry behind one host (one proxy, two paths): the PyPI index
    # failing must not make the npm registry's requests fail unsent for the cooldown.
    pypi, npm = "https://mirror.example/pypi/simple/", "https://mirror.example/npm/"
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        if request.url.path.startswith("/pypi/"):
            return httpx.Response(503)
        return httpx.Response(200, content=b'{"name": "left-pad"}')

    http = _http(handler, retries=0)

    async def main() -> tuple[str, PageFetch, str]:
        with pytest.raises(UpstreamError) as first:
            await http.fetch_page(pypi + "demo-pkg/", upstream=pypi)
        answer = await http.fetch_page(npm + "left-pad", upstream=npm)
        with pytest.raises(UpstreamError) as again:
            await http.fetch_page(pypi + "demo-pkg/", upstream=pypi)
        return first.value.message, answer, again.value.message

    first, answer, again = asyncio.run(main())
    assert first == f"Upstream {pypi}demo-pkg/ answered 503 Service Unavailable"
    assert answer.status == "ok" and answer.body == b'{"name": "left-pad"}'
    assert again.startswith(f"Upstream {pypi}demo-pkg/ not tried: its host failed just before")
    assert seen == ["/pypi/simple/demo-pkg/", "/npm/left-pad"]


def _cooling(handler: Any, now: list[float]) -> UpstreamHttp:
    """A client without retries, a 2 s cooldown and a clock moved by hand (``now[0] += s``)."""
    return UpstreamHttp(UpstreamLimits(retries=0, cooldown=2.0, read_timeout=5.0),
                        transport=httpx.MockTransport(handler), monotonic=lambda: now[0])


def test_regression_an_upstream_back_after_an_outage_is_tried_again_after_the_cooldown(
        ) -> None:
    # With a fixed 15 s cooldown, an upstream restarted in a second failed every pull for 15 s
    # more: pip's own retries of a download (about 8 s) all got "not tried". Now, after the
    # cooldown, one request tries the host, and its answer puts it back in use for everyone.
    now = [1000.0]
    up = [False]
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        if not up[0]:
            raise httpx.ConnectError("connection refused")
        return httpx.Response(200, content=_page())

    http = _cooling(handler, now)

    async def fetch() -> str:
        try:
            return (await http.fetch_page(INDEX + "demo-pkg/", upstream=INDEX)).status
        except UpstreamError as exc:
            return exc.message

    async def main() -> list[str]:
        answers = [await fetch()]  # fails: the host is marked down
        up[0] = True  # back, but within the cooldown nobody asks it
        now[0] += 1.0
        answers.append(await fetch())
        now[0] += 1.0  # the cooldown is over: the next request tries, and it answers
        answers += [await fetch(), await fetch()]
        return answers

    down, cooling, tried, after = asyncio.run(main())
    assert down.startswith(f"Upstream {INDEX}demo-pkg/ unreachable: ConnectError")
    assert cooling == (f"Upstream {INDEX}demo-pkg/ not tried: its host failed just before "
                       f"({down}); trying again in 1s")
    assert (tried, after) == ("ok", "ok")
    assert seen == ["/simple/demo-pkg/"] * 3  # the request in the cooldown was never sent


def test_while_one_request_tries_a_host_again_the_others_still_fail_at_once() -> None:
    now = [1000.0]
    answer = asyncio.Event()
    calls = [0]

    async def handler(request: httpx.Request) -> httpx.Response:
        calls[0] += 1
        if calls[0] == 1:
            return httpx.Response(503)
        await answer.wait()  # the try hangs until the test lets it answer
        return httpx.Response(200, content=_page())

    http = _cooling(handler, now)

    async def main() -> tuple[str, str, str, str]:
        with pytest.raises(UpstreamError):
            await http.fetch_page(INDEX + "demo-pkg/", upstream=INDEX)
        now[0] += 2.0
        trying = asyncio.create_task(http.fetch_page(INDEX + "demo-pkg/", upstream=INDEX))
        await asyncio.sleep(0.01)  # the try is under way, waiting for its answer
        with pytest.raises(UpstreamError) as meanwhile:
            await http.fetch_page(INDEX + "other/", upstream=INDEX)
        answer.set()
        tried = await trying
        after = await http.fetch_page(INDEX + "other/", upstream=INDEX)
        return meanwhile.value.message, tried.status, after.status, str(calls[0])

    meanwhile, tried, after, calls_made = asyncio.run(main())
    assert meanwhile.endswith("; another request is trying it now"), meanwhile
    assert (tried, after, calls_made) == ("ok", "ok", "3")


def test_a_try_that_ends_without_an_answer_leaves_the_next_request_to_try() -> None:
    # A try cancelled (its client went away) proves nothing either way: the host is neither
    # back in use nor cooled down again, and the next request tries it at once.
    now = [1000.0]
    calls = [0]
    hang = asyncio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        calls[0] += 1
        if calls[0] == 1:
            return httpx.Response(502)
        if calls[0] == 2:
            await hang.wait()  # never set: this try is cancelled
        return httpx.Response(200, content=_page())

    http = _cooling(handler, now)

    async def main() -> str:
        with pytest.raises(UpstreamError):
            await http.fetch_page(INDEX + "demo-pkg/", upstream=INDEX)
        now[0] += 2.0
        trying = asyncio.create_task(http.fetch_page(INDEX + "demo-pkg/", upstream=INDEX))
        await asyncio.sleep(0.01)
        trying.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await trying
        return (await http.fetch_page(INDEX + "demo-pkg/", upstream=INDEX)).status

    assert asyncio.run(main()) == "ok"
    assert calls[0] == 3


def test_a_try_that_fails_cools_the_host_down_again() -> None:
    now = [1000.0]
    calls = [0]

    def handler(request: httpx.Request) -> httpx.Response:
        calls[0] += 1
        return httpx.Response(503)

    http = _cooling(handler, now)

    async def main() -> list[str]:
        messages = []
        for step in (0.0, 2.0, 1.0):  # fails; tried after the cooldown and fails; cooling again
            now[0] += step
            with pytest.raises(UpstreamError) as failed:
                await http.fetch_page(INDEX + "demo-pkg/", upstream=INDEX)
            messages.append(failed.value.message)
        return messages

    first, tried, cooling = asyncio.run(main())
    assert first == tried == f"Upstream {INDEX}demo-pkg/ answered 503 Service Unavailable"
    assert cooling.endswith("trying again in 1s")
    assert calls[0] == 2


def test_the_client_is_made_once_and_off_the_event_loop(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading the system's trusted certificates took ~55 ms on the event loop at the first
    upstream request of each process, which every request in flight waited out. Eight first
    requests at once make one client, in a worker thread; a failure to make it is not kept."""
    made_on: list[bool] = []
    failures = [RuntimeError("no certificates")]
    create_default_context = ssl.create_default_context

    def making(*args: Any, **kwargs: Any) -> ssl.SSLContext:
        made_on.append(threading.current_thread() is threading.main_thread())
        if failures:
            raise failures.pop()
        return create_default_context(*args, **kwargs)

    monkeypatch.setattr(client_module.ssl, "create_default_context", making)
    http = _http(lambda request: httpx.Response(200, content=b"ok"))

    async def main() -> list[bytes]:
        with pytest.raises(RuntimeError, match="no certificates"):
            await http.fetch_bytes(INDEX + "x", {"index.example"}, 100, upstream=INDEX)
        return list(await asyncio.gather(*(
            http.fetch_bytes(INDEX + f"x{n}", {"index.example"}, 100, upstream=INDEX)
            for n in range(8))))

    assert asyncio.run(main()) == [b"ok"] * 8  # the event loop runs on the main thread
    assert made_on == [False, False]


def test_httpcore_finds_sniffio_missing_without_searching_the_path(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """httpcore imports sniffio for every lock and event it makes (several per request); with
    sniffio not installed each import searched every sys.path entry again."""
    monkeypatch.delitem(sys.modules, "sniffio", raising=False)
    if importlib.util.find_spec("sniffio") is not None:
        pytest.skip("sniffio is installed here: httpcore imports it once")
    _http(PageServer())
    from httpcore._synchronization import current_async_library
    searched: list[str] = []
    find_spec = importlib.machinery.PathFinder.find_spec

    def counted(name: str, path: Any = None, target: Any = None) -> ModuleSpec | None:
        searched.append(name)
        return find_spec(name, path, target)

    monkeypatch.setattr(importlib.machinery.PathFinder, "find_spec", counted)

    async def main() -> str:
        return current_async_library()

    assert asyncio.run(main()) == "asyncio"
    assert "sniffio" not in searched


def test_upstream_responses_are_read_a_mebibyte_at_a_time(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """httpcore reads a response 64 KiB at a time unless told otherwise; each read is a round
    of Python work, so the client asks for up to 1 MiB (what the socket holds)."""
    from httpcore._async.http11 import AsyncHTTP11Connection
    monkeypatch.setattr(AsyncHTTP11Connection, "READ_NUM_BYTES", 64 * 1024)
    _http(PageServer())
    assert AsyncHTTP11Connection.READ_NUM_BYTES == UPSTREAM_READ_BYTES == 1024 * 1024


def test_a_httpcore_without_its_read_size_is_left_as_it_is(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from httpcore._async.http11 import AsyncHTTP11Connection
    monkeypatch.delattr(AsyncHTTP11Connection, "READ_NUM_BYTES")
    assert read_responses_in_larger_pieces() is False
    assert not hasattr(AsyncHTTP11Connection, "READ_NUM_BYTES")


def test_a_large_file_arrives_whole_through_a_real_socket() -> None:
    """The larger reads change nothing of what arrives: a 5 MiB body over loopback, hashed."""
    body = os.urandom(5 * 1024 * 1024 + 17)

    async def main() -> bytes:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        url = f"http://127.0.0.1:{port}/f.whl"
        http = UpstreamHttp(UpstreamLimits(retries=0))
        try:
            async with http.stream_file(url, {"127.0.0.1"}, upstream=url) as response:
                got = b"".join([chunk async for chunk in response.aiter_bytes()])
        finally:
            await http.aclose()
            server.close()
        return got

    assert hashlib.sha256(asyncio.run(main())).digest() == hashlib.sha256(body).digest()


@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "169.254.169.254", "::1",
                                     "fe80::1", "fd00::1", "100.64.0.1", "0.0.0.0", "224.0.0.1",
                                     "::ffff:127.0.0.1", "::ffff:169.254.169.254"])
def test_internal_addresses_are_internal(address: str) -> None:
    assert is_internal(address)


@pytest.mark.parametrize("address", ["151.101.0.223", "2a04:4e42::223", "::ffff:151.101.0.223",
                                     # Documentation and benchmarking ranges: no one's services
                                     # are there, but DNS and proxies answer public names with
                                     # them (here files.pythonhosted.org is 203.0.113.80).
                                     "203.0.113.80", "198.18.0.7", "192.0.2.1"])
def test_public_addresses_are_not_internal(address: str) -> None:
    assert not is_internal(address)


def test_regression_an_upstream_page_cannot_send_packyard_to_an_internal_address() -> None:
    """A hostile index names files on an internal service (a cloud's metadata address, an
    admin port beside Packyard): a range read used to be sent there and its bytes answered
    to the client. Whatever the URL's spelling, or a redirect from the index's own host,
    nothing connects to an internal address but the index's own host and port."""
    connections: list[int] = []

    async def main() -> list[str]:
        async def secret(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            connections.append(1)
            await reader.readuntil(b"\r\n\r\n")
            body = b"AWS_SECRET=do-not-leak"
            writer.write(b"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-%d/%d\r\n"
                         b"Content-Length: %d\r\n\r\n" % (len(body) - 1, len(body), len(body))
                         + body)
            await writer.drain()
            writer.close()

        async def index(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:%d/latest/\r\n"
                         b"Content-Length: 0\r\n\r\n" % secret_port)
            await writer.drain()
            writer.close()

        inside = await asyncio.start_server(secret, "127.0.0.1", 0)
        secret_port = inside.sockets[0].getsockname()[1]
        own = await asyncio.start_server(index, "127.0.0.1", 0)
        index_url = f"http://127.0.0.1:{own.sockets[0].getsockname()[1]}/simple/"
        http = UpstreamHttp(UpstreamLimits(retries=0))
        refusals = []
        try:
            for url in (f"http://127.0.0.1:{secret_port}/f.whl",
                        f"http://localhost.:{secret_port}/f.whl",
                        f"http://0x7f000001:{secret_port}/f.whl",
                        f"http://good@127.0.0.1:{secret_port}/f.whl",
                        f"{index_url}redirected/f.whl"):
                with pytest.raises(UpstreamError) as refused:
                    async with http.stream_range(url, {"127.0.0.1", "localhost.", "0x7f000001"},
                                                 "bytes=0-10", upstream=index_url):
                        pass
                refusals.append(refused.value.message)
            # The index's own host and port is the administrator's choice: used as is.
            secret_url = f"http://127.0.0.1:{secret_port}/f.whl"
            async with http.stream_range(secret_url, {"127.0.0.1"}, "bytes=0-10",
                                         upstream=secret_url) as response:
                assert response.status_code == 206
        finally:
            await http.aclose()
            inside.close()
            own.close()
        return refusals

    refusals = asyncio.run(main())
    assert len(connections) == 1  # the index's own only
    for message in refusals:
        assert "is at 127.0.0.1, an internal address" in message, message


def test_regression_a_page_trickled_a_byte_at_a_time_gives_its_slot_back() -> None:
    """An upstream sending a page a byte at a time never meets the read timeout: the fetch
    held one of the concurrency slots for as long as the upstream liked (16 such pages, and
    every upstream request of every repository failed 'Upstream busy'). A document must now
    arrive whole within the document timeout, and its slot is then free for the next."""

    async def main() -> tuple[str, float, PageFetch]:
        async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 1000\r\n\r\n")
            with contextlib.suppress(ConnectionError):
                for _ in range(1000):
                    writer.write(b" ")
                    await writer.drain()
                    await asyncio.sleep(0.05)
            writer.close()

        async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
            await writer.drain()
            writer.close()

        slow = await asyncio.start_server(trickle, "127.0.0.1", 0)
        good = await asyncio.start_server(answer, "127.0.0.1", 0)
        slow_url = f"http://127.0.0.1:{slow.sockets[0].getsockname()[1]}/simple/x/"
        good_url = f"http://127.0.0.1:{good.sockets[0].getsockname()[1]}/simple/x/"
        http = UpstreamHttp(UpstreamLimits(retries=0, read_timeout=1.0, max_concurrency=1,
                                           document_timeout=0.5))
        try:
            started = time.monotonic()
            with pytest.raises(UpstreamError) as given_up:
                await http.fetch_page(slow_url, upstream=slow_url)
            took = time.monotonic() - started
            fetched = await http.fetch_page(good_url, upstream=good_url)
        finally:
            await http.aclose()
            slow.close()
            good.close()
        return given_up.value.message, took, fetched

    message, took, fetched = asyncio.run(main())
    assert message.endswith("did not send its answer within 0.5s; given up"), message
    assert took < 2.0
    assert fetched.status == "ok" and fetched.body == b"{}"


def test_an_internal_network_allowed_by_the_administrator_is_connected_to() -> None:
    """A DNS answering public names with internal addresses (a CDN mirrored on the internal
    network, a file host beside an internal index): PACKYARD_UPSTREAM_INTERNAL_NETWORKS_ALLOWED."""
    assert is_internal("10.20.0.7") and not is_internal(
        "10.20.0.7", [ipaddress.ip_network("10.20.0.0/16")])
    assert is_internal("10.0.0.1", [ipaddress.ip_network("10.20.0.0/16")])

    async def main() -> int:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/f.whl"
        http = UpstreamHttp(UpstreamLimits(retries=0, internal_networks_allowed=("127.0.0.0/8",)))
        try:
            async with http.stream_file(url, {"127.0.0.1"},
                                        upstream="https://index.example/simple/") as response:
                return response.status_code
        finally:
            await http.aclose()
            server.close()

    assert asyncio.run(main()) == 200


def test_internal_networks_allowed_must_be_networks() -> None:
    with pytest.raises(ValueError, match="takes networks such as 10.0.0.0/8"):
        load_settings({"PACKYARD_UPSTREAM_INTERNAL_NETWORKS_ALLOWED": "10.0.0.0/8,corp"})
    assert load_settings({"PACKYARD_UPSTREAM_INTERNAL_NETWORKS_ALLOWED":
                              " 10.0.0.0/8, fd00::/8"}).upstream_networks_allowed == (
        "10.0.0.0/8", "fd00::/8")


def test_connection_errors_are_reported_as_unreachable() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(UpstreamError) as err:
        asyncio.run(_http(handler, retries=0).fetch_page(INDEX + "demo-pkg/", upstream=INDEX))
    assert err.value.message == (f"Upstream {INDEX}demo-pkg/ unreachable: ConnectError "
                                 "connection refused")


def test_a_full_upstream_makes_callers_wait_then_fail() -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(1)
        return httpx.Response(200, content=b"x")

    http = UpstreamHttp(UpstreamLimits(max_concurrency=1, read_timeout=0.1, retries=0),
                        transport=httpx.MockTransport(handler))

    async def main() -> list[BaseException | bytes]:
        return await asyncio.gather(
            http.fetch_bytes(FILE_URL, {"files.example"}, 10, upstream=INDEX),
            http.fetch_bytes(FILE_URL, {"files.example"}, 10, upstream=INDEX), return_exceptions=True)

    results = asyncio.run(main())
    errors = [r for r in results if isinstance(r, UpstreamError)]
    assert len(errors) == 1
    assert errors[0].message == ("Upstream busy: 1 requests already in flight and none "
                                 f"finished within 0.1s; not fetching {FILE_URL}")


# -- the page cache ----------------------------------------------------------------------------


@pytest.fixture()
def catalog(tmp_path: Path) -> SqlCatalog:
    c = SqlCatalog(f"sqlite:///{tmp_path / 'db.sqlite'}")
    c.migrate()
    return c


class PageServer:
    """An upstream index page with an ETag, which can be taken down."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.down = False
        self.body = _page()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.down:
            raise httpx.ConnectError("down", request=request)
        if not request.url.path.endswith("/demo-pkg/"):
            return httpx.Response(404)
        etag = '"' + hashlib.sha256(self.body).hexdigest()[:16] + '"'
        if request.headers.get("if-none-match") == etag:
            return httpx.Response(304, headers={"ETag": etag})
        return httpx.Response(200, content=self.body, headers={
            "ETag": etag, "Content-Type": "application/vnd.pypi.simple.v1+json"})


def test_a_fresh_page_is_served_without_asking_the_upstream(catalog: SqlCatalog) -> None:
    server, clock = PageServer(), FakeClock()
    pages = UpstreamPages(catalog, _http(server), clock, ttl_seconds=60)

    async def main() -> None:
        await pages.get(INDEX, "demo-pkg")
        clock.moment += timedelta(seconds=59)
        await pages.get(INDEX, "demo-pkg")

    asyncio.run(main())
    assert len(server.requests) == 1
    assert "application/vnd.pypi.simple.v1+json" in server.requests[0].headers["accept"]


def test_concurrent_requests_for_one_page_share_one_fetch(catalog: SqlCatalog) -> None:
    server = PageServer()
    pages = UpstreamPages(catalog, _http(server), FakeClock(), ttl_seconds=60)

    async def main() -> None:
        await asyncio.gather(*(pages.get(INDEX, "demo-pkg") for _ in range(20)))

    asyncio.run(main())
    assert len(server.requests) == 1


def test_an_old_page_is_revalidated_with_its_etag(catalog: SqlCatalog) -> None:
    server, clock = PageServer(), FakeClock()
    pages = UpstreamPages(catalog, _http(server), clock, ttl_seconds=60)

    async def main() -> None:
        await pages.get(INDEX, "demo-pkg")
        clock.moment += timedelta(seconds=61)
        result = await pages.get(INDEX, "demo-pkg")
        assert result.listing is not None and not result.stale
        assert result.fetched_at == clock.moment  # confirmed current now
        clock.moment += timedelta(seconds=30)
        await pages.get(INDEX, "demo-pkg")  # fresh again: no request

    asyncio.run(main())
    etag = '"' + hashlib.sha256(server.body).hexdigest()[:16] + '"'
    assert [r.headers.get("if-none-match") for r in server.requests] == [None, etag]


def test_a_document_read_ahead_is_not_read_again_and_memory_still_comes_first(
        catalog: SqlCatalog, monkeypatch: pytest.MonkeyPatch) -> None:
    # A page's plan reads the catalog's copy in its own worker-thread hop (``load_ahead``);
    # ``get`` takes it instead of reading it again, but a copy in memory (fetched meanwhile)
    # wins over one read before it.
    server, clock = PageServer(), FakeClock()
    pages = UpstreamPages(catalog, _http(server), clock, ttl_seconds=60)
    asyncio.run(pages.get(INDEX, "demo-pkg"))  # fetched and stored
    restarted = UpstreamPages(catalog, _http(server), clock, ttl_seconds=60)
    ahead = restarted.load_ahead(INDEX, "demo-pkg")
    assert ahead is not None and ahead.held is not None
    reads: list[str] = []
    get_page = catalog.get_upstream_page
    monkeypatch.setattr(catalog, "get_upstream_page",
                        lambda index, name: (reads.append(name), get_page(index, name))[1])
    result = asyncio.run(restarted.get(INDEX, "demo-pkg", ahead))
    assert (result.listing is not None, reads, len(server.requests)) == (True, [], 1)
    assert restarted.load_ahead(INDEX, "demo-pkg") is None  # in memory now: nothing read
    stale = Loaded(("https://other.example/simple/", "demo-pkg"), None)  # another document's
    assert asyncio.run(restarted.get(INDEX, "demo-pkg", stale)).listing is not None
    assert reads == []


def test_regression_a_page_revalidated_unchanged_is_not_stored_again(
        catalog: SqlCatalog, monkeypatch: pytest.MonkeyPatch) -> None:
    # A 304 moves the stored copy's validators and time; the document (an npm packument can be
    # 15 MB) is not written again, and not held in memory to be written.
    server, clock = PageServer(), FakeClock()
    pages = UpstreamPages(catalog, _http(server), clock, ttl_seconds=60)
    stored: list[str | None] = []
    put = catalog.put_upstream_page
    monkeypatch.setattr(catalog, "put_upstream_page",
                        lambda page: (stored.append(page.document), put(page))[1])
    asyncio.run(pages.get(INDEX, "demo-pkg"))
    document = catalog.get_upstream_page(INDEX, "demo-pkg")
    assert document is not None and stored == [document.document]
    assert all(held.page.document is None for held in pages._memory.values())
    clock.moment += timedelta(seconds=61)
    again = asyncio.run(pages.get(INDEX, "demo-pkg"))
    assert again.fetched_at == clock.moment and len(stored) == 1
    revalidated = catalog.get_upstream_page(INDEX, "demo-pkg")
    assert revalidated == replace(document, fetched_at=clock.moment)


def test_regression_documents_in_memory_are_bounded_by_their_size(
        catalog: SqlCatalog, monkeypatch: pytest.MonkeyPatch) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        name = request.url.path.rstrip("/").rsplit("/", 1)[-1]
        files = [{"filename": f"{name.replace('-', '_')}-{i}.0.tar.gz",
                  "url": f"https://files.example/{name}-{i}.tar.gz", "hashes": {"sha256": SHA}}
                 for i in range(200)]
        body = json.dumps({"meta": {"api-version": "1.0"}, "name": name, "files": files})
        return httpx.Response(200, content=body.encode(), headers={
            "Content-Type": "application/vnd.pypi.simple.v1+json"})

    http = _http(handler)
    pages = UpstreamPages(catalog, http, FakeClock(), ttl_seconds=60)
    names = [f"proj-{i}" for i in range(10)]

    async def read_all() -> list[int]:
        return [len((await pages.get(INDEX, n)).listing.files)  # type: ignore[union-attr]
                for n in names]

    asyncio.run(pages.get(INDEX, "proj-sized"))
    one = pages._memory_bytes
    monkeypatch.setattr(documents_module, "_MEMORY_BYTES", 3 * one)
    assert asyncio.run(read_all()) == [200] * 10
    assert pages._memory_bytes <= 3 * one and len(pages._memory) == 3
    # One dropped from memory is read back from the catalog, not fetched again.
    fetched = http.stats.fetches
    assert asyncio.run(read_all()) == [200] * 10
    assert http.stats.fetches == fetched


def test_a_cached_page_is_served_while_the_upstream_is_down(catalog: SqlCatalog) -> None:
    server, clock = PageServer(), FakeClock()
    pages = UpstreamPages(catalog, _http(server, retries=0), clock, ttl_seconds=60)

    async def main() -> None:
        first = await pages.get(INDEX, "demo-pkg")
        server.down = True
        clock.moment += timedelta(hours=5)
        stale = await pages.get(INDEX, "demo-pkg")
        assert stale.stale and stale.listing == first.listing

    asyncio.run(main())


@pytest.mark.parametrize("fmt", [PypiUpstream(), NpmUpstream()], ids=["pypi", "npm"])
def test_regression_a_document_nested_too_deeply_is_an_upstream_error(
        catalog: SqlCatalog, fmt: PypiUpstream | NpmUpstream) -> None:
    """JSON nested 200,000 deep made Python's json raise RecursionError: a 500 'internal
    error' for the package, and, once the project was cached, its revalidation failed the
    same way instead of serving the cached copy. Now it is an upstream's unusable answer."""
    deep = b'{"name":"demo-pkg","versions":{"1.0.0":' + b"[" * 200_000 + b"]" * 200_000 + b"}}"

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=deep, headers={"Content-Type": "application/json"})

    clock = FakeClock()
    with pytest.raises(UpstreamError) as err:
        asyncio.run(UpstreamDocuments(catalog, _http(handler, retries=0), clock, 60, fmt)
                    .get(INDEX, "demo-pkg"))
    assert "sent a document nested too deeply to read" in err.value.message
    # A project cached before is served from its copy.
    server = PageServer()
    pages = UpstreamPages(catalog, _http(server, retries=0), clock, ttl_seconds=60)
    first = asyncio.run(pages.get(INDEX, "demo-pkg"))
    server.body = b'{"files":' + b"[" * 200_000 + b"]" * 200_000 + b"}"
    clock.moment += timedelta(seconds=61)
    stale = asyncio.run(pages.get(INDEX, "demo-pkg"))
    assert stale.stale and stale.listing == first.listing


def test_a_page_never_fetched_fails_clearly_while_the_upstream_is_down(
        catalog: SqlCatalog) -> None:
    server = PageServer()
    server.down = True
    pages = UpstreamPages(catalog, _http(server, retries=0), FakeClock(), ttl_seconds=60)
    with pytest.raises(UpstreamError) as err:
        asyncio.run(pages.get(INDEX, "demo-pkg"))
    assert err.value.message == (
        f"Upstream {INDEX}demo-pkg/ unreachable: ConnectError down; Packyard has never fetched "
        "project demo-pkg from there, so it has no copy to serve")


def test_regression_an_upstreams_credentials_are_not_in_what_clients_are_told(
        catalog: SqlCatalog) -> None:
    """An index URL with credentials (``https://USER:PASSWORD@mirror/simple/``, an internal
    mirror that asks for them) was quoted whole in every 502: any client reading the
    repository could read the password. Neither the index's nor a file's URL shows them."""
    secret_index = "https://svc:s3cr3t%40pw@index.example/simple/"

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/demo-pkg/"):
            return httpx.Response(503)
        return httpx.Response(404)

    http = _http(handler, retries=0)
    with pytest.raises(UpstreamError) as page_error:
        asyncio.run(UpstreamPages(catalog, http, FakeClock(), 60).get(secret_index, "demo-pkg"))
    with pytest.raises(UpstreamError) as file_error:
        asyncio.run(http.fetch_bytes(f"{secret_index}../files/demo_pkg-1.0.whl.metadata",
                                     {"index.example"}, 10, upstream=secret_index))
    for message in (page_error.value.message, file_error.value.message):
        assert "s3cr3t" not in message and "svc" not in message, message
        assert "https://index.example/" in message, message
    assert UpstreamError("at http://u:p@ss@host.example/x and http://host.example/?a=b@c").message \
        == "at http://host.example/x and http://host.example/?a=b@c"


def test_pages_survive_a_restart(catalog: SqlCatalog) -> None:
    server = PageServer()
    asyncio.run(UpstreamPages(catalog, _http(server), FakeClock(), 60).get(INDEX, "demo-pkg"))
    server.down = True
    again = asyncio.run(UpstreamPages(catalog, _http(server), FakeClock(), 60)
                        .get(INDEX, "demo-pkg"))
    assert again.listing is not None and again.listing.files[0].sha256 == SHA
    assert len(server.requests) == 1


def test_a_project_the_upstream_does_not_have_is_remembered(catalog: SqlCatalog) -> None:
    server = PageServer()
    pages = UpstreamPages(catalog, _http(server), FakeClock(), ttl_seconds=60)

    async def main() -> None:
        assert (await pages.get(INDEX, "other")).listing is None
        assert (await pages.get(INDEX, "other")).listing is None

    asyncio.run(main())
    assert len(server.requests) == 1


# -- pull-through ------------------------------------------------------------------------------


class FileServer:
    """Serves DATA in chunks; ``release`` lets the last chunk go."""

    def __init__(self, body: bytes = DATA, *, length: bool = True) -> None:
        self.body = body
        self.length = length  # whether the response declares its Content-Length
        self.requests = 0
        self.release = asyncio.Event()

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1

        async def chunks() -> AsyncIterator[bytes]:
            step = 64 * 1024
            for start in range(0, len(self.body) - step, step):
                yield self.body[start:start + step]
                await asyncio.sleep(0)
            await self.release.wait()
            yield self.body[-step:]

        return httpx.Response(200, content=chunks(),
                              headers={"Content-Length": str(len(self.body))} if self.length
                              else {})


async def _keep_nothing(staged: StagedBlob, finish: Finish) -> Digests:
    return finish()


def _keep_into(commits: list[StagedBlob]) -> Commit:
    async def commit(staged: StagedBlob, finish: Finish) -> Digests:
        digests = finish()
        commits.append(staged)
        return digests

    return commit


def _source(sha: str = SHA, size: int | None = len(DATA)) -> FileSource:
    return FileSource(FILE_URL, "demo_pkg-1.0.tar.gz", {"sha256": sha}, size,
                      frozenset({"files.example"}), INDEX)


def test_fifty_concurrent_requests_make_one_download_and_all_get_the_bytes(
        tmp_path: Path) -> None:
    commits: list[tuple[bytes, Digests]] = []

    async def commit(staged: StagedBlob, finish: Finish) -> Digests:
        digests = finish()
        commits.append((staged.local_path.read_bytes(), digests))
        return digests

    async def main() -> tuple[list[bytes], int]:
        server = FileServer()
        pull = PullThrough(_http(server), tmp_path / "spool", 10 * len(DATA), 60)

        async def client() -> bytes:
            download = pull.start("d1", _source(), commit)
            reader = download.open_reader()
            assert reader is not None
            return b"".join([chunk async for chunk in reader.stream()])

        clients = [asyncio.create_task(client()) for _ in range(50)]
        await asyncio.sleep(0.05)
        server.release.set()
        return list(await asyncio.gather(*clients)), server.requests

    bodies, requests = asyncio.run(main())
    assert requests == 1
    assert all(body == DATA for body in bodies)
    assert len(commits) == 1 and commits[0][0] == DATA and commits[0][1].sha256 == SHA
    assert list((tmp_path / "spool").iterdir()) == []  # the spool is gone once stored


def test_readers_get_the_last_chunk_only_after_verification(tmp_path: Path) -> None:
    async def main() -> tuple[int, int]:
        server = FileServer()
        pull = PullThrough(_http(server), tmp_path / "spool", 10 * len(DATA), 60)
        download = pull.start("d1", _source(), _keep_nothing)
        reader = download.open_reader()
        assert reader is not None
        received = 0

        async def read() -> None:
            nonlocal received
            async for chunk in reader.stream():
                received += len(chunk)

        task = asyncio.create_task(read())
        await asyncio.sleep(0.1)  # everything but the last chunk has arrived upstream-side
        before = received
        server.release.set()
        await task
        return before, received

    before, after = asyncio.run(main())
    assert before < len(DATA) - 64 * 1024 + 1
    assert after == len(DATA)


def test_ranges_follow_the_download_in_order_and_read_back_as_its_bytes(
        tmp_path: Path) -> None:
    """What a response that has the kernel send the spool gets (``SpoolResponse``): ranges of
    the reader's descriptor, contiguous, the last one only once the file is kept; the
    descriptor is closed when they end."""

    async def main() -> tuple[list[tuple[int, int]], bytes, int]:
        server = FileServer()
        pull = PullThrough(_http(server), tmp_path / "spool", 10 * len(DATA), 60)
        download = pull.start("d1", _source(), _keep_nothing)
        reader = download.open_reader()
        assert reader is not None
        fd = reader.fileno()
        ranges: list[tuple[int, int]] = []
        got = b""
        released = asyncio.get_running_loop().call_later(0.05, server.release.set)
        async for offset, count in reader.ranges():
            ranges.append((offset, count))
            got += os.pread(fd, count, offset)
        released.cancel()
        return ranges, got, fd

    ranges, got, fd = asyncio.run(main())
    assert got == DATA
    assert [offset for offset, _ in ranges] == [0, *(sum(c for _, c in ranges[:i + 1])
                                                    for i in range(len(ranges) - 1))]
    assert len(ranges) >= 2  # the last chunk came on its own, after verification
    with pytest.raises(OSError):
        os.fstat(fd)


@pytest.mark.parametrize("declares", [True, False])
def test_a_downloads_size_is_what_the_upstreams_response_declares(
        tmp_path: Path, declares: bool) -> None:
    """For a file whose index page gives no size (PEP 503 HTML), the client's answer takes the
    upstream response's Content-Length, known as soon as that response begins."""

    async def main() -> tuple[int | None, bool]:
        server = FileServer(length=declares)
        pull = PullThrough(_http(server), tmp_path / "spool", 10 * len(DATA), 60)
        download = pull.start("d1", _source(size=None), _keep_nothing)
        size = await asyncio.wait_for(download.declared_size(), 5)
        arrived_whole = download.verified  # the last chunk is still held back upstream
        server.release.set()
        await download.result()
        return size, arrived_whole

    assert asyncio.run(main()) == ((len(DATA) if declares else None), False)


def test_a_download_that_fails_before_its_response_has_no_declared_size(
        tmp_path: Path) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500)

    async def main() -> tuple[int | None, bool]:
        pull = PullThrough(_http(refuse, retries=0), tmp_path / "spool", 10 * len(DATA), 60)
        download = pull.start("d1", _source(size=None), _keep_nothing)
        size = await asyncio.wait_for(download.declared_size(), 5)
        with pytest.raises(UpstreamError):
            await download.result()
        return size, download.error is not None

    assert asyncio.run(main()) == (None, True)


def test_the_last_chunk_waits_until_the_file_and_its_followups_are_kept(
        tmp_path: Path) -> None:
    events: list[str] = []

    async def commit(staged: StagedBlob, finish: Finish) -> Digests:
        digests = finish()
        events.append("committed")
        return digests

    async def main() -> None:
        server = FileServer()
        server.release.set()
        pull = PullThrough(_http(server), tmp_path / "spool", 10 * len(DATA), 60)
        download = pull.start("d1", _source(), commit)
        assert download.add_followup(lambda: events.append("followed up"))
        reader = download.open_reader()
        assert reader is not None
        received = 0
        async for chunk in reader.stream():
            received += len(chunk)
        events.append(f"client has {received} bytes")
        assert not download.add_followup(lambda: events.append("too late"))

    asyncio.run(main())
    assert events == ["committed", "followed up", f"client has {len(DATA)} bytes"]


def test_a_failing_commit_cuts_the_readers_short(tmp_path: Path) -> None:
    async def commit(staged: StagedBlob, finish: Finish) -> Digests:
        finish()
        raise OSError("disk full")

    async def main() -> int:
        server = FileServer()
        server.release.set()
        pull = PullThrough(_http(server), tmp_path / "spool", 10 * len(DATA), 60)
        download = pull.start("d1", _source(), commit)
        reader = download.open_reader()
        assert reader is not None
        received = 0
        with pytest.raises(UpstreamError, match="Pulling demo_pkg-1.0.tar.gz from upstream"):
            async for chunk in reader.stream():
                received += len(chunk)
        return received

    assert asyncio.run(main()) < len(DATA)
    assert list((tmp_path / "spool").iterdir()) == []


def test_a_hash_mismatch_stores_nothing_and_is_remembered(tmp_path: Path) -> None:
    commits: list[StagedBlob] = []
    wrong = "0" * 64

    async def main() -> tuple[str, str, str, int]:
        server = FileServer()
        server.release.set()
        pull = PullThrough(_http(server), tmp_path / "spool", 10 * len(DATA), 60)
        download = pull.start("d1", _source(sha=wrong),
                              _keep_into(commits))
        reader = download.open_reader()
        assert reader is not None
        with pytest.raises(VerificationFailed) as streamed:
            async for _ in reader.stream():
                pass
        with pytest.raises(VerificationFailed) as waited:
            await download.result()
        with pytest.raises(VerificationFailed) as again:
            pull.start("d1", _source(sha=wrong), _keep_nothing)
        return streamed.value.message, waited.value.message, again.value.message, server.requests

    streamed, waited, again, requests = asyncio.run(main())
    assert streamed == waited == again == (
        f"Upstream file demo_pkg-1.0.tar.gz failed verification: its index page declares "
        f"sha256 {wrong}, the bytes sent have {SHA}; nothing was kept")
    assert commits == [] and requests == 1
    assert list((tmp_path / "spool").iterdir()) == []


def test_a_file_its_page_declares_again_with_another_hash_is_downloaded_at_once(
        tmp_path: Path) -> None:
    # The mismatch is remembered by the hash declared: once the upstream's page names the
    # bytes it sends (a file it replaced), nobody waits out the remembered failure.
    commits: list[StagedBlob] = []

    async def main() -> int:
        server = FileServer()
        server.release.set()
        pull = PullThrough(_http(server), tmp_path / "spool", 10 * len(DATA), 60)
        with pytest.raises(VerificationFailed):
            await pull.start("d1", _source(sha="0" * 64), _keep_into(commits)).result()
        digests = await pull.start("d1", _source(sha=SHA), _keep_into(commits)).result()
        assert digests.sha256 == SHA
        return server.requests

    assert asyncio.run(main()) == 2
    assert len(commits) == 1


def test_a_size_that_disagrees_with_the_page_is_refused_before_reading(tmp_path: Path) -> None:
    async def main() -> str:
        server = FileServer()
        server.release.set()
        pull = PullThrough(_http(server), tmp_path / "spool", 10 * len(DATA), 60)
        download = pull.start("d1", _source(size=5), _keep_nothing)
        with pytest.raises(VerificationFailed) as err:
            await download.result()
        return err.value.message

    assert asyncio.run(main()) == (
        f"Upstream {FILE_URL} sends {len(DATA)} bytes for demo_pkg-1.0.tar.gz, but its index "
        "page says 5; nothing was kept")


def test_a_file_larger_than_the_limit_is_not_kept(tmp_path: Path) -> None:
    async def main() -> str:
        server = FileServer()
        server.release.set()
        pull = PullThrough(_http(server), tmp_path / "spool", 1000, 60)
        download = pull.start("d1", _source(size=None), _keep_nothing)
        with pytest.raises(UpstreamError) as err:
            await download.result()
        return err.value.message

    assert asyncio.run(main()) == ("Upstream file demo_pkg-1.0.tar.gz is larger than 1000 "
                                   "bytes; not kept")


def test_regression_a_file_sent_with_a_content_coding_is_kept_as_sent(tmp_path: Path) -> None:
    """A server that marks a .tar.gz 'Content-Encoding: gzip' (a common web server setting)
    had it decompressed before it was hashed: the .tar failed the page's sha256, which pip,
    reading the bytes as sent, verifies fine. And a hostile upstream's 2 MB gzip of zeros,
    decompressed, was 2 GB spooled and sent to the client. The bytes as sent are the file."""
    import gzip
    sent = gzip.compress(DATA)  # a .tar.gz as it is on disk
    sha = hashlib.sha256(sent).hexdigest()

    async def handler(request: httpx.Request) -> httpx.Response:
        async def body() -> AsyncIterator[bytes]:  # as a network response arrives
            yield sent

        return httpx.Response(200, content=body(), headers={
            "Content-Encoding": "gzip", "Content-Length": str(len(sent))})

    async def main() -> bytes:
        kept: list[bytes] = []

        async def commit(staged: StagedBlob, finish: Finish) -> Digests:
            digests = finish()
            kept.append(staged.local_path.read_bytes())
            return digests

        pull = PullThrough(_http(handler), tmp_path / "spool",  # type: ignore[arg-type]
                           2 * len(sent), 60)
        digests = await pull.start("d1", _source(sha=sha, size=len(sent)), commit).result()
        assert digests.sha256 == sha
        return kept[0]

    assert asyncio.run(main()) == sent


class _SlowFirstWrite(StagedFile):
    """A staged file whose first write waits for ``until`` (at most ``seconds``), noting what
    happens to it in ``events``."""

    def __init__(self, path: Path, events: list[str], until: Callable[[float], bool],
                 seconds: float) -> None:
        super().__init__(path, sync=False)
        self.events, self.until, self.seconds = events, until, seconds

    def write(self, chunk: bytes | memoryview) -> None:
        if not self.events:
            self.events.append(f"first write waited: {self.until(self.seconds)}")
        super().write(chunk)

    def close(self) -> None:
        self.events.append("closed")
        super().close()


def _chunks_then(body: bytes, after_each: Callable[[int], None]) -> Handler:
    """Serves ``body`` in 64 KiB chunks, calling ``after_each(offset)`` before each."""
    async def handler(request: httpx.Request) -> httpx.Response:
        async def chunks() -> AsyncIterator[bytes]:
            for start in range(0, len(body), 64 * 1024):
                after_each(start)
                yield body[start:start + 64 * 1024]
                await asyncio.sleep(0)

        return httpx.Response(200, content=chunks(),
                              headers={"Content-Length": str(len(body))})
    return handler  # type: ignore[return-value]


def test_the_next_batch_is_read_while_the_last_one_is_written(tmp_path: Path) -> None:
    # One after the other, a large file took as long as reading it plus writing and hashing
    # it: the first batch is written here only once the upstream has been asked for what comes
    # after it.
    asked_beyond = threading.Event()
    events: list[str] = []
    area = StagingArea(tmp_path / "stage")

    def after_each(offset: int) -> None:
        if offset >= WRITE_BATCH + 64 * 1024:
            asked_beyond.set()

    async def main() -> Digests:
        pull = PullThrough(_http(_chunks_then(DATA, after_each)), tmp_path / "spool",
                           10 * len(DATA), 60,
                           stage=lambda expected: _SlowFirstWrite(area.new_path(), events,
                                                                  asked_beyond.wait, 3.0))
        return await pull.start("d1", _source(), _keep_nothing).result()

    assert asyncio.run(main()).sha256 == SHA
    assert events[0] == "first write waited: True"
    assert list(area.folder.iterdir()) == []


def test_an_upstream_failing_while_a_batch_is_written_closes_the_file_after_the_write(
        tmp_path: Path) -> None:
    events: list[str] = []
    area = StagingArea(tmp_path / "stage")
    writing = threading.Event()

    def after_each(offset: int) -> None:
        if offset >= WRITE_BATCH + 128 * 1024:
            writing.wait(5)  # the first batch's write under way (a queued one is dropped)
            raise httpx.ReadError("connection reset")

    def slowly(seconds: float) -> bool:
        writing.set()
        time.sleep(seconds)
        return True

    async def main() -> str:
        pull = PullThrough(_http(_chunks_then(DATA, after_each)), tmp_path / "spool",
                           10 * len(DATA), 60,
                           stage=lambda expected: _SlowFirstWrite(area.new_path(), events,
                                                                  slowly, 0.3))
        with pytest.raises(UpstreamError) as failed:
            await pull.start("d1", _source(), _keep_nothing).result()
        return failed.value.message

    assert "demo_pkg-1.0.tar.gz" in asyncio.run(main())
    # The batch being written when the upstream failed was written whole, then the file closed
    # (never closed under its writer), then removed.
    assert events == ["first write waited: True", "closed"]
    assert list(area.folder.iterdir()) == []


def test_a_download_is_staged_with_the_domain_and_sha256_its_upstream_declared(
        tmp_path: Path) -> None:
    """The store is told where the bytes are declared to belong (an encrypted one encrypts
    them as they arrive: decision 0020); a source that declares no usable sha256 (none, or not
    a blob's name) stages without it."""
    area = StagingArea(tmp_path / "stage")
    told: list[ExpectedBlob | None] = []

    def stage(expected: ExpectedBlob | None) -> StagedBlob:
        told.append(expected)
        return area.new(sync=False)

    async def main() -> None:
        server = FileServer()
        server.release.set()
        pull = PullThrough(_http(server), tmp_path / "spool", 10 * len(DATA), 60,
                           stage=stage)
        await pull.start("d1", _source(), _keep_nothing).result()
        for declared in ({"sha512": hashlib.sha512(DATA).hexdigest()},
                         {"sha256": SHA.upper()}):
            source = replace(_source(), digests=declared, filename=f"{len(told)}.tar.gz")
            with contextlib.suppress(UpstreamError):
                await pull.start("d1", source, _keep_nothing).result()

    asyncio.run(main())
    assert told == [ExpectedBlob("d1", SHA), None, None]


def test_leftover_spool_files_of_dead_processes_are_removed(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    (spool / "999999999.abc.part").write_bytes(b"x")
    pull = PullThrough(_http(FileServer()), spool, 10, 60)
    assert pull.recover() == 1
    assert list(spool.iterdir()) == []


def test_two_files_claiming_the_same_hash_never_share_a_download(tmp_path: Path) -> None:
    wrong = "0" * 64

    async def main() -> tuple[list[str], int]:
        server = FileServer()
        server.release.set()
        pull = PullThrough(_http(server), tmp_path / "spool", 10 * len(DATA), 60)
        messages = []
        for name in ("a_pkg-1.0.tar.gz", "b_pkg-1.0.tar.gz"):
            source = FileSource(FILE_URL, name, {"sha256": wrong}, None,
                                frozenset({"files.example"}), INDEX)
            with pytest.raises(VerificationFailed) as err:
                await pull.start("d1", source, _keep_nothing).result()
            messages.append(err.value.message.split(" failed")[0])
        return messages, server.requests

    messages, requests = asyncio.run(main())
    assert messages == ["Upstream file a_pkg-1.0.tar.gz", "Upstream file b_pkg-1.0.tar.gz"]
    assert requests == 2


def test_a_slow_revalidation_serves_the_cached_page_and_finishes_later(
        catalog: SqlCatalog) -> None:
    server, clock = PageServer(), FakeClock()
    slow = False

    async def handler(request: httpx.Request) -> httpx.Response:
        if slow:
            await asyncio.sleep(0.3)
        return server(request)

    http = UpstreamHttp(UpstreamLimits(retries=0), transport=httpx.MockTransport(handler))
    pages = UpstreamPages(catalog, http, clock, ttl_seconds=60, revalidate_wait=0.05)

    async def main() -> tuple[bool, bool]:
        nonlocal slow
        await pages.get(INDEX, "demo-pkg")
        slow = True
        clock.moment += timedelta(seconds=61)
        served = await pages.get(INDEX, "demo-pkg")
        await asyncio.sleep(0.5)  # the revalidation completes in the background
        later = await pages.get(INDEX, "demo-pkg")
        return served.stale, later.stale

    assert asyncio.run(main()) == (True, False)
    assert len(server.requests) == 2


def test_upstream_page_urls_quote_the_project_name() -> None:
    assert page_url("https://up.example/simple/", "pkg") == "https://up.example/simple/pkg/"
    assert (page_url("https://up.example/simple/", "a?x=1#/..") ==
            "https://up.example/simple/a%3Fx%3D1%23%2F../")


def test_a_spool_file_named_after_this_very_pid_is_an_earlier_processs(tmp_path: Path) -> None:
    # Containers restart with the same pids: at start-up nothing of this pid is in progress.
    spool = tmp_path / "spool"
    spool.mkdir()
    (spool / f"{os.getpid()}.abc.part").write_bytes(b"x")
    assert PullThrough(_http(FileServer()), spool, 10, 60).recover() == 1
    assert list(spool.iterdir()) == []


def test_every_declared_digest_is_verified(tmp_path: Path) -> None:
    sha512 = hashlib.sha512(DATA).hexdigest()

    async def main(digests: dict[str, str]) -> str | None:
        server = FileServer()
        server.release.set()
        pull = PullThrough(_http(server), tmp_path / "spool", 10 * len(DATA), 60)
        source = FileSource(FILE_URL, "demo-1.0.0.tgz", digests, None,
                            frozenset({"files.example"}), INDEX)
        try:
            await pull.start("d1", source, _keep_nothing).result()
        except VerificationFailed as err:
            return err.message
        return None

    assert asyncio.run(main({"sha512": sha512, "sha1": hashlib.sha1(DATA).hexdigest()})) is None
    assert asyncio.run(main({"sha512": sha512, "sha1": "0" * 40})) == (
        "Upstream file demo-1.0.0.tgz failed verification: its index page declares sha1 "
        f"{'0' * 40}, the bytes sent have {hashlib.sha1(DATA).hexdigest()}; nothing was kept")


def test_a_file_without_a_digest_to_verify_is_not_pulled(tmp_path: Path) -> None:
    pull = PullThrough(_http(FileServer()), tmp_path / "spool", 10, 60)
    source = FileSource(FILE_URL, "demo-1.0.0.tgz", {"blake3": "0" * 64}, None,
                        frozenset({"files.example"}), INDEX)
    with pytest.raises(UpstreamError, match="has no digest to verify it against"):
        pull.start("d1", source, _keep_nothing)


def test_pypi_documents_keep_the_shape_stored_before(catalog: SqlCatalog) -> None:
    # What revision 0003's page cache stored: a list of the page's files, as parsed.
    stored = json.dumps([{
        "filename": "demo_pkg-1.0.tar.gz", "url": FILE_URL, "sha256": SHA, "version": "1.0",
        "version_key": "1", "size": 5, "requires_python": ">=3.8", "yanked": "bad",
        "upload_time": "2026-01-01T00:00:00+00:00", "metadata_sha256": None}],
        separators=(",", ":"))
    pypi = PypiUpstream()
    listing = pypi.decode("demo-pkg", stored)
    assert [(v.version, v.version_key) for v in listing.versions] == [("1.0", "1")]
    (offered,) = listing.files
    assert (offered.filename, offered.url, offered.sha256, offered.size, offered.yanked) == (
        "demo_pkg-1.0.tar.gz", FILE_URL, SHA, 5, "bad")
    assert dict(offered.attributes) == {"requires_python": ">=3.8"}
    assert offered.upload_time == datetime(2026, 1, 1, tzinfo=UTC)
    assert pypi.encode(listing) == stored


def test_a_listings_file_hosts_skip_a_url_that_does_not_parse_and_are_worked_out_once() -> None:
    # A listing is asked for its hosts by every pull of one of its files, on the event loop:
    # a URL that does not parse must not fail them all, and thousands of URLs are split once.
    def offered(name: str, url: str) -> OfferedFile:
        return OfferedFile(name, "1", {"sha256": SHA}, None, False, None, {}, url=url)

    listing = UpstreamListing("demo-pkg", (), (
        offered("a-1.tgz", "https://[files.example/a-1.tgz"),
        offered("b-1.tgz", "https://files.example/b-1.tgz"),
        offered("c-1.tgz", "https://cdn.example/c-1.tgz")))
    hosts = listing.file_hosts()
    assert hosts == {"files.example", "cdn.example"}
    assert listing.file_hosts() is hosts


def test_an_npm_version_whose_tarball_url_does_not_parse_is_left_out_with_the_reason() -> None:
    def version(number: str, tarball: str) -> dict[str, object]:
        return {"name": "demo", "version": number,
                "dist": {"tarball": tarball, "shasum": "0" * 40}}

    document = {"name": "demo", "dist-tags": {"latest": "1.0.2"}, "versions": {
        "1.0.0": version("1.0.0", "https://registry.example/demo/-/demo-1.0.0.tgz"),
        "1.0.1": version("1.0.1", "https://[registry.example/demo/-/demo-1.0.1.tgz"),
        "1.0.2": version("1.0.2", "https://[::1]:8443/demo/-/demo-1.0.2.tgz")}}
    listing = NpmUpstream().parse_listing(json.dumps(document).encode(), "application/json",
                                          "https://registry.example/demo", "demo")
    assert [v.version for v in listing.versions] == ["1.0.0", "1.0.2"]
    assert listing.rejected == ("1.0.1: its tarball URL does not parse",)
    assert listing.file_hosts() == {"registry.example", "::1"}


def test_regression_an_npm_version_with_path_or_markup_in_it_is_left_out() -> None:
    """A hostile registry's packument listed versions such as '../../../etc/passwd',
    '<script>…</script>' or '3.0.0\\0': Packyard's packument offered them, with tarball URLs
    holding them, although no publish could make them (and no request could fetch them).
    An old version that is not semver but plain text (0.0.1beta) stays."""
    def version(number: str) -> dict[str, object]:
        return {"name": "demo", "version": number,
                "dist": {"tarball": f"https://registry.example/demo/-/demo-{number}.tgz",
                         "shasum": "0" * 40}}

    odd = ["../../../etc/passwd", "2.0.0/../../x", "<script>alert(1)</script>", "3.0.0\x00",
           "4.0.0%2f..", "5.0.0 ", "6.0.0\\x", "7.0.0+" + "a" * 300]
    document = {"name": "demo", "versions": {v: version(v) for v in ["1.0.0", "0.0.1beta", *odd]}}
    listing = NpmUpstream().parse_listing(json.dumps(document).encode(), "application/json",
                                          "https://registry.example/demo", "demo")
    assert [v.version for v in listing.versions] == ["1.0.0", "0.0.1beta"]
    assert len(listing.rejected) == len(odd)
    assert all("not a version" in why for why in listing.rejected)


def test_pypi_documents_keep_each_files_version_as_its_name_writes_it() -> None:
    # Two files of one release whose names write its version differently: each row keeps its
    # own text, as parsed, and the listing's version is the first one's.
    def entry(filename: str) -> dict[str, object]:
        return {"filename": filename, "url": f"https://files.example/{filename}",
                "hashes": {"sha256": SHA}}

    page = json.dumps({"meta": {"api-version": "1.1"}, "files": [
        entry("demo_pkg-1.0-py3-none-any.whl"), entry("demo_pkg-1.0.0.tar.gz"),
        entry("Demo.Pkg-2.0rc1.zip")]}).encode()
    pypi = PypiUpstream()
    listing = pypi.parse_listing(page, "application/vnd.pypi.simple.v1+json",
                                 "https://pypi.example/simple/demo-pkg/", "demo-pkg")
    rows = json.loads(pypi.encode(listing))
    assert [(r["version"], r["version_key"]) for r in rows] == [
        ("1.0", "1"), ("1.0.0", "1"), ("2.0rc1", "2rc1")]
    assert [(v.version, v.version_key) for v in listing.versions] == [("1.0", "1"),
                                                                      ("2.0rc1", "2rc1")]
    assert pypi.decode("demo-pkg", pypi.encode(listing)) == listing


# -- a pulled wheel's core metadata: the upstream's PEP 658 file, or the wheel's ----------------

def _kept_summary(tmp_path: Path, companion: bytes | None) -> str | None:
    wheel = build_wheel(tmp_path, name="demo_pkg", version="1.0",
                        metadata=metadata_text("demo-pkg", "1.0",
                                              headers=[("Summary", "from the wheel")]))
    offered = OfferedFile(wheel.name, "1", {"sha256": "0" * 64}, None, False, None,
                          pypi_attributes.file_attributes(
                              blake2_256=None, requires_python=None,
                              metadata_sha256="1" * 64, metadata_size=None),
                          url=FILE_URL)
    stored: list[bytes] = []

    def put_blob(data: bytes) -> Digests:
        stored.append(data)
        return Digests(len(data), "", "", hashlib.sha256(data).hexdigest(), "", "")

    digests = Digests(wheel.stat().st_size, "", "", "0" * 64, "", "")
    kept = PypiUpstream().keep(wheel, digests, "demo-pkg", offered, None, put_blob, companion)
    assert stored and kept.asset.attributes  # the metadata blob is kept either way
    return kept.version.summary


def test_a_pulled_wheels_blake2b_not_computed_is_recorded_as_left_for_later(
        tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path, name="demo_pkg", version="1.0")
    offered = OfferedFile(wheel.name, "1", {"sha256": "0" * 64}, None, False, None, {},
                          url=FILE_URL)
    size = wheel.stat().st_size

    def kept_attributes(blake2_256: str | None) -> dict[str, object]:
        digests = Digests(size, None, None, "0" * 64, None, blake2_256)
        kept = PypiUpstream().keep(wheel, digests, "demo-pkg", offered, None,
                                   lambda data: Digests(len(data), "", "", "1" * 64, "", ""),
                                   None)
        return dict(kept.asset.attributes)

    # Null under the digest's own name: what the catalog's fill looks for.
    assert "blake2_256" in ATTRIBUTE_DIGESTS
    assert kept_attributes(None)["blake2_256"] is None
    assert kept_attributes("b2" * 32)["blake2_256"] == "b2" * 32


def test_a_wheels_companion_metadata_is_used_instead_of_opening_the_wheel(
        tmp_path: Path) -> None:
    companion = metadata_text("demo-pkg", "1.0",
                              headers=[("Summary", "from the upstream")]).encode()
    assert _kept_summary(tmp_path, companion) == "from the upstream"
    assert _kept_summary(tmp_path, None) == "from the wheel"


@pytest.mark.parametrize(("name", "version"), [("other-pkg", "1.0"), ("demo-pkg", "2.0")])
def test_companion_metadata_of_another_release_is_not_used(tmp_path: Path, name: str,
                                                           version: str) -> None:
    companion = metadata_text(name, version, headers=[("Summary", "from the upstream")]).encode()
    assert _kept_summary(tmp_path, companion) == "from the wheel"


def test_a_pull_computes_only_the_digests_declared_and_asked_for(tmp_path: Path) -> None:
    """MD5, SHA-1 and SHA-512 cost five times SHA-256 and nothing a pull serves needs them:
    a pull computes sha256, what its upstream declared and what its format asks for."""

    async def main(declared: dict[str, str], asked: tuple[str, ...]) -> Digests:
        given: list[Digests] = []

        async def commit(staged: StagedBlob, finish: Finish) -> Digests:
            digests = finish()
            given.append(digests)
            return digests

        server = FileServer()
        server.release.set()
        pull = PullThrough(_http(server), tmp_path / "spool", 10 * len(DATA), 60)
        source = FileSource(FILE_URL, "demo-1.0.0.tgz", declared, None,
                            frozenset({"files.example"}), INDEX)
        await pull.start("d1", source, commit, digests=asked).result()
        return given[0]

    sha256 = hashlib.sha256(DATA).hexdigest()
    pypi_like = asyncio.run(main({"sha256": sha256}, ("blake2_256",)))
    assert (pypi_like.sha256, pypi_like.blake2_256) == (
        sha256, hashlib.blake2b(DATA, digest_size=32).hexdigest())
    assert (pypi_like.md5, pypi_like.sha1, pypi_like.sha512) == (None, None, None)
    md5 = hashlib.md5(DATA).hexdigest()
    declared_md5 = asyncio.run(main({"sha256": sha256, "md5": md5}, ()))
    assert (declared_md5.md5, declared_md5.sha1, declared_md5.sha512,
            declared_md5.blake2_256) == (md5, None, None, None)
    # PyPI asks for none (its BLAKE2b is filled in later, as the MD5 is).
    assert PypiUpstream().pull_digests == frozenset()
    # The upstream declared MD5, SHA-1 and SHA-512: no asset would be missing one for the
    # filler to find, so the pull computes every digest, BLAKE2b too.
    declared_all = asyncio.run(main({"sha256": sha256, "md5": md5,
                                     "sha1": hashlib.sha1(DATA).hexdigest(),
                                     "sha512": hashlib.sha512(DATA).hexdigest()}, ()))
    assert declared_all.blake2_256 == hashlib.blake2b(DATA, digest_size=32).hexdigest()
    # Without ``digests``, a pull computes every one (what its callers got before).
    every = asyncio.run(main({"sha256": sha256}, LATER_DIGESTS))
    assert every.sha512 == hashlib.sha512(DATA).hexdigest()
    assert every.sha1 == hashlib.sha1(DATA).hexdigest() and every.md5 == md5


@pytest.mark.parametrize(("name", "version"), [("requests", "1.0"), ("demo-pkg", "9.9")])
def test_regression_a_pulled_wheel_whose_metadata_names_another_release_keeps_none_of_it(
        tmp_path: Path, name: str, version: str) -> None:
    """A wheel listed under demo-pkg whose METADATA says requests 9.9 (a compromised mirror)
    was kept with 'requests' as the package's display name and requests' summary and
    dependencies; an upload of it is refused. It is kept, verified, without its metadata."""
    wheel = build_wheel(tmp_path, name="demo_pkg", version="1.0",
                        metadata=metadata_text(name, version, headers=[
                            ("Summary", "another project's"), ("Requires-Dist", "evil")]))
    offered = OfferedFile(wheel.name, "1", {"sha256": "0" * 64}, None, False, None, {},
                          url=FILE_URL)
    stored: list[bytes] = []
    kept = PypiUpstream().keep(wheel, Digests(wheel.stat().st_size, "", "", "0" * 64, "", ""),
                               "demo-pkg", offered, None,
                               lambda data: (stored.append(data),
                                             Digests(len(data), "", "", "1" * 64, "", ""))[1],
                               None)
    assert kept.display_name == "demo_pkg"
    assert kept.version.summary is None and kept.version.dependencies == []
    assert stored == []  # no core metadata file served for it either
