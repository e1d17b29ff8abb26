"""``Operations.call``, the CodeArtifact handlers behind the HTTP endpoint, with parameters as the
protocol layer hands them over: each renders its service's result in the model's output shape."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from packyard.api.codeartifact.operations import CallContext, Operations, StreamResult
from packyard.api.codeartifact.policy_operations import PolicyOperations
from packyard.api.codeartifact.protocol import service_model
from packyard.bootstrap import Container
from packyard.errors import Invalid, NotFound
from packyard.services.permissions_policies import PermissionsPolicies
from tests.inprocess.harness import ROOT_PRINCIPAL
from tests.inprocess.service_support import policy, upload_form
from tests.integration.helpers import DistFactory, DistSpec

CTX = CallContext(principal=ROOT_PRINCIPAL, base_url="https://pkgs.example",
                  source_ip="127.0.0.1")


@pytest.fixture
def ops(container: Container) -> PolicyOperations:
    registry = container.registry
    assert container.iam_store is not None
    permissions = PermissionsPolicies(registry, container.iam_store, registry.authorizer,
                                      registry.arns, registry.clock)
    operations = PolicyOperations(registry, permissions)
    operations.call("CreateDomain", CTX, {"domain": "acme"})
    operations.call("CreateRepository", CTX, {"domain": "acme", "repository": "shelf"})
    return operations


def test_every_handled_operation_is_in_botocores_model(ops: PolicyOperations) -> None:
    assert set(ops.handlers) <= set(service_model().operation_names)


def test_unhandled_operation_is_invalid(ops: PolicyOperations) -> None:
    with pytest.raises(Invalid, match="The operation TagResource is not supported by Packyard "
                                      "yet"):
        ops.call("TagResource", CTX, {})


def test_plain_operations_have_no_permissions_policies(container: Container) -> None:
    plain = Operations(container.registry)
    with pytest.raises(Invalid, match="The operation PutDomainPermissionsPolicy is not "
                                      "supported by Packyard yet"):
        plain.call("PutDomainPermissionsPolicy", CTX, {"domain": "acme",
                                                       "policyDocument": "{}"})


def test_domain_description_shape(ops: PolicyOperations) -> None:
    described = ops.call("DescribeDomain", CTX, {"domain": "acme"})["domain"]
    assert set(described) == {"name", "owner", "arn", "status", "createdTime",
                              "encryptionKey", "repositoryCount", "assetSizeBytes"}
    assert described["repositoryCount"] == 1


def test_list_pages_with_an_opaque_token(ops: PolicyOperations) -> None:
    for name in ("a1", "a2", "a3"):
        ops.call("CreateRepository", CTX, {"domain": "acme", "repository": name})
    first = ops.call("ListRepositoriesInDomain", CTX, {"domain": "acme", "maxResults": 3})
    assert [r["name"] for r in first["repositories"]] == ["a1", "a2", "a3"]
    second = ops.call("ListRepositoriesInDomain", CTX, {"domain": "acme", "maxResults": 3,
                                                        "nextToken": first["nextToken"]})
    assert ([r["name"] for r in second["repositories"]], second["nextToken"]) == (["shelf"],
                                                                                   None)


def test_endpoint_uses_the_calls_base_url(ops: PolicyOperations) -> None:
    out = ops.call("GetRepositoryEndpoint", CTX, {"domain": "acme", "repository": "shelf",
                                                  "format": "pypi"})
    assert out == {"repositoryEndpoint": "https://pkgs.example/acme-000000000000/pypi/shelf/"}


def test_asset_is_a_stream_of_the_stored_bytes(container: Container, ops: PolicyOperations,
                                               dists: DistFactory) -> None:
    wheel = dists.wheel(DistSpec(name="pkg", version="1.0"))
    domain, repo = container.registry.get_repository("acme", "shelf")
    container.pypi.publisher.publish(ROOT_PRINCIPAL, domain, repo,
                                     upload_form(container.registry.blobs, wheel))
    result = ops.call("GetPackageVersionAsset", CTX, {
        "domain": "acme", "repository": "shelf", "format": "pypi", "package": "pkg",
        "packageVersion": "1.0", "asset": wheel.filename})
    assert isinstance(result, StreamResult)
    assert (result.size, result.headers["X-AssetName"]) == (len(wheel.data), wheel.filename)

    async def read_all() -> bytes:
        return b"".join([chunk async for chunk in result.body])

    assert anyio.run(read_all) == wheel.data


def test_delete_repository_describes_what_it_removed(ops: PolicyOperations) -> None:
    ops.call("CreateRepository", CTX, {"domain": "acme", "repository": "top",
                                       "upstreams": [{"repositoryName": "shelf"}]})
    ops.call("AssociateExternalConnection", CTX, {"domain": "acme", "repository": "shelf",
                                                  "externalConnection": "public:pypi"})
    top = ops.call("DeleteRepository", CTX, {"domain": "acme", "repository": "top"})
    assert top["repository"]["upstreams"] == [{"repositoryName": "shelf"}]
    shelf = ops.call("DeleteRepository", CTX, {"domain": "acme", "repository": "shelf"})
    assert [c["externalConnectionName"] for c in shelf["repository"][
        "externalConnections"]] == ["public:pypi"]
    with pytest.raises(NotFound):
        ops.call("DescribeRepository", CTX, {"domain": "acme", "repository": "shelf"})


def test_permissions_policy_round_trip(ops: PolicyOperations) -> None:
    document = policy({"Effect": "Allow", "Principal": "*",
                       "Action": "codeartifact:ReadFromRepository", "Resource": "*"})
    put: Any = ops.call("PutRepositoryPermissionsPolicy", CTX, {
        "domain": "acme", "repository": "shelf", "policyDocument": document})
    got = ops.call("GetRepositoryPermissionsPolicy", CTX, {"domain": "acme",
                                                           "repository": "shelf"})
    assert got == put
    assert got["policy"]["resourceArn"] == (
        "arn:aws:codeartifact:us-east-1:000000000000:repository/acme/shelf")
