"""The AWS managed policies Packyard provides, with the statements AWS documents for them.

They live under ``arn:aws:iam::aws:policy/...`` in every account and cannot be changed or deleted;
users and roles attach them like customer managed policies. Source: CodeArtifact User Guide,
"AWS managed policies for AWS CodeArtifact".
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

AWS_POLICY_PREFIX = "arn:aws:iam::aws:policy/"

_BEARER_TOKEN_FOR_CODEARTIFACT: dict[str, Any] = {
    "Effect": "Allow",
    "Action": "sts:GetServiceBearerToken",
    "Resource": "*",
    "Condition": {"StringEquals": {"sts:AWSServiceName": "codeartifact.amazonaws.com"}},
}


@dataclass(frozen=True)
class AwsManagedPolicy:
    """One AWS managed policy."""

    name: str
    policy_id: str
    description: str
    document: str
    default_version_id: str
    created_at: datetime
    updated_at: datetime
    path: str = "/"

    @property
    def arn(self) -> str:
        return AWS_POLICY_PREFIX + self.name


def _document(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)}, indent=4)


AWS_MANAGED_POLICIES: tuple[AwsManagedPolicy, ...] = (
    AwsManagedPolicy(
        name="AWSCodeArtifactAdminAccess",
        policy_id="ANPAZKAPJZG4BX3B6AHSR",
        description="Provides full access to AWS CodeArtifact including permissions to "
                    "administrate AWS CodeArtifact domains.",
        document=_document(
            {"Action": ["codeartifact:*"], "Effect": "Allow", "Resource": "*"},
            _BEARER_TOKEN_FOR_CODEARTIFACT),
        default_version_id="v1",
        created_at=datetime(2020, 6, 10, tzinfo=UTC),
        updated_at=datetime(2020, 6, 10, tzinfo=UTC),
    ),
    AwsManagedPolicy(
        name="AWSCodeArtifactReadOnlyAccess",
        policy_id="ANPAZKAPJZG4O2LE4PMNK",
        description="Provides read-only access to AWS CodeArtifact.",
        document=_document(
            {"Action": ["codeartifact:Describe*", "codeartifact:Get*", "codeartifact:List*",
                        "codeartifact:ReadFromRepository"],
             "Effect": "Allow", "Resource": "*"},
            _BEARER_TOKEN_FOR_CODEARTIFACT),
        default_version_id="v1",
        created_at=datetime(2020, 6, 10, tzinfo=UTC),
        updated_at=datetime(2020, 6, 10, tzinfo=UTC),
    ),
)

_BY_ARN = {p.arn: p for p in AWS_MANAGED_POLICIES}


def aws_managed_policy(arn: str) -> AwsManagedPolicy | None:
    """The AWS managed policy with this ARN, if Packyard has it."""
    return _BY_ARN.get(arn)


def is_aws_managed_arn(arn: str) -> bool:
    return arn.startswith(AWS_POLICY_PREFIX)
