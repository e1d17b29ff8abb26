"""Condition operators, set qualifiers, IfExists, Null and policy variables in conditions.

Expected results follow the IAM User Guide pages "Condition operators", "Conditions with multiple
context keys or values" and "Variables and tags".
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from packyard.errors import Invalid
from packyard.policy.conditions import (
    ContextInput,
    RequestContext,
    SetQualifier,
    evaluate_conditions,
    parse_condition_block,
    parse_date,
)


def holds(block: dict[str, Any], context: dict[str, ContextInput], *,
          variables: bool = True) -> bool:
    conditions = parse_condition_block(block, variables=variables, where="Policy statement 1")
    return evaluate_conditions(conditions, RequestContext(context))


def case(block: dict[str, Any], context: dict[str, ContextInput], expected: bool,
         id: str) -> Any:
    return pytest.param(block, context, expected, id=id)


STRING_CASES = [
    case({"StringEquals": {"aws:username": "johndoe"}}, {"aws:username": "johndoe"}, True,
         "StringEquals-match"),
    case({"StringEquals": {"aws:username": "johndoe"}}, {"aws:username": "JohnDoe"}, False,
         "StringEquals-is-case-sensitive"),
    case({"StringEquals": {"aws:username": ["alice", "bob"]}}, {"aws:username": "bob"}, True,
         "StringEquals-values-are-ORed"),
    case({"StringEquals": {"aws:username": "johndoe"}}, {}, False,
         "StringEquals-missing-key-is-false"),
    case({"StringEquals": {"aws:username": "a*"}}, {"aws:username": "abc"}, False,
         "StringEquals-star-is-literal"),
    case({"StringEquals": {"aws:username": "a*"}}, {"aws:username": "a*"}, True,
         "StringEquals-star-literal-match"),
    case({"StringNotEquals": {"aws:username": "johndoe"}}, {"aws:username": "alice"}, True,
         "StringNotEquals-other-value"),
    case({"StringNotEquals": {"aws:username": "johndoe"}}, {"aws:username": "johndoe"}, False,
         "StringNotEquals-same-value"),
    case({"StringNotEquals": {"aws:username": "johndoe"}}, {}, True,
         "StringNotEquals-missing-key-is-true"),
    case({"StringNotEquals": {"aws:RequestTag/DataClass": ["public", "internal"]}},
         {"aws:RequestTag/DataClass": "internal"}, False,
         "StringNotEquals-values-are-NORed-one-matches"),
    case({"StringNotEquals": {"aws:RequestTag/DataClass": ["public", "internal"]}},
         {"aws:RequestTag/DataClass": "private"}, True,
         "StringNotEquals-values-are-NORed-none-matches"),
    case({"StringEqualsIgnoreCase": {"aws:username": "johndoe"}}, {"aws:username": "JohnDoe"},
         True, "StringEqualsIgnoreCase-match"),
    case({"StringEqualsIgnoreCase": {"aws:username": "johndoe"}}, {"aws:username": "janedoe"},
         False, "StringEqualsIgnoreCase-no-match"),
    case({"StringNotEqualsIgnoreCase": {"aws:username": ["JOHNDOE", "x"]}},
         {"aws:username": "johndoe"}, False, "StringNotEqualsIgnoreCase-one-matches"),
    case({"StringNotEqualsIgnoreCase": {"aws:username": ["JOHNDOE", "x"]}},
         {"aws:username": "alice"}, True, "StringNotEqualsIgnoreCase-none-matches"),
    case({"StringNotEqualsIgnoreCase": {"aws:username": "x"}}, {}, True,
         "StringNotEqualsIgnoreCase-missing-key-is-true"),
    case({"StringLike": {"s3:prefix": ["", "home/", "home/*/"]}}, {"s3:prefix": "home/bob/"},
         True, "StringLike-star"),
    case({"StringLike": {"s3:prefix": ["", "home/"]}}, {"s3:prefix": ""}, True,
         "StringLike-empty-string-value"),
    case({"StringLike": {"s3:prefix": "file?.txt"}}, {"s3:prefix": "file1.txt"}, True,
         "StringLike-question-mark-one-character"),
    case({"StringLike": {"s3:prefix": "file?.txt"}}, {"s3:prefix": "file12.txt"}, False,
         "StringLike-question-mark-not-two"),
    case({"StringLike": {"s3:prefix": "Home/*"}}, {"s3:prefix": "home/x"}, False,
         "StringLike-is-case-sensitive"),
    case({"StringLike": {"s3:prefix": "a.c"}}, {"s3:prefix": "abc"}, False,
         "StringLike-dot-is-literal"),
    case({"StringLike": {"ec2:InstanceType": ["t1.*", "t2.*", "m3.*"]}},
         {"ec2:InstanceType": "t2.micro"}, True, "StringLike-doc-instance-types"),
    case({"StringNotLike": {"s3:prefix": "private/*"}}, {"s3:prefix": "public/x"}, True,
         "StringNotLike-no-match"),
    case({"StringNotLike": {"s3:prefix": ["private/*", "secret/*"]}},
         {"s3:prefix": "secret/x"}, False, "StringNotLike-NOR-one-matches"),
    case({"StringNotLike": {"s3:prefix": "private/*"}}, {}, True,
         "StringNotLike-missing-key-is-true"),
    case({"StringEquals": {"AWS:UserName": "johndoe"}}, {"aws:username": "johndoe"}, True,
         "key-names-ignore-case-in-policy"),
    case({"StringEquals": {"aws:username": "johndoe"}}, {"AWS:USERNAME": "johndoe"}, True,
         "key-names-ignore-case-in-context"),
    case({"stringequals": {"aws:username": "johndoe"}}, {"aws:username": "johndoe"}, True,
         "operator-names-ignore-case"),
]

ARN_CASES = [
    case({"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:root"}},
         {"aws:PrincipalArn": "arn:aws:iam::123456789012:root"}, True, "ArnLike-account-star"),
    case({"ArnLike": {"aws:SourceArn": "arn:aws:someservice:*:111122223333:finance/*"}},
         {"aws:SourceArn": "arn:aws:someservice:us-east-2:999999999999:store/abc:"
                           "111122223333:finance/document.txt"},
         False, "ArnLike-star-does-not-span-colons-doc-example"),
    case({"StringLike": {"aws:SourceArn": "arn:aws:someservice:*:111122223333:finance/*"}},
         {"aws:SourceArn": "arn:aws:someservice:us-east-2:999999999999:store/abc:"
                           "111122223333:finance/document.txt"},
         True, "StringLike-star-spans-colons-doc-example"),
    case({"ArnEquals": {"aws:SourceArn": "arn:aws:sns:us-east-1:123456789012:topic"}},
         {"aws:SourceArn": "arn:aws:sns:us-east-1:123456789012:topic"}, True,
         "ArnEquals-exact"),
    case({"ArnEquals": {"aws:SourceArn": "arn:aws:sns:*:123456789012:top?c"}},
         {"aws:SourceArn": "arn:aws:sns:eu-west-1:123456789012:topic"}, True,
         "ArnEquals-behaves-like-ArnLike"),
    case({"ArnLike": {"aws:SourceArn": "arn:aws:sns:us-east-1:123456789012:Topic"}},
         {"aws:SourceArn": "arn:aws:sns:us-east-1:123456789012:topic"}, False,
         "ArnLike-is-case-sensitive"),
    case({"ArnLike": {"aws:SourceArn": "arn:aws:s3:::bucket/*"}},
         {"aws:SourceArn": "arn:aws:s3:::bucket/a:b/c"}, True,
         "ArnLike-resource-part-may-contain-colons"),
    case({"ArnLike": {"aws:SourceArn": "arn:aws:sns:*:*:*"}},
         {"aws:SourceArn": "not-an-arn"}, False, "ArnLike-request-value-not-an-arn"),
    case({"ArnLike": {"aws:SourceArn": "*"}}, {"aws:SourceArn": "arn:aws:sns:x:1:t"}, True,
         "ArnLike-lone-star-matches-all"),
    case({"ArnLike": {"aws:SourceArn": "arn:aws:sns"}}, {"aws:SourceArn": "arn:aws:sns"},
         False, "ArnLike-policy-value-not-an-arn-matches-nothing"),
    case({"ArnNotEquals": {"aws:PrincipalArn": "arn:aws:iam::1:role/admin"}},
         {"aws:PrincipalArn": "arn:aws:iam::1:role/dev"}, True, "ArnNotEquals-other"),
    case({"ArnNotLike": {"aws:PrincipalArn": ["arn:aws:iam::*:role/admin",
                                              "arn:aws:iam::*:role/ops"]}},
         {"aws:PrincipalArn": "arn:aws:iam::1:role/ops"}, False, "ArnNotLike-NOR"),
    case({"ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/admin"}}, {}, True,
         "ArnNotLike-missing-key-is-true"),
    case({"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/admin"}}, {}, False,
         "ArnLike-missing-key-is-false"),
]

BOOL_CASES = [
    case({"Bool": {"aws:SecureTransport": "false"}}, {"aws:SecureTransport": False}, True,
         "Bool-false-matches-false"),
    case({"Bool": {"aws:SecureTransport": "false"}}, {"aws:SecureTransport": True}, False,
         "Bool-false-does-not-match-true"),
    case({"Bool": {"aws:SecureTransport": True}}, {"aws:SecureTransport": "true"}, True,
         "Bool-json-boolean-policy-value"),
    case({"Bool": {"aws:SecureTransport": "TRUE"}}, {"aws:SecureTransport": "True"}, True,
         "Bool-ignores-case"),
    case({"Bool": {"aws:MultiFactorAuthPresent": "true"}}, {}, False,
         "Bool-missing-key-is-false"),
    case({"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}, {}, True,
         "BoolIfExists-missing-key-is-true"),
]

NUMERIC_CASES = [
    case({"NumericEquals": {"s3:max-keys": "10"}}, {"s3:max-keys": "10.0"}, True,
         "NumericEquals-compares-numbers"),
    case({"NumericEquals": {"s3:max-keys": 10}}, {"s3:max-keys": 10}, True,
         "NumericEquals-json-numbers"),
    case({"NumericEquals": {"s3:max-keys": "10"}}, {"s3:max-keys": "11"}, False,
         "NumericEquals-different"),
    case({"NumericEquals": {"s3:max-keys": "10"}}, {"s3:max-keys": "ten"}, False,
         "NumericEquals-request-value-not-a-number"),
    case({"NumericNotEquals": {"s3:max-keys": ["10", "20"]}}, {"s3:max-keys": "20"}, False,
         "NumericNotEquals-NOR-one-matches"),
    case({"NumericNotEquals": {"s3:max-keys": ["10", "20"]}}, {"s3:max-keys": "30"}, True,
         "NumericNotEquals-NOR-none-matches"),
    case({"NumericNotEquals": {"s3:max-keys": "10"}}, {}, True,
         "NumericNotEquals-missing-key-is-true"),
    case({"NumericLessThan": {"s3:max-keys": "10"}}, {"s3:max-keys": "9"}, True,
         "NumericLessThan-below"),
    case({"NumericLessThan": {"s3:max-keys": "10"}}, {"s3:max-keys": "10"}, False,
         "NumericLessThan-equal"),
    case({"NumericLessThanEquals": {"s3:max-keys": "10"}}, {"s3:max-keys": "10"}, True,
         "NumericLessThanEquals-equal"),
    case({"NumericLessThanEquals": {"s3:max-keys": "10"}}, {"s3:max-keys": "10.5"}, False,
         "NumericLessThanEquals-above"),
    case({"NumericGreaterThan": {"s3:max-keys": "1.5"}}, {"s3:max-keys": "2"}, True,
         "NumericGreaterThan-decimal"),
    case({"NumericGreaterThan": {"s3:max-keys": "2"}}, {"s3:max-keys": "2"}, False,
         "NumericGreaterThan-equal"),
    case({"NumericGreaterThanEquals": {"s3:max-keys": "-3"}}, {"s3:max-keys": "-3"}, True,
         "NumericGreaterThanEquals-negative"),
    case({"NumericLessThan": {"s3:max-keys": "10"}}, {}, False,
         "NumericLessThan-missing-key-is-false"),
    case({"NumericLessThanIfExists": {"s3:max-keys": "10"}}, {}, True,
         "NumericLessThanIfExists-missing-key-is-true"),
    case({"NumericLessThanIfExists": {"s3:max-keys": "10"}}, {"s3:max-keys": "50"}, False,
         "NumericLessThanIfExists-present-is-tested"),
]

DATE_CASES = [
    case({"DateEquals": {"aws:CurrentTime": "2023-11-14T22:13:20Z"}},
         {"aws:CurrentTime": "2023-11-14T22:13:20Z"}, True, "DateEquals-iso"),
    case({"DateEquals": {"aws:CurrentTime": "1700000000"}},
         {"aws:CurrentTime": "2023-11-14T22:13:20Z"}, True, "DateEquals-epoch-vs-iso"),
    case({"DateEquals": {"aws:EpochTime": "2023-11-14T23:13:20+01:00"}},
         {"aws:EpochTime": 1700000000}, True, "DateEquals-offset-vs-epoch"),
    case({"DateNotEquals": {"aws:CurrentTime": ["2020-01-01", "2021-01-01"]}},
         {"aws:CurrentTime": "2021-01-01T00:00:00Z"}, False, "DateNotEquals-NOR"),
    case({"DateNotEquals": {"aws:CurrentTime": "2020-01-01"}},
         {"aws:CurrentTime": "2021-01-01T00:00:00Z"}, True, "DateNotEquals-other"),
    case({"DateLessThan": {"aws:CurrentTime": "2024-01-01T00:00:00Z"}},
         {"aws:CurrentTime": "2023-12-31T23:59:59Z"}, True, "DateLessThan-before"),
    case({"DateLessThan": {"aws:CurrentTime": "2024-01-01T00:00:00Z"}},
         {"aws:CurrentTime": "2024-01-01T00:00:00Z"}, False, "DateLessThan-equal"),
    case({"DateLessThanEquals": {"aws:CurrentTime": "2024-01-01"}},
         {"aws:CurrentTime": "2024-01-01T00:00:00Z"}, True, "DateLessThanEquals-date-only"),
    case({"DateGreaterThan": {"aws:TokenIssueTime": "2020-01-01T00:00:01Z"}},
         {"aws:TokenIssueTime": "2020-06-01T00:00:00Z"}, True, "DateGreaterThan-doc-example"),
    case({"DateGreaterThan": {"aws:TokenIssueTime": "2020-01-01T00:00:01Z"}}, {}, False,
         "DateGreaterThan-missing-key-is-false"),
    case({"DateGreaterThanEquals": {"aws:CurrentTime": "2024-02"}},
         {"aws:CurrentTime": datetime(2024, 2, 1, tzinfo=UTC)}, True,
         "DateGreaterThanEquals-year-month-and-datetime-context"),
    case({"DateGreaterThanEquals": {"aws:CurrentTime": "2024-02-01T00:00:00.500Z"}},
         {"aws:CurrentTime": "2024-02-01T00:00:00Z"}, False,
         "DateGreaterThanEquals-fractional-seconds"),
    case({"DateLessThan": {"aws:CurrentTime": "2024-01-01T00:00:00Z"}},
         {"aws:CurrentTime": "yesterday"}, False, "DateLessThan-request-value-not-a-date"),
]

IP_CASES = [
    case({"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}, {"aws:SourceIp": "203.0.113.7"},
         True, "IpAddress-in-cidr"),
    case({"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}, {"aws:SourceIp": "203.0.114.7"},
         False, "IpAddress-outside-cidr"),
    case({"IpAddress": {"aws:SourceIp": "203.0.113.7"}}, {"aws:SourceIp": "203.0.113.7"},
         True, "IpAddress-bare-address-is-slash-32"),
    case({"IpAddress": {"aws:SourceIp": "203.0.113.7"}}, {"aws:SourceIp": "203.0.113.8"},
         False, "IpAddress-bare-address-only-itself"),
    case({"IpAddress": {"aws:SourceIp": ["203.0.113.0/24", "2001:DB8:1234:5678::/64"]}},
         {"aws:SourceIp": "2001:db8:1234:5678::1"}, True, "IpAddress-ipv6-doc-example"),
    case({"IpAddress": {"aws:SourceIp": "2001:DB8:1234:5678::/64"}},
         {"aws:SourceIp": "2001:db8:1234:5679::1"}, False, "IpAddress-ipv6-outside"),
    case({"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}, {"aws:SourceIp": "::ffff:10.1.2.3"},
         True, "IpAddress-ipv4-mapped-ipv6-request"),
    case({"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}, {"aws:SourceIp": "bogus"}, False,
         "IpAddress-request-value-not-an-ip"),
    case({"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}, {}, False,
         "IpAddress-missing-key-is-false"),
    case({"NotIpAddress": {"aws:SourceIp": ["10.0.0.0/8", "192.168.0.0/16"]}},
         {"aws:SourceIp": "192.168.1.1"}, False, "NotIpAddress-NOR-one-matches"),
    case({"NotIpAddress": {"aws:SourceIp": ["10.0.0.0/8", "192.168.0.0/16"]}},
         {"aws:SourceIp": "8.8.8.8"}, True, "NotIpAddress-NOR-none-matches"),
    case({"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}, {}, True,
         "NotIpAddress-missing-key-is-true"),
]

NULL_AND_BINARY_CASES = [
    case({"Null": {"aws:TokenIssueTime": "true"}}, {}, True, "Null-true-key-absent"),
    case({"Null": {"aws:TokenIssueTime": "true"}}, {"aws:TokenIssueTime": "2020-01-01"},
         False, "Null-true-key-present"),
    case({"Null": {"aws:TokenIssueTime": False}}, {"aws:TokenIssueTime": "2020-01-01"},
         True, "Null-false-key-present"),
    case({"Null": {"aws:TokenIssueTime": "false"}}, {}, False, "Null-false-key-absent"),
    case({"Null": {"aws:TagKeys": "true"}}, {"aws:TagKeys": []}, True,
         "Null-empty-multivalued-key-is-absent"),
    case({"BinaryEquals": {"x:blob": "QmluYXJ5VmFsdWVJbkJhc2U2NA=="}},
         {"x:blob": "QmluYXJ5VmFsdWVJbkJhc2U2NA=="}, True, "BinaryEquals-match"),
    case({"BinaryEquals": {"x:blob": "QmluYXJ5VmFsdWVJbkJhc2U2NA=="}},
         {"x:blob": "b3RoZXI="}, False, "BinaryEquals-other-bytes"),
]

IF_EXISTS_CASES = [
    case({"StringLikeIfExists": {"ec2:InstanceType": ["t1.*", "t2.*", "m3.*"]}}, {}, True,
         "StringLikeIfExists-missing-key-is-true"),
    case({"StringLikeIfExists": {"ec2:InstanceType": ["t1.*", "t2.*", "m3.*"]}},
         {"ec2:InstanceType": "m3.large"}, True, "StringLikeIfExists-present-matches"),
    case({"StringLikeIfExists": {"ec2:InstanceType": ["t1.*", "t2.*", "m3.*"]}},
         {"ec2:InstanceType": "c5.large"}, False, "StringLikeIfExists-present-no-match"),
    case({"StringNotEqualsIfExists": {"aws:ResourceTag/team": "blue"}}, {}, True,
         "StringNotEqualsIfExists-missing-key-is-true"),
    case({"StringNotEqualsIfExists": {"aws:ResourceTag/team": "blue"}},
         {"aws:ResourceTag/team": "blue"}, False, "StringNotEqualsIfExists-present-equal"),
    case({"ArnLikeIfExists": {"aws:SourceArn": "arn:aws:sns:*:*:t"}}, {}, True,
         "ArnLikeIfExists-missing-key-is-true"),
    case({"IpAddressIfExists": {"aws:SourceIp": "10.0.0.0/8"}}, {}, True,
         "IpAddressIfExists-missing-key-is-true"),
    case({"DateLessThanIfExists": {"aws:CurrentTime": "2020-01-01"}}, {}, True,
         "DateLessThanIfExists-missing-key-is-true"),
    case({"ForAnyValue:StringEqualsIfExists": {"aws:TagKeys": "a"}}, {}, True,
         "ForAnyValue-IfExists-missing-key-is-true"),
]

ALLOWED_ATTRIBUTES = ["PostDateTime", "Message", "Tags"]
FORBIDDEN_ATTRIBUTES = ["ID", "PostDateTime"]
TAG_KEYS = ["DataClass", "Owner"]

SET_CASES = [
    # "Conditions with multiple context keys or values", the DynamoDB Thread examples.
    case({"ForAllValues:StringLike": {"dynamodb:requestedAttributes": ALLOWED_ATTRIBUTES}},
         {"dynamodb:requestedAttributes": ["PostDateTime", "Message"]}, True,
         "ForAllValues-every-value-listed"),
    case({"ForAllValues:StringLike": {"dynamodb:requestedAttributes": ALLOWED_ATTRIBUTES}},
         {"dynamodb:requestedAttributes": ["PostDateTime", "UserName"]}, False,
         "ForAllValues-one-value-not-listed"),
    case({"ForAllValues:StringLike": {"dynamodb:requestedAttributes": ALLOWED_ATTRIBUTES}},
         {}, True, "ForAllValues-missing-key-is-true"),
    case({"ForAllValues:StringLike": {"dynamodb:requestedAttributes": ALLOWED_ATTRIBUTES}},
         {"dynamodb:requestedAttributes": []}, True, "ForAllValues-empty-set-is-true"),
    case({"ForAnyValue:StringLike": {"dynamodb:requestedAttributes": FORBIDDEN_ATTRIBUTES}},
         {"dynamodb:requestedAttributes": ["UserName", "Message", "PostDateTime"]}, True,
         "ForAnyValue-one-value-listed"),
    case({"ForAnyValue:StringLike": {"dynamodb:requestedAttributes": FORBIDDEN_ATTRIBUTES}},
         {"dynamodb:requestedAttributes": ["UserName"]}, False, "ForAnyValue-none-listed"),
    case({"ForAnyValue:StringLike": {"dynamodb:requestedAttributes": FORBIDDEN_ATTRIBUTES}},
         {}, False, "ForAnyValue-missing-key-is-false"),
    case({"ForAnyValue:StringLike": {"dynamodb:requestedAttributes": FORBIDDEN_ATTRIBUTES}},
         {"dynamodb:requestedAttributes": []}, False, "ForAnyValue-empty-set-is-false"),
    case({"ForAnyValue:StringEquals": {"aws:TagKeys": TAG_KEYS}},
         {"aws:TagKeys": "Owner"}, True, "ForAnyValue-single-request-value"),
    # Negated operators under set qualifiers apply the negation to each request value.
    case({"ForAllValues:StringNotEquals": {"aws:TagKeys": TAG_KEYS}}, {}, True,
         "ForAllValues-StringNotEquals-missing-key"),
    case({"ForAllValues:StringNotEquals": {"aws:TagKeys": TAG_KEYS}},
         {"aws:TagKeys": ["Dept", "SIC"]}, True, "ForAllValues-StringNotEquals-none-listed"),
    case({"ForAllValues:StringNotEquals": {"aws:TagKeys": TAG_KEYS}},
         {"aws:TagKeys": ["Dept", "SIC", "DataClass"]}, False,
         "ForAllValues-StringNotEquals-one-listed"),
    case({"ForAnyValue:StringNotEquals": {"aws:TagKeys": TAG_KEYS}}, {}, False,
         "ForAnyValue-StringNotEquals-missing-key"),
    case({"ForAnyValue:StringNotEquals": {"aws:TagKeys": TAG_KEYS}},
         {"aws:TagKeys": ["DataClass", "Owner"]}, False,
         "ForAnyValue-StringNotEquals-all-listed"),
    case({"ForAnyValue:StringNotEquals": {"aws:TagKeys": TAG_KEYS}},
         {"aws:TagKeys": ["Dept", "DataClass"]}, True,
         "ForAnyValue-StringNotEquals-one-unlisted"),
    case({"ForAllValues:NumericLessThan": {"x:sizes": "100"}}, {"x:sizes": [1, 50, 99]}, True,
         "ForAllValues-numeric"),
    case({"ForAnyValue:IpAddress": {"x:addresses": "10.0.0.0/8"}},
         {"x:addresses": ["8.8.8.8", "10.0.0.1"]}, True, "ForAnyValue-ip"),
    case({"forallvalues:stringequals": {"aws:TagKeys": TAG_KEYS}},
         {"aws:TagKeys": ["Owner"]}, True, "qualifier-ignores-case"),
    # Unqualified operators on a multivalued key: any value (positive) / no value (negated).
    case({"StringEquals": {"aws:TagKeys": "Owner"}}, {"aws:TagKeys": ["Dept", "Owner"]}, True,
         "unqualified-positive-on-multivalued-key"),
    case({"StringNotEquals": {"aws:TagKeys": "Owner"}}, {"aws:TagKeys": ["Dept", "Owner"]},
         False, "unqualified-negated-on-multivalued-key"),
]

COMBINATION_CASES = [
    case({"StringEquals": {"aws:username": "bob", "aws:PrincipalAccount": "111122223333"}},
         {"aws:username": "bob", "aws:PrincipalAccount": "111122223333"}, True,
         "keys-are-ANDed-both-match"),
    case({"StringEquals": {"aws:username": "bob", "aws:PrincipalAccount": "111122223333"}},
         {"aws:username": "bob"}, False, "keys-are-ANDed-one-missing"),
    case({"StringEquals": {"aws:username": "bob"}, "Bool": {"aws:SecureTransport": "true"}},
         {"aws:username": "bob", "aws:SecureTransport": False}, False,
         "operators-are-ANDed"),
    case({}, {}, True, "empty-condition-block-holds"),
]

VARIABLE_CASES = [
    case({"StringLike": {"s3:prefix": "home/${aws:username}/*"}},
         {"s3:prefix": "home/bob/docs", "aws:username": "bob"}, True, "variable-substituted"),
    case({"StringLike": {"s3:prefix": "home/${aws:username}/*"}},
         {"s3:prefix": "home/alice/docs", "aws:username": "bob"}, False,
         "variable-other-user"),
    case({"StringEquals": {"aws:PrincipalTag/team": "${aws:ResourceTag/team}"}},
         {"aws:PrincipalTag/team": "blue", "aws:ResourceTag/team": "blue"}, True,
         "variable-from-another-key"),
    case({"StringEquals": {"s3:prefix": "${AWS:USERNAME}"}},
         {"s3:prefix": "bob", "aws:username": "bob"}, True, "variable-name-ignores-case"),
    case({"StringEquals": {"s3:prefix": "${aws:userid, 'anonymous'}"}},
         {"s3:prefix": "anonymous"}, True, "variable-default-value"),
    case({"StringEquals": {"s3:prefix": "${aws:userid, 'anonymous'}"}},
         {"s3:prefix": "AIDAEXAMPLE", "aws:userid": "AIDAEXAMPLE"}, True,
         "variable-default-unused"),
    case({"StringEquals": {"s3:prefix": "${aws:username}"}}, {"s3:prefix": "bob"}, False,
         "unresolvable-variable-matches-nothing"),
    case({"StringEquals": {"s3:prefix": ["${aws:username}", "shared"]}},
         {"s3:prefix": "shared"}, True, "unresolvable-variable-other-values-still-match"),
    case({"StringNotEquals": {"s3:prefix": ["${aws:username}", "shared"]}},
         {"s3:prefix": "mine"}, True, "unresolvable-variable-negated-NOR-of-the-rest"),
    case({"StringEquals": {"s3:prefix": "${aws:TagKeys}"}},
         {"s3:prefix": "a", "aws:TagKeys": ["a", "b"]}, False,
         "multivalued-key-is-not-a-variable"),
    case({"StringLike": {"s3:prefix": "a${*}b"}}, {"s3:prefix": "a*b"}, True,
         "escape-star-is-literal"),
    case({"StringLike": {"s3:prefix": "a${*}b"}}, {"s3:prefix": "axxb"}, False,
         "escape-star-is-not-a-wildcard"),
    case({"StringLike": {"s3:prefix": "why${?}"}}, {"s3:prefix": "why?"}, True,
         "escape-question-mark"),
    case({"StringEquals": {"s3:prefix": "cost${$}"}}, {"s3:prefix": "cost$"}, True,
         "escape-dollar"),
    case({"StringLike": {"s3:prefix": "${aws:username}"}},
         {"s3:prefix": "b*b", "aws:username": "b*b"}, True,
         "substituted-value-is-literal-match"),
    case({"StringLike": {"s3:prefix": "${aws:username}"}},
         {"s3:prefix": "bxxb", "aws:username": "b*b"}, False,
         "substituted-value-wildcards-are-literal"),
    case({"ArnEquals": {"aws:PrincipalArn": "arn:aws:iam::${aws:PrincipalAccount}:root"}},
         {"aws:PrincipalArn": "arn:aws:iam::111122223333:root",
          "aws:PrincipalAccount": "111122223333"}, True, "variable-in-arn-condition"),
    case({"Bool": {"x:flag": "${x:expected}"}}, {"x:flag": "true", "x:expected": "true"},
         True, "variable-in-bool-condition"),
    case({"StringEquals": {"s3:prefix": "${aws:username"}},
         {"s3:prefix": "${aws:username", "aws:username": "bob"}, True,
         "unterminated-variable-is-literal"),
]


@pytest.mark.parametrize(
    ("block", "context", "expected"),
    STRING_CASES + ARN_CASES + BOOL_CASES + NUMERIC_CASES + DATE_CASES + IP_CASES
    + NULL_AND_BINARY_CASES + IF_EXISTS_CASES + SET_CASES + COMBINATION_CASES
    + VARIABLE_CASES)
def test_condition(block: dict[str, Any], context: dict[str, ContextInput],
                   expected: bool) -> None:
    assert holds(block, context) is expected


def test_variables_are_literal_text_before_version_2012() -> None:
    block = {"StringEquals": {"s3:prefix": "${aws:username}"}}
    assert holds(block, {"s3:prefix": "${aws:username}", "aws:username": "bob"},
                 variables=False)
    assert not holds(block, {"s3:prefix": "bob", "aws:username": "bob"}, variables=False)


def test_escape_is_literal_text_before_version_2012() -> None:
    block = {"StringLike": {"s3:prefix": "a${*}"}}
    assert holds(block, {"s3:prefix": "a${anything}"}, variables=False)


def test_parsed_condition_fields() -> None:
    [condition] = parse_condition_block(
        {"ForAnyValue:StringLikeIfExists": {"AWS:TagKeys": ["a", 1, True]}},
        variables=True, where="Policy statement 1")
    assert condition.key == "aws:tagkeys"
    assert condition.qualifier is SetQualifier.FOR_ANY_VALUE
    assert condition.if_exists is True
    assert condition.values == ("a", "1", "true")
    assert condition.operator == "ForAnyValue:StringLikeIfExists"


INVALID_BLOCKS = [
    pytest.param(["StringEquals"], 'Policy statement 1: Condition must be an object of '
                 'condition operators', id="block-not-an-object"),
    pytest.param({"StringEqualz": {"a:b": "c"}},
                 'Policy statement 1: Condition operator "StringEqualz": unsupported condition '
                 'operator', id="unknown-operator"),
    pytest.param({"ForSomeValues:StringEquals": {"a:b": "c"}},
                 'Policy statement 1: Condition operator "ForSomeValues:StringEquals": '
                 '"ForSomeValues" is not a set operator (use ForAnyValue or ForAllValues)',
                 id="unknown-set-operator"),
    pytest.param({"NullIfExists": {"a:b": "true"}},
                 'Policy statement 1: Condition operator "NullIfExists": IfExists cannot be '
                 'added to the Null operator', id="null-if-exists"),
    pytest.param({"ForAnyValue:Null": {"a:b": "true"}},
                 'Policy statement 1: Condition operator "ForAnyValue:Null": the Null operator '
                 'cannot take a set operator', id="null-with-set-operator"),
    pytest.param({"StringEquals": "a:b"},
                 'Policy statement 1: Condition operator "StringEquals" must map condition keys '
                 'to values', id="operator-value-not-an-object"),
    pytest.param({"StringEquals": {}},
                 'Policy statement 1: Condition operator "StringEquals" must map condition keys '
                 'to values', id="operator-without-keys"),
    pytest.param({"StringEquals": {" ": "x"}},
                 'Policy statement 1: Condition operator "StringEquals" has an empty condition '
                 'key', id="empty-key"),
    pytest.param({"StringEquals": {"a:b": []}},
                 'Policy statement 1: Condition operator "StringEquals" key "a:b" must have at '
                 'least one value', id="empty-value-list"),
    pytest.param({"StringEquals": {"a:b": {"c": "d"}}},
                 'Policy statement 1: Condition operator "StringEquals" key "a:b" must be a '
                 'string, number, boolean or a list of them', id="object-value"),
    pytest.param({"StringEquals": {"a:b": [["c"]]}},
                 'Policy statement 1: Condition operator "StringEquals" key "a:b" must be a '
                 'string, number, boolean or a list of them', id="nested-list-value"),
    pytest.param({"NumericLessThan": {"s3:max-keys": "ten"}},
                 'Policy statement 1: Condition operator "NumericLessThan" key "s3:max-keys": '
                 '"ten" is not a number', id="numeric-value"),
    pytest.param({"NumericEquals": {"s3:max-keys": "${aws:username}"}},
                 'Policy statement 1: Condition operator "NumericEquals" key "s3:max-keys": '
                 '"${aws:username}" is not a number', id="numeric-takes-no-variables"),
    pytest.param({"NumericEquals": {"s3:max-keys": "NaN"}},
                 'Policy statement 1: Condition operator "NumericEquals" key "s3:max-keys": '
                 '"NaN" is not a number', id="numeric-nan"),
    pytest.param({"DateLessThan": {"aws:CurrentTime": "next tuesday"}},
                 'Policy statement 1: Condition operator "DateLessThan" key "aws:CurrentTime": '
                 '"next tuesday" is not an ISO 8601 date or epoch seconds', id="date-value"),
    pytest.param({"DateLessThan": {"aws:CurrentTime": "99999999999999999999"}},
                 'Policy statement 1: Condition operator "DateLessThan" key "aws:CurrentTime": '
                 '"99999999999999999999" is out of range for a date', id="date-out-of-range"),
    pytest.param({"IpAddress": {"aws:SourceIp": "10.0.0.0/33"}},
                 'Policy statement 1: Condition operator "IpAddress" key "aws:SourceIp": '
                 '"10.0.0.0/33" is not an IP address or CIDR block', id="ip-value"),
    pytest.param({"Bool": {"aws:SecureTransport": "yes"}},
                 'Policy statement 1: Condition operator "Bool" key "aws:SecureTransport": '
                 '"yes" is not true or false', id="bool-value"),
    pytest.param({"Null": {"aws:TokenIssueTime": "maybe"}},
                 'Policy statement 1: Condition operator "Null" key "aws:TokenIssueTime": '
                 '"maybe" is not true or false (Null takes true or false)', id="null-value"),
    pytest.param({"BinaryEquals": {"x:blob": "not base64!"}},
                 'Policy statement 1: Condition operator "BinaryEquals" key "x:blob": '
                 '"not base64!" is not base64', id="binary-value"),
]


@pytest.mark.parametrize(("block", "message"), INVALID_BLOCKS)
def test_invalid_condition_block(block: Any, message: str) -> None:
    with pytest.raises(Invalid) as error:
        parse_condition_block(block, variables=True, where="Policy statement 1")
    assert error.value.message == message


CONTEXT_CASES = [
    pytest.param({"aws:SecureTransport": True}, "AWS:SECURETRANSPORT", ("true",),
                 id="bool-and-case-insensitive-name"),
    pytest.param({"s3:max-keys": 10}, "s3:max-keys", ("10",), id="int"),
    pytest.param({"aws:CurrentTime": datetime(2024, 5, 6, 7, 8, 9)}, "aws:currenttime",
                 ("2024-05-06T07:08:09Z",), id="naive-datetime-is-utc"),
    pytest.param({"aws:TagKeys": ["a", "b"]}, "aws:tagkeys", ("a", "b"), id="list"),
    pytest.param({"aws:TagKeys": []}, "aws:tagkeys", None, id="empty-list-is-missing"),
    pytest.param({"aws:TagKeys": None}, "aws:tagkeys", None, id="none-is-missing"),
    pytest.param({}, "aws:username", None, id="absent"),
]


@pytest.mark.parametrize(("values", "key", "expected"), CONTEXT_CASES)
def test_request_context_normalizes_values(values: dict[str, ContextInput], key: str,
                                           expected: tuple[str, ...] | None) -> None:
    assert RequestContext(values).get(key) == expected


def test_request_context_values_override_defaults_ignoring_case() -> None:
    context = RequestContext({"AWS:Username": "given"}, defaults={"aws:username": "derived",
                                                                  "aws:userid": "id"})
    assert context.get("aws:username") == ("given",)
    assert context.get("aws:userid") == ("id",)


def test_request_context_empty_value_removes_default() -> None:
    context = RequestContext({"aws:username": []}, defaults={"aws:username": "derived"})
    assert context.get("aws:username") is None


def test_variable_lookup_needs_single_value() -> None:
    context = RequestContext({"a:one": "x", "a:many": ["x", "y"]})
    assert context.variable("A:ONE") == "x"
    assert context.variable("a:many") is None
    assert context.variable("a:none") is None


DATES = [
    pytest.param("2020-01-01T00:00:01Z", datetime(2020, 1, 1, 0, 0, 1, tzinfo=UTC), id="utc"),
    pytest.param("2020-01-01T02:00:01+02:00", datetime(2020, 1, 1, 0, 0, 1, tzinfo=UTC),
                 id="offset"),
    pytest.param("2020-01-01", datetime(2020, 1, 1, tzinfo=UTC), id="date"),
    pytest.param("2020-03", datetime(2020, 3, 1, tzinfo=UTC), id="year-month"),
    pytest.param("1577836800", datetime(2020, 1, 1, tzinfo=UTC), id="epoch"),
    pytest.param("2020-01-01T10:20", datetime(2020, 1, 1, 10, 20, tzinfo=UTC),
                 id="minutes-naive-is-utc"),
]


@pytest.mark.parametrize(("text", "expected"), DATES)
def test_parse_date(text: str, expected: datetime) -> None:
    assert parse_date(text) == expected
