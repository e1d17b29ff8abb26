"""Signed API requests as the server checks them: what is refused before the body is read,
unsigned payloads, and which regions a credential scope may name."""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from pathlib import Path
from typing import Any

import botocore.auth
import botocore.credentials
import pytest
from botocore.awsrequest import AWSRequest

from packyard.auth.credentials import RootCredentials
from packyard.auth.principal import Principal
from packyard.auth.signed import SignedRequestAuthenticator, UnsignedPayload
from packyard.auth.sigv4 import InvalidSignature, PayloadHashMismatch, UnrecognizedClient
from packyard.clock import Clock
from packyard.iam.secrets import SecretBox
from packyard.iam.store import IamStore
from packyard.metadata.catalog import SqlCatalog
from packyard.settings import load_settings

ACCT = "000000000000"
ROOT = RootCredentials("AKIAROOTROOTROOTROOT", "root-secret")
HOST = "127.0.0.1:8080"
LIST_USERS = b"Action=ListUsers&Version=2010-05-08"
CREATE_USER = b"Action=CreateUser&UserName=mallory&Version=2010-05-08"


@pytest.fixture()
def store(tmp_path: Path) -> IamStore:
    catalog = SqlCatalog(f"sqlite:///{tmp_path / 'db.sqlite'}")
    catalog.migrate()
    return IamStore(catalog.engines, ACCT, SecretBox.generate())


def _authn(store: IamStore | None = None,
           regions: Collection[str] | None = ("us-east-1",)) -> SignedRequestAuthenticator:
    return SignedRequestAuthenticator(ROOT, ACCT, Clock(), 900, store, regions=regions)


def _sign(service: str, region: str = "us-east-1", body: bytes = b"{}", *,
          key: tuple[str, str] = (ROOT.access_key_id, ROOT.secret_access_key),
          unsigned_payload: bool = False, path: str = "/v1/domains",
          headers: dict[str, str] | None = None) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """Headers and body as botocore signs them; ``unsigned_payload`` as for an operation whose
    model marks its body unsigned (botocore then signs the literal UNSIGNED-PAYLOAD)."""
    scheme = "https" if unsigned_payload else "http"
    request = AWSRequest(method="POST", url=f"{scheme}://{HOST}{path}", data=body,
                         headers=headers or {"Content-Type": "application/json"})
    if unsigned_payload:
        request.context["payload_signing_enabled"] = False
    botocore.auth.SigV4Auth(botocore.credentials.Credentials(*key), service,
                            region).add_auth(request)
    raw = [(k.lower().encode(), str(v).encode()) for k, v in request.headers.items()]
    raw.append((b"host", HOST.encode()))
    return raw, body


def _authenticate(authn: SignedRequestAuthenticator, service: str,
                  signed: tuple[list[tuple[bytes, bytes]], bytes], path: str = "/v1/domains",
                  body: bytes | None = None) -> Principal:
    headers, sent = signed
    return authn.authenticate("POST", path, "", headers, sent if body is None else body,
                              service)


def _form() -> dict[str, Any]:
    """An IAM/STS Query request: a form POSTed to the endpoint's root."""
    return {"path": "/", "headers": {"Content-Type": "application/x-www-form-urlencoded"},
            "body": LIST_USERS}


# -- UNSIGNED-PAYLOAD ----------------------------------------------------------------------------

@pytest.mark.parametrize("service", ["codeartifact", "iam", "sts"])
def test_unsigned_payload_is_refused(service: str) -> None:
    form = _form() if service != "codeartifact" else {"path": "/v1/domains"}
    signed = _sign(service, unsigned_payload=True, **form)
    assert (b"x-amz-content-sha256", b"UNSIGNED-PAYLOAD") in signed[0]
    with pytest.raises(UnsignedPayload) as info:
        _authenticate(_authn(), service, signed, form["path"])
    assert info.value.code == "InvalidSignatureException"
    assert info.value.message == (
        "x-amz-content-sha256: UNSIGNED-PAYLOAD is not accepted by this service: the signature "
        "must cover the request body (sign its SHA-256, as the AWS CLI and SDKs do).")


def test_unsigned_payload_listusers_cannot_be_replayed_with_another_body() -> None:
    signed = _sign("iam", unsigned_payload=True, **_form())
    with pytest.raises(UnsignedPayload):
        _authenticate(_authn(), "iam", signed, "/", body=CREATE_USER)


def test_signed_payload_listusers_cannot_be_replayed_with_another_body() -> None:
    signed = _sign("iam", **_form())
    assert _authenticate(_authn(), "iam", signed, "/").is_root
    with pytest.raises(InvalidSignature, match="signature we calculated does not match"):
        _authenticate(_authn(), "iam", signed, "/", body=CREATE_USER)


# -- region scoping ------------------------------------------------------------------------------

def test_credential_scoped_to_another_region_is_refused() -> None:
    with pytest.raises(InvalidSignature) as info:
        _authenticate(_authn(regions=("us-east-1",)), "codeartifact",
                      _sign("codeartifact", "eu-west-1"))
    assert info.value.message == ("Credential should be scoped to a valid region, not "
                                  "'eu-west-1'.")


def test_allowed_regions_are_accepted() -> None:
    authn = _authn(regions=("us-east-1", "eu-west-1"))
    for region in ("us-east-1", "eu-west-1"):
        assert _authenticate(authn, "codeartifact", _sign("codeartifact", region)).is_root
    with pytest.raises(InvalidSignature, match="not 'ap-south-1'"):
        _authenticate(authn, "codeartifact", _sign("codeartifact", "ap-south-1"))


def test_any_region_when_the_allow_list_is_a_star() -> None:
    assert _authenticate(_authn(regions=None), "codeartifact",
                         _sign("codeartifact", "ap-south-1")).is_root


@pytest.mark.parametrize(("service", "region", "accepted"), [
    ("iam", "eu-west-1", True),  # the AWS CLI with --region eu-west-1 and --endpoint-url
    ("iam", "us-east-1", True),  # IAM is global: AWS signs it in us-east-1
    ("sts", "us-east-1", True),  # STS's global endpoint
    ("sts", "eu-west-1", True),
    ("iam", "ap-south-1", False),
    ("codeartifact", "us-east-1", False),  # CodeArtifact is regional
])
def test_global_services_also_accept_us_east_1(service: str, region: str,
                                               accepted: bool) -> None:
    authn = _authn(regions=("eu-west-1",))
    path = "/" if service != "codeartifact" else "/v1/domains"
    form = _form() if service != "codeartifact" else {}
    signed = _sign(service, region, **form)
    if accepted:
        assert _authenticate(authn, service, signed, path).is_root
    else:
        with pytest.raises(InvalidSignature, match="Credential should be scoped to a valid "
                                                   "region"):
            _authenticate(authn, service, signed, path)


def test_allowed_regions_setting() -> None:
    settings = load_settings({"PACKYARD_REGION": "eu-west-1",
                              "PACKYARD_ALLOWED_REGIONS": "eu-central-1, us-west-2"})
    assert settings.signing_regions == {"eu-west-1", "eu-central-1", "us-west-2"}
    assert load_settings({}).signing_regions == {"us-east-1"}
    assert load_settings({"PACKYARD_ALLOWED_REGIONS": "*"}).signing_regions is None
    with pytest.raises(ValueError, match="not a region name: 'Europe'"):
        load_settings({"PACKYARD_ALLOWED_REGIONS": "Europe"})


# -- what is refused before the body is read -----------------------------------------------------

def test_unknown_key_is_refused_before_the_body(store: IamStore) -> None:
    headers, _ = _sign("codeartifact", key=("AKIANOSUCHKEY0000000", "whatever"))
    with pytest.raises(UnrecognizedClient):
        _authn(store).begin("POST", "/v1/domains", "", headers, "codeartifact")


def test_wrong_region_is_refused_before_the_key_is_looked_up() -> None:
    headers, _ = _sign("codeartifact", "eu-west-1", key=("AKIANOSUCHKEY0000000", "whatever"))
    # No store at all: a lookup would answer UnrecognizedClient.
    with pytest.raises(InvalidSignature, match="valid region"):
        _authn(None).begin("POST", "/v1/domains", "", headers, "codeartifact")


def test_wrong_secret_with_a_declared_payload_hash_is_refused_before_the_body() -> None:
    body = b'{"domain": "d"}'
    declared = {"Content-Type": "application/json",
                "X-Amz-Content-SHA256": hashlib.sha256(body).hexdigest()}
    headers, _ = _sign("codeartifact", body=body, headers=declared,
                       key=(ROOT.access_key_id, "not-the-secret"))
    with pytest.raises(InvalidSignature, match="signature we calculated does not match"):
        _authn().begin("POST", "/v1/domains", "", headers, "codeartifact")


def test_body_must_match_the_declared_payload_hash() -> None:
    body = b'{"domain": "d"}'
    declared = {"Content-Type": "application/json",
                "X-Amz-Content-SHA256": hashlib.sha256(body).hexdigest()}
    headers, _ = _sign("codeartifact", body=body, headers=declared)
    authn = _authn()
    pending = authn.begin("POST", "/v1/domains", "", headers, "codeartifact")
    assert authn.finish(pending, hashlib.sha256(body).hexdigest()).is_root
    with pytest.raises(PayloadHashMismatch):
        authn.finish(pending, hashlib.sha256(b"{}").hexdigest())


def test_the_signature_is_verified_over_the_streamed_body_hash() -> None:
    headers, body = _sign("codeartifact")
    authn = _authn()
    pending = authn.begin("POST", "/v1/domains", "", headers, "codeartifact")
    assert authn.finish(pending, hashlib.sha256(body).hexdigest()).is_root
    with pytest.raises(InvalidSignature, match="signature we calculated does not match"):
        authn.finish(pending, hashlib.sha256(b"[]").hexdigest())

