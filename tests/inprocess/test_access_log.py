"""The access log (``--access-log``) and the request id on every answer and every log line."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.inprocess.conftest import PackyardFactory
from tests.inprocess.harness import InProcessPackyard
from tests.integration.helpers import DEFAULT_ACCOUNT, DistFactory, DistSpec, upload_ok


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture
def logged(packyard_factory: PackyardFactory, tmp_path: Path) -> tuple[InProcessPackyard, Path]:
    path = tmp_path / "access.jsonl"
    return packyard_factory(access_log=str(path)), path


def test_each_request_is_one_line_with_its_id_principal_status_bytes_and_duration(
        logged: tuple[InProcessPackyard, Path]) -> None:
    packyard, path = logged
    packyard.codeartifact().create_domain(domain="acme")
    request_id = packyard.last_aws_response.headers["x-amzn-RequestId"]
    [line] = _lines(path)
    assert line["requestId"] == request_id
    assert line["principal"] == f"arn:aws:iam::{DEFAULT_ACCOUNT}:root"
    assert (line["method"], line["status"], line["surface"], line["operation"]) == (
        "POST", 200, "codeartifact", "CreateDomain")
    assert line["bytesIn"] > 0 and line["bytesOut"] > 0 and line["durationMs"] >= 0
    assert line["time"].endswith("Z") and line["userAgent"].startswith("Botocore")


def test_a_refused_request_is_logged_with_its_error(
        logged: tuple[InProcessPackyard, Path]) -> None:
    packyard, path = logged
    with pytest.raises(ClientError):
        packyard.codeartifact().describe_domain(domain="nowhere")
    [line] = _lines(path)
    assert (line["status"], line["errorCode"]) == (404, "ResourceNotFoundException")


def test_package_reads_and_answers_from_memory_are_logged_without_the_token(
        logged: tuple[InProcessPackyard, Path], dists: DistFactory) -> None:
    packyard, path = logged
    repo = packyard.pypi_repo()
    upload_ok(repo, dists.wheel(DistSpec(name="pkg", version="1.0")))
    first = repo.get("simple/pkg/")
    second = repo.get("simple/pkg/")
    lines = _lines(path)
    by_id = {line["requestId"]: line for line in lines}
    assert by_id[first.headers["x-amzn-requestid"]]["operation"] == "project_page"
    assert by_id[second.headers["x-amzn-requestid"]]["fastLane"] is True
    upload = next(line for line in lines if line.get("operation") == "upload")
    assert upload["principal"].endswith(":root") and upload["bytesIn"] > 0
    assert repo.token not in path.read_text()


def test_no_access_log_by_default(packyard: InProcessPackyard, tmp_path: Path) -> None:
    assert packyard.app.observer is not None and packyard.app.observer.access_log is None


def test_every_answer_has_its_own_request_id(packyard: InProcessPackyard) -> None:
    ids = {packyard.http.get("/health").headers["x-amzn-requestid"] for _ in range(3)}
    ids.add(packyard.http.get("/nowhere").headers["x-amzn-requestid"])
    assert len(ids) == 4


def test_log_lines_of_a_request_carry_its_id(packyard: InProcessPackyard,
                                              caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="packyard")
    with pytest.raises(ClientError):
        packyard.codeartifact().describe_domain(domain="nowhere")
    request_id = packyard.last_aws_response.headers["x-amzn-RequestId"]
    refused = [record for record in caplog.records if "refused" in record.getMessage()]
    assert refused and all(getattr(record, "request_id", None) == request_id
                           for record in refused)


def test_regression_every_failed_package_request_logs_one_line_with_its_id(
        packyard: InProcessPackyard, dists: DistFactory,
        caplog: pytest.LogCaptureFixture) -> None:
    # twine's upload refused for bad input, a read with a bad token, npm's bad publish body:
    # the server's log had nothing at info for any of them (only the APIs logged refusals),
    # so the request id a user reported led nowhere.
    from tests.inprocess.npm_support import npm_repo
    from tests.integration.helpers import upload

    caplog.set_level(logging.INFO, logger="packyard")
    repo = packyard.pypi_repo()
    npm = npm_repo(packyard)
    caplog.clear()
    answers = [
        upload(repo, dists.wheel(DistSpec(name="pkg", version="1.0")),
               fields={"version": None}),
        packyard.http.get(repo.endpoint + "simple/pkg/", auth=("aws", "not-a-token")),
        npm.request("PUT", "left-pad", content=b"{not json",
                    headers={"Content-Type": "application/json"}),
        npm.get("left-pad", token="not-a-token"),
    ]
    assert [answer.status_code for answer in answers] == [400, 401, 400, 401]
    for answer in answers:
        request_id = answer.headers["x-amzn-requestid"]
        lines = [record for record in caplog.records
                 if getattr(record, "request_id", None) == request_id]
        assert len(lines) == 1, [record.getMessage() for record in lines]
        assert lines[0].levelno == logging.INFO
        message = lines[0].getMessage()
        assert f"answered {answer.status_code}" in message
        assert "not-a-token" not in message and repo.token not in message
    assert "Missing 'version' field" in caplog.text
    # The APIs' refusals keep their own one line.
    with pytest.raises(ClientError):
        packyard.codeartifact().describe_domain(domain="nowhere")
    request_id = packyard.last_aws_response.headers["x-amzn-RequestId"]
    assert [record.getMessage().split(":")[0] for record in caplog.records
            if getattr(record, "request_id", None) == request_id] == [
        "DescribeDomain refused"]


def test_regression_a_failed_request_cannot_forge_a_log_line(
        packyard: InProcessPackyard, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="packyard")
    packyard.http.post("/nowhere%0A2026-01-01 INFO forged")
    [line] = [record.getMessage() for record in caplog.records
              if record.name == "packyard.request"]
    assert "\n" not in line and "/nowhere\\n2026-01-01 INFO forged answered 404" in line
