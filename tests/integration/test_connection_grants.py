"""Read grants on kept-alive connections under a real ``packyard serve``: the server's protocol
numbers each connection, repeat reads are answered by the fast lane from the grant made for the
caller (on that connection and on the caller's other connections from the same place), and an
IAM change made through the server refuses the very next request on a kept-alive connection
(tests/inprocess/test_connection_grants.py has every kind of change)."""

from __future__ import annotations

import json
import re
from typing import Any

import boto3
import botocore.config
import httpx

from tests.integration.helpers import (
    DEFAULT_REGION,
    ROOT,
    Credentials,
    DistFactory,
    DistSpec,
    ServerProcess,
    codeartifact_client,
    create_pypi_repo,
    unique_name,
    upload_ok,
)

WHEEL = "kept_pkg-1.0-py3-none-any.whl"


def _iam(server: ServerProcess) -> Any:
    return boto3.session.Session(
        aws_access_key_id=ROOT.access_key_id, aws_secret_access_key=ROOT.secret_access_key,
        region_name=DEFAULT_REGION).client(
            "iam", endpoint_url=server.url,
            config=botocore.config.Config(retries={"max_attempts": 1, "mode": "standard"}))


def _fast_lane_answers(server: ServerProcess) -> int:
    text = httpx.get(server.url + "/metrics", trust_env=False).text
    found = re.search(r'^packyard_hot_answers_sent_total\{way="fast_lane"\} (\S+)$', text,
                      re.MULTILINE)
    assert found is not None, text
    return int(float(found.group(1)))


def test_a_deny_policy_refuses_the_next_request_on_a_kept_alive_connection(
        server: ServerProcess, dists: DistFactory) -> None:
    api = codeartifact_client(server.url)
    repo = create_pypi_repo(api, server.url, "kept")
    upload_ok(repo, dists.wheel(DistSpec(name="kept-pkg", version="1.0")))
    iam, user = _iam(server), unique_name("reader")
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="read", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Resource": "*", "Action": [
                "codeartifact:GetAuthorizationToken", "sts:GetServiceBearerToken",
                "codeartifact:ReadFromRepository"]}]}))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    token = codeartifact_client(server.url, Credentials(
        key["AccessKeyId"], key["SecretAccessKey"]))
    token = token.get_authorization_token(domain=repo.domain)["authorizationToken"]
    page = repo.project_url("kept-pkg")
    with httpx.Client(trust_env=False, auth=("aws", token), timeout=30) as kept:
        assert kept.get(page).status_code == 200  # the grant, made for this connection
        before = _fast_lane_answers(server)
        assert [kept.get(page).status_code for _ in range(3)] == [200] * 3
        assert _fast_lane_answers(server) == before + 3  # the grant and page, reused
        with httpx.Client(trust_env=False, auth=("aws", token), timeout=30) as another:
            # The caller's grant serves its other connections too (uv and npm open several):
            # the first request of a new one is answered from memory.
            assert another.get(page).status_code == 200
        assert _fast_lane_answers(server) == before + 4
        iam.put_user_policy(UserName=user, PolicyName="deny", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [
                {"Effect": "Deny", "Action": "codeartifact:ReadFromRepository",
                 "Resource": "*"}]}))
        assert kept.get(page).status_code == 403
        assert kept.get(page + WHEEL).status_code == 403
