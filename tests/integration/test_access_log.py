"""The access log and request ids under a real ``packyard serve``: answers the server's fast lane
writes from memory get an id and a line too."""

from __future__ import annotations

import json
import time
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
    lines = _lines_for(log, ids)
    assert all(request_id in lines for request_id in ids)
    assert any(lines[request_id].get("fastLane") for request_id in ids[1:])
    assert repo.token not in log.read_text()

    # The server's own log lines name the request they were written for.
    api = codeartifact_client(server.url)
    with pytest.raises(ClientError) as info:
        api.describe_domain(domain="nowhere")
    request_id = info.value.response["ResponseMetadata"]["RequestId"]
    assert f"[{request_id}]: DescribeDomain refused" in server.log_text()


def _lines_for(log: Path, ids: list[str], timeout: float = 10.0) -> dict[str, dict[str, Any]]:
    """The log's lines by request id, once every id in ``ids`` has one (or the deadline passed).

    A request-cycle answer's line is written after its last byte was sent (its duration counts
    the sending), so the client can hold the answer a moment before the line is in the file."""
    deadline = time.monotonic() + timeout
    while True:
        # Only whole lines: one may be in the middle of its write.
        lines = {line["requestId"]: line
                 for line in map(json.loads, log.read_text().split("\n")[:-1])}
        if all(request_id in lines for request_id in ids) or time.monotonic() > deadline:
            return lines
        time.sleep(0.02)
