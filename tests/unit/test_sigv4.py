"""Tests for SigV4 verification: AWS's published vectors, botocore round trips, every rejection."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import botocore.auth
import pytest
from botocore.awsrequest import AWSPreparedRequest, AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from packyard.auth.sigv4 import (
    EMPTY_SHA256,
    CanonicalInputs,
    IncompleteSignature,
    InvalidSignature,
    MissingAuthenticationToken,
    ParsedSignature,
    PayloadHashMismatch,
    PresignedUrlExpired,
    RequestTimeSkewed,
    SignatureError,
    UnrecognizedClient,
    canonical_request,
    compute_signature,
    parse_request_signature,
    payload_hash_to_sign,
    string_to_sign,
    verify_signature,
)
from packyard.errors import Denied, Unauthenticated

VECTORS = Path(__file__).parent / "data" / "sigv4"
SUITE_SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"

ACCESS_KEY = "AKIAPACKYARDTEST"
SECRET_KEY = "s3cr3t/Key+With=Symbols"
SESSION_TOKEN = "FwoGZXIvYXdzEXAMPLE/token+with=chars"
FROZEN = datetime(2026, 1, 2, 3, 4, 5)  # botocore's clock is naive UTC
NOW = FROZEN.replace(tzinfo=UTC)
ENDPOINT = "http://127.0.0.1:8080"

MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check your "
    "AWS Secret Access Key and signing method. Consult the service documentation for details."
)


# --- AWS Signature Version 4 test suite -----------------------------------------------------

@dataclass(frozen=True)
class Vector:
    name: str
    request: CanonicalInputs
    creq: str
    sts: str
    authz: str


def _load_vector(directory: Path) -> Vector:
    """Read a suite case: the .req is an HTTP/1.1 request as raw bytes, like a server gets it."""
    name = directory.name
    raw = (directory / f"{name}.req").read_bytes()
    head, _, body = raw.partition(b"\n\n")
    request_line, *header_lines = head.decode("latin-1").split("\n")
    method, _, rest = request_line.partition(" ")
    target, _, _protocol = rest.rpartition(" ")
    path, _, query = target.partition("?")
    headers = [(key, value.strip()) for key, _, value in
               (line.partition(":") for line in header_lines)]
    authz = (directory / f"{name}.authz").read_text()
    return Vector(
        name=name,
        request=CanonicalInputs(
            method=method,
            raw_path=path,
            raw_query=query,
            headers=(*headers, ("Authorization", authz)),
            payload_hash=hashlib.sha256(body).hexdigest(),
        ),
        creq=(directory / f"{name}.creq").read_text(),
        sts=(directory / f"{name}.sts").read_text(),
        authz=authz,
    )


SUITE = [_load_vector(path) for path in sorted(VECTORS.iterdir()) if path.is_dir()]


def test_suite_has_the_vectors_the_brief_names() -> None:
    names = {vector.name for vector in SUITE}
    assert len(names) >= 10
    assert {"get-vanilla", "get-vanilla-query-order-key-case", "botocore-2011-get-utf8",
            "get-space", "post-x-www-form-urlencoded", "get-header-value-trim",
            "get-header-key-duplicate", "get-relative-relative", "get-slashes",
            "post-vanilla-query"} <= names


@pytest.mark.parametrize("vector", SUITE, ids=lambda vector: vector.name)
def test_suite_canonical_request(vector: Vector) -> None:
    parsed = parse_request_signature(vector.request.headers, vector.request.raw_query)
    assert canonical_request(parsed, vector.request) == vector.creq


@pytest.mark.parametrize("vector", SUITE, ids=lambda vector: vector.name)
def test_suite_string_to_sign(vector: Vector) -> None:
    parsed = parse_request_signature(vector.request.headers, vector.request.raw_query)
    assert string_to_sign(parsed, vector.creq) == vector.sts


@pytest.mark.parametrize("vector", SUITE, ids=lambda vector: vector.name)
def test_suite_signature_verifies(vector: Vector) -> None:
    parsed = parse_request_signature(vector.request.headers, vector.request.raw_query)
    assert parsed.access_key_id == "AKIDEXAMPLE"
    assert not parsed.is_presigned
    verify_signature(parsed, vector.request, SUITE_SECRET, parsed.amz_date,
                     region="us-east-1", service=parsed.service)


@pytest.mark.parametrize("vector", SUITE, ids=lambda vector: vector.name)
def test_suite_signature_fails_with_another_secret(vector: Vector) -> None:
    parsed = parse_request_signature(vector.request.headers, vector.request.raw_query)
    with pytest.raises(InvalidSignature) as caught:
        verify_signature(parsed, vector.request, SUITE_SECRET + "x", parsed.amz_date)
    assert caught.value.message == MISMATCH


def test_suite_session_token_is_read_from_header() -> None:
    vector = next(vector for vector in SUITE if vector.name == "post-sts-header-before")
    parsed = parse_request_signature(vector.request.headers)
    assert parsed.session_token is not None
    assert parsed.session_token.startswith("AQoDYXdzEPT//")
    assert parsed.session_token not in repr(parsed)


def test_suite_date_header_is_used_without_x_amz_date() -> None:
    vector = next(vector for vector in SUITE if vector.name == "botocore-2011-get-utf8")
    parsed = parse_request_signature(vector.request.headers)
    assert parsed.amz_date == datetime(2011, 9, 9, 23, 36, tzinfo=UTC)
    assert (parsed.scope_date, parsed.region, parsed.service) == ("20110909", "us-east-1", "host")


# --- Round trips with botocore's real signers ------------------------------------------------

class _Captured(Exception):
    def __init__(self, request: AWSPreparedRequest) -> None:
        super().__init__("captured")
        self.request = request


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *_a, **_k: FROZEN)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)


def _session(token: str | None = None) -> boto3.Session:
    return boto3.Session(aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
                         aws_session_token=token, region_name="us-east-1")


def _client(service: str, token: str | None = None, **config: Any) -> Any:
    client = _session(token).client(service, endpoint_url=ENDPOINT, config=Config(**config))

    def capture(request: AWSPreparedRequest, **_kwargs: Any) -> None:
        raise _Captured(request)

    client.meta.events.register("before-send", capture)
    return client


def _received(url: str, headers: Any, body: Any, method: str) -> CanonicalInputs:
    """What the server sees for a request botocore sent: the HTTP client adds Host on the wire."""
    parts = urlsplit(url)
    wire_headers = [(name, value.decode("latin-1") if isinstance(value, bytes) else value)
                    for name, value in headers.items()]
    wire_headers.append(("Host", parts.netloc))
    if hasattr(body, "read"):  # S3 uploads arrive as a seekable file
        body = body.read()
    payload = body.encode() if isinstance(body, str) else (body or b"")
    return CanonicalInputs(
        method=method,
        raw_path=parts.path,
        raw_query=parts.query,
        headers=tuple(wire_headers),
        payload_hash=payload_hash_to_sign(wire_headers, hashlib.sha256(payload).hexdigest()),
    )


def _send(call: Callable[[], object]) -> CanonicalInputs:
    with pytest.raises(_Captured) as caught:
        call()
    sent = caught.value.request
    return _received(sent.url, sent.headers, sent.body, sent.method)


def _sign_raw(request: AWSRequest, service: str = "codeartifact",
              token: str | None = None) -> CanonicalInputs:
    botocore.auth.SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY, token), service,
                            "us-east-1").add_auth(request)
    prepared = request.prepare()
    return _received(prepared.url, prepared.headers, prepared.body, prepared.method)


def _presign(request: AWSRequest, service: str = "codeartifact", token: str | None = None,
             expires: int = 300) -> CanonicalInputs:
    botocore.auth.SigV4QueryAuth(Credentials(ACCESS_KEY, SECRET_KEY, token), service,
                                 "us-east-1", expires=expires).add_auth(request)
    prepared = request.prepare()
    return _received(prepared.url, prepared.headers, prepared.body, prepared.method)


def _s3_presign(token: str | None) -> CanonicalInputs:
    s3 = _session(token).client("s3", endpoint_url=ENDPOINT, config=Config(
        signature_version="s3v4", s3={"addressing_style": "path"}))
    url = s3.generate_presigned_url(
        "get_object", Params={"Bucket": "bucket", "Key": "dir name/ü 100%.txt"}, ExpiresIn=600)
    return _received(url, {}, None, "GET")


SIGNED_REQUESTS: dict[str, Callable[[], CanonicalInputs]] = {
    "codeartifact GET with query of spaces, unicode, %, +, /": lambda: _send(
        lambda: _client("codeartifact").describe_package_version(
            domain="my-domain", repository="my-repo", format="pypi",
            package="we ird/ü%~+name", packageVersion="1.0 +local")),
    "codeartifact POST with JSON body": lambda: _send(
        lambda: _client("codeartifact").create_domain(
            domain="my-domain", tags=[{"key": "team", "value": "bücher & more"}])),
    "codeartifact POST with session token": lambda: _send(
        lambda: _client("codeartifact", SESSION_TOKEN).get_authorization_token(
            domain="my domain", domainOwner="000000000000", durationSeconds=900)),
    "codeartifact publish with signed x-amz-content-sha256": lambda: _send(
        lambda: _client("codeartifact").publish_package_version(
            domain="my-domain", repository="my-repo", format="generic", namespace="ns",
            package="pkg", packageVersion="1.0", assetContent=b"hello",
            assetName="hello world.txt", assetSHA256=hashlib.sha256(b"hello").hexdigest())),
    "apigateway path labels with spaces, unicode, %, / (double encoded)": lambda: _send(
        lambda: _client("apigateway").get_resource(restApiId="a b", resourceId="ü/%~+")),
    "raw request with dot segments and repeated slashes in the path": lambda: _sign_raw(
        AWSRequest(method="GET", url=f"{ENDPOINT}/v1//a/./b/../c%20d/")),
    "raw request with params sent as form-encoded query": lambda: _sign_raw(
        AWSRequest(method="GET", url=f"{ENDPOINT}/v1/x",
                   params={"b key": "v+1 2", "a": "", "ü": "~"})),
    "raw request dated by a Date header": lambda: _sign_raw(
        AWSRequest(method="PUT", url=f"{ENDPOINT}/v1/x", data=b"{}",
                   headers={"Date": "Thu, 01 Jan 2026 00:00:00 GMT",
                            "Content-Type": "application/json",
                            "X-Custom": "  a   b  "})),
    "s3 GET key with spaces, unicode, %, + and session token": lambda: _send(
        lambda: _client("s3", SESSION_TOKEN, s3={"addressing_style": "path"}).get_object(
            Bucket="bucket", Key="dir name/ü~%+.txt")),
    "s3 PUT with body": lambda: _send(
        lambda: _client("s3", s3={"addressing_style": "path"}).put_object(
            Bucket="bucket", Key="a/b c.bin", Body=b"\x00\x01 payload")),
}


@pytest.mark.parametrize("make", SIGNED_REQUESTS.values(), ids=SIGNED_REQUESTS.keys())
def test_botocore_signed_request_verifies(make: Callable[[], CanonicalInputs]) -> None:
    request = make()
    parsed = parse_request_signature(request.headers, request.raw_query)
    assert parsed.access_key_id == ACCESS_KEY
    assert parsed.region == "us-east-1"
    verify_signature(parsed, request, SECRET_KEY, NOW, region="us-east-1",
                     service=parsed.service)


@pytest.mark.parametrize("make", SIGNED_REQUESTS.values(), ids=SIGNED_REQUESTS.keys())
def test_botocore_signed_request_fails_with_another_secret(
    make: Callable[[], CanonicalInputs],
) -> None:
    request = make()
    parsed = parse_request_signature(request.headers, request.raw_query)
    with pytest.raises(InvalidSignature) as caught:
        verify_signature(parsed, request, SECRET_KEY + "x", NOW)
    assert caught.value.message == MISMATCH


def test_botocore_session_token_is_reported() -> None:
    request = SIGNED_REQUESTS["codeartifact POST with session token"]()
    parsed = parse_request_signature(request.headers, request.raw_query)
    assert parsed.session_token == SESSION_TOKEN
    assert "x-amz-security-token" in parsed.signed_headers


def test_botocore_date_header_gives_the_signing_time() -> None:
    request = SIGNED_REQUESTS["raw request dated by a Date header"]()
    parsed = parse_request_signature(request.headers, request.raw_query)
    # botocore rewrites the Date header to its own signing time.
    assert parsed.amz_date == NOW
    assert "date" in parsed.signed_headers and "x-amz-date" not in parsed.signed_headers


def test_botocore_double_encodes_non_s3_paths() -> None:
    request = SIGNED_REQUESTS["apigateway path labels with spaces, unicode, %, / (double encoded)"]()
    parsed = parse_request_signature(request.headers, request.raw_query)
    assert canonical_request(parsed, request).split("\n")[1] == (
        "/restapis/a%2520b/resources/%25C3%25BC%252F%2525~%252B")


def test_botocore_s3_paths_are_encoded_once() -> None:
    request = SIGNED_REQUESTS["s3 GET key with spaces, unicode, %, + and session token"]()
    parsed = parse_request_signature(request.headers, request.raw_query)
    assert canonical_request(parsed, request).split("\n")[1] == (
        "/bucket/dir%20name/%C3%BC~%25%2B.txt")


PRESIGNED_REQUESTS: dict[str, Callable[[], CanonicalInputs]] = {
    "codeartifact GET with query": lambda: _presign(
        AWSRequest(method="GET", url=f"{ENDPOINT}/v1/package/version?package=a%20b&x=%C3%BC")),
    "codeartifact GET with session token": lambda: _presign(
        AWSRequest(method="GET", url=f"{ENDPOINT}/v1/domains"), token=SESSION_TOKEN),
    "s3 GET object": lambda: _s3_presign(None),
    "s3 GET object with session token": lambda: _s3_presign(SESSION_TOKEN),
}


@pytest.mark.parametrize("make", PRESIGNED_REQUESTS.values(), ids=PRESIGNED_REQUESTS.keys())
def test_botocore_presigned_url_verifies(make: Callable[[], CanonicalInputs]) -> None:
    request = make()
    parsed = parse_request_signature(request.headers, request.raw_query)
    assert parsed.is_presigned
    assert parsed.expires in (timedelta(seconds=300), timedelta(seconds=600))
    verify_signature(parsed, request, SECRET_KEY, NOW + timedelta(seconds=299),
                     region="us-east-1", service=parsed.service)


@pytest.mark.parametrize("make", PRESIGNED_REQUESTS.values(), ids=PRESIGNED_REQUESTS.keys())
def test_botocore_presigned_url_fails_when_tampered(make: Callable[[], CanonicalInputs]) -> None:
    request = make()
    tampered = replace(request, raw_query=request.raw_query + "&extra=1")
    parsed = parse_request_signature(tampered.headers, tampered.raw_query)
    with pytest.raises(InvalidSignature) as caught:
        verify_signature(parsed, tampered, SECRET_KEY, NOW)
    assert caught.value.message == MISMATCH


def test_botocore_presigned_session_token_comes_from_query() -> None:
    for name in ("codeartifact GET with session token", "s3 GET object with session token"):
        request = PRESIGNED_REQUESTS[name]()
        assert parse_request_signature(request.headers, request.raw_query).session_token == (
            SESSION_TOKEN)


# --- Tampering: any change to a signed part breaks the signature -----------------------------

def _with_header(request: CanonicalInputs, name: str, value: str) -> CanonicalInputs:
    kept = tuple((key, old) for key, old in request.headers if key.lower() != name.lower())
    return replace(request, headers=(*kept, (name, value)))


TAMPERING: dict[str, Callable[[CanonicalInputs], CanonicalInputs]] = {
    "method": lambda r: replace(r, method="DELETE"),
    "path": lambda r: replace(r, raw_path="/v1/domains"),
    # The same resource once decoded, but not the path the client signed.
    "path encoding": lambda r: replace(r, raw_path=r.raw_path.replace("/domain", "/%64omain")),
    "query value": lambda r: replace(r, raw_query=r.raw_query.replace("my-domain", "other")),
    "query parameter added": lambda r: replace(r, raw_query=r.raw_query + "&admin=true"),
    "signed header": lambda r: _with_header(r, "Content-Type", "text/plain"),
    "host": lambda r: _with_header(r, "Host", "127.0.0.1:9999"),
    "body": lambda r: replace(r, payload_hash=hashlib.sha256(b"{}").hexdigest()),
}


@pytest.fixture
def json_post() -> CanonicalInputs:
    return SIGNED_REQUESTS["codeartifact POST with JSON body"]()


@pytest.mark.parametrize("tamper", TAMPERING.values(), ids=TAMPERING.keys())
def test_tampered_request_is_refused(
    json_post: CanonicalInputs, tamper: Callable[[CanonicalInputs], CanonicalInputs],
) -> None:
    tampered = tamper(json_post)
    assert tampered != json_post
    parsed = parse_request_signature(tampered.headers, tampered.raw_query)
    with pytest.raises(InvalidSignature) as caught:
        verify_signature(parsed, tampered, SECRET_KEY, NOW)
    assert caught.value.code == "InvalidSignatureException"
    assert caught.value.message == MISMATCH


def test_tampered_signature_is_refused(json_post: CanonicalInputs) -> None:
    parsed = parse_request_signature(json_post.headers, json_post.raw_query)
    flipped = parsed.signature[:-1] + ("0" if parsed.signature[-1] != "0" else "1")
    with pytest.raises(InvalidSignature) as caught:
        verify_signature(replace(parsed, signature=flipped), json_post, SECRET_KEY, NOW)
    assert caught.value.message == MISMATCH


def test_unsigned_header_may_change(json_post: CanonicalInputs) -> None:
    changed = _with_header(json_post, "User-Agent", "something else")
    parsed = parse_request_signature(changed.headers, changed.raw_query)
    verify_signature(parsed, changed, SECRET_KEY, NOW)


def test_mismatch_message_reveals_no_secret_or_expected_signature(
    json_post: CanonicalInputs,
) -> None:
    tampered = replace(json_post, method="PUT")
    parsed = parse_request_signature(tampered.headers, tampered.raw_query)
    with pytest.raises(InvalidSignature) as caught:
        verify_signature(parsed, tampered, SECRET_KEY, NOW)
    assert SECRET_KEY not in str(caught.value)
    assert compute_signature(parsed, tampered, SECRET_KEY) not in str(caught.value)


# --- Rejections, each with the text AWS sends --------------------------------------------------

SCOPE = "AKIDEXAMPLE/20150830/us-east-1/service/aws4_request"
GOOD_AUTH = f"AWS4-HMAC-SHA256 Credential={SCOPE}, SignedHeaders=host;x-amz-date, Signature=abc"
BASE_HEADERS = (("Host", "example.amazonaws.com"), ("X-Amz-Date", "20150830T123600Z"))
SUITE_NOW = datetime(2015, 8, 30, 12, 36, tzinfo=UTC)


def _parse(authorization: str | None, *extra: tuple[str, str],
           headers: tuple[tuple[str, str], ...] = BASE_HEADERS, query: str = "") -> ParsedSignature:
    auth = () if authorization is None else (("Authorization", authorization),)
    return parse_request_signature((*headers, *extra, *auth), query)


def _verify(parsed: ParsedSignature, now: datetime = SUITE_NOW, **kwargs: Any) -> None:
    request = CanonicalInputs("GET", "/", "", BASE_HEADERS, EMPTY_SHA256)
    verify_signature(parsed, request, SUITE_SECRET, now, **kwargs)


@dataclass(frozen=True)
class Rejection:
    error: type[SignatureError]
    code: str
    message: str


PARSE_REJECTIONS: dict[str, tuple[Callable[[], object], Rejection]] = {
    "no Authorization header and no presigned query": (
        lambda: _parse(None, query="a=1"),
        Rejection(MissingAuthenticationToken, "MissingAuthenticationTokenException",
                  "Missing Authentication Token")),
    "both Authorization header and presigned query": (
        lambda: _parse(GOOD_AUTH, query="X-Amz-Algorithm=AWS4-HMAC-SHA256"),
        Rejection(InvalidSignature, "InvalidSignatureException",
                  "Found both 'X-Amz-Algorithm' as a query-string param and 'Authorization' as "
                  "HTTP header.")),
    "a Bearer token instead of a signature": (
        lambda: _parse("Bearer eyJhbGciOi.secret", headers=(("Host", "h"),)),
        Rejection(IncompleteSignature, "IncompleteSignatureException",
                  "Authorization header requires 'Credential' parameter. Authorization header "
                  "requires 'Signature' parameter. Authorization header requires 'SignedHeaders' "
                  "parameter. Authorization header requires existence of either a 'X-Amz-Date' "
                  "or a 'Date' header. Authorization=Bearer")),
    "missing Signature and SignedHeaders": (
        lambda: _parse(f"AWS4-HMAC-SHA256 Credential={SCOPE}"),
        Rejection(IncompleteSignature, "IncompleteSignatureException",
                  "Authorization header requires 'Signature' parameter. Authorization header "
                  "requires 'SignedHeaders' parameter. Authorization=AWS4-HMAC-SHA256")),
    "missing Credential": (
        lambda: _parse("AWS4-HMAC-SHA256 SignedHeaders=host;x-amz-date,Signature=abc"),
        Rejection(IncompleteSignature, "IncompleteSignatureException",
                  "Authorization header requires 'Credential' parameter. "
                  "Authorization=AWS4-HMAC-SHA256")),
    "no X-Amz-Date or Date header": (
        lambda: _parse(GOOD_AUTH, headers=(("Host", "h"),)),
        Rejection(IncompleteSignature, "IncompleteSignatureException",
                  "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' "
                  "header. Authorization=AWS4-HMAC-SHA256")),
    "unsupported algorithm": (
        lambda: _parse(GOOD_AUTH.replace("AWS4-HMAC-SHA256", "AWS4-ECDSA-P256-SHA256")),
        Rejection(IncompleteSignature, "IncompleteSignatureException",
                  "Unsupported AWS 'algorithm': 'AWS4-ECDSA-P256-SHA256'.")),
    "field without an equal sign": (
        lambda: _parse("AWS4-HMAC-SHA256 FooBar, BazBurp"),
        Rejection(IncompleteSignature, "IncompleteSignatureException",
                  "'FooBar' not a valid key=value pair (missing equal-sign) in Authorization "
                  "header.")),
    "credential scope without five parts": (
        lambda: _parse(GOOD_AUTH.replace(SCOPE, "AKIDEXAMPLE/20150830/us-east-1")),
        Rejection(IncompleteSignature, "IncompleteSignatureException",
                  "Credential must have exactly 5 slash-delimited elements, e.g. "
                  "keyid/date/region/service/term, got '…/20150830/us-east-1' (3 elements)")),
    "host not signed": (
        lambda: _parse(GOOD_AUTH.replace("host;x-amz-date", "x-amz-date")),
        Rejection(InvalidSignature, "InvalidSignatureException",
                  "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")),
    "x-amz-date not signed": (
        lambda: _parse(GOOD_AUTH.replace("host;x-amz-date", "host")),
        Rejection(InvalidSignature, "InvalidSignatureException",
                  "'X-Amz-Date' must be a 'SignedHeader' in the AWS Authorization.")),
    "date not signed": (
        lambda: _parse(GOOD_AUTH.replace("host;x-amz-date", "host"),
                       headers=(("Host", "h"), ("Date", "Sun, 30 Aug 2015 12:36:00 GMT"))),
        Rejection(InvalidSignature, "InvalidSignatureException",
                  "'Date' must be a 'SignedHeader' in the AWS Authorization.")),
    "x-amz-date not in ISO 8601 basic format": (
        lambda: _parse(GOOD_AUTH, headers=(("Host", "h"), ("X-Amz-Date", "2015-08-30T12:36:00Z"))),
        Rejection(IncompleteSignature, "IncompleteSignatureException",
                  "Date must be in ISO-8601 'basic format'. Got '2015-08-30T12:36:00Z'. "
                  "See http://en.wikipedia.org/wiki/ISO_8601")),
    "Date header that is no date": (
        lambda: _parse(GOOD_AUTH.replace("x-amz-date", "date"),
                       headers=(("Host", "h"), ("Date", "yesterday"))),
        Rejection(IncompleteSignature, "IncompleteSignatureException",
                  "Date must be in ISO-8601 'basic format'. Got 'yesterday'. "
                  "See http://en.wikipedia.org/wiki/ISO_8601")),
    "presigned query missing parameters": (
        lambda: _parse(None, query="X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20150830T123600Z"),
        Rejection(IncompleteSignature, "IncompleteSignatureException",
                  "AWS query-string parameters must include 'X-Amz-Credential'. AWS query-string "
                  "parameters must include 'X-Amz-Signature'. AWS query-string parameters must "
                  "include 'X-Amz-SignedHeaders'. Re-examine the query-string parameters.")),
}


def _presigned_query(**overrides: str) -> str:
    params = {
        "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
        "X-Amz-Credential": SCOPE.replace("/", "%2F"),
        "X-Amz-Date": "20150830T123600Z",
        "X-Amz-Expires": "300",
        "X-Amz-SignedHeaders": "host",
        "X-Amz-Signature": "abc",
    } | overrides
    return "&".join(f"{key}={value}" for key, value in params.items())


PARSE_REJECTIONS |= {
    "presigned with unsupported algorithm": (
        lambda: _parse(None, query=_presigned_query(**{"X-Amz-Algorithm": "AWS4-HMAC-SHA512"})),
        Rejection(IncompleteSignature, "IncompleteSignatureException",
                  "Unsupported AWS 'algorithm': 'AWS4-HMAC-SHA512'.")),
    "presigned expiry that is no number": (
        lambda: _parse(None, query=_presigned_query(**{"X-Amz-Expires": "soon"})),
        Rejection(IncompleteSignature, "IncompleteSignatureException",
                  "X-Amz-Expires should be a number")),
    "presigned expiry below zero": (
        lambda: _parse(None, query=_presigned_query(**{"X-Amz-Expires": "-1"})),
        Rejection(IncompleteSignature, "IncompleteSignatureException",
                  "X-Amz-Expires must be non-negative")),
    "presigned expiry over a week": (
        lambda: _parse(None, query=_presigned_query(**{"X-Amz-Expires": "604801"})),
        Rejection(IncompleteSignature, "IncompleteSignatureException",
                  "X-Amz-Expires must be less than a week (in seconds) that is 604800")),
    "presigned without host signed": (
        lambda: _parse(None, query=_presigned_query(**{"X-Amz-SignedHeaders": "x-amz-date"})),
        Rejection(InvalidSignature, "InvalidSignatureException",
                  "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")),
}


@pytest.mark.parametrize("case", PARSE_REJECTIONS.values(), ids=PARSE_REJECTIONS.keys())
def test_parse_rejection(case: tuple[Callable[[], object], Rejection]) -> None:
    attempt, expected = case
    with pytest.raises(SignatureError) as caught:
        attempt()
    assert type(caught.value) is expected.error
    assert caught.value.code == expected.code
    assert caught.value.message == expected.message


def test_bearer_token_is_not_echoed() -> None:
    with pytest.raises(IncompleteSignature) as caught:
        _parse("Bearer eyJhbGciOi.secret")
    assert "eyJhbGciOi" not in caught.value.message


@pytest.mark.parametrize("query", [False, True], ids=["header", "presigned"])
def test_regression_a_secret_given_as_the_key_id_is_not_quoted_in_the_error(query: bool) -> None:
    # Key id and secret swapped in a client's configuration: the secret (with "/" in it, as
    # about every other one has) is sent as the credential's key id. The refusal's message is
    # logged and recorded in the audit trail, which others read.
    secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    credential = f"{secret}/20150830/us-east-1/service/aws4_request"
    with pytest.raises(IncompleteSignature) as caught:
        if query:
            _parse(None, query="X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential="
                   + credential.replace("/", "%2F")
                   + "&X-Amz-Date=20150830T123600Z&X-Amz-Expires=60"
                   "&X-Amz-SignedHeaders=host&X-Amz-Signature=abc")
        else:
            _parse(GOOD_AUTH.replace(SCOPE, credential))
    message = caught.value.message
    assert "20150830/us-east-1/service/aws4_request" in message
    assert not any(piece in message for piece in secret.split("/")), message


def test_authorization_fields_tolerate_any_spacing_and_order() -> None:
    parsed = _parse(f"AWS4-HMAC-SHA256   Signature=abc ,SignedHeaders=host;X-Amz-Date,"
                    f"Credential={SCOPE}")
    assert (parsed.access_key_id, parsed.scope_date, parsed.region, parsed.service) == (
        "AKIDEXAMPLE", "20150830", "us-east-1", "service")
    assert parsed.signed_headers == ("host", "x-amz-date")
    assert parsed.signature == "abc"
    assert parsed.amz_date == SUITE_NOW
    assert parsed.session_token is None


def test_presigned_query_is_parsed() -> None:
    parsed = _parse(None, query=_presigned_query(**{"X-Amz-Security-Token": "tok%2Fen"}))
    assert parsed.is_presigned
    assert parsed.expires == timedelta(seconds=300)
    assert parsed.session_token == "tok/en"
    assert parsed.credential_scope == "20150830/us-east-1/service/aws4_request"


VERIFY_REJECTIONS: dict[str, tuple[Callable[[], None], Rejection]] = {
    "signed more than 15 minutes ago": (
        lambda: _verify(_parse(GOOD_AUTH), now=datetime(2015, 8, 30, 12, 56, tzinfo=UTC)),
        Rejection(RequestTimeSkewed, "InvalidSignatureException",
                  "Signature expired: 20150830T123600Z is now earlier than 20150830T124100Z "
                  "(20150830T125600Z - 15 min.)")),
    "signed more than 15 minutes ahead": (
        lambda: _verify(_parse(GOOD_AUTH, headers=(("Host", "h"),
                                                   ("X-Amz-Date", "20150830T131200Z")))),
        Rejection(RequestTimeSkewed, "InvalidSignatureException",
                  "Signature not yet current: 20150830T131200Z is still later than "
                  "20150830T125100Z (20150830T123600Z + 15 min.)")),
    "signed outside a 5 minute window": (
        lambda: _verify(_parse(GOOD_AUTH), now=datetime(2015, 8, 30, 12, 41, 1, tzinfo=UTC),
                        max_skew=timedelta(minutes=5)),
        Rejection(RequestTimeSkewed, "InvalidSignatureException",
                  "Signature expired: 20150830T123600Z is now earlier than 20150830T123601Z "
                  "(20150830T124101Z - 5 min.)")),
    "credential scope date differs from X-Amz-Date": (
        lambda: _verify(_parse(GOOD_AUTH.replace("/20150830/", "/20150831/"))),
        Rejection(InvalidSignature, "InvalidSignatureException",
                  "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
                  "from HTTP: '20150831' != '20150830', from '20150830T123600Z'.")),
    "credential scoped to another region, service and terminator": (
        lambda: _verify(_parse(GOOD_AUTH.replace("us-east-1/service/aws4_request",
                                                 "eu-west-1/s3/aws5_request")),
                        region="us-east-1", service="codeartifact"),
        Rejection(InvalidSignature, "InvalidSignatureException",
                  "Credential should be scoped to a valid region, not 'eu-west-1'. Credential "
                  "should be scoped to correct service: 'codeartifact'. Credential should be "
                  "scoped with a valid terminator: 'aws4_request', not 'aws5_request'.")),
    "signature that does not match": (
        lambda: _verify(_parse(GOOD_AUTH)),
        Rejection(InvalidSignature, "InvalidSignatureException", MISMATCH)),
    "presigned URL used after X-Amz-Expires": (
        lambda: _verify(_parse(None, query=_presigned_query()),
                        now=datetime(2015, 8, 30, 12, 41, 1, tzinfo=UTC)),
        Rejection(PresignedUrlExpired, "AccessDeniedException", "Request has expired")),
    "presigned URL dated in the future": (
        lambda: _verify(_parse(None, query=_presigned_query()),
                        now=datetime(2015, 8, 30, 12, 20, 59, tzinfo=UTC)),
        Rejection(RequestTimeSkewed, "InvalidSignatureException",
                  "Signature not yet current: 20150830T123600Z is still later than "
                  "20150830T123559Z (20150830T122059Z + 15 min.)")),
}


@pytest.mark.parametrize("case", VERIFY_REJECTIONS.values(), ids=VERIFY_REJECTIONS.keys())
def test_verify_rejection(case: tuple[Callable[[], None], Rejection]) -> None:
    attempt, expected = case
    with pytest.raises(SignatureError) as caught:
        attempt()
    assert type(caught.value) is expected.error
    assert caught.value.code == expected.code
    assert caught.value.message == expected.message


def test_presigned_expiry_reports_its_times() -> None:
    now = datetime(2015, 8, 30, 12, 41, 1, tzinfo=UTC)
    with pytest.raises(PresignedUrlExpired) as caught:
        _verify(_parse(None, query=_presigned_query()), now=now)
    assert caught.value.expires_at == datetime(2015, 8, 30, 12, 41, tzinfo=UTC)
    assert caught.value.server_time == now


@pytest.mark.parametrize("offset", [timedelta(minutes=-15), timedelta(minutes=15)],
                         ids=["15 minutes behind", "15 minutes ahead"])
def test_skew_of_exactly_15_minutes_is_allowed(offset: timedelta) -> None:
    request = SIGNED_REQUESTS["codeartifact POST with JSON body"]()
    parsed = parse_request_signature(request.headers, request.raw_query)
    verify_signature(parsed, request, SECRET_KEY, NOW + offset)


def test_presigned_url_is_valid_until_its_last_second() -> None:
    request = PRESIGNED_REQUESTS["codeartifact GET with query"]()
    parsed = parse_request_signature(request.headers, request.raw_query)
    verify_signature(parsed, request, SECRET_KEY, NOW + timedelta(seconds=300))
    with pytest.raises(PresignedUrlExpired):
        verify_signature(parsed, request, SECRET_KEY, NOW + timedelta(seconds=301))


def test_naive_now_is_taken_as_utc() -> None:
    request = SIGNED_REQUESTS["codeartifact POST with JSON body"]()
    parsed = parse_request_signature(request.headers, request.raw_query)
    verify_signature(parsed, request, SECRET_KEY, FROZEN)


def test_unrecognized_client_error_for_the_callers_lookup() -> None:
    error = UnrecognizedClient()
    assert error.code == "UnrecognizedClientException"
    assert error.message == "The security token included in the request is invalid."
    assert error.http_status == 403


@pytest.mark.parametrize(("error", "base", "status"), [
    (MissingAuthenticationToken, Unauthenticated, 403),
    (IncompleteSignature, Denied, 400),
    (InvalidSignature, Denied, 403),
    (RequestTimeSkewed, Denied, 403),
    (PresignedUrlExpired, Denied, 403),
    (UnrecognizedClient, Denied, 403),
])
def test_errors_fit_the_domain_hierarchy(error: type[SignatureError], base: type[Exception],
                                         status: int) -> None:
    assert issubclass(error, base)
    assert issubclass(error, SignatureError)
    assert error.http_status == status


# --- The payload hash a client signed ---------------------------------------------------------

BODY_SHA = hashlib.sha256(b"body").hexdigest()


@pytest.mark.parametrize(("headers", "expected"), [
    ((), BODY_SHA),
    ((("X-Amz-Content-SHA256", "UNSIGNED-PAYLOAD"),), "UNSIGNED-PAYLOAD"),
    ((("x-amz-content-sha256", BODY_SHA.upper()),), BODY_SHA.upper()),
], ids=["no header: the body's hash", "UNSIGNED-PAYLOAD as sent", "matching hash as sent"])
def test_payload_hash_to_sign(headers: tuple[tuple[str, str], ...], expected: str) -> None:
    assert payload_hash_to_sign(headers, BODY_SHA) == expected


def test_payload_hash_that_does_not_match_the_body() -> None:
    with pytest.raises(PayloadHashMismatch) as caught:
        payload_hash_to_sign([("x-amz-content-sha256", EMPTY_SHA256)], BODY_SHA)
    assert caught.value.code == "InvalidSignatureException"
    assert caught.value.message == (
        "The provided 'x-amz-content-sha256' header does not match what was computed.")


def test_payload_hash_in_streaming_form_is_refused() -> None:
    with pytest.raises(IncompleteSignature) as caught:
        payload_hash_to_sign([("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD")],
                             BODY_SHA)
    assert caught.value.message == (
        "x-amz-content-sha256 must be UNSIGNED-PAYLOAD or a valid sha256 value.")

