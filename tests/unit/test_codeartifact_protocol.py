"""Routing and input validation driven by botocore's codeartifact model."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from packyard.api.codeartifact.protocol import find_operation, parse_request, serialize_output
from packyard.errors import Invalid


@pytest.mark.parametrize(("method", "path", "name"), [
    ("POST", "/v1/domain", "CreateDomain"),
    ("GET", "/v1/domain", "DescribeDomain"),
    ("DELETE", "/v1/domain", "DeleteDomain"),
    ("POST", "/v1/domains", "ListDomains"),
    ("POST", "/v1/authorization-token", "GetAuthorizationToken"),
    ("GET", "/v1/package/version/asset", "GetPackageVersionAsset"),
    ("PUT", "/v1/repository", "UpdateRepository"),
])
def test_routes(method: str, path: str, name: str) -> None:
    op = find_operation(method, path)
    assert op is not None and op.name == name


def test_unknown_route() -> None:
    assert find_operation("GET", "/v1/nothing") is None


def test_query_members_are_typed_and_validated() -> None:
    op = find_operation("POST", "/v1/authorization-token")
    assert op is not None
    parsed = parse_request(op, {"domain": ["my-domain"], "duration": ["900"]}, {}, b"")
    assert parsed.params == {"domain": "my-domain", "durationSeconds": 900}


@pytest.mark.parametrize(("query", "body", "message"), [
    ({}, b"", "domain is required"),
    ({"domain": ["Bad_Name"]}, b"", "does not match the pattern"),
    ({"domain": ["x"]}, b"", "at least 2 characters"),
    ({"domain": ["ok-domain"], "duration": ["abc"]}, b"", "must be a number"),
    ({"domain": ["ok-domain"], "duration": ["50000"]}, b"", "at most 43200"),
])
def test_invalid_inputs(query: dict[str, list[str]], body: bytes, message: str) -> None:
    op = find_operation("POST", "/v1/authorization-token")
    assert op is not None
    with pytest.raises(Invalid, match=message):
        parse_request(op, query, {}, body)


def test_body_members_and_bad_json() -> None:
    op = find_operation("POST", "/v1/repository")
    assert op is not None
    parsed = parse_request(op, {"domain": ["d1"], "repository": ["r1"]}, {},
                           json.dumps({"description": "hi"}).encode())
    assert parsed.params["description"] == "hi"
    with pytest.raises(Invalid, match="not valid JSON"):
        parse_request(op, {"domain": ["d1"], "repository": ["r1"]}, {}, b"{nope")
    with pytest.raises(Invalid, match="description must be at most 1000"):
        parse_request(op, {"domain": ["d1"], "repository": ["r1"]}, {},
                      json.dumps({"description": "x" * 1001}).encode())


def test_output_headers_and_timestamps() -> None:
    op = find_operation("GET", "/v1/package/version/asset")
    assert op is not None
    body, headers = serialize_output(op, {"assetName": "a.whl", "packageVersion": "1.0"})
    assert headers == {"X-AssetName": "a.whl", "X-PackageVersion": "1.0"}
    op = find_operation("POST", "/v1/domain")
    assert op is not None
    when = datetime(2026, 1, 1, tzinfo=UTC)
    body, _ = serialize_output(op, {"domain": {"name": "d", "createdTime": when}})
    assert json.loads(body) == {"domain": {"name": "d", "createdTime": when.timestamp()}}


def test_output_headers_with_non_latin1_text_are_ascii() -> None:
    # An asset stored before filenames were checked for homoglyphs (a Kelvin sign) must not
    # turn GetPackageVersionAsset into a 500: header values are latin-1 on the wire.
    op = find_operation("GET", "/v1/package/version/asset")
    assert op is not None
    _, headers = serialize_output(op, {"assetName": "\u212apkg-1.0-py3-none-any.whl",
                                       "packageVersion": "1.0"})
    assert headers["X-AssetName"] == "%E2%84%AApkg-1.0-py3-none-any.whl"
    assert all(value.isascii() for value in headers.values())
