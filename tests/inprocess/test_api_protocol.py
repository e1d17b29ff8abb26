"""The CodeArtifact endpoint as a wire protocol: SigV4 failures, routing, request parsing and the
JSON error shape, with raw requests signed by botocore's signer."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from unittest import mock

import pytest
from botocore import xform_name
from botocore.exceptions import ClientError

from packyard import __version__
from packyard.api.codeartifact.policy_operations import PolicyOperations
from tests.inprocess.harness import BASE_URL, InProcessPackyard, aws_error, client_error, sign
from tests.integration.helpers import ROOT, Credentials

SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check your "
    "AWS Secret Access Key and signing method. Consult the service documentation for details.")
JSON = {"Content-Type": "application/json"}


def test_signed_request_is_answered(packyard: InProcessPackyard) -> None:
    response = packyard.signed("POST", "/v1/domains", body=b"{}", headers=JSON)
    assert response.status_code == 200, response.text
    assert response.json() == {"domains": []}
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-amzn-requestid"]


# -- who signed ---------------------------------------------------------------------------------

def test_unsigned_request_is_missing_authentication_token(packyard: InProcessPackyard) -> None:
    response = packyard.http.post("/v1/domains", content=b"{}", headers=JSON)
    assert aws_error(response) == (403, "MissingAuthenticationTokenException",
                                   {"message": "Missing Authentication Token"})


def test_wrong_secret_is_an_invalid_signature(packyard: InProcessPackyard) -> None:
    response = packyard.signed("POST", "/v1/domains", body=b"{}", headers=JSON,
                               credentials=Credentials(ROOT.access_key_id, "not-the-secret"))
    assert aws_error(response) == (403, "InvalidSignatureException",
                                   {"message": SIGNATURE_MISMATCH})


def test_unknown_access_key_is_an_unrecognized_client(packyard: InProcessPackyard) -> None:
    response = packyard.signed("POST", "/v1/domains", body=b"{}", headers=JSON,
                               credentials=Credentials("AKIAUNKNOWNUNKNOWN00", "secret"))
    assert aws_error(response) == (
        403, "UnrecognizedClientException",
        {"message": "The security token included in the request is invalid."})


def test_root_key_with_a_session_token_is_an_unrecognized_client(
        packyard: InProcessPackyard) -> None:
    response = packyard.signed("POST", "/v1/domains", body=b"{}", headers=JSON,
                               session_token="root-keys-have-no-session")
    assert aws_error(response)[:2] == (403, "UnrecognizedClientException")


def test_body_changed_after_signing_is_an_invalid_signature(
        packyard: InProcessPackyard) -> None:
    headers = sign("POST", f"{BASE_URL}/v1/domain?domain=acme", headers=JSON,
                   body=b'{"encryptionKey": "mine"}')
    response = packyard.http.post("/v1/domain?domain=acme", headers=headers,
                                  content=b'{"encryptionKey": "yours"}')
    assert aws_error(response) == (403, "InvalidSignatureException",
                                   {"message": SIGNATURE_MISMATCH})


def test_query_changed_after_signing_is_an_invalid_signature(
        packyard: InProcessPackyard) -> None:
    headers = sign("POST", f"{BASE_URL}/v1/domain?domain=acme", headers=JSON)
    response = packyard.http.post("/v1/domain?domain=other", headers=headers)
    assert aws_error(response) == (403, "InvalidSignatureException",
                                   {"message": SIGNATURE_MISMATCH})


def test_declared_payload_hash_must_match_the_body(packyard: InProcessPackyard) -> None:
    response = packyard.signed("POST", "/v1/domains", body=b"{}", headers={
        **JSON, "X-Amz-Content-SHA256": "0" * 64})
    assert aws_error(response) == (
        403, "InvalidSignatureException",
        {"message": "The provided 'x-amz-content-sha256' header does not match what was "
                    "computed."})


def test_signature_for_another_service_is_refused(packyard: InProcessPackyard) -> None:
    response = packyard.signed("POST", "/v1/domains", body=b"{}", headers=JSON, service="iam")
    status, code, body = aws_error(response)
    assert (status, code) == (403, "InvalidSignatureException")
    assert body["message"] == "Credential should be scoped to correct service: 'codeartifact'."


def test_signature_twenty_minutes_old_has_expired(packyard: InProcessPackyard) -> None:
    response = packyard.signed("POST", "/v1/domains", body=b"{}", headers=JSON,
                               when=datetime.now(UTC) - timedelta(minutes=20))
    status, code, body = aws_error(response)
    assert (status, code) == (403, "InvalidSignatureException")
    assert body["message"].startswith("Signature expired: "), body
    assert body["message"].endswith(" - 15 min.)"), body


def test_signature_twenty_minutes_ahead_is_not_yet_current(packyard: InProcessPackyard) -> None:
    response = packyard.signed("POST", "/v1/domains", body=b"{}", headers=JSON,
                               when=datetime.now(UTC) + timedelta(minutes=20))
    status, code, body = aws_error(response)
    assert (status, code) == (403, "InvalidSignatureException")
    assert body["message"].startswith("Signature not yet current: "), body


def test_signature_ten_minutes_off_is_within_tolerance(packyard: InProcessPackyard) -> None:
    response = packyard.signed("POST", "/v1/domains", body=b"{}", headers=JSON,
                               when=datetime.now(UTC) - timedelta(minutes=10))
    assert response.status_code == 200, response.text


# -- routing and parsing ----------------------------------------------------------------------------

def test_path_of_no_operation_is_unknown(packyard: InProcessPackyard) -> None:
    response = packyard.signed("GET", "/v1/nothing-here")
    assert aws_error(response) == (404, "UnknownOperationException",
                                   {"message": "No CodeArtifact operation at GET /v1/nothing-here"})


@pytest.mark.parametrize(("operation", "params"), [
    pytest.param("DeletePackage", {"domain": "acme", "repository": "shelf", "format": "pypi",
                                   "package": "demo"}, id="DeletePackage"),
])
def test_operation_packyard_does_not_serve_says_so(packyard: InProcessPackyard, operation: str,
                                                   params: dict[str, str]) -> None:
    # Every operation of the model is served now: one taken away stands for a new one a
    # botocore upgrade brings.
    client = packyard.codeartifact()
    handlers = packyard.container.api._ops.handlers  # type: ignore[attr-defined]
    with mock.patch.dict(handlers), pytest.raises(ClientError) as info:
        del handlers[operation]
        getattr(client, xform_name(operation))(**params)
    assert client_error(info) == ("ValidationException", 400,
                                  f"The operation {operation} is not supported by Packyard yet")


@pytest.mark.parametrize(("body", "message"), [
    pytest.param(b"{not json", "The request body is not valid JSON", id="not-json"),
    pytest.param(b"[1, 2]", "The request body must be a JSON object", id="not-an-object"),
    pytest.param(b"\xff\xfe", "The request body is not valid JSON", id="not-utf8"),
])
def test_malformed_body_is_a_validation_error(packyard: InProcessPackyard, body: bytes,
                                              message: str) -> None:
    response = packyard.signed("POST", "/v1/domain?domain=acme", body=body, headers=JSON)
    assert aws_error(response) == (400, "ValidationException",
                                   {"message": message, "reason": "FIELD_VALIDATION_FAILED"})


def test_unsigned_body_over_a_mebibyte_is_refused_before_it_is_read(
        packyard: InProcessPackyard) -> None:
    # The signature's key is looked up before the body is read (issue 10): an unsigned caller
    # gets its 403 without the server holding the body.
    big = json.dumps({"description": "x" * (1024 * 1024)}).encode()
    response = packyard.http.post("/v1/domain?domain=acme", content=big, headers=JSON)
    assert aws_error(response)[:2] == (403, "MissingAuthenticationTokenException")


def test_signed_body_over_a_mebibyte_is_refused(packyard: InProcessPackyard) -> None:
    big = json.dumps({"description": "x" * (1024 * 1024)}).encode()
    response = packyard.signed("POST", "/v1/domain?domain=acme", body=big, headers=JSON)
    assert aws_error(response) == (400, "ValidationException",
                                   {"message": "Request body larger than 1048576 bytes",
                                    "reason": "OTHER"})


@pytest.mark.parametrize(("path", "message"), [
    pytest.param("/v1/domain", "domain is required", id="missing-required"),
    pytest.param("/v1/repositories?max-results=many",
                 "maxResults must be a number, got 'many'", id="not-a-number"),
    pytest.param("/v1/repositories?max-results=0", "maxResults must be at least 1",
                 id="below-min"),
    pytest.param("/v1/repositories?max-results=1001", "maxResults must be at most 1000",
                 id="above-max"),
    pytest.param("/v1/repositories?repository-prefix=-x",
                 "repositoryPrefix '-x' does not match the pattern [A-Za-z0-9][A-Za-z0-9._\\-]"
                 "{1,99}", id="pattern"),
])
def test_query_parameters_are_validated_against_the_model(packyard: InProcessPackyard,
                                                          path: str, message: str) -> None:
    method = "GET" if path == "/v1/domain" else "POST"
    response = packyard.signed(method, path, headers=JSON)
    assert aws_error(response) == (400, "ValidationException",
                                   {"message": message, "reason": "FIELD_VALIDATION_FAILED"})


def test_unexpected_failure_is_an_internal_server_error(packyard: InProcessPackyard,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_args: object) -> object:
        raise RuntimeError("boom")

    monkeypatch.setattr(PolicyOperations, "call", broken)
    response = packyard.signed("POST", "/v1/domains", body=b"{}", headers=JSON)
    assert aws_error(response) == (
        500, "InternalServerException",
        {"message": "Packyard hit an internal error; see the server log"})


def test_health_needs_no_signature(packyard: InProcessPackyard) -> None:
    response = packyard.http.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_health_answers_as_the_readme_shows(packyard: InProcessPackyard) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("\n## Health checks\n", 1)[1].split("\n## ", 1)[0]
    shown = re.search(r"^\$ curl http://127\.0\.0\.1:8080/health\n(.*)$", section, re.MULTILINE)
    assert shown, "README.md's Health checks section no longer shows /health's answer"
    response = packyard.http.get("/health")
    assert response.status_code == 200
    assert response.json() == {**json.loads(shown[1]), "version": __version__}
    assert set(json.loads(shown[1])) == set(response.json())
    shown_ready = re.search(r"^\$ curl http://127\.0\.0\.1:8080/ready\n(.*)$", section,
                            re.MULTILINE)
    assert shown_ready, "README.md's Health checks section no longer shows /ready's answer"
    response = packyard.http.get("/ready")
    assert response.status_code == 200
    assert response.json() == json.loads(shown_ready[1])
