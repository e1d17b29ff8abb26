"""A file only an upstream has, asked for while the blob store is down: a clear 503 with the
store's reason before anything is asked of the upstream, not a 200 cut short once the file has
been downloaded and could not be kept (``UpstreamResolver._pull_through``)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from packyard.storage.s3 import BlobStoreUnavailable
from tests.inprocess.conftest import PackyardFactory
from tests.inprocess.harness import InProcessPackyard, InProcessRepo, assert_refused
from tests.inprocess.test_outages import STORE_DOWN
from tests.inprocess.test_upstream_range_reads import Chain, chain, index  # noqa: F401
from tests.integration.helpers import DistFactory, DistSpec
from tests.integration.test_upstreams import StaticIndex


def _pypi_store(packyard_factory: PackyardFactory,
                upstream: StaticIndex) -> tuple[InProcessPackyard, InProcessRepo]:
    """A server whose repository ``pypi-store`` has ``public:pypi`` at ``upstream``."""
    app = packyard_factory(pypi_upstream_url=upstream.url, upstream_cooldown_seconds=0.0)
    repo = app.pypi_repo(repository="pypi-store")
    app.codeartifact().associate_external_connection(
        domain="acme", repository="pypi-store", externalConnection="public:pypi")
    return app, repo


def test_regression_a_pull_while_the_blob_store_is_down_is_a_503_before_the_download(
        chain: Chain, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    # Seen on replicas with SeaweedFS stopped: pip got 3.8 of 5.0 MB and "Connection
    # interrupted", uv retried five full downloads from the upstream, each cut at the commit.
    blobs = chain.app.container.registry.blobs

    def down(*_args: Any, **_kwargs: Any) -> Any:
        raise BlobStoreUnavailable(STORE_DOWN)

    with monkeypatch.context() as patched:
        for method in ("exists", "size", "commit", "commit_many"):
            patched.setattr(blobs, method, down)
        refused = chain.get()
        assert_refused(refused, 503, STORE_DOWN)
        assert refused.headers["retry-after"] == "5"
    assert chain.index.file_requests(chain.wheel.filename) == 0
    # Back: the same request pulls and keeps it.
    pulled = chain.get()
    assert pulled.status_code == 200 and pulled.content == chain.wheel.data
    assert chain.index.file_requests(chain.wheel.filename) == 1


def test_a_small_pull_from_an_index_without_sizes_while_the_store_is_down_is_a_503(
        packyard_factory: PackyardFactory, dists: DistFactory,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """PEP 503 HTML declares no size, and the store is not looked at before such a pull; a
    small file (by the upstream's Content-Length) is verified and kept before it is answered,
    so the store's failure is its 503, not a 200 cut short."""
    upstream = StaticIndex(html_only=True).start()
    try:
        wheel = dists.wheel(DistSpec(name="big-pkg", version="1.0"))  # a few KiB
        upstream.add(wheel)
        app, repo = _pypi_store(packyard_factory, upstream)
        blobs = app.container.registry.blobs

        def down(*_args: Any, **_kwargs: Any) -> Any:
            raise BlobStoreUnavailable(STORE_DOWN)

        path = f"simple/big-pkg/{wheel.filename}"
        with monkeypatch.context() as patched:
            for method in ("exists", "size", "commit", "commit_many"):
                patched.setattr(blobs, method, down)
            assert_refused(repo.get(path), 503, STORE_DOWN)
        pulled = repo.get(path)
        assert pulled.status_code == 200 and pulled.content == wheel.data
    finally:
        upstream.stop()


def test_regression_a_file_failing_verification_is_refused_without_waiting_for_its_pep_658_file(
        packyard_factory: PackyardFactory, dists: DistFactory) -> None:
    """A wheel whose bytes do not match its page's sha256, from an upstream slow to send its
    PEP 658 .metadata file: the client gets the 502 that says so as soon as the wheel is in.
    The verification had moved into the commit, after the wait for that file: the 502 came
    only once the upstream sent it (or its fetch gave up, up to the document timeout)."""
    upstream = StaticIndex(metadata_hold=threading.Event()).start()
    assert upstream.metadata_hold is not None
    try:
        wheel, wrong = dists.wheel(DistSpec(name="bad-pkg", version="1.0")), "0" * 64
        upstream.add(wheel, declared_sha256=wrong)
        app, repo = _pypi_store(packyard_factory, upstream)
        started = time.monotonic()
        refused = repo.get(f"simple/bad-pkg/{wheel.filename}")
        assert time.monotonic() - started < 20  # the .metadata file is held for 60 s
        assert_refused(refused, 502, f"Upstream file {wheel.filename} failed verification: "
                       f"its index page declares sha256 {wrong}, the bytes sent have "
                       f"{wheel.sha256}; nothing was kept")
        assert app.codeartifact().list_packages(domain="acme",
                                                repository="pypi-store")["packages"] == []
    finally:
        upstream.metadata_hold.set()
        upstream.stop()


def test_regression_a_good_wheel_is_not_held_back_by_an_upstream_slow_to_send_its_pep_658_file(
        packyard_factory: PackyardFactory, dists: DistFactory) -> None:
    """A wheel that verifies, from an upstream whose PEP 658 .metadata file does not come: the
    client got its file only once that file came or its fetch gave up (up to the document
    timeout, 120 s), since a small file is kept before it is answered and the keeping waited
    for the metadata. It is now kept with the core metadata read from the wheel itself after
    a short wait, and that metadata is what the registry serves for it."""
    upstream = StaticIndex(metadata_hold=threading.Event()).start()
    assert upstream.metadata_hold is not None
    try:
        wheel = dists.wheel(DistSpec(name="slow-meta", version="1.0"))
        upstream.add(wheel)
        app, repo = _pypi_store(packyard_factory, upstream)
        started = time.monotonic()
        pulled = repo.get(f"simple/slow-meta/{wheel.filename}")
        assert time.monotonic() - started < 20  # the .metadata file is held for 60 s
        assert pulled.status_code == 200 and pulled.content == wheel.data
        versions = app.codeartifact().list_package_versions(
            domain="acme", repository="pypi-store", format="pypi", package="slow-meta")
        assert [v["version"] for v in versions["versions"]] == ["1.0"]
        metadata = repo.get(f"simple/slow-meta/{wheel.filename}.metadata")
        assert metadata.status_code == 200
        assert b"Name: slow-meta" in metadata.content and b"Version: 1.0" in metadata.content
    finally:
        upstream.metadata_hold.set()
        upstream.stop()
