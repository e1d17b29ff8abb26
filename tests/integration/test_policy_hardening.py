"""Policy semantics and authorization order against a real server, through boto3 and httpx.

NotPrincipal as the IAM User Guide defines it, the domain policy's say over repository
policies, and answers that reveal nothing about what exists to callers who may not know.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from typing import Any

import boto3
import botocore.config
import httpx
import pytest
from botocore.exceptions import ClientError

from tests.integration.helpers import (
    DEFAULT_ACCOUNT,
    DEFAULT_REGION,
    ROOT,
    Credentials,
    ServerProcess,
    unique_name,
)

ACCOUNT = DEFAULT_ACCOUNT
ADMIN_ACCESS = "arn:aws:iam::aws:policy/AWSCodeArtifactAdminAccess"


def _client(service: str, server: ServerProcess, creds: Credentials = ROOT) -> Any:
    session = boto3.session.Session(aws_access_key_id=creds.access_key_id,
                                    aws_secret_access_key=creds.secret_access_key,
                                    region_name=DEFAULT_REGION)
    config = botocore.config.Config(retries={"max_attempts": 1, "mode": "standard"})
    return session.client(service, endpoint_url=server.url, config=config)


def _policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _refused(call: Callable[[], object]) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as info:
        call()
    response = info.value.response
    return (response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"],
            response["Error"]["Message"])


def _user(server: ServerProcess, prefix: str, *managed: str) -> tuple[str, Any]:
    """A new IAM user with the given managed policies: (its ARN, its CodeArtifact client)."""
    iam = _client("iam", server)
    name = unique_name(prefix)
    arn = iam.create_user(UserName=name)["User"]["Arn"]
    for policy_arn in managed:
        iam.attach_user_policy(UserName=name, PolicyArn=policy_arn)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    creds = Credentials(key["AccessKeyId"], key["SecretAccessKey"])
    return arn, _client("codeartifact", server, creds)


def _domain_and_repository(server: ServerProcess, prefix: str) -> tuple[str, str]:
    api = _client("codeartifact", server)
    domain = unique_name(prefix)
    api.create_domain(domain=domain)
    api.create_repository(domain=domain, repository="repo")
    return domain, "repo"


# ------------------------------------------------------------------ NotPrincipal (items 1, 2)

def test_deny_notprincipal_listing_account_root_still_denies_other_users(
        server: ServerProcess) -> None:
    domain, repo = _domain_and_repository(server, "notprincipal")
    alice_arn, alice = _user(server, "alice", ADMIN_ACCESS)
    bob_arn, bob = _user(server, "bob", ADMIN_ACCESS)
    root = _client("codeartifact", server)
    # The IAM User Guide's own example: deny everyone but Bob.
    root.put_repository_permissions_policy(domain=domain, repository=repo, policyDocument=_policy(
        {"Sid": "DenyAllButBob", "Effect": "Deny",
         "NotPrincipal": {"AWS": [bob_arn, f"arn:aws:iam::{ACCOUNT}:root"]},
         "Action": "codeartifact:*", "Resource": "*"}))
    for call in (lambda: alice.describe_repository(domain=domain, repository=repo),
                 lambda: alice.delete_repository(domain=domain, repository=repo)):
        code, status, message = _refused(call)
        assert (code, status) == ("AccessDeniedException", 403)
        assert message.startswith(f"User: {alice_arn} is not authorized to perform")
        assert message.endswith("with an explicit deny in a resource-based policy")
    # Bob, and the account root the policy lists, are spared.
    assert bob.describe_repository(domain=domain, repository=repo)["repository"]["name"] == repo
    assert root.describe_repository(domain=domain, repository=repo)["repository"]["name"] == repo
    bob.delete_repository(domain=domain, repository=repo)


def test_allow_with_notprincipal_repository_policy_is_refused(server: ServerProcess) -> None:
    domain, repo = _domain_and_repository(server, "allownot")
    root = _client("codeartifact", server)
    code, status, message = _refused(lambda: root.put_repository_permissions_policy(
        domain=domain, repository=repo, policyDocument=_policy(
            {"Effect": "Allow", "NotPrincipal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/bob"},
             "Action": "codeartifact:*", "Resource": "*"})))
    assert (code, status) == ("ValidationException", 400)
    assert message == ('The policy document is not valid: Policy statement 1: NotPrincipal must '
                       'be used with "Effect": "Deny"; with Allow it would grant every other '
                       "principal, anonymous callers included")


def test_notprincipal_in_a_role_trust_policy_is_refused(server: ServerProcess) -> None:
    iam = _client("iam", server)
    trust = _policy({"Effect": "Allow", "NotPrincipal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/x"},
                     "Action": "sts:AssumeRole"})
    code, status, message = _refused(lambda: iam.create_role(
        RoleName=unique_name("everyone"), AssumeRolePolicyDocument=trust))
    assert (code, status) == ("MalformedPolicyDocument", 400)
    assert message == ("Policy statement 1: NotPrincipal cannot be used in a role trust policy; "
                       "name who may assume the role in Principal")


# ------------------------------------------------------------------ the domain policy (item 3)

def test_domain_deny_stops_put_repository_permissions_policy(server: ServerProcess) -> None:
    domain, repo = _domain_and_repository(server, "domaindeny")
    alice_arn, alice = _user(server, "alice", ADMIN_ACCESS)
    _, bob = _user(server, "bob", ADMIN_ACCESS)
    _client("codeartifact", server).put_domain_permissions_policy(
        domain=domain, policyDocument=_policy(
            {"Effect": "Deny", "Principal": {"AWS": alice_arn},
             "Action": "codeartifact:PutRepositoryPermissionsPolicy", "Resource": "*"}))
    open_to_everyone = _policy({"Effect": "Allow", "Principal": "*",
                                "Action": "codeartifact:ReadFromRepository", "Resource": "*"})
    code, status, message = _refused(lambda: alice.put_repository_permissions_policy(
        domain=domain, repository=repo, policyDocument=open_to_everyone))
    assert (code, status) == ("AccessDeniedException", 403)
    assert message == (f"User: {alice_arn} is not authorized to perform: "
                       "codeartifact:PutRepositoryPermissionsPolicy on resource: "
                       f"arn:aws:codeartifact:{DEFAULT_REGION}:{ACCOUNT}:repository/{domain}/"
                       f"{repo} with an explicit deny in a resource-based policy")
    # The repository's own policy still cannot lock its owner out; others are unaffected.
    bob.put_repository_permissions_policy(domain=domain, repository=repo,
                                          policyDocument=open_to_everyone)


# ------------------------------------------------------------------ existence (item 7)

@pytest.fixture(scope="module")
def outsider(server: ServerProcess) -> tuple[str, Any]:
    """A user with no policies at all."""
    return _user(server, "outsider")


@pytest.mark.parametrize("operation", [
    "delete_repository",
    "get_repository_permissions_policy",
    "put_repository_permissions_policy",
    "delete_repository_permissions_policy",
])
def test_operations_on_a_missing_repository_are_denied_not_not_found(
        server: ServerProcess, outsider: tuple[str, Any], operation: str) -> None:
    domain, _ = _domain_and_repository(server, "hidden")
    arn, api = outsider
    extra = {"policyDocument": _policy({"Effect": "Allow", "Principal": "*", "Action": "*"})} \
        if operation.startswith("put") else {}
    for repository in ("repo", "no-such-repo"):
        code, status, message = _refused(lambda name=repository: getattr(api, operation)(
            domain=domain, repository=name, **extra))
        assert (code, status) == ("AccessDeniedException", 403), repository
        assert f"repository/{domain}/{repository} because no identity-based policy" in message


@pytest.mark.parametrize("operation", [
    "get_domain_permissions_policy",
    "put_domain_permissions_policy",
    "delete_domain_permissions_policy",
])
def test_domain_policy_operations_on_a_missing_domain_are_denied_not_not_found(
        server: ServerProcess, outsider: tuple[str, Any], operation: str) -> None:
    _, api = outsider
    extra = {"policyDocument": _policy({"Effect": "Allow", "Principal": "*", "Action": "*"})} \
        if operation.startswith("put") else {}
    code, status, _ = _refused(lambda: getattr(api, operation)(domain=unique_name("nodomain"),
                                                               **extra))
    assert (code, status) == ("AccessDeniedException", 403)


def _simple(server: ServerProcess, domain: str, repository: str, token: str) -> httpx.Response:
    return httpx.get(f"{server.url}/{domain}-{ACCOUNT}/pypi/{repository}/simple/",
                     auth=("aws", token), trust_env=False, timeout=30)


def test_garbage_token_gets_401_whether_or_not_the_domain_exists(server: ServerProcess) -> None:
    domain, repo = _domain_and_repository(server, "garbage")
    garbage = secrets.token_urlsafe(48)
    real = _simple(server, domain, repo, garbage)
    nodomain = unique_name("nodomain")
    missing = _simple(server, nodomain, repo, garbage)
    assert (real.status_code, missing.status_code) == (401, 401)
    # Alike but for the domain each URL named (the login command the message ends with).
    assert real.text.replace(domain, "D") == missing.text.replace(nodomain, "D")
    assert f"--domain {nodomain} " in missing.text
    assert real.headers["www-authenticate"] == missing.headers["www-authenticate"]


def test_valid_token_for_a_missing_domain_is_a_token_for_another_domain(
        server: ServerProcess) -> None:
    domain, repo = _domain_and_repository(server, "elsewhere")
    other, _ = _domain_and_repository(server, "other")
    token = _client("codeartifact", server).get_authorization_token(
        domain=domain)["authorizationToken"]
    existing = _simple(server, other, repo, token)
    nodomain = unique_name("nodomain")
    missing = _simple(server, nodomain, repo, token)
    assert (existing.status_code, missing.status_code) == (401, 401)
    assert existing.text.replace(other, "D") == missing.text.replace(nodomain, "D")


def test_token_without_read_access_gets_403_for_a_missing_repository(
        server: ServerProcess) -> None:
    domain, repo = _domain_and_repository(server, "noread")
    iam = _client("iam", server)
    name = unique_name("tokenonly")
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="token-only", PolicyDocument=_policy(
        {"Effect": "Allow", "Action": "codeartifact:GetAuthorizationToken", "Resource": "*"},
        {"Effect": "Allow", "Action": "sts:GetServiceBearerToken", "Resource": "*"}))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    api = _client("codeartifact", server, Credentials(key["AccessKeyId"],
                                                      key["SecretAccessKey"]))
    token = api.get_authorization_token(domain=domain)["authorizationToken"]
    existing = _simple(server, domain, repo, token)
    missing = _simple(server, domain, "no-such-repo", token)
    assert (existing.status_code, missing.status_code) == (403, 403)
    assert "codeartifact:ReadFromRepository" in missing.text


# ------------------------------------------------------------------ aws:UserAgent

_BLOCKED_TOOL = "blocked-tool/1.0"


def _user_blocking_a_tool(server: ServerProcess, prefix: str, action: str) -> Credentials:
    """A new user allowed everything but ``action`` from clients whose User-Agent names
    ``_BLOCKED_TOOL``."""
    iam = _client("iam", server)
    name = unique_name(prefix)
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="no-blocked-tool", PolicyDocument=_policy(
        {"Effect": "Allow", "Action": ["codeartifact:*", "sts:GetServiceBearerToken"],
         "Resource": "*"},
        {"Effect": "Deny", "Action": action, "Resource": "*",
         "Condition": {"StringLike": {"aws:UserAgent": "*blocked-tool/*"}}}))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return Credentials(key["AccessKeyId"], key["SecretAccessKey"])


def test_regression_user_agent_condition_applies_to_signed_api_requests(
        server: ServerProcess) -> None:
    # aws:UserAgent was never in the request context: a Deny on it never applied.
    creds = _user_blocking_a_tool(server, "uaapi", "codeartifact:ListDomains")
    session = boto3.session.Session(aws_access_key_id=creds.access_key_id,
                                    aws_secret_access_key=creds.secret_access_key,
                                    region_name=DEFAULT_REGION)
    plain = session.client("codeartifact", endpoint_url=server.url, config=botocore.config.Config(
        retries={"max_attempts": 1, "mode": "standard"}))
    blocked = session.client("codeartifact", endpoint_url=server.url,
                             config=botocore.config.Config(
                                 retries={"max_attempts": 1, "mode": "standard"},
                                 user_agent_extra=_BLOCKED_TOOL))
    assert "domains" in plain.list_domains()
    code, status, message = _refused(blocked.list_domains)
    assert (code, status) == ("AccessDeniedException", 403)
    assert "codeartifact:ListDomains" in message and "explicit deny" in message


def test_regression_user_agent_condition_applies_to_package_reads(server: ServerProcess) -> None:
    domain, repo = _domain_and_repository(server, "uapkg")
    creds = _user_blocking_a_tool(server, "uapkg", "codeartifact:ReadFromRepository")
    token = _client("codeartifact", server, creds).get_authorization_token(
        domain=domain)["authorizationToken"]
    url = f"{server.url}/{domain}-{ACCOUNT}/pypi/{repo}/simple/"

    def read(user_agent: str) -> httpx.Response:
        return httpx.get(url, auth=("aws", token), headers={"User-Agent": user_agent},
                         trust_env=False, timeout=30)

    # The same token, twice each way: a grant kept for one client is not reused for another.
    for _ in range(2):
        assert read("pip/24.0 CPython/3.11").status_code == 200
        refused = read(f"curl/8.5 {_BLOCKED_TOOL}")
        assert refused.status_code == 403
        assert "codeartifact:ReadFromRepository" in refused.text
