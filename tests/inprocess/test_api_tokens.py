"""GetAuthorizationToken and GetRepositoryEndpoint through botocore and the app."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.inprocess.harness import BASE_URL, InProcessPackyard, client_error
from tests.integration.helpers import DEFAULT_ACCOUNT

SLACK = timedelta(minutes=1)


@pytest.fixture
def api(packyard: InProcessPackyard) -> Any:
    client = packyard.codeartifact()
    client.create_domain(domain="acme")
    client.create_repository(domain="acme", repository="shelf")
    return client


def _lasts(result: dict[str, Any], seconds: int) -> bool:
    expected = datetime.now(UTC) + timedelta(seconds=seconds)
    return bool(result["authorizationToken"]) and abs(result["expiration"] - expected) < SLACK


def test_token_lasts_twelve_hours_by_default(api: Any) -> None:
    assert _lasts(api.get_authorization_token(domain="acme"), 12 * 3600)


@pytest.mark.parametrize("seconds", [900, 3600, 43200])
def test_token_duration_within_bounds_is_honoured(api: Any, seconds: int) -> None:
    assert _lasts(api.get_authorization_token(domain="acme", durationSeconds=seconds), seconds)


def test_token_duration_zero_for_root_is_twelve_hours(api: Any) -> None:
    # 0 means "as long as the caller's credentials"; root's keys never expire.
    assert _lasts(api.get_authorization_token(domain="acme", durationSeconds=0), 12 * 3600)


@pytest.mark.parametrize("seconds", [1, 899])
def test_token_duration_below_the_minimum_is_a_validation_error(api: Any, seconds: int) -> None:
    with pytest.raises(ClientError) as info:
        api.get_authorization_token(domain="acme", durationSeconds=seconds)
    assert client_error(info) == (
        "ValidationException", 400, "durationSeconds must be 0 or between 900 and 43200 seconds")


@pytest.mark.parametrize("seconds", [43201, 86400])
def test_token_duration_above_the_model_maximum_is_a_validation_error(
        packyard: InProcessPackyard, api: Any, seconds: int) -> None:
    with pytest.raises(ClientError) as info:
        api.get_authorization_token(domain="acme", durationSeconds=seconds)
    assert client_error(info) == ("ValidationException", 400,
                                  "durationSeconds must be at most 43200")


def test_each_call_mints_a_new_token(api: Any) -> None:
    first = api.get_authorization_token(domain="acme")["authorizationToken"]
    assert api.get_authorization_token(domain="acme")["authorizationToken"] != first


def test_token_for_a_missing_domain_is_not_found(api: Any) -> None:
    with pytest.raises(ClientError) as info:
        api.get_authorization_token(domain="nowhere")
    assert client_error(info) == ("ResourceNotFoundException", 404, "Domain nowhere not found")


def test_repository_endpoint_names_the_domain_owner_and_format(api: Any) -> None:
    endpoint = api.get_repository_endpoint(domain="acme", repository="shelf", format="pypi")
    assert endpoint["repositoryEndpoint"] == (
        f"{BASE_URL}/acme-{DEFAULT_ACCOUNT}/pypi/shelf/")


def test_repository_endpoint_uses_the_configured_public_url(packyard_factory: Any) -> None:
    packyard = packyard_factory(public_url="https://packages.example.com/")
    api = packyard.codeartifact()
    api.create_domain(domain="acme")
    api.create_repository(domain="acme", repository="shelf")
    endpoint = api.get_repository_endpoint(domain="acme", repository="shelf", format="pypi")
    assert endpoint["repositoryEndpoint"] == (
        f"https://packages.example.com/acme-{DEFAULT_ACCOUNT}/pypi/shelf/")


def test_repository_endpoint_ignores_forwarded_headers_outside_the_trusted_proxy(
        packyard: InProcessPackyard, api: Any) -> None:
    # X-Forwarded-Host/-Proto count only through server/proxy_headers.py, from the trusted
    # proxy addresses (issue 10); a request that reaches the app without it keeps its own host.
    response = packyard.signed(
        "GET", "/v1/repository/endpoint?domain=acme&repository=shelf&format=pypi",
        headers={"X-Forwarded-Proto": "https", "X-Forwarded-Host": "proxy.example.com"})
    assert response.status_code == 200, response.text
    assert response.json() == {
        "repositoryEndpoint": f"http://packyard.test/acme-{DEFAULT_ACCOUNT}/pypi/shelf/"}


def test_repository_endpoint_for_an_unserved_format_is_a_validation_error(api: Any) -> None:
    with pytest.raises(ClientError) as info:
        api.get_repository_endpoint(domain="acme", repository="shelf", format="maven")
    assert client_error(info) == (
        "ValidationException", 400,
        "Format maven is not supported by this server yet; supported: generic, npm, pypi")


def test_repository_endpoint_for_an_unknown_format_is_a_validation_error(
        packyard: InProcessPackyard, api: Any) -> None:
    with pytest.raises(ClientError) as info:
        packyard.codeartifact(validate=False).get_repository_endpoint(
            domain="acme", repository="shelf", format="tarball")
    code, status, message = client_error(info)
    assert (code, status) == ("ValidationException", 400)
    assert message.startswith("format must be one of "), message


def test_repository_endpoint_for_a_missing_repository_is_not_found(api: Any) -> None:
    with pytest.raises(ClientError) as info:
        api.get_repository_endpoint(domain="acme", repository="absent", format="pypi")
    assert client_error(info) == ("ResourceNotFoundException", 404,
                                  "Repository absent not found in domain acme")
