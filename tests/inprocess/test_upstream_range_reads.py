"""Range reads of a file only an upstream has (``UpstreamResolver._read_range``): uv and poetry
read a wheel's zip directory with Range requests when the index offers no PEP 658 metadata,
and must get the range from the upstream, not a whole file pulled and kept for it.

The app in process, its ``public:pypi`` a small static index on 127.0.0.1 (the integration
suite's, which answers ranges as files.pythonhosted.org does and records the Range headers it
gets), in the README's layout: ``team`` reads through ``pypi-store``, which owns the
connection.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.inprocess.conftest import PackyardFactory
from tests.inprocess.harness import TOKEN_ONLY, InProcessPackyard, InProcessRepo, user_with
from tests.integration.helpers import DEFAULT_ACCOUNT, Dist, DistFactory, DistSpec
from tests.integration.test_upstreams import StaticIndex

# Bigger than PACKYARD_UPSTREAM_VERIFY_BEFORE_SEND_BYTES: a pull of it would be streamed.
SPEC = DistSpec(name="big-pkg", version="1.0", padding=3 * 1024 * 1024)


@dataclass
class Chain:
    app: InProcessPackyard
    index: StaticIndex
    team: InProcessRepo
    wheel: Dist

    @property
    def path(self) -> str:
        return f"simple/big-pkg/{self.wheel.filename}"

    def get(self, **headers: str) -> httpx.Response:
        return self.team.get(self.path, **headers)

    def kept(self) -> dict[str, list[str]]:
        """The packages each repository holds, and whether the blob store has the wheel."""
        api = self.app.codeartifact()
        held = {repo: [p["package"] for p in api.list_packages(
            domain="acme", repository=repo)["packages"]] for repo in ("team", "pypi-store")}
        domain = self.app.container.catalog.get_domain(DEFAULT_ACCOUNT, "acme")
        stored = self.app.container.registry.blobs.exists(domain.blob_key, self.wheel.sha256)
        return {**held, "blob": ["stored"] if stored else []}

    def file_ranges(self) -> list[str]:
        return [asked for path, asked in self.index.ranges
                if path == f"/files/{self.wheel.filename}"]


NOTHING_KEPT = {"team": [], "pypi-store": [], "blob": []}


@pytest.fixture
def index() -> Iterator[StaticIndex]:
    upstream = StaticIndex().start()
    yield upstream
    upstream.stop()


@pytest.fixture
def chain(packyard_factory: PackyardFactory, index: StaticIndex, dists: DistFactory) -> Chain:
    wheel = dists.wheel(SPEC)
    index.add(wheel)
    app = packyard_factory(pypi_upstream_url=index.url, upstream_cooldown_seconds=0.0)
    api = app.codeartifact()
    api.create_domain(domain="acme")
    api.create_repository(domain="acme", repository="pypi-store")
    api.associate_external_connection(domain="acme", repository="pypi-store",
                                      externalConnection="public:pypi")
    api.create_repository(domain="acme", repository="team",
                          upstreams=[{"repositoryName": "pypi-store"}])
    return Chain(app, index, app.pypi_repo(repository="team", create=False), wheel)


def _size(chain: Chain) -> int:
    return len(chain.wheel.data)


@pytest.mark.parametrize(("asked", "span"), [
    ("bytes=-65536", lambda n: (n - 65536, n)),
    ("bytes=100-199", lambda n: (100, 200)),
    ("bytes=3145000-", lambda n: (3145000, n)),
    # MAX_FORWARDED_RANGE exactly.
    ("bytes=2097152-3145727", lambda n: (2097152, 3145728)),
])
def test_regression_a_range_of_a_file_not_kept_is_read_from_the_upstream_and_kept_nowhere(
        chain: Chain, asked: str, span: Any) -> None:
    size = _size(chain)
    start, end = span(size)
    got = chain.get(Range=asked)
    assert got.status_code == 206, got.text
    assert got.content == chain.wheel.data[start:end]
    assert (got.headers["content-range"], got.headers["content-length"],
            got.headers["accept-ranges"], got.headers["etag"]) == (
        f"bytes {start}-{end - 1}/{size}", str(end - start), "bytes", f'"{chain.wheel.sha256}"')
    # The upstream was asked for exactly that range (placed by the size the index declared),
    # once; nothing was pulled, nothing kept.
    assert chain.file_ranges() == [f"bytes={start}-{end - 1}"]
    assert chain.index.file_requests(chain.wheel.filename) == 1
    assert chain.kept() == NOTHING_KEPT
    # A whole download afterwards pulls it as ever, and ranges are then the kept file's.
    assert chain.get().content == chain.wheel.data
    assert chain.get(Range=asked).content == chain.wheel.data[start:end]
    assert chain.index.file_requests(chain.wheel.filename) == 2
    assert chain.kept() == {"team": ["big-pkg"], "pypi-store": ["big-pkg"], "blob": ["stored"]}


@pytest.mark.parametrize(("asked", "span"), [
    ("bytes=1048576-", lambda n: (1048576, n)),
    ("bytes=5-99999999", lambda n: (5, n)),
    ("bytes=0-1048576", lambda n: (0, 1048577)),  # one byte more than MAX_FORWARDED_RANGE
])
def test_regression_a_range_too_large_to_forward_is_answered_from_a_pull(
        chain: Chain, asked: str, span: Any) -> None:
    """A range of more than MAX_FORWARDED_RANGE is a download in parts (a resumed one, a
    download manager's): the file is pulled and kept, and the range answered from it, instead
    of the upstream's range being read for it (held in memory while the client reads it)."""
    start, end = span(_size(chain))
    got = chain.get(Range=asked)
    assert (got.status_code, got.headers["content-range"]) == (
        206, f"bytes {start}-{end - 1}/{_size(chain)}")
    assert got.content == chain.wheel.data[start:end]
    # The whole file afterwards comes from that one download (joined, or kept by then).
    assert chain.get().content == chain.wheel.data
    assert chain.file_ranges() == []
    assert chain.index.file_requests(chain.wheel.filename) == 1
    assert chain.kept() == {"team": ["big-pkg"], "pypi-store": ["big-pkg"], "blob": ["stored"]}


def test_regression_uvs_reads_of_a_wheels_directory_pull_nothing(chain: Chain) -> None:
    """uv's range reader: a HEAD for the length, then the zip's tail, then the directory."""
    head = chain.team.client().head(chain.team.endpoint + chain.path)
    size = _size(chain)
    assert (head.status_code, head.headers["accept-ranges"], head.headers["content-length"],
            head.content) == (200, "bytes", str(size), b"")
    tail = chain.get(Range="bytes=-16384")
    directory = chain.get(Range=f"bytes={size - 40000}-{size - 16385}")
    assert tail.content + directory.content != b""
    assert directory.content + tail.content == chain.wheel.data[size - 40000:]
    assert chain.kept() == NOTHING_KEPT
    assert chain.index.file_requests(chain.wheel.filename) == 2  # the two ranges, no HEAD


def test_regression_a_head_of_a_file_not_kept_offers_ranges_and_asks_the_upstream_nothing(
        chain: Chain) -> None:
    head = chain.team.client().head(chain.team.endpoint + chain.path)
    assert head.status_code == 200
    assert (head.headers["accept-ranges"], head.headers["content-length"],
            head.headers["etag"]) == ("bytes", str(_size(chain)), f'"{chain.wheel.sha256}"')
    assert chain.index.file_requests(chain.wheel.filename) == 0
    assert chain.kept() == NOTHING_KEPT


def test_regression_an_upstream_that_ignores_the_range_is_pulled_and_the_range_answered(
        chain: Chain) -> None:
    chain.index.ignore_ranges = True
    size = _size(chain)
    got = chain.get(Range="bytes=-65536")
    assert got.status_code == 206
    assert got.content == chain.wheel.data[-65536:]
    assert got.headers["content-range"] == f"bytes {size - 65536}-{size - 1}/{size}"
    # Asked for the range, answered the whole file: the range's answer is closed unread and
    # the file pulled (verified, kept) as for a download.
    assert chain.file_ranges() == [f"bytes={size - 65536}-{size - 1}"]
    assert chain.index.file_requests(chain.wheel.filename) == 2
    assert chain.kept() == {"team": ["big-pkg"], "pypi-store": ["big-pkg"], "blob": ["stored"]}


def test_regression_a_range_past_the_end_is_416_without_asking_the_upstream(
        chain: Chain) -> None:
    got = chain.get(Range=f"bytes={_size(chain)}-")
    assert (got.status_code, got.headers["content-range"]) == (416, f"bytes */{_size(chain)}")
    assert chain.index.file_requests(chain.wheel.filename) == 0
    assert chain.kept() == NOTHING_KEPT


def test_regression_a_range_that_is_the_whole_file_is_a_download(chain: Chain) -> None:
    got = chain.get(Range="bytes=0-")
    assert got.content == chain.wheel.data
    assert chain.file_ranges() == []
    assert chain.kept()["team"] == ["big-pkg"]


def test_regression_several_ranges_are_not_forwarded(chain: Chain) -> None:
    got = chain.get(Range="bytes=0-9,20-29")
    # Pulled and answered as a download (a file still arriving is sent whole).
    assert (got.status_code, got.content) == (200, chain.wheel.data)
    assert chain.file_ranges() == []
    # Kept now: several ranges are the kept file's multipart answer.
    again = chain.get(Range="bytes=0-9,20-29")
    assert again.status_code == 206
    assert again.headers["content-type"].startswith("multipart/byteranges")


def test_regression_an_upstream_range_that_is_not_the_one_asked_is_a_502(
        chain: Chain) -> None:
    """The upstream's Content-Range is checked against the range asked and the size the index
    declared."""
    assert chain.team.get("simple/big-pkg/").status_code == 200  # its size declared
    served = chain.index.projects["big-pkg"][chain.wheel.filename]
    served.data = served.data + b"x"  # the upstream's file is one byte longer than declared
    got = chain.get(Range="bytes=-100")
    assert got.status_code == 502
    assert "Content-Range 'bytes 3" in got.text and "bytes declared" in got.text
    assert chain.kept() == NOTHING_KEPT


def test_regression_an_unauthorized_range_read_never_reaches_the_upstream(
        chain: Chain) -> None:
    with httpx.Client(transport=chain.team.transport, auth=("aws", "not-a-token")) as http:
        refused = http.get(chain.team.endpoint + chain.path, headers={"Range": "bytes=-100"})
    assert refused.status_code == 401
    nobody = user_with(chain.app, "nobody", TOKEN_ONLY)
    outsider = chain.app.pypi_repo(repository="team", create=False, credentials=nobody)
    denied = outsider.get(chain.path, Range="bytes=-100")
    assert denied.status_code == 403
    head = outsider.client().head(outsider.endpoint + chain.path)
    assert head.status_code == 403
    assert sum(chain.index.requests.values()) == 0  # not even the project page
    assert chain.kept() == NOTHING_KEPT


def test_regression_the_sha256_etag_of_the_file_not_kept_is_honoured_by_if_range(
        chain: Chain) -> None:
    matching = chain.get(Range="bytes=0-9", **{"If-Range": f'"{chain.wheel.sha256}"'})
    assert (matching.status_code, matching.content) == (206, chain.wheel.data[:10])
    other = chain.get(Range="bytes=0-9",
                      **{"If-Range": '"' + hashlib.sha256(b"other").hexdigest() + '"'})
    assert (other.status_code, other.content) == (200, chain.wheel.data)


def test_regression_a_range_of_a_file_from_an_index_without_sizes_is_placed_by_the_upstream(
        packyard_factory: PackyardFactory, dists: DistFactory) -> None:
    """PEP 503 HTML declares no size: the client's range is forwarded as asked, and the
    upstream's Content-Range (checked against it) says where it is."""
    index = StaticIndex(html_only=True).start()
    try:
        wheel = dists.wheel(SPEC)
        index.add(wheel)
        app = packyard_factory(pypi_upstream_url=index.url)
        repo = app.pypi_repo(repository="pypi-store")
        app.codeartifact().associate_external_connection(
            domain="acme", repository="pypi-store", externalConnection="public:pypi")
        path = f"simple/big-pkg/{wheel.filename}"
        size = len(wheel.data)
        got = repo.get(path, Range="bytes=-100")
        assert (got.status_code, got.content, got.headers["content-range"]) == (
            206, wheel.data[-100:], f"bytes {size - 100}-{size - 1}/{size}")
        head = repo.client().head(repo.endpoint + path)
        assert head.headers["accept-ranges"] == "bytes"
        # Asked of the upstream: a one-byte range, as this index answers no HEAD.
        assert head.headers["content-length"] == str(size)
        past = repo.get(path, Range=f"bytes={size + 10}-")
        assert (past.status_code, past.headers["content-range"]) == (416, f"bytes */{size}")
        assert [asked for _, asked in index.ranges] == ["bytes=-100", "bytes=0-0",
                                                        f"bytes={size + 10}-"]
        assert app.codeartifact().list_packages(domain="acme",
                                                repository="pypi-store")["packages"] == []
        # Where the upstream's answer shows the range is too large to forward, it is pulled.
        large = repo.get(path, Range="bytes=1048576-")
        assert (large.status_code, large.content, large.headers["content-range"]) == (
            206, wheel.data[1048576:], f"bytes 1048576-{size - 1}/{size}")
        assert [asked for _, asked in index.ranges][3:] == ["bytes=1048576-"]
        assert [p["package"] for p in app.codeartifact().list_packages(
            domain="acme", repository="pypi-store")["packages"]] == ["big-pkg"]
    finally:
        index.stop()


def test_regression_two_repositories_pulling_one_file_at_once_both_keep_it(
        chain: Chain, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two clients download a file only the upstream has, at the same moment, through two
    repositories reading from the one owning the connection: both get it, one download, and
    both repositories keep it. The request that joined the other's download had counted the
    downloads started before its look at the blob store, during which the other started this
    one: it took the download for its own, so its repository did not keep the file (with two
    clients, about half the time: its client had the whole file, its repository listed
    nothing) and the PEP 658 file was fetched a second time."""
    api = chain.app.codeartifact()
    api.create_repository(domain="acme", repository="team2",
                          upstreams=[{"repositoryName": "pypi-store"}])
    team2 = chain.app.pypi_repo(repository="team2", create=False)
    blobs = chain.app.container.registry.blobs
    exists, both_looking = blobs.exists, threading.Barrier(2, timeout=10)

    def looked(domain_key: str, sha256: str) -> bool:
        both_looking.wait()  # both look before either starts the download
        return exists(domain_key, sha256)

    with monkeypatch.context() as patched:
        patched.setattr(blobs, "exists", looked)
        with ThreadPoolExecutor(2) as pool:
            got = list(pool.map(lambda repo: repo.get(chain.path), [chain.team, team2]))
    assert [(r.status_code, r.content == chain.wheel.data) for r in got] == [(200, True)] * 2
    assert chain.index.file_requests(chain.wheel.filename) == 1
    held = {repo: [p["package"] for p in api.list_packages(
        domain="acme", repository=repo)["packages"]] for repo in ("team", "team2", "pypi-store")}
    assert held == {"team": ["big-pkg"], "team2": ["big-pkg"], "pypi-store": ["big-pkg"]}
    assert chain.index.requests[f"/files/{chain.wheel.filename}.metadata"] == 1
