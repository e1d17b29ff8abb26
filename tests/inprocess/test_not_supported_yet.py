"""README.md's "What is not supported yet", checked against the server and botocore's models,
so that the list stays true as operations and formats land."""

from __future__ import annotations

import re
from pathlib import Path

import botocore.session
import pytest
from botocore.exceptions import ClientError

from packyard.api.codeartifact.group_operations import GROUP_HANDLERS
from packyard.api.codeartifact.lifecycle_operations import (
    LIFECYCLE_HANDLERS,
    STREAMING_HANDLERS,
)
from packyard.api.codeartifact.operations import HANDLERS
from packyard.api.codeartifact.policy_operations import POLICY_HANDLERS
from packyard.api.iam.operations import supported
from packyard.api.kms.operations import supported as kms_supported
from tests.inprocess.harness import InProcessPackyard

README = Path(__file__).resolve().parents[2] / "README.md"


def _item(title: str) -> str:
    """The text of one bullet of the section, by its bold title."""
    section = README.read_text().split("\n## What is not supported yet\n", 1)[1]
    section = section.split("\n## ", 1)[0]
    found = re.search(rf"^- \*\*{re.escape(title)}\*\*: (.*?)(?=^- |\Z)", section,
                      re.MULTILINE | re.DOTALL)
    assert found, f"README.md's What is not supported yet has no item **{title}**"
    return " ".join(found[1].split())


def _model(service: str) -> list[str]:
    return list(botocore.session.get_session().get_service_model(service).operation_names)


def test_every_codeartifact_operation_is_served_as_the_readme_says() -> None:
    model = set(_model("codeartifact"))
    served = (set(HANDLERS) | set(POLICY_HANDLERS) | set(GROUP_HANDLERS)
              | set(LIFECYCLE_HANDLERS) | set(STREAMING_HANDLERS))
    # A botocore upgrade that brings a new operation fails here: list it in README.md.
    assert model - served == set()
    assert f"all {len(model)} in botocore's model are served" in _item("CodeArtifact operations")


def test_the_iam_and_sts_counts_are_the_served_ones() -> None:
    text = _item("IAM and STS")
    iam = supported("iam") & set(_model("iam"))
    assert f"IAM answers {len(iam)} of its {len(_model('iam'))} operations" in text
    sts = sorted(supported("sts"))
    assert f"STS {' and '.join(f'`{name}`' for name in sts)};" in text


def test_the_kms_operations_listed_are_the_served_ones() -> None:
    text = _item("Encryption at rest")
    served = kms_supported()
    assert set(served) <= set(_model("kms"))
    listed = re.findall(r"`([A-Z][A-Za-z]+)`", text.split(" on the local keyring", 1)[0])
    assert set(listed) == set(served)
    assert f"answers {len(served)} of KMS's operations" in text


def test_the_formats_listed_are_the_ones_refused(packyard: InProcessPackyard) -> None:
    api = packyard.codeartifact()
    api.create_domain(domain="formats")
    api.create_repository(domain="formats", repository="repo")
    formats = botocore.session.get_session().get_service_model("codeartifact").shape_for(
        "PackageFormat").enum
    refused = []
    for name in formats:
        try:
            api.get_repository_endpoint(domain="formats", repository="repo", format=name)
        except ClientError as exc:
            assert exc.response["Error"]["Code"] == "ValidationException"
            assert exc.response["Error"]["Message"].startswith(
                f"Format {name} is not supported by this server yet")
            refused.append(name)
    text = _item("Package formats")
    served = sorted(set(formats) - set(refused))
    assert served == ["generic", "npm", "pypi"] and text.startswith(
        "PyPI, npm, and generic packages through the API."), "update README.md"
    listed = re.findall(r"`([a-z]+)`", text.split(" are refused", 1)[0])
    assert listed == refused
    assert text.endswith("The external connections are `public:pypi` and `public:npmjs`.")
    for connection in ("public:pypi", "public:npmjs"):
        api.create_repository(domain="formats", repository=connection.replace(":", "-"))
        api.associate_external_connection(domain="formats",
                                          repository=connection.replace(":", "-"),
                                          externalConnection=connection)
    for connection in ("public:maven-central", "public:nuget-org"):
        with pytest.raises(ClientError) as info:
            api.associate_external_connection(domain="formats", repository="repo",
                                              externalConnection=connection)
        assert info.value.response["Error"]["Code"] == "ValidationException"
