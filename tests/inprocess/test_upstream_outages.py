"""A file only an upstream has, asked for while the blob store is down: a clear 503 with the
store's reason before anything is asked of the upstream, not a 200 cut short once the file has
been downloaded and could not be kept (``UpstreamResolver._pull_through``)."""

from __future__ import annotations

from typing import Any

import pytest

from packyard.storage.s3 import BlobStoreUnavailable
from tests.inprocess.harness import assert_refused
from tests.inprocess.test_outages import STORE_DOWN
from tests.inprocess.test_upstream_range_reads import Chain, chain, index  # noqa: F401


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
