"""``PypiPublisher`` on a real catalog and blob store, called the way the upload route and
``packyard import`` call it: what is recorded, what is refused, and that staged bytes are
consumed either way."""

from __future__ import annotations

from pathlib import Path

import pytest

from packyard.bootstrap import Container
from packyard.errors import Conflict, Denied, Invalid, TooLarge
from packyard.formats.pypi.publish import PublishOutcome, PypiPublisher
from packyard.model import Domain, Repository
from tests.inprocess.harness import ROOT_PRINCIPAL
from tests.inprocess.service_support import iam_user, upload_form
from tests.integration.helpers import DistFactory, DistSpec, build_wheel

PKG = DistSpec(name="Pkg.Name", version="1.0", requires_dist=("idna>=3",), readme="# Hi")


@pytest.fixture
def shelf(container: Container) -> tuple[Domain, Repository]:
    registry = container.registry
    domain = registry.create_domain(ROOT_PRINCIPAL, "acme")
    return domain, registry.create_repository(ROOT_PRINCIPAL, "acme", "shelf", None)


def _staging(container: Container) -> list[Path]:
    return list((container.settings.blob_dir / ".staging").iterdir())


def test_publish_records_the_version_its_asset_and_metadata(
        container: Container, publisher: PypiPublisher, shelf: tuple[Domain, Repository],
        dists: DistFactory) -> None:
    domain, repo = shelf
    wheel = dists.wheel(PKG)
    outcome = publisher.publish(
        ROOT_PRINCIPAL, domain, repo, upload_form(container.registry.blobs, wheel))
    assert outcome == PublishOutcome(wheel.filename, created=True)
    catalog = container.catalog
    package = catalog.find_package(repo.id, "pypi", "", "pkg-name")
    assert package is not None and package.display_name == "Pkg.Name"
    version = catalog.get_version(package.id, "1")
    assert version is not None
    assert (version.version, version.readme, version.dependencies) == (
        "1.0", "# Hi", [{"package": "idna", "dependencyType": "Requires-Dist",
                         "versionRequirement": ">=3"}])
    [asset] = catalog.list_assets(version.id)
    assert (asset.name, asset.sha256, asset.size) == (wheel.filename, wheel.sha256,
                                                     len(wheel.data))
    assert container.registry.blobs.exists(domain.blob_key, wheel.sha256)
    assert _staging(container) == []


def test_identical_file_again_is_not_created_twice(
        container: Container, publisher: PypiPublisher, shelf: tuple[Domain, Repository],
        dists: DistFactory) -> None:
    domain, repo = shelf
    blobs = container.registry.blobs
    wheel = dists.wheel(PKG)
    publisher.publish(ROOT_PRINCIPAL, domain, repo, upload_form(blobs, wheel))
    again = publisher.publish(ROOT_PRINCIPAL, domain, repo, upload_form(blobs, wheel))
    assert again == PublishOutcome(wheel.filename, created=False)
    assert _staging(container) == []


def test_other_bytes_under_a_taken_name_conflict(
        container: Container, publisher: PypiPublisher, shelf: tuple[Domain, Repository],
        dists: DistFactory,
        tmp_path: Path) -> None:
    domain, repo = shelf
    blobs = container.registry.blobs
    publisher.publish(ROOT_PRINCIPAL, domain, repo, upload_form(blobs, dists.wheel(PKG)))
    changed = build_wheel(DistSpec(name="Pkg.Name", version="1.0", summary="other"), tmp_path)
    with pytest.raises(Conflict, match="File already exists: pkg_name-1.0-py3-none-any.whl "
                                       "was uploaded before with other content"):
        publisher.publish(ROOT_PRINCIPAL, domain, repo, upload_form(blobs, changed))
    assert _staging(container) == []


def test_caller_without_permission_is_refused_before_the_archive_is_read(
        container: Container, publisher: PypiPublisher, shelf: tuple[Domain, Repository],
        dists: DistFactory) -> None:
    domain, repo = shelf
    reader = iam_user(container, "reader", {
        "Effect": "Allow", "Action": "codeartifact:ReadFromRepository", "Resource": "*"})
    # The bytes are no archive at all: a refusal for them would mean they were opened.
    form = upload_form(container.registry.blobs, dists.wheel(PKG), content=b"junk",
                       fields={"sha256_digest": None, "blake2_256_digest": None})
    with pytest.raises(Denied, match="is not authorized to perform: "
                                     "codeartifact:PublishPackageVersion on resource: "
                                     "arn:aws:codeartifact:us-east-1:000000000000:package/"
                                     "acme/shelf/pypi//pkg-name because"):
        publisher.publish(reader, domain, repo, form)
    assert _staging(container) == []


@pytest.mark.parametrize(("fields", "content", "error", "message"), [
    pytest.param({"version": "2.0"}, None, Invalid, "Version in filename should be '2.0'",
                 id="form-and-filename"),
    pytest.param({"sha256_digest": None, "blake2_256_digest": None}, b"junk", Invalid,
                 "is not a valid wheel", id="not-an-archive"),
    pytest.param({"sha256_digest": "0" * 64}, None, Invalid,
                 "The sha256_digest supplied does not match", id="digest"),
])
def test_each_refusal_consumes_the_staged_bytes(
        container: Container, publisher: PypiPublisher, shelf: tuple[Domain, Repository],
        dists: DistFactory,
        fields: dict[str, str | None], content: bytes | None, error: type[Exception],
        message: str) -> None:
    domain, repo = shelf
    form = upload_form(container.registry.blobs, dists.wheel(PKG), fields=fields,
                       content=content)
    with pytest.raises(error, match=message):
        publisher.publish(ROOT_PRINCIPAL, domain, repo, form)
    assert _staging(container) == []
    assert container.catalog.list_packages(repo.id) == []


def test_file_over_the_publishers_limit_is_too_large(
        container: Container, publisher: PypiPublisher, shelf: tuple[Domain, Repository],
        dists: DistFactory) -> None:
    domain, repo = shelf
    wheel = dists.wheel(PKG)
    publisher.max_upload_bytes = len(wheel.data) - 1
    with pytest.raises(TooLarge, match=f"File too large: {wheel.filename} is "):
        publisher.publish(ROOT_PRINCIPAL, domain, repo,
                          upload_form(container.registry.blobs, wheel))
    assert _staging(container) == []


def test_blocked_package_refuses_new_versions(
        container: Container, publisher: PypiPublisher, shelf: tuple[Domain, Repository],
        dists: DistFactory) -> None:
    domain, repo = shelf
    container.registry.put_package_origin_configuration(
        ROOT_PRINCIPAL, "acme", "shelf", "pypi", None, "pkg-name", "BLOCK", "ALLOW")
    with pytest.raises(Denied, match="Publishing Pkg.Name to repository shelf is blocked by "
                                     "the package's origin configuration"):
        publisher.publish(ROOT_PRINCIPAL, domain, repo,
                          upload_form(container.registry.blobs,
                                                     dists.wheel(PKG)))
    assert _staging(container) == []


def test_checked_files_are_published_together(
        container: Container, publisher: PypiPublisher, shelf: tuple[Domain, Repository],
        dists: DistFactory) -> None:
    domain, repo = shelf
    blobs = container.registry.blobs
    files = [dists.wheel(PKG), dists.sdist(PKG),
             dists.wheel(DistSpec(name="Pkg.Name", version="1.1"))]
    checked = []
    for dist in files:
        staged = blobs.stage()
        staged.write(dist.data)
        checked.append(publisher.check_file(ROOT_PRINCIPAL, domain, repo, staged,
                                            dist.filename))
    answers = publisher.publish_checked(domain, repo, checked)
    assert answers == [PublishOutcome(d.filename, created=True) for d in files]
    package = container.catalog.find_package(repo.id, "pypi", "", "pkg-name")
    assert package is not None
    assert sorted(v.version for v in container.catalog.list_versions(package.id)) == [
        "1.0", "1.1"]
    assert _staging(container) == []


def test_check_file_refuses_what_an_upload_would(
        container: Container, publisher: PypiPublisher, shelf: tuple[Domain, Repository],
        dists: DistFactory) -> None:
    domain, repo = shelf
    blobs = container.registry.blobs
    staged = blobs.stage()
    staged.write(b"junk")
    with pytest.raises(Invalid, match="pkg_name-1.0-py3-none-any.whl is not a valid wheel"):
        publisher.check_file(ROOT_PRINCIPAL, domain, repo, staged,
                                            "pkg_name-1.0-py3-none-any.whl")
    assert _staging(container) == []
