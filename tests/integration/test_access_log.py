"""The access log and request ids under a real ``packyard serve``: answers the server's fast lane
writes from memory get an id and a line too."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.integration.helpers import (
    DistFactory,
    DistSpec,
    codeartifact_client,
    create_pypi_repo,
    upload_ok,
)


def test_fast_lane_answers_have_ids_and_access_log_lines(server_factory: Any, tmp_path: Path,
                                                         dists: DistFactory) -> None:
    log = tmp_path / "access.jsonl"
    server = server_factory(env={"PACKYARD_ACCESS_LOG": str(log)})
    repo = create_pypi_repo(codeartifact_client(server.url), server.url, "logged")
    upload_ok(repo, dists.wheel(DistSpec(name="logged-pkg", version="1.0")))
    with repo.client() as http:
        answers = [http.get(repo.project_url("logged-pkg")) for _ in range(3)]
    ids = [answer.headers["x-amzn-requestid"] for answer in answers]
    assert len(set(ids)) == 3
    lines = {line["requestId"]: line for line in map(json.loads, log.read_text().splitlines())}
    assert all(request_id in lines for request_id in ids)
    assert any(lines[request_id].get("fastLane") for request_id in ids[1:])
    assert repo.token not in log.read_text()

    # The server's own log lines name the request they were written for.
    api = codeartifact_client(server.url)
    with pytest.raises(ClientError) as info:
        api.describe_domain(domain="nowhere")
    request_id = info.value.response["ResponseMetadata"]["RequestId"]
    assert f"[{request_id}]: DescribeDomain refused" in server.log_text()
