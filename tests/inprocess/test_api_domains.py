"""CodeArtifact's domain operations through botocore and the app: each one's answer, and each
documented error in CodeArtifact's JSON shape."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError

from tests.inprocess.harness import InProcessPackyard, aws_error, client_error
from tests.integration.helpers import (
    DEFAULT_ACCOUNT,
    DEFAULT_REGION,
    DistFactory,
    DistSpec,
    upload_ok,
)

DOMAIN_ARN = f"arn:aws:codeartifact:{DEFAULT_REGION}:{DEFAULT_ACCOUNT}:domain/"


def test_create_domain_returns_its_description(packyard: InProcessPackyard) -> None:
    created = packyard.codeartifact().create_domain(domain="acme")["domain"]
    # Without --encryption-key: the default key, CodeArtifact's alias/aws/codeartifact.
    assert packyard.container.encryption is not None
    default = packyard.container.encryption.provider.describe_key("alias/aws/codeartifact")
    assert {k: created[k] for k in ("name", "owner", "arn", "status", "repositoryCount",
                                    "assetSizeBytes", "encryptionKey")} == {
        "name": "acme", "owner": DEFAULT_ACCOUNT, "arn": DOMAIN_ARN + "acme",
        "status": "Active", "repositoryCount": 0, "assetSizeBytes": 0,
        "encryptionKey": default.arn}
    assert default.arn == f"arn:aws:kms:{DEFAULT_REGION}:{DEFAULT_ACCOUNT}:key/{default.key_id}"
    assert abs(datetime.now(UTC) - created["createdTime"]) < timedelta(minutes=1)


def test_create_domain_keeps_the_encryption_key_given(packyard: InProcessPackyard) -> None:
    assert packyard.container.encryption is not None
    key = packyard.container.encryption.provider.create_key(description="mine").arn
    created = packyard.codeartifact().create_domain(domain="acme", encryptionKey=key)
    assert created["domain"]["encryptionKey"] == key


def test_create_domain_with_an_unknown_encryption_key_is_not_found(
        packyard: InProcessPackyard) -> None:
    with pytest.raises(ClientError) as info:
        packyard.codeartifact().create_domain(domain="acme", encryptionKey="alias/nope")
    assert client_error(info) == ("ResourceNotFoundException", 404,
                                  "No key 'alias/nope' in the keyring")
    assert packyard.codeartifact().list_domains()["domains"] == []


def test_create_domain_takes_a_key_by_alias_or_id_and_records_its_arn(
        packyard: InProcessPackyard) -> None:
    assert packyard.container.encryption is not None
    key = packyard.container.encryption.provider.create_key(description="mine",
                                                            alias="alias/mine")
    api = packyard.codeartifact()
    by_alias = api.create_domain(domain="one", encryptionKey="alias/mine")["domain"]
    by_id = api.create_domain(domain="two", encryptionKey=key.key_id)["domain"]
    assert by_alias["encryptionKey"] == by_id["encryptionKey"] == key.arn
    assert api.describe_domain(domain="two")["domain"]["encryptionKey"] == key.arn
    assert {d["name"]: d["encryptionKey"] for d in api.list_domains()["domains"]} == {
        "one": key.arn, "two": key.arn}


def test_describe_domain_counts_repositories_and_bytes(packyard: InProcessPackyard,
                                                       dists: DistFactory) -> None:
    repo = packyard.pypi_repo()
    wheel = dists.wheel(DistSpec(name="counted", version="1.0"))
    upload_ok(repo, wheel)
    api = packyard.codeartifact()
    api.create_repository(domain="acme", repository="second")
    described = api.describe_domain(domain="acme", domainOwner=DEFAULT_ACCOUNT)["domain"]
    assert described["repositoryCount"] == 2
    # Assets only: the PEP 658 metadata file kept beside the wheel is not an asset.
    assert described["assetSizeBytes"] == len(wheel.data)


def test_list_domains_shows_summaries(packyard: InProcessPackyard) -> None:
    api = packyard.codeartifact()
    for name in ("beta", "alpha"):
        api.create_domain(domain=name)
    listed = api.list_domains()["domains"]
    assert sorted(d["name"] for d in listed) == ["alpha", "beta"]
    assert {d["arn"] for d in listed} == {DOMAIN_ARN + "alpha", DOMAIN_ARN + "beta"}
    assert all(d["status"] == "Active" and d["owner"] == DEFAULT_ACCOUNT for d in listed)


def test_list_domains_paginates(packyard: InProcessPackyard) -> None:
    api = packyard.codeartifact()
    names = [f"page-{i}" for i in range(5)]
    for name in names:
        api.create_domain(domain=name)
    first = api.list_domains(maxResults=2)
    assert len(first["domains"]) == 2 and first["nextToken"]
    paged = [d["name"] for page in api.get_paginator("list_domains").paginate(
        PaginationConfig={"PageSize": 2}) for d in page["domains"]]
    assert sorted(paged) == names


def test_list_domains_with_a_forged_next_token_is_a_validation_error(
        packyard: InProcessPackyard) -> None:
    with pytest.raises(ClientError) as info:
        packyard.codeartifact().list_domains(nextToken="not-base64-of-a-number")
    assert client_error(info) == ("ValidationException", 400, "nextToken is not valid")


def test_delete_domain_returns_it_as_deleted(packyard: InProcessPackyard) -> None:
    api = packyard.codeartifact()
    api.create_domain(domain="gone")
    deleted = api.delete_domain(domain="gone")["domain"]
    assert (deleted["name"], deleted["status"]) == ("gone", "Deleted")
    assert api.list_domains()["domains"] == []


# -- errors ----------------------------------------------------------------------------------------

def test_describe_missing_domain_is_resource_not_found(packyard: InProcessPackyard) -> None:
    with pytest.raises(ClientError) as info:
        packyard.codeartifact().describe_domain(domain="nowhere")
    assert client_error(info) == ("ResourceNotFoundException", 404, "Domain nowhere not found")
    assert aws_error(packyard.last_aws_response) == (
        404, "ResourceNotFoundException",
        {"message": "Domain nowhere not found", "resourceId": "nowhere",
         "resourceType": "domain"})


def test_delete_missing_domain_is_resource_not_found(packyard: InProcessPackyard) -> None:
    with pytest.raises(ClientError) as info:
        packyard.codeartifact().delete_domain(domain="nowhere")
    assert client_error(info) == ("ResourceNotFoundException", 404, "Domain nowhere not found")


def test_create_existing_domain_is_a_conflict(packyard: InProcessPackyard) -> None:
    api = packyard.codeartifact()
    api.create_domain(domain="twice")
    with pytest.raises(ClientError) as info:
        api.create_domain(domain="twice")
    assert client_error(info) == ("ConflictException", 409, "Domain twice already exists")
    assert aws_error(packyard.last_aws_response)[2] == {
        "message": "Domain twice already exists", "resourceId": "twice",
        "resourceType": "domain"}


def test_delete_domain_with_repositories_is_a_conflict(packyard: InProcessPackyard) -> None:
    api = packyard.codeartifact()
    api.create_domain(domain="busy")
    api.create_repository(domain="busy", repository="still-here")
    with pytest.raises(ClientError) as info:
        api.delete_domain(domain="busy")
    assert client_error(info) == ("ConflictException", 409,
                                  "Domain busy contains repositories; delete them first")
    assert api.describe_domain(domain="busy")["domain"]["repositoryCount"] == 1


@pytest.mark.parametrize(("bad", "message"), [
    pytest.param("Upper-case", "domain 'Upper-case' does not match the pattern "
                 "[a-z][a-z0-9\\-]{0,48}[a-z0-9]", id="uppercase"),
    pytest.param("1digit-first", "domain '1digit-first' does not match the pattern "
                 "[a-z][a-z0-9\\-]{0,48}[a-z0-9]", id="leading-digit"),
    pytest.param("hyphen-last-", "domain 'hyphen-last-' does not match the pattern "
                 "[a-z][a-z0-9\\-]{0,48}[a-z0-9]", id="trailing-hyphen"),
    pytest.param("d" * 51, "domain must be at most 50 characters long", id="too-long"),
])
def test_invalid_domain_name_is_a_validation_error(packyard: InProcessPackyard, bad: str,
                                                   message: str) -> None:
    with pytest.raises(ClientError) as info:
        packyard.codeartifact().create_domain(domain=bad)
    assert client_error(info) == ("ValidationException", 400, message)
    assert aws_error(packyard.last_aws_response)[2] == {
        "message": message, "reason": "FIELD_VALIDATION_FAILED"}
    assert packyard.codeartifact().list_domains()["domains"] == []


def test_regression_a_domain_made_in_a_deleted_ones_place_wraps_its_data_keys_with_its_own_key(
        packyard: InProcessPackyard, dists: DistFactory) -> None:
    # SQLite gave a new domain the id of the last one deleted (until migration 0018), and the
    # key a domain's data keys are wrapped with was kept a minute by that id: a domain created
    # with --encryption-key had its first files' data keys wrapped with the deleted domain's
    # key.
    encryption = packyard.container.encryption
    assert encryption is not None
    mine = encryption.provider.create_key(description="mine")
    catalog = packyard.container.catalog
    old = packyard.pypi_repo(domain="old", repository="shelf")
    old_file = dists.wheel(DistSpec(name="first", version="1.0"))
    upload_ok(old, old_file)
    api = packyard.codeartifact()
    old_id = catalog.get_domain(DEFAULT_ACCOUNT, "old").id
    assert catalog.data_key(old_id, hashlib.sha256(old_file.data).hexdigest()) is not None
    api.delete_repository(domain="old", repository="shelf")
    api.delete_domain(domain="old")
    api.create_domain(domain="new", encryptionKey=mine.arn)
    new_id = catalog.get_domain(DEFAULT_ACCOUNT, "new").id
    assert new_id != old_id  # never given twice (0018)
    new = packyard.pypi_repo(domain="new", repository="shelf")
    new_file = dists.wheel(DistSpec(name="second", version="1.0"))
    upload_ok(new, new_file)
    stored = catalog.data_key(new_id, hashlib.sha256(new_file.data).hexdigest())
    assert stored is not None
    assert stored.key_id == mine.key_id


@pytest.mark.parametrize("operation", ["list_domains", "list_packages"])
def test_regression_a_deeply_nested_next_token_is_a_validation_error(
        packyard: InProcessPackyard, operation: str) -> None:
    # A nextToken of a JSON array nested deeper than the parser recurses (1400 '[' fit in its
    # 2000 characters) was an InternalServerException (500) rather than a refusal.
    api = packyard.codeartifact()
    api.create_domain(domain="acme")
    api.create_repository(domain="acme", repository="shelf")
    token = base64.urlsafe_b64encode(b"[" * 1400).decode()
    assert len(token) <= 2000
    where = {"domain": "acme", "repository": "shelf"} if operation == "list_packages" else {}
    with pytest.raises(ClientError) as info:
        getattr(api, operation)(nextToken=token, **where)
    assert client_error(info) == ("ValidationException", 400, "nextToken is not valid")
