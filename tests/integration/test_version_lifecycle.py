"""The version lifecycle and the generic format through the real AWS CLI and boto3 against
``packyard serve``: delete, dispose, delete-package, copy (a staging → release promotion),
publish-package-version, each with the errors CodeArtifact documents; and a server killed
between a deletion's commit and its blob sweep, which the next start finishes."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from packyard.formats.pypi.plugin import PypiFormat
from packyard.lifecycle.version_changes import plan_delete
from packyard.metadata.catalog import SqlCatalog
from tests.integration.helpers import (
    DEFAULT_ACCOUNT,
    AwsCli,
    DistFactory,
    DistSpec,
    PypiRepo,
    ServerProcess,
    codeartifact_client,
    create_pypi_repo,
    files_under,
    unique_name,
    upload_ok,
)

JSON_V1 = {"Accept": "application/vnd.pypi.simple.v1+json"}


def _blob_on_disk(data_dir: Path, sha256: str) -> bool:
    """Whether the blob store keeps a file for ``sha256`` (files are named by the plaintext's
    sha256; with encryption at rest, on by default, their bytes are ciphertext)."""
    return any(sha256 in p.name for p in files_under(data_dir / "blobs"))


def _pkg(repo: PypiRepo, name: str) -> list[str]:
    return ["--domain", repo.domain, "--repository", repo.repository, "--format", "pypi",
            "--package", name]


def _files(repo: PypiRepo, name: str) -> list[str]:
    with repo.client() as http:
        page = http.get(repo.project_url(name), headers=JSON_V1)
    return [] if page.status_code == 404 else [f["filename"] for f in page.json()["files"]]


def test_delete_and_dispose_through_the_aws_cli(aws: AwsCli, api: Any, server: ServerProcess,
                                                dists: DistFactory) -> None:
    repo = create_pypi_repo(api, server.url, "lifecycle")
    name = unique_name("lc-pkg")
    v1, v2, v3 = (dists.wheel(DistSpec(name, v)) for v in ("1.0", "2.0", "3.0"))
    upload_ok(repo, v1, v2, v3)
    assert _files(repo, name) == [v1.filename, v2.filename, v3.filename]

    wrong = aws.json("codeartifact", "delete-package-versions", *_pkg(repo, name),
                     "--versions", "1.0", "--expected-status", "Archived")
    assert wrong == {"successfulVersions": {}, "failedVersions": {"1.0": {
        "errorCode": "MISMATCHED_STATUS",
        "errorMessage": "current status: Published, expected status: Archived"}}}
    unknown = aws.json("codeartifact", "delete-package-versions", *_pkg(repo, name),
                       "--versions", "9.9")
    assert unknown["failedVersions"] == {"9.9": {"errorCode": "NOT_FOUND",
                                                 "errorMessage": "Could not find version 9.9"}}

    deleted = aws.json("codeartifact", "delete-package-versions", *_pkg(repo, name),
                       "--versions", "1.0", "--expected-status", "Published")
    assert deleted["successfulVersions"]["1.0"]["status"] == "Deleted"
    assert _files(repo, name) == [v2.filename, v3.filename]
    with repo.client() as http:
        assert http.get(repo.project_url(name) + v1.filename).status_code == 404
    assert not _blob_on_disk(server.data_dir, v1.sha256)

    disposed = aws.json("codeartifact", "dispose-package-versions", *_pkg(repo, name),
                        "--versions", "2.0")
    assert disposed["successfulVersions"]["2.0"]["status"] == "Disposed"
    listed = aws.json("codeartifact", "list-package-versions", *_pkg(repo, name))
    assert {v["version"]: v["status"] for v in listed["versions"]} == {
        "2.0": "Disposed", "3.0": "Published"}
    assert _files(repo, name) == [v3.filename]
    assert not _blob_on_disk(server.data_dir, v2.sha256)

    upload_ok(repo, v1)  # a deleted version can be published again
    assert _files(repo, name) == [v1.filename, v3.filename]

    gone = aws.json("codeartifact", "delete-package", *_pkg(repo, name))
    assert gone["deletedPackage"]["package"] == name
    assert _files(repo, name) == []
    proc = aws.fails("codeartifact", "describe-package", *_pkg(repo, name))
    assert "ResourceNotFoundException" in proc.stderr


def test_promotion_from_staging_to_release_with_boto3(api: Any, server: ServerProcess,
                                                      dists: DistFactory) -> None:
    staging = create_pypi_repo(api, server.url, "promote")
    release = create_pypi_repo(api, server.url, "promote", domain=staging.domain)
    name = unique_name("promo-pkg")
    wheel = dists.wheel(DistSpec(name, "1.0"))
    upload_ok(staging, wheel)
    size_before = api.describe_domain(domain=staging.domain)["domain"]["assetSizeBytes"]
    args = {"domain": staging.domain, "sourceRepository": staging.repository,
            "destinationRepository": release.repository, "format": "pypi", "package": name}
    revision = api.describe_package_version(
        domain=staging.domain, repository=staging.repository, format="pypi", package=name,
        packageVersion="1.0")["packageVersion"]["revision"]
    copied = api.copy_package_versions(**args, versionRevisions={"1.0": revision})
    assert copied["successfulVersions"]["1.0"]["status"] == "Published"
    assert _files(release, name) == [wheel.filename]
    # No bytes copied: the domain holds the file once.
    assert api.describe_domain(domain=staging.domain)["domain"]["assetSizeBytes"] == \
        size_before
    with release.client() as http:
        assert http.get(release.project_url(name) + wheel.filename).content == wheel.data

    other = dists.wheel(DistSpec(name, "2.0"))
    upload_ok(staging, other)
    api.put_package_origin_configuration(
        domain=release.domain, repository=release.repository, format="pypi", package=name,
        restrictions={"publish": "BLOCK", "upstream": "BLOCK"})
    blocked = api.copy_package_versions(**args, versions=["2.0"])
    assert blocked["successfulVersions"] == {}
    assert blocked["failedVersions"]["2.0"]["errorCode"] == "NOT_ALLOWED"
    assert _files(release, name) == [wheel.filename]


def test_copy_over_an_existing_version_through_the_aws_cli(aws: AwsCli, api: Any,
                                                           server: ServerProcess,
                                                           dists: DistFactory) -> None:
    staging = create_pypi_repo(api, server.url, "overwrite")
    release = create_pypi_repo(api, server.url, "overwrite", domain=staging.domain)
    name = unique_name("ow-pkg")
    upload_ok(staging, dists.wheel(DistSpec(name, "1.0")))
    upload_ok(release, dists.wheel(DistSpec(name, "1.0", summary="a different build")))
    common = ["--domain", staging.domain, "--source-repository", staging.repository,
              "--destination-repository", release.repository, "--format", "pypi",
              "--package", name, "--versions", "1.0"]
    refused = aws.json("codeartifact", "copy-package-versions", *common)
    assert refused == {"successfulVersions": {}, "failedVersions": {"1.0": {
        "errorCode": "ALREADY_EXISTS", "errorMessage": "Version 1.0 already exists"}}}
    allowed = aws.json("codeartifact", "copy-package-versions", *common, "--allow-overwrite")
    assert allowed["successfulVersions"]["1.0"]["status"] == "Published"


def test_generic_packages_through_the_aws_cli(aws: AwsCli, api: Any, server: ServerProcess,
                                              tmp_path: Path) -> None:
    domain = unique_name("generic")
    api.create_domain(domain=domain)
    api.create_repository(domain=domain, repository="files")
    parts = {"part-1.bin": b"first part\n" * 1000, "part-2.bin": b"second part\n" * 1000}
    common = ["--domain", domain, "--repository", "files", "--format", "generic",
              "--namespace", "team", "--package", "bundle", "--package-version", "1.0"]
    for index, (asset, content) in enumerate(parts.items()):
        path = tmp_path / asset
        path.write_bytes(content)
        last = index == len(parts) - 1
        out = aws.json("codeartifact", "publish-package-version", *common,
                       "--asset-content", str(path), "--asset-name", asset,
                       "--asset-sha256", hashlib.sha256(content).hexdigest(),
                       *([] if last else ["--unfinished"]))
        assert out["status"] == ("Published" if last else "Unfinished")
        assert out["asset"]["size"] == len(content)

    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"not what was declared")
    proc = aws.fails("codeartifact", "publish-package-version", *common[:-1], "2.0",
                     "--asset-content", str(bad), "--asset-name", "bad.bin",
                     "--asset-sha256", "0" * 64)
    assert "ValidationException" in proc.stderr
    assert "does not match the SHA-256 the request declared" in proc.stderr

    listed = aws.json("codeartifact", "list-package-version-assets", *common)
    assert sorted(a["name"] for a in listed["assets"]) == sorted(parts)
    target = tmp_path / "out.bin"
    aws.json("codeartifact", "get-package-version-asset", *common, "--asset", "part-2.bin",
             str(target))
    assert target.read_bytes() == parts["part-2.bin"]
    versions = aws.json("codeartifact", "list-package-versions", "--domain", domain,
                        "--repository", "files", "--format", "generic", "--namespace", "team",
                        "--package", "bundle")
    assert {v["version"]: v["status"] for v in versions["versions"]} == {"1.0": "Published"}


def test_generic_publish_with_boto3(api: Any, server: ServerProcess) -> None:
    domain = unique_name("generic-b3")
    api.create_domain(domain=domain)
    api.create_repository(domain=domain, repository="files")
    content = b"\x00\x01binary" * 5000
    out = api.publish_package_version(
        domain=domain, repository="files", format="generic", namespace="team",
        package="tool", packageVersion="2.1.0", assetName="tool.tar.gz",
        assetContent=content, assetSHA256=hashlib.sha256(content).hexdigest())
    assert out["status"] == "Published"
    got = api.get_package_version_asset(domain=domain, repository="files", format="generic",
                                        namespace="team", package="tool",
                                        packageVersion="2.1.0", asset="tool.tar.gz")
    assert got["asset"].read() == content


def test_a_kill_between_a_deletion_and_its_sweep_is_finished_by_the_next_start(
        server_factory: Any, dists: DistFactory) -> None:
    first = server_factory()
    repo = create_pypi_repo(codeartifact_client(first.url), first.url, "sweep")
    name = unique_name("sweep-pkg")
    v1, v2 = dists.wheel(DistSpec(name, "1.0")), dists.wheel(DistSpec(name, "2.0"))
    upload_ok(repo, v1, v2)
    first.kill()
    # What the server had done when it died: the deletion committed (its blobs queued), the
    # sweep not run.
    catalog = SqlCatalog(f"sqlite:///{first.data_dir / 'packyard.db'}")
    try:
        domain = catalog.get_domain(DEFAULT_ACCOUNT, repo.domain, with_stats=False)
        repository = catalog.get_repository(domain, repo.repository)
        package = catalog.find_package(repository.id, "pypi", "", name)
        assert package is not None
        changes = catalog.change_versions(
            package, {"1.0": PypiFormat().normalize_version("1.0")}, lambda current: plan_delete(["1.0"], current),
            datetime.now(UTC))
        assert changes.freed
    finally:
        catalog.dispose()
    assert _blob_on_disk(first.data_dir, v1.sha256)

    second = server_factory(data_dir=first.data_dir)
    assert not _blob_on_disk(first.data_dir, v1.sha256)
    assert _blob_on_disk(first.data_dir, v2.sha256)
    moved = PypiRepo(second.url, repo.domain, repo.repository,
                     repo.endpoint.replace(first.url, second.url), repo.token)
    assert _files(moved, name) == [v2.filename]

    # A kill right after a deletion answered leaves it done.
    codeartifact_client(second.url).delete_package_versions(
        domain=repo.domain, repository=repo.repository, format="pypi", package=name,
        versions=["2.0"])
    second.kill()
    third = server_factory(data_dir=first.data_dir)
    assert not _blob_on_disk(first.data_dir, v2.sha256)
    again = PypiRepo(third.url, repo.domain, repo.repository,
                     repo.endpoint.replace(first.url, third.url), repo.token)
    assert _files(again, name) == []



def test_every_worker_drops_a_deleted_version_at_once(server_factory: Any,
                                                      dists: DistFactory) -> None:
    srv = server_factory(env={"PACKYARD_WORKERS": "2"})
    api = codeartifact_client(srv.url)
    repo = create_pypi_repo(api, srv.url, "workers-lc")
    name = unique_name("wlc-pkg")
    v1, v2 = dists.wheel(DistSpec(name, "1.0")), dists.wheel(DistSpec(name, "2.0"))
    upload_ok(repo, v1, v2)
    # Read on new connections, so both workers render (and cache) the page and the file.
    for _ in range(12):
        assert _files(repo, name) == [v1.filename, v2.filename]
        with repo.client() as http:
            assert http.get(repo.project_url(name) + v1.filename).status_code == 200
    api.delete_package_versions(domain=repo.domain, repository=repo.repository,
                                format="pypi", package=name, versions=["1.0"])
    # No waiting: the next read of every worker sees it.
    for _ in range(12):
        assert _files(repo, name) == [v2.filename]
        with repo.client() as http:
            assert http.get(repo.project_url(name) + v1.filename).status_code == 404
