"""Authorization tokens, repository endpoints, and how unsigned or badly signed requests fail."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.integration.helpers import (
    DEFAULT_ACCOUNT,
    ROOT,
    AwsCli,
    ClientHome,
    Credentials,
    ServerProcess,
    aws_error_code,
    aws_error_message,
    codeartifact_client,
    sign_headers,
    unique_name,
)

SLACK = timedelta(minutes=2)


@pytest.fixture(scope="module")
def domain(api: Any) -> str:
    name = unique_name("auth")
    api.create_domain(domain=name)
    api.create_repository(domain=name, repository="pypi-store")
    return name


def _expires_in(result: dict[str, Any], seconds: int) -> None:
    assert result["authorizationToken"], "empty token"
    expected = datetime.now(UTC) + timedelta(seconds=seconds)
    assert abs(result["expiration"] - expected) < SLACK, (result["expiration"], expected)


def test_token_lasts_twelve_hours_by_default(api: Any, domain: str) -> None:
    _expires_in(api.get_authorization_token(domain=domain), 12 * 3600)


@pytest.mark.parametrize("seconds", [900, 3600, 43200])
def test_token_duration_within_bounds_is_honoured(api: Any, domain: str, seconds: int) -> None:
    _expires_in(api.get_authorization_token(domain=domain, durationSeconds=seconds), seconds)


def test_token_duration_zero_means_as_long_as_the_caller_credentials(api: Any,
                                                                     domain: str) -> None:
    # The model: "A value of 0 will set the expiration of the authorization token to the same
    # expiration of the user's role's temporary credentials." Root keys never expire, so the
    # token gets CodeArtifact's maximum, 12 hours.
    _expires_in(api.get_authorization_token(domain=domain, durationSeconds=0), 12 * 3600)


@pytest.mark.parametrize("seconds", [1, 899, 43201, 86400])
def test_token_duration_out_of_bounds_is_a_validation_error(api: Any, domain: str,
                                                            seconds: int) -> None:
    with pytest.raises(ClientError) as info:
        api.get_authorization_token(domain=domain, durationSeconds=seconds)
    error = info.value.response["Error"]
    assert error["Code"] == "ValidationException"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "duration" in error["Message"].lower(), error["Message"]


def test_token_for_missing_domain_is_not_found(api: Any) -> None:
    with pytest.raises(ClientError) as info:
        api.get_authorization_token(domain=unique_name("nowhere"))
    assert info.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_token_with_the_cli(aws: AwsCli, domain: str) -> None:
    out = aws.json("codeartifact", "get-authorization-token", "--domain", domain,
                   "--domain-owner", DEFAULT_ACCOUNT, "--duration-seconds", "900")
    assert out["authorizationToken"]
    assert "expiration" in out
    proc = aws.fails("codeartifact", "get-authorization-token", "--domain", domain,
                     "--duration-seconds", "899")
    assert "(ValidationException) when calling the GetAuthorizationToken operation" in proc.stderr


def test_each_call_mints_a_new_token(api: Any, domain: str) -> None:
    first = api.get_authorization_token(domain=domain)["authorizationToken"]
    second = api.get_authorization_token(domain=domain)["authorizationToken"]
    assert first != second


def test_repository_endpoint_for_pypi(api: Any, aws: AwsCli, server: ServerProcess,
                                      domain: str) -> None:
    expected = f"{server.url}/{domain}-{DEFAULT_ACCOUNT}/pypi/pypi-store/"
    out = api.get_repository_endpoint(domain=domain, repository="pypi-store", format="pypi")
    assert out["repositoryEndpoint"] == expected
    cli = aws.json("codeartifact", "get-repository-endpoint", "--domain", domain,
                   "--repository", "pypi-store", "--format", "pypi")
    assert cli["repositoryEndpoint"] == expected


def test_repository_endpoint_for_missing_repository(api: Any, domain: str) -> None:
    with pytest.raises(ClientError) as info:
        api.get_repository_endpoint(domain=domain, repository="absent", format="pypi")
    assert info.value.response["Error"]["Code"] == "ResourceNotFoundException"


# ------------------------------------------------------------------ signature failures (raw)

def _list_domains_url(server: ServerProcess) -> str:
    return f"{server.url}/v1/domains"


def _post_signed(server: ServerProcess, creds: Credentials, *, when: datetime | None = None,
                 body: bytes = b"{}", sent_body: bytes | None = None) -> httpx.Response:
    url = _list_domains_url(server)
    headers = sign_headers("POST", url, creds, body=body, when=when,
                           headers={"Content-Type": "application/json"})
    return httpx.post(url, content=body if sent_body is None else sent_body, headers=headers,
                      trust_env=False)


def _assert_refused(response: httpx.Response, code: str, message_part: str) -> None:
    assert response.status_code == 403, (response.status_code, response.text)
    assert aws_error_code(response) == code, (response.headers, response.text)
    assert message_part in aws_error_message(response), response.text


def test_signed_request_is_accepted(server: ServerProcess) -> None:
    """Control for the refusals below: the same request, correctly signed, works."""
    response = _post_signed(server, ROOT)
    assert response.status_code == 200, response.text
    assert isinstance(response.json()["domains"], list)


def test_unsigned_request_is_missing_authentication_token(server: ServerProcess) -> None:
    response = httpx.post(_list_domains_url(server), content=b"{}", trust_env=False,
                          headers={"Content-Type": "application/json"})
    _assert_refused(response, "MissingAuthenticationTokenException",
                    "Missing Authentication Token")


def test_wrong_secret_is_an_invalid_signature(server: ServerProcess) -> None:
    response = _post_signed(server, Credentials(ROOT.access_key_id, "not-the-secret"))
    _assert_refused(response, "InvalidSignatureException",
                    "The request signature we calculated does not match the signature you "
                    "provided")


def test_unknown_access_key_is_an_unrecognized_client(server: ServerProcess) -> None:
    response = _post_signed(server, Credentials("AKIAUNKNOWNKEY000000", "whatever"))
    _assert_refused(response, "UnrecognizedClientException",
                    "The security token included in the request is invalid")


def test_tampered_body_is_an_invalid_signature(server: ServerProcess) -> None:
    response = _post_signed(server, ROOT, body=b"{}", sent_body=b'{"maxResults": 1}')
    _assert_refused(response, "InvalidSignatureException", "signature")


def test_timestamp_twenty_minutes_old_is_expired(server: ServerProcess) -> None:
    when = datetime.now(UTC) - timedelta(minutes=20)
    response = _post_signed(server, ROOT, when=when)
    _assert_refused(response, "InvalidSignatureException", "Signature expired")


def test_timestamp_twenty_minutes_ahead_is_not_yet_current(server: ServerProcess) -> None:
    when = datetime.now(UTC) + timedelta(minutes=20)
    response = _post_signed(server, ROOT, when=when)
    _assert_refused(response, "InvalidSignatureException", "Signature not yet current")


def test_timestamp_ten_minutes_off_is_within_tolerance(server: ServerProcess) -> None:
    when = datetime.now(UTC) - timedelta(minutes=10)
    response = _post_signed(server, ROOT, when=when)
    assert response.status_code == 200, response.text


def test_error_body_is_json_botocore_can_read(server: ServerProcess) -> None:
    response = httpx.post(_list_domains_url(server), content=b"{}", trust_env=False)
    assert response.headers["content-type"].startswith("application/")
    body = json.loads(response.text)
    assert isinstance(body.get("message") or body.get("Message"), str)


# ------------------------------------------------------------------ the same, through clients

def test_boto3_with_wrong_secret(server: ServerProcess) -> None:
    api = codeartifact_client(server.url, Credentials(ROOT.access_key_id, "wrong"))
    with pytest.raises(ClientError) as info:
        api.list_domains()
    assert info.value.response["Error"]["Code"] == "InvalidSignatureException"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_cli_with_unknown_key(server: ServerProcess, tmp_path: Path) -> None:
    home = ClientHome(tmp_path / "home", credentials=Credentials("AKIAUNKNOWNKEY000000", "x"))
    proc = AwsCli(server.url, home).fails("codeartifact", "list-domains")
    assert ("An error occurred (UnrecognizedClientException) when calling the ListDomains "
            "operation") in proc.stderr
    assert "The security token included in the request is invalid" in proc.stderr


def test_boto3_with_skewed_clock(server: ServerProcess) -> None:
    api = codeartifact_client(server.url)
    skewed = datetime.now(UTC) - timedelta(minutes=20)
    with mock.patch("botocore.auth.get_current_datetime", return_value=skewed), \
            pytest.raises(ClientError) as info:
        api.list_domains()
    assert info.value.response["Error"]["Code"] == "InvalidSignatureException"
    assert "Signature expired" in info.value.response["Error"]["Message"]
