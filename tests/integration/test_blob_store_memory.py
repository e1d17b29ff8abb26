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
