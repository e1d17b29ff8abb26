"""Access control as AWS does it, through the real AWS CLI, boto3, twine and pip.

First the CodeArtifact tutorial's access setup: an administrator creates ``test-user`` with an
identity policy that allows ``sts:GetServiceBearerToken`` for CodeArtifact, a domain policy that
lets that user get tokens, and a repository policy with ``PublishPackages`` and
``InstallPackages`` statements; the user then publishes with twine and installs with pip. Then
the cases that must be refused.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import boto3
import botocore.config
import httpx
import pytest
from botocore.exceptions import ClientError

from tests.integration.helpers import (
    DEFAULT_ACCOUNT,
    DEFAULT_REGION,
    AwsCli,
    ClientHome,
    Credentials,
    DistFactory,
    DistSpec,
    ServerProcess,
    codeartifact_client,
    make_venv,
    run,
    server_env,
    tool,
    unique_name,
)

ACCOUNT = DEFAULT_ACCOUNT
BEARER_TOKEN_FOR_CODEARTIFACT = {
    "Effect": "Allow",
    "Action": "sts:GetServiceBearerToken",
    "Resource": "*",
    "Condition": {"StringEquals": {"sts:AWSServiceName": "codeartifact.amazonaws.com"}},
}


def _policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)}, indent=4)


def tutorial_identity_policy() -> str:
    return _policy(BEARER_TOKEN_FOR_CODEARTIFACT)


def tutorial_domain_policy(user_arn: str) -> str:
    return _policy({"Effect": "Allow", "Principal": {"AWS": user_arn},
                    "Action": "codeartifact:GetAuthorizationToken", "Resource": "*"})


def tutorial_repository_policy(user_arn: str, domain: str, repository: str) -> str:
    return _policy(
        {"Sid": "PublishPackages", "Effect": "Allow", "Principal": {"AWS": user_arn},
         "Action": ["codeartifact:PublishPackageVersion", "codeartifact:PutPackageMetadata"],
         "Resource": f"arn:aws:codeartifact:{DEFAULT_REGION}:{ACCOUNT}:package/{domain}/"
                     f"{repository}/*"},
        {"Sid": "InstallPackages", "Effect": "Allow", "Principal": {"AWS": user_arn},
         "Action": ["codeartifact:DescribePackageVersion", "codeartifact:DescribeRepository",
                    "codeartifact:GetPackageVersionReadme", "codeartifact:GetRepositoryEndpoint",
                    "codeartifact:ListPackages", "codeartifact:ListPackageVersions",
                    "codeartifact:ListPackageVersionAssets",
                    "codeartifact:ListPackageVersionDependencies",
                    "codeartifact:ReadFromRepository"],
         "Resource": "*"})


def _client(service: str, endpoint: str, creds: Credentials, token: str | None = None) -> Any:
    session = boto3.session.Session(aws_access_key_id=creds.access_key_id,
                                    aws_secret_access_key=creds.secret_access_key,
                                    aws_session_token=token, region_name=DEFAULT_REGION)
    config = botocore.config.Config(retries={"max_attempts": 1, "mode": "standard"})
    return session.client(service, endpoint_url=endpoint, config=config)


def _error(info: pytest.ExceptionInfo[ClientError]) -> tuple[str, int, str]:
    response = info.value.response
    return (response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"],
            response["Error"]["Message"])


def _simple_status(endpoint: str, token: str) -> int:
    response = httpx.get(f"{endpoint}simple/", auth=("aws", token), trust_env=False,
                         timeout=30)
    return response.status_code


def _wait_for_status(endpoint: str, token: str, status: int, within: float) -> float:
    """Seconds until the index answers ``status``; fails after ``within`` seconds."""
    start = time.monotonic()
    while True:
        if _simple_status(endpoint, token) == status:
            return time.monotonic() - start
        if time.monotonic() - start > within:
            pytest.fail(f"the index did not answer {status} within {within} s")
        time.sleep(0.1)


@dataclass
class Admin:
    """Root, through the AWS CLI, with helpers for the setup steps: through the CLI for the
    tutorial (``cli=True``), through boto3 where the setup is not what the test is about (a
    CLI command costs ~0.5 s of CPU, a boto3 call a few milliseconds)."""

    aws: AwsCli
    workdir: Path

    def file(self, text: str) -> str:
        path = self.workdir / f"doc-{secrets.token_hex(4)}.json"
        path.write_text(text)
        return f"file://{path}"

    def client(self, service: str) -> Any:
        return _client(service, self.aws.endpoint, self.aws.home.credentials)

    def user_with_key(self, name: str, *, cli: bool = False) -> tuple[str, Credentials]:
        if cli:
            arn = self.aws.json("iam", "create-user", "--user-name", name)["User"]["Arn"]
            key = self.aws.json("iam", "create-access-key", "--user-name", name)["AccessKey"]
        else:
            iam = self.client("iam")
            arn = iam.create_user(UserName=name)["User"]["Arn"]
            key = iam.create_access_key(UserName=name)["AccessKey"]
        return arn, Credentials(key["AccessKeyId"], key["SecretAccessKey"])

    def domain_and_repository(self, prefix: str, *, cli: bool = False) -> tuple[str, str, str]:
        domain = unique_name(prefix)
        if cli:
            self.aws.run("codeartifact", "create-domain", "--domain", domain)
            self.aws.run("codeartifact", "create-repository", "--domain", domain,
                         "--repository", "my-repo")
            endpoint = self.aws.json("codeartifact", "get-repository-endpoint", "--domain",
                                     domain, "--repository", "my-repo", "--format",
                                     "pypi")["repositoryEndpoint"]
        else:
            api = self.client("codeartifact")
            api.create_domain(domain=domain)
            api.create_repository(domain=domain, repository="my-repo")
            endpoint = api.get_repository_endpoint(domain=domain, repository="my-repo",
                                                   format="pypi")["repositoryEndpoint"]
        return domain, "my-repo", endpoint


@pytest.fixture(scope="module")
def admin(server: ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> Admin:
    home = ClientHome(tmp_path_factory.mktemp("admin-home"))
    return Admin(AwsCli(server.url, home), tmp_path_factory.mktemp("admin-docs"))


def _user_cli(server: ServerProcess, root: Path, creds: Credentials) -> AwsCli:
    return AwsCli(server.url, ClientHome(root, credentials=creds))


# ------------------------------------------------------------------ the tutorial

@dataclass
class Tutorial:
    domain: str
    repository: str
    endpoint: str
    user_arn: str
    user: AwsCli
    dist_dir: Path
    spec: DistSpec


@pytest.fixture(scope="module")
def tutorial(server: ServerProcess, admin: Admin, dists: DistFactory,
             tmp_path_factory: pytest.TempPathFactory) -> Tutorial:
    domain, repository, endpoint = admin.domain_and_repository("tutorial-acl", cli=True)
    user_arn, creds = admin.user_with_key("test-user", cli=True)
    assert user_arn == f"arn:aws:iam::{ACCOUNT}:user/test-user"
    admin.aws.run("iam", "put-user-policy", "--user-name", "test-user", "--policy-name",
                  "CodeArtifactBearerToken", "--policy-document",
                  admin.file(tutorial_identity_policy()))
    admin.aws.run("codeartifact", "put-domain-permissions-policy", "--domain", domain,
                  "--domain-owner", ACCOUNT, "--policy-document",
                  admin.file(tutorial_domain_policy(user_arn)))
    admin.aws.run("codeartifact", "put-repository-permissions-policy", "--domain", domain,
                  "--domain-owner", ACCOUNT, "--repository", repository, "--policy-document",
                  admin.file(tutorial_repository_policy(user_arn, domain, repository)))
    spec = DistSpec(name=f"acl_demo.{secrets.token_hex(3)}", version="1.0")
    dist_dir = tmp_path_factory.mktemp("acl-dist")
    for dist in dists.both(spec):
        (dist_dir / dist.filename).write_bytes(dist.data)
    user = _user_cli(server, tmp_path_factory.mktemp("test-user-home"), creds)
    return Tutorial(domain, repository, endpoint, user_arn, user, dist_dir, spec)


def test_policies_read_back_as_written(tutorial: Tutorial, admin: Admin) -> None:
    got = admin.aws.json("codeartifact", "get-repository-permissions-policy", "--domain",
                         tutorial.domain, "--repository", tutorial.repository)["policy"]
    assert json.loads(got["document"]) == json.loads(tutorial_repository_policy(
        tutorial.user_arn, tutorial.domain, tutorial.repository))
    assert got["resourceArn"] == (f"arn:aws:codeartifact:{DEFAULT_REGION}:{ACCOUNT}:repository/"
                                  f"{tutorial.domain}/{tutorial.repository}")
    inline = admin.aws.json("iam", "get-user-policy", "--user-name", "test-user",
                            "--policy-name", "CodeArtifactBearerToken")
    assert inline["PolicyDocument"] == json.loads(tutorial_identity_policy())


def test_user_is_who_sts_says(tutorial: Tutorial) -> None:
    identity = tutorial.user.json("sts", "get-caller-identity")
    assert identity["Arn"] == tutorial.user_arn and identity["Account"] == ACCOUNT
    assert identity["UserId"].startswith("AIDA")


def test_user_publishes_with_twine_and_installs_with_pip(tutorial: Tutorial,
                                                         tmp_path: Path) -> None:
    user = tutorial.user
    user.run("codeartifact", "login", "--tool", "twine", "--domain", tutorial.domain,
             "--domain-owner", ACCOUNT, "--repository", tutorial.repository)
    run([tool("twine"), "upload", "--non-interactive", "-r", "codeartifact",
         *sorted(str(p) for p in tutorial.dist_dir.iterdir())], user.home.env())
    user.run("codeartifact", "login", "--tool", "pip", "--domain", tutorial.domain,
             "--domain-owner", ACCOUNT, "--repository", tutorial.repository)
    python = make_venv(tmp_path / "venv", user.home)
    run([tool("pip"), "--python", python, "install", "--no-cache-dir", tutorial.spec.name],
        user.home.env())
    out = run([python, "-c", f"import {tutorial.spec.module} as m; print(m.VALUE)"],
              user.home.env()).stdout
    assert out.strip() == f"{tutorial.spec.name} 1.0"


@pytest.mark.parametrize("command", [
    ["codeartifact", "list-domains"],
    ["codeartifact", "create-repository", "--repository", "intruder"],
    ["codeartifact", "delete-repository", "--repository", "my-repo"],
    ["codeartifact", "get-repository-permissions-policy", "--repository", "my-repo"],
    ["iam", "list-users"],
])
def test_user_can_do_nothing_more(tutorial: Tutorial, command: list[str]) -> None:
    if command[0] == "codeartifact" and command[1] != "list-domains":
        command = [*command, "--domain", tutorial.domain]
    proc = tutorial.user.fails(*command)
    code = "AccessDenied" if command[0] == "iam" else "AccessDeniedException"
    assert f"An error occurred ({code})" in proc.stderr
    assert f"User: {tutorial.user_arn} is not authorized to perform" in proc.stderr


# ------------------------------------------------------------------ refused cases

def test_user_with_no_policy_gets_no_token(server: ServerProcess, admin: Admin,
                                           tutorial: Tutorial, tmp_path: Path) -> None:
    name = unique_name("nopolicy")
    arn, creds = admin.user_with_key(name)
    proc = _user_cli(server, tmp_path / "home", creds).fails(
        "codeartifact", "get-authorization-token", "--domain", tutorial.domain)
    assert "(AccessDeniedException) when calling the GetAuthorizationToken operation" in (
        proc.stderr)
    assert (f"User: {arn} is not authorized to perform: codeartifact:GetAuthorizationToken on "
            f"resource: arn:aws:codeartifact:{DEFAULT_REGION}:{ACCOUNT}:domain/"
            f"{tutorial.domain} because no identity-based policy allows") in proc.stderr


def test_read_only_user_cannot_publish_with_twine(server: ServerProcess, admin: Admin,
                                                  dists: DistFactory, tmp_path: Path) -> None:
    domain, repository, endpoint = admin.domain_and_repository("readonly")
    name = unique_name("reader")
    _, creds = admin.user_with_key(name)
    admin.aws.run("iam", "attach-user-policy", "--user-name", name, "--policy-arn",
                  "arn:aws:iam::aws:policy/AWSCodeArtifactReadOnlyAccess")
    reader = _user_cli(server, tmp_path / "home", creds)
    reader.run("codeartifact", "login", "--tool", "twine", "--domain", domain,
               "--repository", repository)
    wheel = dists.wheel(DistSpec(name=f"ro_demo.{secrets.token_hex(3)}", version="1.0"))
    proc = run([tool("twine"), "upload", "--non-interactive", "-r", "codeartifact",
                str(wheel.path)], reader.home.env(), check=False)
    assert proc.returncode != 0
    output = proc.stdout + proc.stderr
    assert "403" in output, output
    # Reading is allowed: the index answers with the same kind of token.
    token = reader.json("codeartifact", "get-authorization-token", "--domain",
                        domain)["authorizationToken"]
    assert _simple_status(endpoint, token) == 200


def test_explicit_deny_overrides_allow(server: ServerProcess, admin: Admin, dists: DistFactory,
                                       tmp_path: Path) -> None:
    domain, repository, endpoint = admin.domain_and_repository("deny")
    name = unique_name("denied")
    _, creds = admin.user_with_key(name)
    admin.aws.run("iam", "attach-user-policy", "--user-name", name, "--policy-arn",
                  "arn:aws:iam::aws:policy/AWSCodeArtifactAdminAccess")
    admin.aws.run("iam", "put-user-policy", "--user-name", name, "--policy-name", "NoPublish",
                  "--policy-document", admin.file(_policy(
                      {"Effect": "Deny", "Action": "codeartifact:PublishPackageVersion",
                       "Resource": f"arn:aws:codeartifact:*:*:package/{domain}/*"})))
    user = _user_cli(server, tmp_path / "home", creds)
    token = user.json("codeartifact", "get-authorization-token", "--domain",
                      domain)["authorizationToken"]
    wheel = dists.wheel(DistSpec(name=f"deny_demo.{secrets.token_hex(3)}", version="1.0"))
    response = httpx.post(endpoint, auth=("aws", token), trust_env=False, timeout=60,
                          data=wheel.form_fields(),
                          files={"content": (wheel.filename, wheel.data)})
    assert response.status_code == 403, response.text
    assert "with an explicit deny in an identity-based policy" in response.text
    # The same user may still do everything else the Allow grants.
    assert _simple_status(endpoint, token) == 200


def test_explicit_deny_in_a_repository_policy_binds_even_root(admin: Admin) -> None:
    domain, repository, endpoint = admin.domain_and_repository("rootdeny")
    admin.aws.run("codeartifact", "put-repository-permissions-policy", "--domain", domain,
                  "--repository", repository, "--policy-document", admin.file(_policy(
                      {"Effect": "Deny", "Principal": "*",
                       "Action": "codeartifact:ReadFromRepository", "Resource": "*"})))
    token = admin.aws.json("codeartifact", "get-authorization-token", "--domain",
                           domain)["authorizationToken"]
    assert _simple_status(endpoint, token) == 403
    # The owner can always remove the policy that locks them out.
    admin.aws.run("codeartifact", "delete-repository-permissions-policy", "--domain", domain,
                  "--repository", repository)
    assert _simple_status(endpoint, token) == 200


def test_wrong_sts_service_name_gets_no_token(server: ServerProcess, admin: Admin,
                                              tmp_path: Path) -> None:
    domain, _, _ = admin.domain_and_repository("wrongsvc")
    name = unique_name("wrongsvc")
    arn, creds = admin.user_with_key(name)
    admin.aws.run("iam", "put-user-policy", "--user-name", name, "--policy-name", "p",
                  "--policy-document", admin.file(_policy(
                      {"Effect": "Allow", "Action": "codeartifact:*", "Resource": "*"},
                      {**BEARER_TOKEN_FOR_CODEARTIFACT, "Condition": {"StringEquals": {
                          "sts:AWSServiceName": "codeguru-reviewer.amazonaws.com"}}})))
    proc = _user_cli(server, tmp_path / "home", creds).fails(
        "codeartifact", "get-authorization-token", "--domain", domain)
    assert (f"User: {arn} is not authorized to perform: sts:GetServiceBearerToken because no "
            "identity-based policy allows the sts:GetServiceBearerToken action") in proc.stderr


def test_token_duration_limited_by_sts_duration_seconds(server: ServerProcess, admin: Admin,
                                                        tmp_path: Path) -> None:
    domain, _, _ = admin.domain_and_repository("duration")
    name = unique_name("hourly")
    _, creds = admin.user_with_key(name)
    admin.aws.run("iam", "put-user-policy", "--user-name", name, "--policy-name", "p",
                  "--policy-document", admin.file(_policy(
                      {"Effect": "Allow", "Action": "codeartifact:*", "Resource": "*"},
                      {**BEARER_TOKEN_FOR_CODEARTIFACT, "Condition": {
                          "StringEquals": {"sts:AWSServiceName": "codeartifact.amazonaws.com"},
                          "NumericLessThanEquals": {"sts:DurationSeconds": 3600}}})))
    user = _user_cli(server, tmp_path / "home", creds)
    user.run("codeartifact", "get-authorization-token", "--domain", domain,
             "--duration-seconds", "3600")
    proc = user.fails("codeartifact", "get-authorization-token", "--domain", domain)
    assert "sts:GetServiceBearerToken" in proc.stderr


def test_deleted_users_token_stops_working(admin: Admin) -> None:
    domain, _, endpoint = admin.domain_and_repository("deleted")
    name = unique_name("leaver")
    _, creds = admin.user_with_key(name)
    admin.aws.run("iam", "attach-user-policy", "--user-name", name, "--policy-arn",
                  "arn:aws:iam::aws:policy/AWSCodeArtifactReadOnlyAccess")
    api = _client("codeartifact", admin.aws.endpoint, creds)
    token = api.get_authorization_token(domain=domain)["authorizationToken"]
    assert _simple_status(endpoint, token) == 200
    # IAM refuses to delete a user that still has keys or policies, as AWS does.
    proc = admin.aws.fails("iam", "delete-user", "--user-name", name)
    assert "(DeleteConflict)" in proc.stderr
    admin.aws.run("iam", "delete-access-key", "--user-name", name, "--access-key-id",
                  creds.access_key_id)
    admin.aws.run("iam", "detach-user-policy", "--user-name", name, "--policy-arn",
                  "arn:aws:iam::aws:policy/AWSCodeArtifactReadOnlyAccess")
    admin.aws.run("iam", "delete-user", "--user-name", name)
    _wait_for_status(endpoint, token, 401, within=5.5)


def test_deactivated_key_stops_its_tokens(admin: Admin) -> None:
    domain, _, endpoint = admin.domain_and_repository("inactive")
    name = unique_name("paused")
    _, creds = admin.user_with_key(name)
    admin.aws.run("iam", "attach-user-policy", "--user-name", name, "--policy-arn",
                  "arn:aws:iam::aws:policy/AWSCodeArtifactReadOnlyAccess")
    token = _client("codeartifact", admin.aws.endpoint, creds).get_authorization_token(
        domain=domain)["authorizationToken"]
    admin.aws.run("iam", "update-access-key", "--user-name", name, "--access-key-id",
                  creds.access_key_id, "--status", "Inactive")
    _wait_for_status(endpoint, token, 401, within=5.5)
    admin.aws.run("iam", "update-access-key", "--user-name", name, "--access-key-id",
                  creds.access_key_id, "--status", "Active")
    _wait_for_status(endpoint, token, 200, within=5.5)


def test_revoked_token_stops_within_five_seconds(server: ServerProcess, admin: Admin) -> None:
    domain, _, endpoint = admin.domain_and_repository("revoked")
    token = admin.aws.json("codeartifact", "get-authorization-token", "--domain",
                           domain)["authorizationToken"]
    assert _simple_status(endpoint, token) == 200  # now cached by the server as valid
    # The `packyard token` command group, run against the live server's data directory.
    command = [str(tool("packyard")), "token"]
    listed = run([*command, "list", "--data-dir", str(server.data_dir), "--domain", domain,
                  "--output", "json"], server_env())
    [info] = json.loads(listed.stdout)
    assert info["principal"] == f"arn:aws:iam::{ACCOUNT}:root" and info["state"] == "active"
    run([*command, "revoke", info["id"], "--data-dir", str(server.data_dir)], server_env())
    elapsed = _wait_for_status(endpoint, token, 401, within=6.0)
    assert elapsed <= 5.5


# ------------------------------------------------------------------ roles and STS

def _trust(principal_arn: str) -> str:
    return _policy({"Effect": "Allow", "Principal": {"AWS": principal_arn},
                    "Action": "sts:AssumeRole"})


def test_assume_role_with_the_cli(server: ServerProcess, admin: Admin, tmp_path: Path) -> None:
    domain, _, endpoint = admin.domain_and_repository("role")
    name, role = unique_name("assumer"), unique_name("ci-role")
    user_arn, creds = admin.user_with_key(name)
    role_arn = admin.aws.json("iam", "create-role", "--role-name", role,
                              "--assume-role-policy-document",
                              admin.file(_trust(user_arn)))["Role"]["Arn"]
    admin.aws.run("iam", "attach-role-policy", "--role-name", role, "--policy-arn",
                  "arn:aws:iam::aws:policy/AWSCodeArtifactReadOnlyAccess")
    user = _user_cli(server, tmp_path / "home", creds)
    out = user.json("sts", "assume-role", "--role-arn", role_arn, "--role-session-name", "s1",
                    "--duration-seconds", "900")
    session = out["Credentials"]
    assert out["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/s1"
    as_role = {"AWS_ACCESS_KEY_ID": session["AccessKeyId"],
               "AWS_SECRET_ACCESS_KEY": session["SecretAccessKey"],
               "AWS_SESSION_TOKEN": session["SessionToken"]}
    identity = json.loads(user.run("sts", "get-caller-identity", extra_env=as_role).stdout)
    assert identity["Arn"] == out["AssumedRoleUser"]["Arn"]
    assert identity["UserId"] == out["AssumedRoleUser"]["AssumedRoleId"]
    token = json.loads(user.run("codeartifact", "get-authorization-token", "--domain", domain,
                                "--duration-seconds", "0", extra_env=as_role).stdout)
    # A token never outlives the session that asked for it.
    expiration = datetime.fromtimestamp(float(token["expiration"]), UTC)
    session_end = datetime.fromisoformat(session["Expiration"].replace("Z", "+00:00"))
    assert abs(expiration - session_end) < timedelta(seconds=2)
    assert _simple_status(endpoint, token["authorizationToken"]) == 200
    # The role's policies are read-only.
    proc = user.run("codeartifact", "create-repository", "--domain", domain, "--repository",
                    "nope", extra_env=as_role, check=False)
    assert proc.returncode != 0 and "AccessDeniedException" in proc.stderr
    # Without the session token the temporary key is not recognized.
    proc = user.run("sts", "get-caller-identity", check=False,
                    extra_env={**as_role, "AWS_SESSION_TOKEN": ""})
    assert "(InvalidClientTokenId)" in proc.stderr


def test_assume_role_refused_when_the_trust_policy_names_someone_else(
        admin: Admin) -> None:
    _, creds = admin.user_with_key(unique_name("outsider"))
    someone = admin.aws.json("iam", "create-user", "--user-name",
                             unique_name("someone"))["User"]["Arn"]
    role = unique_name("private-role")
    role_arn = admin.aws.json("iam", "create-role", "--role-name", role,
                              "--assume-role-policy-document",
                              admin.file(_trust(someone)))["Role"]["Arn"]
    sts = _client("sts", admin.aws.endpoint, creds)
    with pytest.raises(ClientError) as info:
        sts.assume_role(RoleArn=role_arn, RoleSessionName="s1")
    code, status, message = _error(info)
    assert (code, status) == ("AccessDenied", 403)
    assert f"is not authorized to perform: sts:AssumeRole on resource: {role_arn}" in message
    # Root cannot assume roles at all, as in AWS.
    with pytest.raises(ClientError) as info:
        _client("sts", admin.aws.endpoint, admin.aws.home.credentials).assume_role(
            RoleArn=role_arn, RoleSessionName="s1")
    assert _error(info)[2] == "Roles may not be assumed by root accounts."


def test_expired_role_session_and_its_token(server_factory: Any, tmp_path: Path) -> None:
    server = server_factory()
    admin = Admin(AwsCli(server.url, ClientHome(tmp_path / "admin")), tmp_path)
    domain = unique_name("expiry")
    admin.aws.run("codeartifact", "create-domain", "--domain", domain)
    admin.aws.run("codeartifact", "create-repository", "--domain", domain,
                  "--repository", "repo")
    user_arn, creds = admin.user_with_key("temp-user")
    role_arn = admin.aws.json("iam", "create-role", "--role-name", "temp-role",
                              "--assume-role-policy-document",
                              admin.file(_trust(user_arn)))["Role"]["Arn"]
    admin.aws.run("iam", "attach-role-policy", "--role-name", "temp-role", "--policy-arn",
                  "arn:aws:iam::aws:policy/AWSCodeArtifactReadOnlyAccess")
    session = _client("sts", server.url, creds).assume_role(
        RoleArn=role_arn, RoleSessionName="short", DurationSeconds=900)["Credentials"]
    role_creds = Credentials(session["AccessKeyId"], session["SecretAccessKey"])
    api = _client("codeartifact", server.url, role_creds, session["SessionToken"])
    token = api.get_authorization_token(domain=domain)
    assert abs(token["expiration"] - session["Expiration"]) < timedelta(seconds=2)

    # Sixteen minutes later (the server restarted with its clock moved on; the client signs
    # with the same clock): the session and its token have expired.
    server.stop()
    later = server_factory(env={"PACKYARD_CLOCK_OFFSET_SECONDS": str(16 * 60)},
                           data_dir=server.data_dir)
    api = _client("codeartifact", later.url, role_creds, session["SessionToken"])
    with mock.patch("botocore.auth.get_current_datetime",
                    return_value=datetime.now(UTC) + timedelta(minutes=16)), \
            pytest.raises(ClientError) as info:
        api.list_repositories_in_domain(domain=domain)
    assert _error(info) == ("ExpiredTokenException", 403,
                            "The security token included in the request is expired")
    endpoint = f"{later.url}/{domain}-{ACCOUNT}/pypi/repo/"
    response = httpx.get(f"{endpoint}simple/", auth=("aws", token["authorizationToken"]),
                         trust_env=False)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Basic realm="packyard"'


# ------------------------------------------------------------------ the IAM API with boto3

def test_iam_entities_with_boto3(admin: Admin) -> None:
    iam = _client("iam", admin.aws.endpoint, admin.aws.home.credentials)
    user, role, policy_name = unique_name("u"), unique_name("r"), unique_name("p")
    created = iam.create_user(UserName=user, Path="/team/")["User"]
    assert created["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/team/{user}"
    assert iam.get_user(UserName=user)["User"]["UserId"] == created["UserId"]
    assert user in [u["UserName"] for u in iam.list_users(PathPrefix="/team/")["Users"]]
    with pytest.raises(ClientError) as info:
        iam.create_user(UserName=user.upper())
    assert _error(info)[:2] == ("EntityAlreadyExists", 409)

    key = iam.create_access_key(UserName=user)["AccessKey"]
    iam.update_access_key(UserName=user, AccessKeyId=key["AccessKeyId"], Status="Inactive")
    [listed] = iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
    assert (listed["AccessKeyId"], listed["Status"]) == (key["AccessKeyId"], "Inactive")
    assert "SecretAccessKey" not in listed

    document = json.loads(tutorial_identity_policy())
    iam.put_user_policy(UserName=user, PolicyName="inline", PolicyDocument=json.dumps(document))
    assert iam.get_user_policy(UserName=user, PolicyName="inline")["PolicyDocument"] == document
    assert iam.list_user_policies(UserName=user)["PolicyNames"] == ["inline"]
    with pytest.raises(ClientError) as info:
        iam.put_user_policy(UserName=user, PolicyName="bad", PolicyDocument='{"Statement": []}')
    code, status, message = _error(info)
    assert (code, status) == ("MalformedPolicyDocument", 400)
    assert "Statement must be an object or a non-empty list" in message

    arn = iam.create_policy(PolicyName=policy_name,
                            PolicyDocument=json.dumps(document))["Policy"]["Arn"]
    iam.attach_user_policy(UserName=user, PolicyArn=arn)
    attached = iam.list_attached_user_policies(UserName=user)["AttachedPolicies"]
    assert attached == [{"PolicyName": policy_name, "PolicyArn": arn}]
    assert iam.get_policy(PolicyArn=arn)["Policy"]["AttachmentCount"] == 1
    assert arn in [p["Arn"] for p in iam.list_policies(Scope="Local")["Policies"]]
    with pytest.raises(ClientError) as info:
        iam.delete_user(UserName=user)
    assert _error(info)[:2] == ("DeleteConflict", 409)

    trust = _trust(created["Arn"])
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=trust, MaxSessionDuration=7200)
    got = iam.get_role(RoleName=role)["Role"]
    assert got["AssumeRolePolicyDocument"] == json.loads(trust)
    assert got["MaxSessionDuration"] == 7200
    assert role in [r["RoleName"] for r in iam.list_roles()["Roles"]]
    iam.put_role_policy(RoleName=role, PolicyName="inline", PolicyDocument=json.dumps(document))
    assert iam.get_role_policy(RoleName=role, PolicyName="inline")["PolicyDocument"] == document
    assert iam.list_role_policies(RoleName=role)["PolicyNames"] == ["inline"]
    iam.attach_role_policy(RoleName=role, PolicyArn=arn)
    assert iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"][0]["PolicyArn"] == arn

    # Tear down in the order IAM requires.
    iam.detach_role_policy(RoleName=role, PolicyArn=arn)
    iam.delete_role_policy(RoleName=role, PolicyName="inline")
    iam.delete_role(RoleName=role)
    iam.detach_user_policy(UserName=user, PolicyArn=arn)
    iam.delete_policy(PolicyArn=arn)
    iam.delete_user_policy(UserName=user, PolicyName="inline")
    iam.delete_access_key(UserName=user, AccessKeyId=key["AccessKeyId"])
    iam.delete_user(UserName=user)
    with pytest.raises(ClientError) as info:
        iam.get_user(UserName=user)
    assert _error(info) == ("NoSuchEntity", 404, f"The user with name {user} cannot be found.")


def test_aws_managed_policies_are_listed(admin: Admin) -> None:
    policies = admin.aws.json("iam", "list-policies", "--scope", "AWS")["Policies"]
    arns = {p["Arn"] for p in policies}
    assert {"arn:aws:iam::aws:policy/AWSCodeArtifactAdminAccess",
            "arn:aws:iam::aws:policy/AWSCodeArtifactReadOnlyAccess"} <= arns
    version = admin.aws.json("iam", "get-policy-version", "--policy-arn",
                             "arn:aws:iam::aws:policy/AWSCodeArtifactAdminAccess",
                             "--version-id", "v1")["PolicyVersion"]
    assert version["Document"]["Statement"][0]["Action"] == ["codeartifact:*"]


def test_root_caller_identity(admin: Admin) -> None:
    identity = admin.aws.json("sts", "get-caller-identity")
    assert identity == {"UserId": ACCOUNT, "Account": ACCOUNT,
                        "Arn": f"arn:aws:iam::{ACCOUNT}:root"}


def test_iam_with_a_wrong_secret(admin: Admin) -> None:
    iam = _client("iam", admin.aws.endpoint,
                  Credentials(admin.aws.home.credentials.access_key_id, "wrong"))
    with pytest.raises(ClientError) as info:
        iam.list_users()
    assert _error(info)[:2] == ("SignatureDoesNotMatch", 403)


# ------------------------------------------------------------------ CodeArtifact policy operations

def test_policy_revision_is_checked(admin: Admin) -> None:
    domain, _, _ = admin.domain_and_repository("revision")
    api = codeartifact_client(admin.aws.endpoint, admin.aws.home.credentials)
    document = tutorial_domain_policy(f"arn:aws:iam::{ACCOUNT}:user/test-user")
    first = api.put_domain_permissions_policy(domain=domain, policyDocument=document)["policy"]
    second = api.put_domain_permissions_policy(domain=domain, policyDocument=document,
                                               policyRevision=first["revision"])["policy"]
    assert second["revision"] != first["revision"]
    with pytest.raises(ClientError) as info:
        api.put_domain_permissions_policy(domain=domain, policyDocument=document,
                                          policyRevision=first["revision"])
    assert _error(info)[:2] == ("ConflictException", 409)
    with pytest.raises(ClientError) as info:
        api.delete_domain_permissions_policy(domain=domain, policyRevision=first["revision"])
    assert _error(info)[:2] == ("ConflictException", 409)
    deleted = api.delete_domain_permissions_policy(domain=domain,
                                                   policyRevision=second["revision"])["policy"]
    assert deleted["revision"] == second["revision"]
    with pytest.raises(ClientError) as info:
        api.get_domain_permissions_policy(domain=domain)
    assert _error(info)[:2] == ("ResourceNotFoundException", 404)


@pytest.mark.parametrize(("document", "message"), [
    ("not json", "The policy document is not valid: Policy document is not valid JSON"),
    (_policy({"Effect": "Allow", "Action": "codeartifact:*", "Resource": "*"}),
     "Principal or NotPrincipal is required in a resource-based policy"),
    (_policy({"Effect": "Permit", "Principal": "*", "Action": "codeartifact:*"}),
     "Policy statement 1: Effect must be Allow or Deny"),
])
def test_malformed_repository_policy_is_a_validation_error(admin: Admin, document: str,
                                                           message: str) -> None:
    domain, repository, _ = admin.domain_and_repository("malformed")
    proc = admin.aws.fails("codeartifact", "put-repository-permissions-policy", "--domain",
                           domain, "--repository", repository, "--policy-document",
                           admin.file(document))
    assert "(ValidationException) when calling the PutRepositoryPermissionsPolicy" in proc.stderr
    assert message in proc.stderr
