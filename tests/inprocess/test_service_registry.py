"""``Registry`` (domains, repositories, tokens, package reads) on a real catalog and blob store:
what each method does to the store, and that it asks the authorizer before anything else."""

from __future__ import annotations

from typing import Any

import pytest

from packyard.bootstrap import Container
from packyard.errors import Conflict, Denied, Invalid, NotFound
from packyard.formats.pypi.publish import PypiPublisher
from packyard.model import Domain, Repository
from tests.inprocess.harness import ROOT_PRINCIPAL
from tests.inprocess.service_support import iam_user, upload_form
from tests.integration.helpers import DistFactory, DistSpec

ROOT = ROOT_PRINCIPAL


@pytest.fixture
def registry(container: Container) -> Any:
    return container.registry


def _publish(container: Container, domain: Domain, repo: Repository, dists: DistFactory,
             spec: DistSpec) -> str:
    wheel = dists.wheel(spec)
    publisher = PypiPublisher(container.registry, container.settings.max_upload_bytes)
    publisher.publish(ROOT, domain, repo, upload_form(container.registry.blobs, wheel))
    return wheel.sha256


def test_domain_lifecycle(registry: Any) -> None:
    created = registry.create_domain(ROOT, "acme")
    assert (created.name, created.owner, created.status) == ("acme", "000000000000", "Active")
    assert registry.describe_domain(ROOT, "acme").repository_count == 0
    assert [d.name for d in registry.list_domains(ROOT)] == ["acme"]
    assert registry.delete_domain(ROOT, "acme").status == "Deleted"
    with pytest.raises(NotFound, match="Domain acme not found"):
        registry.describe_domain(ROOT, "acme")


def test_deleting_a_repository_deletes_the_blobs_only_it_used(
        container: Container, registry: Any, dists: DistFactory) -> None:
    domain = registry.create_domain(ROOT, "acme")
    one = registry.create_repository(ROOT, "acme", "one", None)
    two = registry.create_repository(ROOT, "acme", "two", None)
    shared = _publish(container, domain, one, dists, DistSpec(name="shared", version="1.0"))
    _publish(container, domain, two, dists, DistSpec(name="shared", version="1.0"))
    own = _publish(container, domain, one, dists, DistSpec(name="own", version="1.0"))
    registry.delete_repository(ROOT, "acme", "one")
    blobs = registry.blobs
    assert (blobs.exists(domain.blob_key, shared), blobs.exists(domain.blob_key, own)) == (
        True, False)
    # Counted once per domain, whatever the number of repositories holding it.
    assert registry.describe_domain(ROOT, "acme").asset_size_bytes == len(
        dists.wheel(DistSpec(name="shared", version="1.0")).data)


def test_deleting_a_domain_deletes_its_blobs(container: Container, registry: Any,
                                             dists: DistFactory) -> None:
    domain = registry.create_domain(ROOT, "acme")
    repo = registry.create_repository(ROOT, "acme", "one", None)
    sha = _publish(container, domain, repo, dists, DistSpec(name="pkg", version="1.0"))
    registry.delete_repository(ROOT, "acme", "one")
    registry.delete_domain(ROOT, "acme")
    assert not registry.blobs.exists(domain.blob_key, sha)


def test_upstreams_are_replaced_and_checked_for_cycles(registry: Any) -> None:
    registry.create_domain(ROOT, "acme")
    for name in ("base", "mid"):
        registry.create_repository(ROOT, "acme", name, None)
    top = registry.create_repository(ROOT, "acme", "top", None, upstreams=["mid"])
    registry.update_repository(ROOT, "acme", "mid", None, upstreams=["base"])
    assert registry.repository_links(top).upstreams == ["mid"]
    with pytest.raises(Invalid, match="Upstream repositories cannot form a cycle: "
                                      "base -> top -> mid -> base"):
        registry.update_repository(ROOT, "acme", "base", None, upstreams=["top"])


def test_token_is_issued_for_the_domain_and_resolves_to_it(container: Container,
                                                           registry: Any) -> None:
    domain = registry.create_domain(ROOT, "acme")
    issued = registry.get_authorization_token(ROOT, "acme", 900)
    record = registry.tokens.resolve(issued.token, registry.clock.now())
    assert (record.domain_id, record.principal_arn) == (domain.id, ROOT.arn)


def test_repository_endpoint_uses_the_formats_url_segment(registry: Any) -> None:
    registry.create_domain(ROOT, "acme")
    registry.create_repository(ROOT, "acme", "shelf", None)
    assert registry.get_repository_endpoint(ROOT, "acme", "shelf", "pypi",
                                            "https://pkgs.example/") == (
        "https://pkgs.example/acme-000000000000/pypi/shelf/")


def test_versions_sort_by_pep_440_not_by_text(container: Container, registry: Any,
                                              dists: DistFactory) -> None:
    domain = registry.create_domain(ROOT, "acme")
    repo = registry.create_repository(ROOT, "acme", "shelf", None)
    for version in ("1.10", "1.9", "1.10rc1"):
        _publish(container, domain, repo, dists, DistSpec(name="pkg", version=version))
    _, versions = registry.list_package_versions(ROOT, "acme", "shelf", "pypi", None, "PKG")
    assert [v.version for v in versions] == ["1.9", "1.10rc1", "1.10"]


# -- the authorizer first -----------------------------------------------------------------------

@pytest.mark.parametrize(("call", "args", "action", "resource"), [
    pytest.param("create_domain", ("acme",), "codeartifact:CreateDomain", "domain/acme",
                 id="create-domain"),
    pytest.param("describe_domain", ("nowhere",), "codeartifact:DescribeDomain",
                 "domain/nowhere", id="describe-missing-domain"),
    pytest.param("create_repository", ("nowhere", "r1", None), "codeartifact:CreateRepository",
                 "repository/nowhere/r1", id="repository-in-missing-domain"),
    pytest.param("describe_repository", ("acme", "absent"), "codeartifact:DescribeRepository",
                 "repository/acme/absent", id="describe-missing-repository"),
    pytest.param("get_authorization_token", ("nowhere", None),
                 "codeartifact:GetAuthorizationToken", "domain/nowhere", id="token"),
    pytest.param("describe_package", ("acme", "absent", "pypi", None, "Some_Pkg"),
                 "codeartifact:DescribePackage", "package/acme/absent/pypi//some-pkg",
                 id="describe-missing-package"),
])
def test_a_caller_without_permission_learns_nothing_of_what_exists(
        container: Container, registry: Any, call: str, args: tuple[Any, ...], action: str,
        resource: str) -> None:
    registry.create_domain(ROOT, "acme")
    nobody = iam_user(container, "nobody")
    with pytest.raises(Denied) as info:
        getattr(registry, call)(nobody, *args)
    assert info.value.message == (
        f"User: {nobody.arn} is not authorized to perform: {action} on resource: "
        f"arn:aws:codeartifact:us-east-1:000000000000:{resource} because no identity-based "
        f"policy allows the {action} action")


def test_upstream_needs_associate_permission_on_the_upstream(container: Container,
                                                             registry: Any) -> None:
    registry.create_domain(ROOT, "acme")
    registry.create_repository(ROOT, "acme", "base", None)
    builder = iam_user(container, "builder", {
        "Effect": "Allow", "Action": "codeartifact:CreateRepository", "Resource": "*"})
    with pytest.raises(Denied, match="codeartifact:AssociateWithDownstreamRepository on "
                                     "resource: arn:aws:codeartifact:us-east-1:000000000000:"
                                     "repository/acme/base"):
        registry.create_repository(builder, "acme", "top", None, upstreams=["base"])


@pytest.mark.parametrize(("call", "args", "message"), [
    pytest.param("create_domain", ("Bad_Name",), "Invalid domain name 'Bad_Name': 2-50 "
                 "characters, lowercase letters, digits and hyphens, starting with a letter and "
                 "not ending with a hyphen", id="domain"),
    pytest.param("create_repository", ("acme", "-bad", None), "Invalid repository name '-bad': "
                 "2-100 characters, letters, digits, '.', '_' and '-', starting with a letter or "
                 "digit", id="repository"),
    pytest.param("create_repository", ("acme", "shelf", "x" * 1001),
                 "description must be at most 1000 characters", id="long-description"),
    pytest.param("create_repository", ("acme", "shelf", "tab\tok but bell\x07 not"),
                 "description must not contain control characters", id="control-character"),
])
def test_names_are_checked_by_the_service_too(registry: Any, call: str, args: tuple[Any, ...],
                                              message: str) -> None:
    # The API's model checks them first; the offline commands reach the service directly.
    registry.create_domain(ROOT, "acme")
    with pytest.raises(Invalid) as info:
        getattr(registry, call)(ROOT, *args)
    assert info.value.message == message


def test_same_repository_twice_conflicts(registry: Any) -> None:
    registry.create_domain(ROOT, "acme")
    registry.create_repository(ROOT, "acme", "shelf", None)
    with pytest.raises(Conflict, match="Repository shelf already exists in domain acme"):
        registry.create_repository(ROOT, "acme", "shelf", None)
