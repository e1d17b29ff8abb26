"""CodeArtifact's repository operations (with upstreams and external connections) through botocore
and the app: each one's answer and each documented error."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.inprocess.harness import InProcessPackyard, aws_error, client_error
from tests.integration.helpers import DEFAULT_ACCOUNT, DEFAULT_REGION

REPO_ARN = f"arn:aws:codeartifact:{DEFAULT_REGION}:{DEFAULT_ACCOUNT}:repository/acme/"


@pytest.fixture
def api(packyard: InProcessPackyard) -> Any:
    client = packyard.codeartifact()
    client.create_domain(domain="acme")
    return client


def _fails(packyard: InProcessPackyard, call: Any, **kwargs: Any) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    return client_error(info)


def test_create_repository_returns_its_description(api: Any) -> None:
    created = api.create_repository(domain="acme", repository="team",
                                    description="Team packages")["repository"]
    assert {k: created[k] for k in ("name", "domainName", "domainOwner", "administratorAccount",
                                    "arn", "description", "upstreams",
                                    "externalConnections")} == {
        "name": "team", "domainName": "acme", "domainOwner": DEFAULT_ACCOUNT,
        "administratorAccount": DEFAULT_ACCOUNT, "arn": REPO_ARN + "team",
        "description": "Team packages", "upstreams": [], "externalConnections": []}


def test_create_repository_with_upstreams_in_order(api: Any) -> None:
    for name in ("first", "second"):
        api.create_repository(domain="acme", repository=name)
    created = api.create_repository(domain="acme", repository="team", upstreams=[
        {"repositoryName": "second"}, {"repositoryName": "first"}])["repository"]
    assert created["upstreams"] == [{"repositoryName": "second"}, {"repositoryName": "first"}]


def test_describe_repository(api: Any) -> None:
    api.create_repository(domain="acme", repository="team", description="d")
    described = api.describe_repository(domain="acme", repository="team",
                                        domainOwner=DEFAULT_ACCOUNT)["repository"]
    assert (described["name"], described["description"]) == ("team", "d")


def test_update_repository_description_and_upstreams(api: Any) -> None:
    api.create_repository(domain="acme", repository="base")
    api.create_repository(domain="acme", repository="team", description="old")
    updated = api.update_repository(domain="acme", repository="team", description="new",
                                    upstreams=[{"repositoryName": "base"}])["repository"]
    assert (updated["description"], updated["upstreams"]) == (
        "new", [{"repositoryName": "base"}])
    # An update without an upstream list leaves the list alone.
    again = api.update_repository(domain="acme", repository="team", description="newer")
    assert again["repository"]["upstreams"] == [{"repositoryName": "base"}]
    cleared = api.update_repository(domain="acme", repository="team", upstreams=[])
    assert cleared["repository"]["upstreams"] == []


def test_list_repositories_across_domains_and_in_one(api: Any) -> None:
    api.create_domain(domain="other")
    api.create_repository(domain="acme", repository="team-a")
    api.create_repository(domain="acme", repository="team-b")
    api.create_repository(domain="other", repository="team-c")
    everywhere = api.list_repositories()["repositories"]
    assert sorted(r["name"] for r in everywhere) == ["team-a", "team-b", "team-c"]
    in_acme = api.list_repositories_in_domain(domain="acme")["repositories"]
    assert sorted(r["name"] for r in in_acme) == ["team-a", "team-b"]
    assert all(r["arn"] == REPO_ARN + r["name"] for r in in_acme)
    prefixed = api.list_repositories(repositoryPrefix="team-c")["repositories"]
    assert [r["name"] for r in prefixed] == ["team-c"]
    by_admin = api.list_repositories_in_domain(domain="acme",
                                               administratorAccount="111111111111")
    assert by_admin["repositories"] == []


def test_list_repositories_in_domain_paginates(api: Any) -> None:
    for i in range(5):
        api.create_repository(domain="acme", repository=f"r{i}")
    first = api.list_repositories_in_domain(domain="acme", maxResults=3)
    assert len(first["repositories"]) == 3
    rest = api.list_repositories_in_domain(domain="acme", maxResults=3,
                                           nextToken=first["nextToken"])
    assert len(rest["repositories"]) == 2 and "nextToken" not in rest


def test_regression_a_next_token_of_another_list_operation_is_refused(api: Any) -> None:
    """A ListDomains token was an offset that ListRepositories and ListRepositoriesInDomain
    read as their own: a script that mixed up its tokens silently skipped repositories."""
    api.create_domain(domain="other")
    for i in range(3):
        api.create_repository(domain="acme", repository=f"r{i}")
    domains_token = api.list_domains(maxResults=1)["nextToken"]
    for call, kwargs in ((api.list_repositories, {}),
                         (api.list_repositories_in_domain, {"domain": "acme"})):
        with pytest.raises(ClientError) as info:
            call(nextToken=domains_token, **kwargs)
        assert client_error(info) == ("ValidationException", 400, "nextToken is not valid")
    in_domain_token = api.list_repositories_in_domain(domain="acme", maxResults=1)["nextToken"]
    with pytest.raises(ClientError):
        api.list_repositories(nextToken=in_domain_token)
    following = api.list_repositories_in_domain(domain="acme", maxResults=1,
                                                nextToken=in_domain_token)
    assert [r["name"] for r in following["repositories"]] == ["r1"]


def test_delete_repository_returns_what_it_was(api: Any) -> None:
    api.create_repository(domain="acme", repository="base")
    api.create_repository(domain="acme", repository="team",
                          upstreams=[{"repositoryName": "base"}])
    deleted = api.delete_repository(domain="acme", repository="team")["repository"]
    assert (deleted["name"], deleted["upstreams"]) == ("team", [{"repositoryName": "base"}])
    assert [r["name"] for r in api.list_repositories()["repositories"]] == ["base"]


def test_external_connection_is_associated_and_disassociated(api: Any) -> None:
    api.create_repository(domain="acme", repository="public")
    linked = api.associate_external_connection(domain="acme", repository="public",
                                               externalConnection="public:pypi")
    assert linked["repository"]["externalConnections"] == [{
        "externalConnectionName": "public:pypi", "packageFormat": "pypi",
        "status": "Available"}]
    unlinked = api.disassociate_external_connection(domain="acme", repository="public",
                                                    externalConnection="public:pypi")
    assert unlinked["repository"]["externalConnections"] == []


# -- errors ----------------------------------------------------------------------------------------

def test_describe_missing_repository_is_resource_not_found(packyard: InProcessPackyard,
                                                           api: Any) -> None:
    assert _fails(packyard, api.describe_repository, domain="acme", repository="nope") == (
        "ResourceNotFoundException", 404, "Repository nope not found in domain acme")
    assert aws_error(packyard.last_aws_response)[2] == {
        "message": "Repository nope not found in domain acme", "resourceId": "nope",
        "resourceType": "repository"}


@pytest.mark.parametrize("operation", ["update_repository", "delete_repository",
                                       "describe_repository"])
def test_repository_operations_on_a_missing_repository_are_not_found(
        packyard: InProcessPackyard, api: Any, operation: str) -> None:
    assert _fails(packyard, getattr(api, operation), domain="acme", repository="nope") == (
        "ResourceNotFoundException", 404, "Repository nope not found in domain acme")


def test_create_repository_in_missing_domain_is_not_found(packyard: InProcessPackyard,
                                                          api: Any) -> None:
    assert _fails(packyard, api.create_repository, domain="nowhere", repository="team") == (
        "ResourceNotFoundException", 404, "Domain nowhere not found")


def test_list_repositories_in_missing_domain_is_not_found(packyard: InProcessPackyard,
                                                          api: Any) -> None:
    assert _fails(packyard, api.list_repositories_in_domain, domain="nowhere") == (
        "ResourceNotFoundException", 404, "Domain nowhere not found")


def test_create_existing_repository_is_a_conflict(packyard: InProcessPackyard,
                                                  api: Any) -> None:
    api.create_repository(domain="acme", repository="twice")
    assert _fails(packyard, api.create_repository, domain="acme", repository="twice") == (
        "ConflictException", 409, "Repository twice already exists in domain acme")


@pytest.mark.parametrize(("bad", "message"), [
    pytest.param("-dash-first", "repository '-dash-first' does not match the pattern "
                 "[A-Za-z0-9][A-Za-z0-9._\\-]{1,99}", id="leading-dash"),
    pytest.param("a", "repository must be at least 2 characters long", id="too-short"),
    pytest.param("r" * 101, "repository must be at most 100 characters long", id="too-long"),
    pytest.param("has space", "repository 'has space' does not match the pattern "
                 "[A-Za-z0-9][A-Za-z0-9._\\-]{1,99}", id="space"),
])
def test_invalid_repository_name_is_a_validation_error(packyard: InProcessPackyard, api: Any,
                                                       bad: str, message: str) -> None:
    unchecked = packyard.codeartifact(validate=False)  # botocore itself refuses "a"
    assert _fails(packyard, unchecked.create_repository, domain="acme", repository=bad) == (
        "ValidationException", 400, message)


def test_too_long_description_is_a_validation_error(packyard: InProcessPackyard,
                                                    api: Any) -> None:
    assert _fails(packyard, api.create_repository, domain="acme", repository="team",
                  description="x" * 1001) == (
        "ValidationException", 400, "description must be at most 1000 characters long")


def test_description_with_control_characters_is_a_validation_error(
        packyard: InProcessPackyard, api: Any) -> None:
    code, status, message = _fails(packyard, api.create_repository, domain="acme",
                                   repository="team", description="bell\x07")
    assert (code, status) == ("ValidationException", 400)
    assert message.startswith("description 'bell\\x07' does not match the pattern"), message


def test_missing_upstream_is_not_found(packyard: InProcessPackyard, api: Any) -> None:
    assert _fails(packyard, api.create_repository, domain="acme", repository="team",
                  upstreams=[{"repositoryName": "ghost"}]) == (
        "ResourceNotFoundException", 404, "Upstream repository ghost not found in domain acme")


def test_repository_cannot_be_its_own_upstream(packyard: InProcessPackyard, api: Any) -> None:
    api.create_repository(domain="acme", repository="team")
    assert _fails(packyard, api.update_repository, domain="acme", repository="team",
                  upstreams=[{"repositoryName": "team"}]) == (
        "ValidationException", 400,
        "Repository team cannot be an upstream repository of itself")


def test_upstream_listed_twice_is_a_validation_error(packyard: InProcessPackyard,
                                                     api: Any) -> None:
    api.create_repository(domain="acme", repository="base")
    assert _fails(packyard, api.create_repository, domain="acme", repository="team",
                  upstreams=[{"repositoryName": "base"}, {"repositoryName": "base"}]) == (
        "ValidationException", 400, "Upstream repository base is listed twice for team")


def test_upstream_cycle_is_a_validation_error(packyard: InProcessPackyard, api: Any) -> None:
    api.create_repository(domain="acme", repository="aa")
    api.create_repository(domain="acme", repository="bb", upstreams=[{"repositoryName": "aa"}])
    api.create_repository(domain="acme", repository="cc", upstreams=[{"repositoryName": "bb"}])
    assert _fails(packyard, api.update_repository, domain="acme", repository="aa",
                  upstreams=[{"repositoryName": "cc"}]) == (
        "ValidationException", 400,
        "Upstream repositories cannot form a cycle: aa -> cc -> bb -> aa")
    described = api.describe_repository(domain="acme", repository="aa")["repository"]
    assert described["upstreams"] == []


def test_more_than_ten_upstreams_exceeds_the_quota(packyard: InProcessPackyard,
                                                   api: Any) -> None:
    assert _fails(packyard, api.create_repository, domain="acme", repository="team",
                  upstreams=[{"repositoryName": f"u{i}"} for i in range(11)]) == (
        "ServiceQuotaExceededException", 402,
        "Repository team would have 11 upstream repositories; a repository can have at most 10")
    assert aws_error(packyard.last_aws_response)[:2] == (402, "ServiceQuotaExceededException")


def test_unknown_external_connection_is_a_validation_error(packyard: InProcessPackyard,
                                                           api: Any) -> None:
    api.create_repository(domain="acme", repository="public")
    code, status, message = _fails(packyard, api.associate_external_connection, domain="acme",
                                   repository="public", externalConnection="public:nowhere")
    assert (code, status) == ("ValidationException", 400)
    assert message.startswith("'public:nowhere' is not an external connection CodeArtifact "
                              "knows; use one of "), message


def test_external_connection_of_an_unserved_format_is_a_validation_error(
        packyard: InProcessPackyard, api: Any) -> None:
    api.create_repository(domain="acme", repository="public")
    code, status, message = _fails(packyard, api.associate_external_connection, domain="acme",
                                   repository="public",
                                   externalConnection="public:maven-central")
    assert (code, status) == ("ValidationException", 400)
    assert "a format this server does not support yet; connections available here: " \
           "public:npmjs, public:pypi" in message, message


def test_the_same_external_connection_twice_is_a_conflict(packyard: InProcessPackyard,
                                                      api: Any) -> None:
    api.create_repository(domain="acme", repository="public")
    api.associate_external_connection(domain="acme", repository="public",
                                      externalConnection="public:pypi")
    assert _fails(packyard, api.associate_external_connection, domain="acme",
                  repository="public", externalConnection="public:pypi") == (
        "ConflictException", 409,
        "Repository public already has the external connection public:pypi")


def test_disassociating_an_absent_connection_is_not_found(packyard: InProcessPackyard,
                                                          api: Any) -> None:
    api.create_repository(domain="acme", repository="public")
    assert _fails(packyard, api.disassociate_external_connection, domain="acme",
                  repository="public", externalConnection="public:pypi") == (
        "ResourceNotFoundException", 404,
        "Repository public has no external connection public:pypi")


def test_regression_an_absent_connection_names_a_resource_type_of_the_enum(
        packyard: InProcessPackyard, api: Any) -> None:
    """Disassociating a connection the repository does not have answered
    ``resourceType: "external-connection"``, which CodeArtifact's ResourceType enum (botocore's
    service model) does not have: an SDK with typed enums saw an unknown value. It names the
    repository, as the conflict of associating a second connection does."""
    api.create_repository(domain="acme", repository="public")
    with pytest.raises(ClientError):
        api.disassociate_external_connection(domain="acme", repository="public",
                                             externalConnection="public:pypi")
    body = aws_error(packyard.last_aws_response)[2]
    model = api.meta.service_model.shape_for("ResourceNotFoundException")
    assert body["resourceType"] in model.members["resourceType"].enum
    assert (body["resourceId"], body["resourceType"]) == ("public", "repository")
