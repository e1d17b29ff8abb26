"""Domains through the real AWS CLI and boto3: create, describe, list, delete, and their errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.integration.helpers import DEFAULT_ACCOUNT, DEFAULT_REGION, AwsCli, unique_name

DOMAIN_ARN = f"arn:aws:codeartifact:{DEFAULT_REGION}:{DEFAULT_ACCOUNT}:domain/"


def _client_error(call: Any, **kwargs: Any) -> ClientError:
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    return info.value


def _assert_recent(value: datetime) -> None:
    assert value.tzinfo is not None, "timestamps must carry a timezone"
    assert abs(datetime.now(UTC) - value) < timedelta(minutes=5), value


def test_create_domain_with_the_cli_returns_the_description(aws: AwsCli) -> None:
    domain = unique_name("cli")
    out = aws.json("codeartifact", "create-domain", "--domain", domain)["domain"]
    assert out["name"] == domain
    assert out["owner"] == DEFAULT_ACCOUNT
    assert out["arn"] == DOMAIN_ARN + domain
    assert out["status"] == "Active"
    assert out["repositoryCount"] == 0
    assert out["assetSizeBytes"] == 0
    assert "createdTime" in out


def test_describe_domain_carries_every_applicable_field(api: Any) -> None:
    domain = unique_name("desc")
    api.create_domain(domain=domain)
    described = api.describe_domain(domain=domain)["domain"]
    assert described["name"] == domain
    assert described["owner"] == DEFAULT_ACCOUNT
    assert described["arn"] == DOMAIN_ARN + domain
    assert described["status"] == "Active"
    assert described["repositoryCount"] == 0
    assert described["assetSizeBytes"] == 0
    _assert_recent(described["createdTime"])


def test_describe_domain_accepts_the_domain_owner(api: Any) -> None:
    domain = unique_name("owner")
    api.create_domain(domain=domain)
    described = api.describe_domain(domain=domain, domainOwner=DEFAULT_ACCOUNT)["domain"]
    assert described["name"] == domain


def test_domain_reports_an_encryption_key_arn(api: Any) -> None:
    # CodeArtifact always reports the KMS key that encrypts a domain's assets.
    domain = unique_name("kms")
    created = api.create_domain(domain=domain)["domain"]
    assert created.get("encryptionKey", "").startswith(
        f"arn:aws:kms:{DEFAULT_REGION}:{DEFAULT_ACCOUNT}:"), created
    assert api.describe_domain(domain=domain)["domain"]["encryptionKey"] == created["encryptionKey"]


def test_repository_count_follows_repositories(api: Any) -> None:
    domain = unique_name("count")
    api.create_domain(domain=domain)
    api.create_repository(domain=domain, repository="one")
    api.create_repository(domain=domain, repository="two")
    assert api.describe_domain(domain=domain)["domain"]["repositoryCount"] == 2
    api.delete_repository(domain=domain, repository="one")
    assert api.describe_domain(domain=domain)["domain"]["repositoryCount"] == 1


def test_list_domains_shows_summaries(api: Any, aws: AwsCli) -> None:
    domain = unique_name("list")
    api.create_domain(domain=domain)
    summaries = [d for d in api.list_domains()["domains"] if d["name"] == domain]
    assert len(summaries) == 1
    summary = summaries[0]
    assert summary["owner"] == DEFAULT_ACCOUNT
    assert summary["arn"] == DOMAIN_ARN + domain
    assert summary["status"] == "Active"
    _assert_recent(summary["createdTime"])
    # The CLI paginates list-domains itself; the domain must appear in its output too.
    names = [d["name"] for d in aws.json("codeartifact", "list-domains")["domains"]]
    assert domain in names


def test_list_domains_paginates(api: Any) -> None:
    created = {unique_name("page") for _ in range(3)}
    for domain in created:
        api.create_domain(domain=domain)
    seen: list[str] = []
    kwargs: dict[str, Any] = {"maxResults": 1}
    pages = 0
    while True:
        page = api.list_domains(**kwargs)
        pages += 1
        assert len(page["domains"]) <= 1
        seen.extend(d["name"] for d in page["domains"])
        if not page.get("nextToken"):
            break
        kwargs["nextToken"] = page["nextToken"]
        assert pages < 1000, "pagination does not end"
    assert created <= set(seen)
    assert len(seen) == len(set(seen)), "a domain appeared on two pages"
    # botocore's paginator uses the same tokens.
    paginated = [d["name"] for p in api.get_paginator("list_domains").paginate(
        PaginationConfig={"PageSize": 2}) for d in p["domains"]]
    assert sorted(paginated) == sorted(seen)


def test_delete_domain_returns_it_and_it_is_gone(api: Any, aws: AwsCli) -> None:
    domain = unique_name("del")
    api.create_domain(domain=domain)
    deleted = aws.json("codeartifact", "delete-domain", "--domain", domain)["domain"]
    assert deleted["name"] == domain
    assert deleted["arn"] == DOMAIN_ARN + domain
    err = _client_error(api.describe_domain, domain=domain)
    assert err.response["Error"]["Code"] == "ResourceNotFoundException"
    assert domain not in [d["name"] for d in api.list_domains()["domains"]]
    # The name is free again.
    assert api.create_domain(domain=domain)["domain"]["name"] == domain


def test_describe_missing_domain_is_resource_not_found(api: Any) -> None:
    domain = unique_name("missing")
    err = _client_error(api.describe_domain, domain=domain)
    assert err.response["Error"]["Code"] == "ResourceNotFoundException"
    assert err.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert domain in err.response["Error"]["Message"]
    assert err.response.get("resourceType") == "domain"


def test_describe_missing_domain_with_the_cli(aws: AwsCli) -> None:
    domain = unique_name("missing")
    proc = aws.fails("codeartifact", "describe-domain", "--domain", domain)
    assert ("An error occurred (ResourceNotFoundException) when calling the DescribeDomain "
            "operation") in proc.stderr


def test_create_existing_domain_is_a_conflict(api: Any, aws: AwsCli) -> None:
    domain = unique_name("dup")
    api.create_domain(domain=domain)
    err = _client_error(api.create_domain, domain=domain)
    assert err.response["Error"]["Code"] == "ConflictException"
    assert err.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    assert domain in err.response["Error"]["Message"]
    proc = aws.fails("codeartifact", "create-domain", "--domain", domain)
    assert "(ConflictException) when calling the CreateDomain operation" in proc.stderr


@pytest.mark.parametrize(("bad", "shown"), [
    pytest.param("Upper-case", "Upper-case", id="uppercase"),
    pytest.param("1starts-with-digit", "1starts-with-digit", id="leading-digit"),
    pytest.param("ends-with-hyphen-", "ends-with-hyphen-", id="trailing-hyphen"),
    pytest.param("under_score", "under_score", id="underscore"),
    pytest.param("d" * 51, "50", id="too-long"),
])
def test_invalid_domain_name_is_a_validation_error(api: Any, bad: str, shown: str) -> None:
    err = _client_error(api.create_domain, domain=bad)
    assert err.response["Error"]["Code"] == "ValidationException"
    assert err.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    message = err.response["Error"]["Message"]
    assert "domain" in message.lower() and shown in message, message
    assert bad not in [d["name"] for d in api.list_domains()["domains"]]


def test_invalid_domain_name_with_the_cli(aws: AwsCli) -> None:
    proc = aws.fails("codeartifact", "create-domain", "--domain", "Bad_Domain")
    assert "(ValidationException) when calling the CreateDomain operation" in proc.stderr


def test_delete_domain_with_repositories_is_a_conflict(api: Any, aws: AwsCli) -> None:
    domain = unique_name("busy")
    api.create_domain(domain=domain)
    api.create_repository(domain=domain, repository="still-here")
    err = _client_error(api.delete_domain, domain=domain)
    assert err.response["Error"]["Code"] == "ConflictException"
    assert err.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    proc = aws.fails("codeartifact", "delete-domain", "--domain", domain)
    assert "(ConflictException) when calling the DeleteDomain operation" in proc.stderr
    # Nothing was deleted.
    assert api.describe_domain(domain=domain)["domain"]["repositoryCount"] == 1
