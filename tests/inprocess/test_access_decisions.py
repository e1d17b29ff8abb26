"""Access decisions through the app: who may get a token, read and publish, by identity and
resource policies, conditions on the request, and what happens to tokens when the credentials
behind them change. Each refusal is checked with the words the client shows."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from packyard.auth.token_ledger import TokenLedger
from packyard.auth.tokens import hash_token
from tests.inprocess.conftest import PackyardFactory
from tests.inprocess.harness import (
    AsgiBridge,
    InProcessPackyard,
    InProcessRepo,
    assert_refused,
    client_error,
)
from tests.integration.helpers import (
    DEFAULT_ACCOUNT,
    DEFAULT_REGION,
    Credentials,
    DistFactory,
    DistSpec,
    upload,
    upload_ok,
)

ACCOUNT_ARN = f"arn:aws:iam::{DEFAULT_ACCOUNT}"
CA = f"arn:aws:codeartifact:{DEFAULT_REGION}:{DEFAULT_ACCOUNT}"
BEARER = {"Effect": "Allow", "Action": "sts:GetServiceBearerToken", "Resource": "*",
          "Condition": {"StringEquals": {"sts:AWSServiceName": "codeartifact.amazonaws.com"}}}
READ = ["codeartifact:GetAuthorizationToken", "codeartifact:ReadFromRepository",
        "codeartifact:GetRepositoryEndpoint"]
JSON_V1 = {"Accept": "application/vnd.pypi.simple.v1+json"}
PKG = DistSpec(name="pkg", version="1.0")


def _policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


@dataclass
class User:
    name: str
    arn: str
    credentials: Credentials


@pytest.fixture
def admin(packyard: InProcessPackyard, dists: DistFactory) -> InProcessRepo:
    """Root's repository acme/shelf, holding pkg 1.0."""
    repo = packyard.pypi_repo()
    upload_ok(repo, dists.wheel(PKG))
    return repo


def _user(packyard: InProcessPackyard, name: str, *statements: dict[str, Any]) -> User:
    iam = packyard.iam()
    arn = iam.create_user(UserName=name)["User"]["Arn"]
    if statements:
        iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=_policy(*statements))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return User(name, arn, Credentials(key["AccessKeyId"], key["SecretAccessKey"]))


def _repo_for(packyard: InProcessPackyard, user: User) -> InProcessRepo:
    return packyard.pypi_repo(create=False, credentials=user.credentials)


def _denied(who: str, action: str, resource: str, kind: str = "identity") -> str:
    return (f"User: {who} is not authorized to perform: {action} on resource: {resource} "
            f"because no {kind}-based policy allows the {action} action")


# -- identity policies -----------------------------------------------------------------------------

def test_reader_by_identity_policy_reads_but_cannot_publish(
        packyard: InProcessPackyard, admin: InProcessRepo, dists: DistFactory) -> None:
    alice = _user(packyard, "alice", BEARER, {"Effect": "Allow", "Action": READ,
                                              "Resource": "*"})
    repo = _repo_for(packyard, alice)
    assert repo.get("simple/pkg/", **JSON_V1).status_code == 200
    response = upload(repo, dists.wheel(DistSpec(name="pkg", version="2.0")))
    assert_refused(response, 403, _denied(alice.arn, "codeartifact:PublishPackageVersion",
                                          f"{CA}:package/acme/shelf/pypi//pkg"))


def test_user_without_policies_gets_no_token(packyard: InProcessPackyard,
                                             admin: InProcessRepo) -> None:
    bob = _user(packyard, "bob")
    with pytest.raises(ClientError) as info:
        packyard.codeartifact(bob.credentials).get_authorization_token(domain="acme")
    assert client_error(info) == (
        "AccessDeniedException", 403,
        _denied(bob.arn, "codeartifact:GetAuthorizationToken", f"{CA}:domain/acme"))


def test_token_needs_the_bearer_token_permission_for_codeartifact(
        packyard: InProcessPackyard, admin: InProcessRepo) -> None:
    wrong_service = dict(BEARER, Condition={"StringEquals": {
        "sts:AWSServiceName": "lambda.amazonaws.com"}})
    carol = _user(packyard, "carol", wrong_service, {"Effect": "Allow", "Action": READ,
                                                     "Resource": "*"})
    with pytest.raises(ClientError) as info:
        packyard.codeartifact(carol.credentials).get_authorization_token(domain="acme")
    code, status, message = client_error(info)
    assert (code, status) == ("AccessDeniedException", 403)
    assert message == (f"User: {carol.arn} is not authorized to perform: "
                       "sts:GetServiceBearerToken because no identity-based policy allows the "
                       "sts:GetServiceBearerToken action")


def test_token_lifetime_limited_by_sts_duration_seconds(packyard: InProcessPackyard,
                                                        admin: InProcessRepo) -> None:
    short = dict(BEARER, Condition={**BEARER["Condition"],  # type: ignore[dict-item]
                                    "NumericLessThanEquals": {"sts:DurationSeconds": 3600}})
    dave = _user(packyard, "dave", short, {"Effect": "Allow", "Action": READ, "Resource": "*"})
    api = packyard.codeartifact(dave.credentials)
    assert api.get_authorization_token(domain="acme", durationSeconds=3600)
    with pytest.raises(ClientError) as info:
        api.get_authorization_token(domain="acme")  # 12 hours by default
    assert client_error(info)[0] == "AccessDeniedException"


def test_regression_duration_zero_does_not_get_round_a_token_lifetime_limit(
        packyard: InProcessPackyard, admin: InProcessRepo) -> None:
    short = dict(BEARER, Condition={**BEARER["Condition"],  # type: ignore[dict-item]
                                    "NumericLessThanEquals": {"sts:DurationSeconds": 3600}})
    dave = _user(packyard, "dave", short, {"Effect": "Allow", "Action": READ, "Resource": "*"})
    # 0 is "as long as my credentials": a long-term key's token would live 12 hours.
    with pytest.raises(ClientError) as info:
        packyard.codeartifact(dave.credentials).get_authorization_token(domain="acme",
                                                                        durationSeconds=0)
    assert client_error(info)[0] == "AccessDeniedException"


def test_regression_another_accounts_domain_is_access_denied_naming_its_arn(
        packyard: InProcessPackyard, admin: InProcessRepo) -> None:
    other = "111111111111"
    alice = _user(packyard, "alice", {"Effect": "Allow", "Action": "codeartifact:*",
                                      "Resource": f"{CA}:domain/acme"})
    for who, credentials in (("alice", alice.credentials), ("root", None)):
        api = packyard.codeartifact(credentials) if credentials else packyard.codeartifact()
        for call, kwargs, resource in (
                (api.describe_domain, {"domain": "acme"}, "domain/acme"),
                (api.describe_repository, {"domain": "acme", "repository": "shelf"},
                 "repository/acme/shelf"),
                (api.list_package_versions, {"domain": "acme", "repository": "shelf",
                                             "format": "pypi", "package": "pkg"},
                 "package/acme/shelf/pypi//pkg")):
            with pytest.raises(ClientError) as info:
                call(domainOwner=other, **kwargs)
            code, status, message = client_error(info)
            assert (code, status) == ("AccessDeniedException", 403), (who, call)
            assert f"on resource: arn:aws:codeartifact:us-east-1:{other}:{resource}" in message
    # The server's own account, named, is as if it were not.
    assert packyard.codeartifact(alice.credentials).describe_domain(
        domain="acme", domainOwner=CA.split(":")[4])["domain"]["name"] == "acme"


def test_explicit_deny_beats_an_allow(packyard: InProcessPackyard, admin: InProcessRepo) -> None:
    erin = _user(packyard, "erin", BEARER,
                 {"Effect": "Allow", "Action": READ, "Resource": "*"},
                 {"Effect": "Deny", "Action": "codeartifact:ReadFromRepository",
                  "Resource": f"{CA}:repository/acme/shelf"})
    response = _repo_for(packyard, erin).get("simple/pkg/", **JSON_V1)
    assert_refused(response, 403,
                   f"User: {erin.arn} is not authorized to perform: "
                   f"codeartifact:ReadFromRepository on resource: {CA}:repository/acme/shelf "
                   "with an explicit deny in an identity-based policy")


def test_api_operation_without_permission_is_access_denied(packyard: InProcessPackyard,
                                                           admin: InProcessRepo) -> None:
    frank = _user(packyard, "frank")
    with pytest.raises(ClientError) as info:
        packyard.codeartifact(frank.credentials).describe_domain(domain="acme")
    assert client_error(info) == (
        "AccessDeniedException", 403,
        _denied(frank.arn, "codeartifact:DescribeDomain", f"{CA}:domain/acme"))


def test_aws_managed_read_only_policy_reads(packyard: InProcessPackyard,
                                            admin: InProcessRepo) -> None:
    gina = _user(packyard, "gina", BEARER)
    packyard.iam().attach_user_policy(
        UserName="gina", PolicyArn="arn:aws:iam::aws:policy/AWSCodeArtifactReadOnlyAccess")
    repo = _repo_for(packyard, gina)
    assert repo.get("simple/pkg/", **JSON_V1).status_code == 200
    with pytest.raises(ClientError) as info:
        packyard.codeartifact(gina.credentials).create_repository(domain="acme",
                                                                  repository="mine")
    assert client_error(info)[0] == "AccessDeniedException"


# -- resource policies -----------------------------------------------------------------------------

def test_tutorial_setup_by_domain_and_repository_policies(
        packyard: InProcessPackyard, admin: InProcessRepo, dists: DistFactory) -> None:
    # The CodeArtifact tutorial: the identity policy only lets the user ask for bearer tokens;
    # the domain policy gives tokens and the repository policy reads and publishes.
    hank = _user(packyard, "hank", BEARER)
    api = packyard.codeartifact()
    api.put_domain_permissions_policy(domain="acme", policyDocument=_policy({
        "Effect": "Allow", "Principal": {"AWS": hank.arn},
        "Action": "codeartifact:GetAuthorizationToken", "Resource": "*"}))
    api.put_repository_permissions_policy(domain="acme", repository="shelf",
                                          policyDocument=_policy({
        "Effect": "Allow", "Principal": {"AWS": hank.arn},
        "Action": ["codeartifact:ReadFromRepository", "codeartifact:PublishPackageVersion",
                   "codeartifact:GetRepositoryEndpoint"], "Resource": "*"}))
    repo = _repo_for(packyard, hank)
    upload_ok(repo, dists.wheel(DistSpec(name="pkg", version="2.0")))
    assert repo.get("simple/pkg/", **JSON_V1).json()["versions"] == ["1.0", "2.0"]


def test_deny_in_a_repository_policy_binds_even_root(packyard: InProcessPackyard,
                                                     admin: InProcessRepo) -> None:
    packyard.codeartifact().put_repository_permissions_policy(
        domain="acme", repository="shelf", policyDocument=_policy({
            "Effect": "Deny", "Principal": "*", "Action": "codeartifact:ReadFromRepository",
            "Resource": "*"}))
    response = packyard.pypi_repo(create=False).get("simple/pkg/", **JSON_V1)
    assert_refused(response, 403,
                   f"User: {ACCOUNT_ARN}:root is not authorized to perform: "
                   f"codeartifact:ReadFromRepository on resource: {CA}:repository/acme/shelf "
                   "with an explicit deny in a resource-based policy")


def _ivan_reads_other(packyard: InProcessPackyard) -> User:
    """A user allowed nothing of his own but a token, and the repository ``other``, whose
    permissions policy lets him read it."""
    ivan = _user(packyard, "ivan", BEARER, {"Effect": "Allow", "Action": [
        "codeartifact:GetAuthorizationToken", "codeartifact:GetRepositoryEndpoint"],
        "Resource": "*"})
    api = packyard.codeartifact()
    api.create_repository(domain="acme", repository="other")
    api.put_repository_permissions_policy(domain="acme", repository="other",
                                          policyDocument=_policy({
        "Effect": "Allow", "Principal": {"AWS": ivan.arn},
        "Action": "codeartifact:ReadFromRepository", "Resource": "*"}))
    return ivan


def test_repository_policy_of_one_repository_grants_nothing_in_another(
        packyard: InProcessPackyard, admin: InProcessRepo) -> None:
    ivan = _ivan_reads_other(packyard)
    assert packyard.pypi_repo(repository="other", create=False,
                              credentials=ivan.credentials).get("simple/").status_code == 200
    response = _repo_for(packyard, ivan).get("simple/pkg/", **JSON_V1)
    assert_refused(response, 403, _denied(ivan.arn, "codeartifact:ReadFromRepository",
                                          f"{CA}:repository/acme/shelf"))


def test_regression_a_repository_made_again_is_not_governed_by_the_deleted_ones_policy(
        packyard: InProcessPackyard, admin: InProcessRepo) -> None:
    # Deleting a repository deletes its permissions policy with it (a cascade in the catalog's
    # transaction, not an IAM write): the policy compiled for its ARN must go too, or a
    # repository made again under the same name would be read by whom the old policy allowed.
    ivan = _ivan_reads_other(packyard)
    api = packyard.codeartifact()
    other = packyard.pypi_repo(repository="other", create=False, credentials=ivan.credentials)
    assert other.get("simple/").status_code == 200
    api.delete_repository(domain="acme", repository="other")
    api.create_repository(domain="acme", repository="other")
    assert_refused(other.get("simple/"), 403, _denied(
        ivan.arn, "codeartifact:ReadFromRepository", f"{CA}:repository/acme/other"))


# -- conditions on the request -------------------------------------------------------------------

def test_source_ip_condition_is_evaluated_on_the_client_address(
        packyard: InProcessPackyard, admin: InProcessRepo) -> None:
    judy = _user(packyard, "judy", BEARER, {
        "Effect": "Allow", "Action": READ, "Resource": "*",
        "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}},
        {"Effect": "Allow", "Action": "codeartifact:GetAuthorizationToken", "Resource": "*"})
    repo = _repo_for(packyard, judy)  # from 127.0.0.1
    assert repo.get("simple/pkg/", **JSON_V1).status_code == 403
    inside = InProcessRepo(repo.server_url, repo.domain, repo.repository, repo.endpoint,
                           repo.token, transport=AsgiBridge(packyard.app, packyard.portal,
                                                            client=("10.1.2.3", 40000)))
    assert inside.get("simple/pkg/", **JSON_V1).status_code == 200


def test_secure_transport_condition(packyard: InProcessPackyard, admin: InProcessRepo) -> None:
    packyard.codeartifact().put_repository_permissions_policy(
        domain="acme", repository="shelf", policyDocument=_policy({
            "Effect": "Deny", "Principal": "*", "Action": "codeartifact:ReadFromRepository",
            "Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}))
    repo = packyard.pypi_repo(create=False)
    assert repo.get("simple/pkg/", **JSON_V1).status_code == 403
    with repo.client() as http:
        https = http.get(repo.endpoint.replace("http://", "https://") + "simple/pkg/",
                         headers=JSON_V1)
    assert https.status_code == 200


# -- tokens ----------------------------------------------------------------------------------------

def _get(repo: InProcessRepo, authorization: str | None) -> httpx.Response:
    headers = {"Authorization": authorization} if authorization else {}
    with httpx.Client(transport=repo.transport) as http:
        return http.get(repo.endpoint + "simple/pkg/", headers={**headers, **JSON_V1})


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize("path", ["simple/", "simple/pkg/", "simple/pkg/pkg-1.0-py3-none-any.whl",
                                  "simple/pkg/pkg-1.0-py3-none-any.whl.metadata"])
def test_anonymous_read_is_401_with_a_basic_challenge(admin: InProcessRepo, path: str) -> None:
    with httpx.Client(transport=admin.transport) as http:
        response = http.get(admin.endpoint + path)
    assert_refused(response, 401, "Authentication required: use the token from "
                                  "get-authorization-token as the password of user 'aws'")
    assert response.headers["www-authenticate"] == 'Basic realm="packyard"'


@pytest.mark.parametrize(("authorization", "message"), [
    pytest.param("Basic !!!not-base64", "Malformed Basic authorization header",
                 id="basic-not-base64"),
    pytest.param(_basic("aws", ""), "Basic authorization needs a password (the token)",
                 id="basic-no-password"),
    pytest.param("Digest username=aws", "Unsupported authorization scheme; use Basic or Bearer",
                 id="other-scheme"),
    pytest.param(_basic("aws", "not-a-token"), "Invalid authorization token", id="bad-token"),
    pytest.param("Bearer not-a-token", "Invalid authorization token", id="bad-bearer"),
])
def test_unusable_authorization_is_401(admin: InProcessRepo, authorization: str,
                                       message: str) -> None:
    response = _get(admin, authorization)
    assert_refused(response, 401, message)
    assert response.headers["www-authenticate"] == 'Basic realm="packyard"'


@pytest.mark.parametrize("authorization", ["bearer", "basic-other-user"])
def test_token_works_as_bearer_or_with_any_user_name(admin: InProcessRepo,
                                                     authorization: str) -> None:
    header = (f"Bearer {admin.token}" if authorization == "bearer"
              else _basic("__token__", admin.token))
    assert _get(admin, header).status_code == 200


def test_token_is_for_its_own_domain_only(packyard: InProcessPackyard,
                                          admin: InProcessRepo) -> None:
    other = packyard.pypi_repo(domain="other", repository="shelf")
    response = _get(admin, _basic("aws", other.token))
    assert_refused(response, 401, "This token is for another domain")


def test_revoked_token_is_refused_by_a_fresh_process(packyard: InProcessPackyard,
                                                     packyard_factory: PackyardFactory,
                                                     admin: InProcessRepo) -> None:
    # `packyard token revoke --stdin` writes the revocation; a server process that has not
    # cached the token refuses it at once (others within five seconds, see auth/tokens.py).
    ledger = TokenLedger(packyard.container.catalog.engines)
    assert ledger.revoke_by_digest(hash_token(admin.token), datetime.now(UTC))
    fresh = packyard_factory()
    response = _get(InProcessRepo(admin.server_url, admin.domain, admin.repository,
                                  admin.endpoint, admin.token, transport=fresh.transport),
                    _basic("aws", admin.token))
    assert_refused(response, 401, "Invalid authorization token")


def test_expired_token_is_refused(packyard: InProcessPackyard, packyard_factory: PackyardFactory,
                                  admin: InProcessRepo) -> None:
    short = packyard.pypi_repo(create=False, duration_seconds=900)
    later = packyard_factory(clock_offset_seconds=1000)
    moved = InProcessRepo(short.server_url, short.domain, short.repository, short.endpoint,
                          short.token, transport=later.transport)
    assert_refused(_get(moved, _basic("aws", short.token)), 401,
                   "The authorization token has expired")
    still = InProcessRepo(admin.server_url, admin.domain, admin.repository, admin.endpoint,
                          admin.token, transport=later.transport)
    assert _get(still, _basic("aws", admin.token)).status_code == 200


@pytest.mark.parametrize("change", ["delete-user", "deactivate-key"])
def test_token_stops_with_the_credentials_that_minted_it(
        packyard: InProcessPackyard, admin: InProcessRepo, dists: DistFactory,
        change: str) -> None:
    kate = _user(packyard, "kate", BEARER, {"Effect": "Allow", "Action": [
        *READ, "codeartifact:PublishPackageVersion"], "Resource": "*"})
    repo = _repo_for(packyard, kate)
    upload_ok(repo, dists.wheel(DistSpec(name="pkg", version="2.0")))
    iam = packyard.iam()
    if change == "delete-user":
        iam.delete_access_key(UserName="kate", AccessKeyId=kate.credentials.access_key_id)
        iam.delete_user_policy(UserName="kate", PolicyName="p")
        iam.delete_user(UserName="kate")
    else:
        iam.update_access_key(UserName="kate", AccessKeyId=kate.credentials.access_key_id,
                              Status="Inactive")
    # A change made through this server's IAM API takes effect at once (uploads are never
    # answered from the read grants reused for a second).
    response = upload(repo, dists.wheel(DistSpec(name="pkg", version="3.0")))
    assert_refused(response, 401, "The credentials that requested this token are no longer "
                                  "valid (deleted user, inactive or deleted access key, or "
                                  "deleted role); get a new token")


# -- what a refused caller can learn ------------------------------------------------------------------

def test_bad_token_cannot_tell_which_domains_exist(packyard: InProcessPackyard,
                                                   admin: InProcessRepo) -> None:
    missing = admin.endpoint.replace("/acme-", "/nowhere-")
    with httpx.Client(transport=admin.transport) as http:
        for endpoint in (admin.endpoint, missing):
            response = http.get(endpoint + "simple/", headers={"Authorization": "Bearer x"})
            assert response.status_code == 401, (endpoint, response.text)


def test_policy_reads_without_permission_cannot_tell_which_domains_exist(
        packyard: InProcessPackyard, admin: InProcessRepo) -> None:
    nobody = packyard.codeartifact(_user(packyard, "nobody").credentials)
    for domain in ("acme", "nowhere"):
        with pytest.raises(ClientError) as info:
            nobody.get_domain_permissions_policy(domain=domain)
        assert client_error(info)[0] == "AccessDeniedException", domain


def test_delete_repository_without_permission_cannot_tell_which_repositories_exist(
        packyard: InProcessPackyard, admin: InProcessRepo) -> None:
    nobody = packyard.codeartifact(_user(packyard, "nobody").credentials)
    for repository in ("shelf", "absent"):
        with pytest.raises(ClientError) as info:
            nobody.delete_repository(domain="acme", repository=repository)
        assert client_error(info)[0] == "AccessDeniedException", repository


def test_describe_without_permission_cannot_tell_which_repositories_exist(
        packyard: InProcessPackyard, admin: InProcessRepo) -> None:
    nobody = packyard.codeartifact(_user(packyard, "nobody").credentials)
    for repository in ("shelf", "absent"):
        with pytest.raises(ClientError) as info:
            nobody.describe_repository(domain="acme", repository=repository)
        assert client_error(info)[0] == "AccessDeniedException", repository


@pytest.mark.parametrize("grant", [[], ["codeartifact:ReadFromRepository"]],
                         ids=["token-only", "reader"])
def test_regression_a_write_without_permission_cannot_tell_which_repositories_exist(
        packyard: InProcessPackyard, admin: InProcessRepo, dists: DistFactory,
        grant: list[str]) -> None:
    # twine upload, npm publish, unpublish and dist-tag looked the repository up before the
    # write was authorized: a token that may not write got 404 "Repository ... not found" for
    # a repository that does not exist and 403 for one that does.
    eve = _user(packyard, "eve", BEARER, {"Effect": "Allow", "Action": [
        "codeartifact:GetAuthorizationToken", *grant], "Resource": "*"})
    token = _repo_for(packyard, eve).token
    bearer = {"Authorization": f"Bearer {token}"}
    npm_document = {"name": "pkg", "versions": {}}
    for repository in ("shelf", "absent"):
        endpoint = admin.endpoint.replace("/shelf/", f"/{repository}/")
        repo = InProcessRepo(admin.server_url, admin.domain, repository, endpoint, token,
                             transport=admin.transport)
        arn = f"{CA}:package/acme/{repository}"
        assert_refused(upload(repo, dists.wheel(DistSpec(name="pkg", version="2.0"))), 403,
                       _denied(eve.arn, "codeartifact:PublishPackageVersion",
                               f"{arn}/pypi//pkg"))
        npm = endpoint.replace("/pypi/", "/npm/")
        with httpx.Client(transport=admin.transport) as http:
            for method, path, action in (
                    ("PUT", "pkg", "PublishPackageVersion"),
                    ("PUT", "@scope%2fpkg/-rev/1-a", "DeletePackageVersions"),
                    ("DELETE", "pkg/-rev/1-a", "DeletePackageVersions"),
                    ("DELETE", "pkg/-/pkg-1.0.0.tgz/-rev/1-a", "DeletePackageVersions"),
                    ("PUT", "-/package/pkg/dist-tags/beta", "PublishPackageVersion"),
                    ("DELETE", "-/package/pkg/dist-tags/beta", "PublishPackageVersion")):
                response = http.request(method, npm + path, headers=bearer,
                                        json=npm_document if method == "PUT" else None)
                namespace = "scope" if "@scope" in path else ""
                assert response.status_code == 403, (repository, method, path, response.text)
                assert response.json()["error"] == _denied(
                    eve.arn, f"codeartifact:{action}", f"{arn}/npm/{namespace}/pkg")


def test_regression_a_deleted_domains_token_does_not_open_the_domain_made_after_it(
        packyard: InProcessPackyard, admin: InProcessRepo) -> None:
    # SQLite gave a new domain the id of the last one deleted (until migration 0018), and a
    # token's check was kept for 4 seconds by that id: a token of the deleted domain opened
    # the new one (and its read grant kept it open 10 seconds more).
    api = packyard.codeartifact()
    api.create_domain(domain="gone")
    token = api.get_authorization_token(domain="gone")["authorizationToken"]
    gone = InProcessRepo(admin.server_url, "gone", "shelf",
                         admin.endpoint.replace("/acme-", "/gone-"), token,
                         transport=admin.transport)
    assert _get(gone, _basic("aws", token)).status_code == 404  # checked, and kept
    catalog = packyard.container.catalog
    old_id = catalog.get_domain(DEFAULT_ACCOUNT, "gone").id
    api.delete_domain(domain="gone")
    fresh = packyard.pypi_repo(domain="fresh", repository="shelf")
    assert catalog.get_domain(DEFAULT_ACCOUNT, "fresh").id != old_id  # never given twice (0018)
    assert_refused(_get(fresh, _basic("aws", token)), 401, "Invalid authorization token")
