"""Authentication against a real server: what is refused before a body is read, unsigned
payloads, region scoping, how fast a revocation bites, and which proxy headers are believed."""

from __future__ import annotations

import json
import secrets
import socket
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import botocore.auth
import botocore.config
import botocore.credentials
import httpx
import pytest
from botocore.awsrequest import AWSRequest
from botocore.exceptions import ClientError

from tests.integration.helpers import (
    DEFAULT_ACCOUNT,
    ROOT,
    AwsCli,
    ClientHome,
    Credentials,
    DistFactory,
    DistSpec,
    ServerProcess,
    sign_headers,
    unique_name,
)

ACCOUNT = DEFAULT_ACCOUNT
UNKNOWN = Credentials("AKIANOSUCHKEY0000000", "whatever")
READ_ONLY = "arn:aws:iam::aws:policy/AWSCodeArtifactReadOnlyAccess"


def _client(service: str, server: ServerProcess, creds: Credentials = ROOT,
            region: str = "us-east-1") -> Any:
    session = boto3.session.Session(aws_access_key_id=creds.access_key_id,
                                    aws_secret_access_key=creds.secret_access_key,
                                    region_name=region)
    config = botocore.config.Config(retries={"max_attempts": 1, "mode": "standard"})
    return session.client(service, endpoint_url=server.url, config=config)


def _error(info: pytest.ExceptionInfo[ClientError]) -> tuple[str, int, str]:
    response = info.value.response
    return (response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"],
            response["Error"]["Message"])


# ------------------------------------------------------------------ before the body (item 6)

def _answer_without_sending_the_body(server: ServerProcess, path: str,
                                     headers: dict[str, str], declared_length: int) -> bytes:
    """Send only a request's head, announcing ``declared_length`` body bytes, and return what
    the server answers; a server that waits for the body first times out here."""
    port = urlsplit(server.url).port
    assert port is not None
    head = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}",
            f"Content-Length: {declared_length}"]
    head += [f"{name}: {value}" for name, value in headers.items()
             if name.lower() not in ("host", "content-length")]
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        received = b""
        try:
            while not _complete(received):
                chunk = conn.recv(65536)
                if not chunk:
                    break
                received += chunk
        except TimeoutError:
            pytest.fail(f"no answer before the body was sent; got {received!r}")
    return received


def _complete(response: bytes) -> bool:
    """Whether ``response`` holds a whole HTTP response (head and Content-Length body)."""
    head, separator, body = response.partition(b"\r\n\r\n")
    if not separator:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value)
    return False


def test_unknown_key_with_a_large_body_is_refused_before_the_body_is_read(
        server: ServerProcess) -> None:
    url = f"{server.url}/v1/domains"
    body = b"{" + b" " * (1024 * 1024 - 2) + b"}"  # 1 MiB, the largest body the API takes
    headers = sign_headers("POST", url, UNKNOWN, body=body,
                           headers={"Content-Type": "application/json"})
    answer = _answer_without_sending_the_body(server, "/v1/domains", headers, len(body))
    assert answer.startswith(b"HTTP/1.1 403 "), answer
    assert b"UnrecognizedClientException" in answer
    assert b"The security token included in the request is invalid" in answer


def test_unknown_key_on_the_iam_endpoint_is_refused_before_the_body_is_read(
        server: ServerProcess) -> None:
    body = b"Action=ListUsers&Version=2010-05-08" + b"&Pad=" + b"x" * (1024 * 1024 - 64)
    request = AWSRequest(method="POST", url=f"{server.url}/", data=body,
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
    botocore.auth.SigV4Auth(botocore.credentials.Credentials(
        UNKNOWN.access_key_id, UNKNOWN.secret_access_key), "iam", "us-east-1").add_auth(request)
    headers = {k: str(v) for k, v in request.headers.items()}
    answer = _answer_without_sending_the_body(server, "/", headers, len(body))
    assert answer.startswith(b"HTTP/1.1 403 "), answer
    assert b"<Code>InvalidClientTokenId</Code>" in answer


def test_wrong_region_with_a_large_body_is_refused_before_the_body_is_read(
        server: ServerProcess) -> None:
    url = f"{server.url}/v1/domains"
    body = b"{}" + b" " * 500_000
    headers = sign_headers("POST", url, ROOT, body=body, region="ap-south-1",
                           headers={"Content-Type": "application/json"})
    answer = _answer_without_sending_the_body(server, "/v1/domains", headers, len(body))
    assert answer.startswith(b"HTTP/1.1 403 "), answer
    assert b"Credential should be scoped to a valid region, not 'ap-south-1'." in answer


# ------------------------------------------------------------------ UNSIGNED-PAYLOAD (item 8)

def _unsigned_payload_headers(server: ServerProcess, body: bytes) -> dict[str, str]:
    """ListUsers signed as botocore signs an operation whose body is unsigned (over https,
    the literal UNSIGNED-PAYLOAD); the Host header is the same over http."""
    port = urlsplit(server.url).port
    request = AWSRequest(method="POST", url=f"https://127.0.0.1:{port}/", data=body,
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
    request.context["payload_signing_enabled"] = False
    botocore.auth.SigV4Auth(botocore.credentials.Credentials(
        ROOT.access_key_id, ROOT.secret_access_key), "iam", "us-east-1").add_auth(request)
    headers = {k: str(v) for k, v in request.headers.items()}
    assert headers["X-Amz-Content-SHA256"] == "UNSIGNED-PAYLOAD"
    return headers


def test_unsigned_payload_listusers_cannot_be_replayed_as_createuser(
        server: ServerProcess) -> None:
    list_users = b"Action=ListUsers&Version=2010-05-08"
    headers = _unsigned_payload_headers(server, list_users)
    name = unique_name("replayed")
    create_user = f"Action=CreateUser&UserName={name}&Version=2010-05-08".encode()
    for body in (list_users, create_user):
        response = httpx.post(f"{server.url}/", content=body, headers=headers, trust_env=False)
        assert response.status_code == 403, response.text
        assert "<Code>SignatureDoesNotMatch</Code>" in response.text
        assert ("x-amz-content-sha256: UNSIGNED-PAYLOAD is not accepted by this service"
                in response.text)
    users = _client("iam", server).list_users()["Users"]
    assert name not in [u["UserName"] for u in users]


def test_unsigned_payload_is_refused_by_codeartifact(server: ServerProcess) -> None:
    url = f"{server.url}/v1/domains"
    headers = sign_headers("POST", url, ROOT, body=b"{}",
                           headers={"Content-Type": "application/json",
                                    "X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"})
    response = httpx.post(url, content=b"{}", headers=headers, trust_env=False)
    assert response.status_code == 403, response.text
    assert response.headers["x-amzn-errortype"].startswith("InvalidSignatureException")
    assert "UNSIGNED-PAYLOAD is not accepted" in response.json()["message"]


# ------------------------------------------------------------------ region scoping (item 9)

def test_credential_scope_must_name_the_servers_region(server_factory: Any,
                                                       tmp_path: Path) -> None:
    server = server_factory(env={"PACKYARD_REGION": "eu-west-1"})
    # The AWS CLI configured for the server's region: CodeArtifact, IAM and STS all work.
    cli = AwsCli(server.url, ClientHome(tmp_path / "home", region="eu-west-1"))
    assert cli.json("sts", "get-caller-identity")["Arn"] == f"arn:aws:iam::{ACCOUNT}:root"
    assert "Users" in cli.json("iam", "list-users")
    assert "domains" in cli.json("codeartifact", "list-domains")
    # IAM and STS are global: a client signing them for us-east-1 is accepted too.
    assert "Users" in _client("iam", server, region="us-east-1").list_users()
    _client("sts", server, region="us-east-1").get_caller_identity()
    # CodeArtifact is regional: another region is refused with AWS's message.
    with pytest.raises(ClientError) as info:
        _client("codeartifact", server, region="us-east-1").list_domains()
    assert _error(info) == ("InvalidSignatureException", 403,
                            "Credential should be scoped to a valid region, not 'us-east-1'.")
    with pytest.raises(ClientError) as info:
        _client("iam", server, region="ap-south-1").list_users()
    assert _error(info)[:2] == ("SignatureDoesNotMatch", 403)


def test_allowed_regions_setting_admits_more_regions(server_factory: Any) -> None:
    server = server_factory(env={"PACKYARD_REGION": "eu-west-1",
                                 "PACKYARD_ALLOWED_REGIONS": "us-east-1,eu-central-1"})
    for region in ("eu-west-1", "us-east-1", "eu-central-1"):
        assert "domains" in _client("codeartifact", server, region=region).list_domains()
    with pytest.raises(ClientError) as info:
        _client("codeartifact", server, region="ap-south-1").list_domains()
    assert _error(info)[2] == "Credential should be scoped to a valid region, not 'ap-south-1'."


# ------------------------------------------------------------------ revocation timing

def _reader(server: ServerProcess, domain: str) -> tuple[str, Credentials, str]:
    """A user with read access, its keys, and a token it got for ``domain``."""
    iam = _client("iam", server)
    name = unique_name("reader")
    iam.create_user(UserName=name)
    iam.attach_user_policy(UserName=name, PolicyArn=READ_ONLY)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    creds = Credentials(key["AccessKeyId"], key["SecretAccessKey"])
    token = _client("codeartifact", server, creds).get_authorization_token(
        domain=domain)["authorizationToken"]
    return name, creds, token


@pytest.fixture(scope="module")
def published(server: ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A domain whose repository holds one project: (domain, project page path)."""
    api = _client("codeartifact", server)
    domain = unique_name("revoke")
    api.create_domain(domain=domain)
    api.create_repository(domain=domain, repository="repo")
    spec = DistSpec(name=f"revoke_demo.{secrets.token_hex(3)}", version="1.0")
    wheel = DistFactory(tmp_path_factory.mktemp("revoke-dists")).wheel(spec)
    token = api.get_authorization_token(domain=domain)["authorizationToken"]
    endpoint = f"{server.url}/{domain}-{ACCOUNT}/pypi/repo/"
    response = httpx.post(endpoint, auth=("aws", token), trust_env=False, timeout=60,
                          data=wheel.form_fields(), files={"content": (wheel.filename,
                                                                       wheel.data)})
    assert response.status_code == 200, response.text
    project = spec.name.replace(".", "-").replace("_", "-").lower()
    return domain, f"{endpoint}simple/{project}/"


def _statuses(page: str, token: str) -> tuple[int, int]:
    """The project page (answered from memory once granted) and the index, with ``token``."""
    index = page.rsplit("/", 2)[0] + "/"
    return (httpx.get(page, auth=("aws", token), trust_env=False).status_code,
            httpx.get(index, auth=("aws", token), trust_env=False).status_code)


@pytest.mark.parametrize("change", ["deactivate key", "delete user", "deny in repository policy"])
def test_the_very_next_request_after_a_change_is_refused(
        server: ServerProcess, published: tuple[str, str], change: str) -> None:
    domain, page = published
    name, creds, token = _reader(server, domain)
    # Clients are made first: the change must land well within the grant's one-second reuse.
    iam, root = _client("iam", server), _client("codeartifact", server)
    assert _statuses(page, token) == (200, 200)
    assert _statuses(page, token) == (200, 200)  # now a reused grant and a cached page
    if change == "deactivate key":
        iam.update_access_key(UserName=name, AccessKeyId=creds.access_key_id,
                              Status="Inactive")
        expected = 401
    elif change == "delete user":
        iam.delete_access_key(UserName=name, AccessKeyId=creds.access_key_id)
        iam.detach_user_policy(UserName=name, PolicyArn=READ_ONLY)
        iam.delete_user(UserName=name)
        expected = 401
    else:
        user_arn = f"arn:aws:iam::{ACCOUNT}:user/{name}"
        root.put_repository_permissions_policy(
            domain=domain, repository="repo", policyDocument=json.dumps({
                "Version": "2012-10-17", "Statement": [{
                    "Effect": "Deny", "Principal": {"AWS": user_arn},
                    "Action": "codeartifact:ReadFromRepository", "Resource": "*"}]}))
        expected = 403
    assert _statuses(page, token) == (expected, expected)
    if change == "deny in repository policy":
        root.delete_repository_permissions_policy(domain=domain, repository="repo")
        assert _statuses(page, token) == (200, 200)


# ------------------------------------------------------------------ trusted proxy headers

def _endpoint_with_headers(server: ServerProcess, domain: str, headers: dict[str, str]) -> str:
    api = _client("codeartifact", server)

    def add(request: AWSRequest, **_kwargs: Any) -> None:
        for name, value in headers.items():
            request.headers[name] = value

    api.meta.events.register("before-sign.codeartifact.GetRepositoryEndpoint", add)
    endpoint: str = api.get_repository_endpoint(domain=domain, repository="repo",
                                                format="pypi")["repositoryEndpoint"]
    return endpoint


FORWARDED = {"X-Forwarded-Host": "packages.example.com", "X-Forwarded-Proto": "https"}


def test_forwarded_host_from_an_untrusted_client_is_ignored(server_factory: Any) -> None:
    # Only 192.0.2.1 is a trusted proxy; the test client connects from 127.0.0.1.
    server = server_factory(env={"FORWARDED_ALLOW_IPS": "192.0.2.1"})
    domain = unique_name("proxy")
    api = _client("codeartifact", server)
    api.create_domain(domain=domain)
    api.create_repository(domain=domain, repository="repo")
    assert _endpoint_with_headers(server, domain, FORWARDED) == (
        f"{server.url}/{domain}-{ACCOUNT}/pypi/repo/")


def test_forwarded_host_from_a_trusted_proxy_is_used(server: ServerProcess) -> None:
    # The default trusted proxy address is 127.0.0.1, where the test client connects from.
    domain = unique_name("proxy")
    api = _client("codeartifact", server)
    api.create_domain(domain=domain)
    api.create_repository(domain=domain, repository="repo")
    assert _endpoint_with_headers(server, domain, FORWARDED) == (
        f"https://packages.example.com/{domain}-{ACCOUNT}/pypi/repo/")
    # A value that would bend the URL is not used.
    assert _endpoint_with_headers(server, domain, {"X-Forwarded-Host": "evil.example/x?"}) == (
        f"{server.url}/{domain}-{ACCOUNT}/pypi/repo/")
