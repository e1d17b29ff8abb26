"""The IAM/STS Query protocol against botocore's own serializer and parser (round trips)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from botocore import parsers, serialize

from packyard.api.iam.errors import error_code_and_status
from packyard.api.iam.protocol import (
    InvalidAction,
    ValidationError,
    find_operation,
    parse_params,
    render_error,
    render_result,
    service_model,
)
from packyard.auth.signed import ExpiredToken
from packyard.auth.sigv4 import InvalidSignature, UnrecognizedClient
from packyard.errors import Conflict, Denied, Invalid, NotFound, PackyardError
from packyard.iam.errors import DeleteConflict, MalformedPolicyDocument, NoSuchEntity

ALL = frozenset({"CreateUser", "ListUsers", "GetUserPolicy", "AssumeRole", "CreateRole",
                 "ListAttachedUserPolicies", "DeleteUser"})


def _wire(service: str, operation: str, params: dict[str, Any]) -> dict[str, str]:
    """The form fields botocore sends for a call."""
    op = service_model(service).operation_model(operation)
    body = serialize.create_serializer("query").serialize_to_request(params, op)["body"]
    return {k: str(v) for k, v in body.items()}


def _parsed(service: str, operation: str, result: dict[str, Any]) -> dict[str, Any]:
    """What botocore makes of our XML for ``result``."""
    op = service_model(service).operation_model(operation)
    body = render_result(service, op, result, "req-1")
    response = {"status_code": 200, "headers": {}, "body": body}
    parsed = dict(parsers.create_parser("query").parse(response, op.output_shape))
    assert parsed.pop("ResponseMetadata")["RequestId"] == "req-1"
    return parsed


@pytest.mark.parametrize(("service", "operation", "params"), [
    ("iam", "CreateUser", {"UserName": "alice", "Path": "/team/"}),
    ("iam", "CreateUser", {"UserName": "a", "Tags": [{"Key": "k", "Value": "v"},
                                                      {"Key": "k2", "Value": ""}]}),
    ("iam", "ListUsers", {"PathPrefix": "/", "MaxItems": 5, "Marker": "abc"}),
    ("sts", "AssumeRole", {"RoleArn": "arn:aws:iam::000000000000:role/r",
                           "RoleSessionName": "s1", "DurationSeconds": 900,
                           "PolicyArns": [{"arn": "arn:aws:iam::aws:policy/AWSCodeArtifactRead"
                                                  "OnlyAccess"}]}),
])
def test_parse_params_reads_what_botocore_sends(service: str, operation: str,
                                                params: dict[str, Any]) -> None:
    flat = _wire(service, operation, params)
    op = find_operation(service, flat, ALL)
    assert parse_params(op, flat) == params


def test_unknown_action() -> None:
    with pytest.raises(InvalidAction,
                       match="Could not find operation CreateGroup for version 2010-05-08"):
        find_operation("iam", {"Action": "CreateGroup"}, ALL)


def test_missing_action() -> None:
    with pytest.raises(InvalidAction, match="must contain the parameter Action"):
        find_operation("iam", {}, ALL)


def test_action_of_the_model_that_packyard_does_not_serve() -> None:
    with pytest.raises(InvalidAction, match="Could not find operation GetUser"):
        find_operation("iam", {"Action": "GetUser"}, ALL)


@pytest.mark.parametrize(("params", "message"), [
    ({}, "1 validation error detected: Value null at 'userName' failed to satisfy constraint: "
         "Member must not be null"),
    ({"UserName": "bad name"}, "Value 'bad name' at 'userName' failed to satisfy constraint: "
                               "Member must satisfy regular expression pattern: [\\w+=,.@-]+"),
    ({"UserName": "x" * 65}, "Member must have length less than or equal to 64"),
    ({"UserName": "ok", "Path": "no-slashes"}, "at 'path' failed to satisfy constraint: Member "
                                               "must satisfy regular expression pattern"),
])
def test_validation_errors_use_aws_wording(params: dict[str, str], message: str) -> None:
    op = service_model("iam").operation_model("CreateUser")
    with pytest.raises(ValidationError) as info:
        parse_params(op, params)
    assert message in info.value.message


def test_integer_that_is_not_a_number() -> None:
    op = service_model("iam").operation_model("ListUsers")
    with pytest.raises(ValidationError, match="MaxItems: 'many' is not a number"):
        parse_params(op, {"MaxItems": "many"})


def test_render_user_parses_in_botocore() -> None:
    created = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    user = {"Path": "/", "UserName": "alice", "UserId": "AIDAEXAMPLE", "CreateDate": created,
            "Arn": "arn:aws:iam::000000000000:user/alice"}
    parsed = _parsed("iam", "CreateUser", {"User": user})
    assert parsed["User"] == user


def test_render_lists_and_booleans() -> None:
    users = [{"Path": "/", "UserName": n, "UserId": f"AIDA{n}", "Arn": f"arn:{n}",
              "CreateDate": datetime(2026, 1, 1, tzinfo=UTC)} for n in ("a", "b")]
    parsed = _parsed("iam", "ListUsers", {"Users": users, "IsTruncated": True, "Marker": "m"})
    assert [u["UserName"] for u in parsed["Users"]] == ["a", "b"]
    assert parsed["IsTruncated"] is True and parsed["Marker"] == "m"


def test_render_empty_list() -> None:
    parsed = _parsed("iam", "ListUsers", {"Users": [], "IsTruncated": False})
    assert parsed["Users"] == [] and parsed["IsTruncated"] is False


def test_render_assume_role() -> None:
    expires = datetime(2026, 1, 1, 1, tzinfo=UTC)
    result = {"Credentials": {"AccessKeyId": "ASIAX", "SecretAccessKey": "s",
                              "SessionToken": "t", "Expiration": expires},
              "AssumedRoleUser": {"AssumedRoleId": "AROAX:s1", "Arn": "arn:aws:sts::0:x"}}
    assert _parsed("sts", "AssumeRole", result) == result


def test_render_error_parses_in_botocore() -> None:
    body = render_error("iam", "NoSuchEntity", "The user with name x cannot be found.", "r-1")
    response = {"status_code": 404, "headers": {}, "body": body}
    op = service_model("iam").operation_model("GetUser")
    parsed = parsers.create_parser("query").parse(response, op.output_shape)
    assert parsed["Error"] == {"Type": "Sender", "Code": "NoSuchEntity",
                               "Message": "The user with name x cannot be found."}
    assert parsed["ResponseMetadata"]["RequestId"] == "r-1"


@pytest.mark.parametrize(("error", "code", "status"), [
    (NoSuchEntity("x"), "NoSuchEntity", 404),
    (DeleteConflict("x"), "DeleteConflict", 409),
    (MalformedPolicyDocument("x"), "MalformedPolicyDocument", 400),
    (UnrecognizedClient(), "InvalidClientTokenId", 403),
    (InvalidSignature("x"), "SignatureDoesNotMatch", 403),
    (ExpiredToken(), "ExpiredToken", 403),
    (Denied("x"), "AccessDenied", 403),
    (Invalid("x"), "ValidationError", 400),
    (NotFound("x"), "NoSuchEntity", 404),
    (Conflict("x"), "ConcurrentModification", 409),
    (PackyardError("x"), "ServiceFailure", 500),
])
def test_error_codes(error: PackyardError, code: str, status: int) -> None:
    assert error_code_and_status(error) == (code, status)
