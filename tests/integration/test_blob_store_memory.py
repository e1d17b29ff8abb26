"""A server whose blobs have no files (PACKYARD_BLOB_STORE=memory://): uploads and every read path."""

from __future__ import annotations

from typing import Any

from tests.integration.helpers import (
    DistFactory,
    DistSpec,
    codeartifact_client,
    create_pypi_repo,
    files_under,
    upload_ok,
)

JSON_V1 = "application/vnd.pypi.simple.v1+json"


def test_a_memory_blob_store_serves_what_was_uploaded(server_factory: Any,
                                                      dists: DistFactory) -> None:
    server = server_factory(env={"PACKYARD_BLOB_STORE": "memory://"})
    api = codeartifact_client(server.url)
    repo = create_pypi_repo(api, server.url, "mem")
    small = dists.wheel(DistSpec(name="mem-pkg", version="1.0"))  # kept in the file cache
    large = dists.wheel(DistSpec(name="mem-pkg", version="2.0", padding=300_000))  # streamed
    assert len(small.data) < 64 * 1024 < len(large.data)
    upload_ok(repo, small, large)

    with repo.client() as http:
        page = http.get(repo.project_url("mem-pkg"), headers={"Accept": JSON_V1})
        assert page.status_code == 200, page.text
        hashes = {f["filename"]: f["hashes"]["sha256"] for f in page.json()["files"]}
        assert hashes == {small.filename: small.sha256, large.filename: large.sha256}
        for dist in (small, large, small, large):  # the second time from the caches
            response = http.get(repo.project_url("mem-pkg") + dist.filename)
            assert response.status_code == 200
            assert response.content == dist.data
        assert http.get(repo.project_url("mem-pkg") + large.filename).headers["etag"] == (
            f'"{large.sha256}"')
        metadata = http.get(repo.project_url("mem-pkg") + small.filename + ".metadata")
        assert metadata.status_code == 200 and b"Name: mem-pkg" in metadata.content

    asset = api.get_package_version_asset(
        domain=repo.domain, repository=repo.repository, format="pypi", package="mem-pkg",
        packageVersion="2.0", asset=large.filename)
    assert asset["asset"].read() == large.data
    # Only staging touched the disk, and it is empty again.
    assert list(files_under(server.data_dir / "blobs")) == []


def test_ranges_are_answered_from_a_store_without_files(server_factory: Any,
                                                        dists: DistFactory) -> None:
    """Range and If-Range as FileResponse answers them on disk: 206 for one range, multipart
    for several, 416 past the end, the whole file when If-Range names another version."""
    server = server_factory(env={"PACKYARD_BLOB_STORE": "memory://"})
    api = codeartifact_client(server.url)
    repo = create_pypi_repo(api, server.url, "memrange")
    large = dists.wheel(DistSpec(name="mem-range", version="1.0", padding=300_000))
    small = dists.wheel(DistSpec(name="mem-range", version="2.0"))
    upload_ok(repo, large, small)
    data = large.data
    url = repo.project_url("mem-range") + large.filename
    etag = f'"{large.sha256}"'

    with repo.client() as http:
        whole = http.get(url)
        assert whole.status_code == 200 and whole.content == data
        assert whole.headers["accept-ranges"] == "bytes"

        part = http.get(url, headers={"Range": "bytes=100-199"})
        assert part.status_code == 206 and part.content == data[100:200]
        assert part.headers["content-range"] == f"bytes 100-199/{len(data)}"
        assert part.headers["content-length"] == "100"
        assert part.headers["etag"] == etag

        tail = http.get(url, headers={"Range": "bytes=-10"})
        assert tail.status_code == 206 and tail.content == data[-10:]
        rest = http.get(url, headers={"Range": f"bytes={len(data) - 5}-"})
        assert rest.status_code == 206 and rest.content == data[-5:]

        several = http.get(url, headers={"Range": "bytes=0-1,10-11"})
        assert several.status_code == 206
        assert several.headers["content-type"].startswith("multipart/byteranges; boundary=")
        assert int(several.headers["content-length"]) == len(several.content)
        assert data[0:2] in several.content and data[10:12] in several.content

        past = http.get(url, headers={"Range": f"bytes={len(data)}-"})
        assert past.status_code == 416
        assert past.headers["content-range"] == f"bytes */{len(data)}"

        stale = http.get(url, headers={"Range": "bytes=0-9", "If-Range": '"other"'})
        assert stale.status_code == 200 and stale.content == data
        fresh = http.get(url, headers={"Range": "bytes=0-9", "If-Range": etag})
        assert fresh.status_code == 206 and fresh.content == data[:10]

        head = http.head(url, headers={"Range": "bytes=0-9"})
        assert head.status_code == 206 and head.headers["content-length"] == "10"

        # A small file is answered from memory, but not when a range is asked for.
        small_url = repo.project_url("mem-range") + small.filename
        assert http.get(small_url).content == small.data
        first = http.get(small_url, headers={"Range": "bytes=0-3"})
        assert first.status_code == 206 and first.content == small.data[:4]
