"""Repositories through the real AWS CLI and boto3: create, describe, update, list, delete."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.integration.helpers import DEFAULT_ACCOUNT, DEFAULT_REGION, AwsCli, unique_name

REPO_ARN = f"arn:aws:codeartifact:{DEFAULT_REGION}:{DEFAULT_ACCOUNT}:repository/"


def _client_error(call: Any, **kwargs: Any) -> ClientError:
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    return info.value


@pytest.fixture
def domain(api: Any) -> str:
    name = unique_name("rd")
    api.create_domain(domain=name)
    return name


def _assert_description(repo: dict[str, Any], domain: str, name: str, description: str) -> None:
    assert repo["name"] == name
    assert repo["domainName"] == domain
    assert repo["domainOwner"] == DEFAULT_ACCOUNT
    assert repo["administratorAccount"] == DEFAULT_ACCOUNT
    assert repo["arn"] == f"{REPO_ARN}{domain}/{name}"
    assert repo["description"] == description


def test_create_repository_with_description_via_cli(aws: AwsCli, domain: str) -> None:
    out = aws.json("codeartifact", "create-repository", "--domain", domain,
                   "--repository", "my-repo", "--description", "Team packages")["repository"]
    _assert_description(out, domain, "my-repo", "Team packages")
    assert out["upstreams"] == []
    assert out["externalConnections"] == []


def test_describe_repository(api: Any, domain: str) -> None:
    api.create_repository(domain=domain, repository="Desc.Repo_1", description="first")
    repo = api.describe_repository(domain=domain, repository="Desc.Repo_1")["repository"]
    _assert_description(repo, domain, "Desc.Repo_1", "first")
    assert repo["upstreams"] == []
    assert repo["externalConnections"] == []
    created = repo["createdTime"]
    assert created.tzinfo is not None
    assert abs(datetime.now(UTC) - created) < timedelta(minutes=5)


def test_describe_repository_with_the_cli(aws: AwsCli, api: Any, domain: str) -> None:
    api.create_repository(domain=domain, repository="clirepo", description="via boto3")
    out = aws.json("codeartifact", "describe-repository", "--domain", domain,
                   "--repository", "clirepo", "--domain-owner", DEFAULT_ACCOUNT)["repository"]
    _assert_description(out, domain, "clirepo", "via boto3")


def test_update_repository_description(api: Any, aws: AwsCli, domain: str) -> None:
    api.create_repository(domain=domain, repository="upd", description="before")
    out = aws.json("codeartifact", "update-repository", "--domain", domain,
                   "--repository", "upd", "--description", "after")["repository"]
    _assert_description(out, domain, "upd", "after")
    described = api.describe_repository(domain=domain, repository="upd")["repository"]
    assert described["description"] == "after"


def test_update_missing_repository_is_not_found(api: Any, domain: str) -> None:
    err = _client_error(api.update_repository, domain=domain, repository="nope",
                        description="x")
    assert err.response["Error"]["Code"] == "ResourceNotFoundException"


def test_list_repositories_in_domain(api: Any, aws: AwsCli, domain: str) -> None:
    other = unique_name("other")
    api.create_domain(domain=other)
    api.create_repository(domain=domain, repository="alpha", description="A")
    api.create_repository(domain=domain, repository="beta")
    api.create_repository(domain=other, repository="gamma")
    out = aws.json("codeartifact", "list-repositories-in-domain", "--domain", domain)
    by_name = {r["name"]: r for r in out["repositories"]}
    assert set(by_name) == {"alpha", "beta"}
    alpha = by_name["alpha"]
    assert alpha["arn"] == f"{REPO_ARN}{domain}/alpha"
    assert alpha["domainName"] == domain
    assert alpha["domainOwner"] == DEFAULT_ACCOUNT
    assert alpha["administratorAccount"] == DEFAULT_ACCOUNT
    assert alpha["description"] == "A"
    assert "createdTime" in alpha


def test_list_repositories_in_domain_with_prefix_and_pages(api: Any, domain: str) -> None:
    for name in ("app-one", "app-two", "app-three", "lib-one"):
        api.create_repository(domain=domain, repository=name)
    prefixed = api.list_repositories_in_domain(domain=domain, repositoryPrefix="app-")
    assert sorted(r["name"] for r in prefixed["repositories"]) == ["app-one", "app-three",
                                                                   "app-two"]
    seen: list[str] = []
    kwargs: dict[str, Any] = {"domain": domain, "maxResults": 1}
    for _ in range(10):
        page = api.list_repositories_in_domain(**kwargs)
        assert len(page["repositories"]) <= 1
        seen.extend(r["name"] for r in page["repositories"])
        if not page.get("nextToken"):
            break
        kwargs["nextToken"] = page["nextToken"]
    assert sorted(seen) == ["app-one", "app-three", "app-two", "lib-one"]


def test_list_repositories_across_domains(api: Any, aws: AwsCli, domain: str) -> None:
    other = unique_name("across")
    api.create_domain(domain=other)
    api.create_repository(domain=domain, repository="shared-name")
    api.create_repository(domain=other, repository="shared-name")
    out = aws.json("codeartifact", "list-repositories", "--repository-prefix", "shared-name")
    arns = {r["arn"] for r in out["repositories"]}
    assert {f"{REPO_ARN}{domain}/shared-name", f"{REPO_ARN}{other}/shared-name"} <= arns
    assert all(r["name"].startswith("shared-name") for r in out["repositories"])


def test_list_repositories_in_missing_domain_is_not_found(api: Any) -> None:
    err = _client_error(api.list_repositories_in_domain, domain=unique_name("gone"))
    assert err.response["Error"]["Code"] == "ResourceNotFoundException"
    assert err.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_delete_repository(api: Any, aws: AwsCli, domain: str) -> None:
    api.create_repository(domain=domain, repository="doomed", description="bye")
    out = aws.json("codeartifact", "delete-repository", "--domain", domain,
                   "--repository", "doomed")["repository"]
    _assert_description(out, domain, "doomed", "bye")
    err = _client_error(api.describe_repository, domain=domain, repository="doomed")
    assert err.response["Error"]["Code"] == "ResourceNotFoundException"
    assert err.response.get("resourceType") == "repository"
    assert api.list_repositories_in_domain(domain=domain)["repositories"] == []


def test_describe_missing_repository(api: Any, aws: AwsCli, domain: str) -> None:
    err = _client_error(api.describe_repository, domain=domain, repository="absent")
    assert err.response["Error"]["Code"] == "ResourceNotFoundException"
    assert err.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert "absent" in err.response["Error"]["Message"]
    proc = aws.fails("codeartifact", "describe-repository", "--domain", domain,
                     "--repository", "absent")
    assert ("An error occurred (ResourceNotFoundException) when calling the "
            "DescribeRepository operation") in proc.stderr


def test_delete_missing_repository_is_not_found(api: Any, domain: str) -> None:
    err = _client_error(api.delete_repository, domain=domain, repository="absent")
    assert err.response["Error"]["Code"] == "ResourceNotFoundException"


def test_create_repository_in_missing_domain_is_not_found(api: Any) -> None:
    missing = unique_name("nodomain")
    err = _client_error(api.create_repository, domain=missing, repository="rr")
    assert err.response["Error"]["Code"] == "ResourceNotFoundException"
    assert err.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert missing in err.response["Error"]["Message"]


def test_create_existing_repository_is_a_conflict(api: Any, aws: AwsCli, domain: str) -> None:
    api.create_repository(domain=domain, repository="twice")
    err = _client_error(api.create_repository, domain=domain, repository="twice")
    assert err.response["Error"]["Code"] == "ConflictException"
    assert err.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    proc = aws.fails("codeartifact", "create-repository", "--domain", domain,
                     "--repository", "twice")
    assert "(ConflictException) when calling the CreateRepository operation" in proc.stderr


@pytest.mark.parametrize(("bad", "shown"), [
    pytest.param("-leading-hyphen", "-leading-hyphen", id="leading-hyphen"),
    pytest.param("has space", "has space", id="space"),
    pytest.param("slash/inside", "slash/inside", id="slash"),
    pytest.param("r" * 101, "100", id="too-long"),
])
def test_invalid_repository_name_is_a_validation_error(api: Any, domain: str, bad: str,
                                                       shown: str) -> None:
    err = _client_error(api.create_repository, domain=domain, repository=bad)
    assert err.response["Error"]["Code"] == "ValidationException"
    assert err.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    message = err.response["Error"]["Message"]
    assert "repository" in message.lower() and shown in message, message
    assert api.list_repositories_in_domain(domain=domain)["repositories"] == []


def test_too_long_description_is_a_validation_error(api: Any, domain: str) -> None:
    # The model caps Description at 1000 characters; botocore does not check the maximum.
    err = _client_error(api.create_repository, domain=domain, repository="wordy",
                        description="d" * 1001)
    assert err.response["Error"]["Code"] == "ValidationException"
    assert "description" in err.response["Error"]["Message"].lower()
