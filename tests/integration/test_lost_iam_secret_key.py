"""A data directory whose IAM secret key file is gone, as an operator meets it: the server
refuses to start in one line naming the file and the ways out; after `packyard iam
reset-secret-key` it starts, the old access keys are refused saying what to do, and the root
key (kept in credentials.json, not sealed with that key) makes new ones that work."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import botocore.config
import pytest
from botocore.exceptions import ClientError

from tests.integration.helpers import Credentials, free_port, run, server_env, tool

NO_ENV_KEYS = {"PACKYARD_ROOT_ACCESS_KEY_ID": None, "PACKYARD_ROOT_SECRET_ACCESS_KEY": None}


def _client(service: str, url: str, creds: Credentials) -> Any:
    session = boto3.session.Session(aws_access_key_id=creds.access_key_id,
                                    aws_secret_access_key=creds.secret_access_key,
                                    region_name="us-east-1")
    config = botocore.config.Config(retries={"max_attempts": 1, "mode": "standard"})
    return session.client(service, endpoint_url=url, config=config)


def _root(data_dir: Path) -> Credentials:
    stored = json.loads((data_dir / "credentials.json").read_text())
    return Credentials(stored["access_key_id"], stored["secret_access_key"])


def _new_key(iam: Any, user: str) -> Credentials:
    made = iam.create_access_key(UserName=user)["AccessKey"]
    return Credentials(made["AccessKeyId"], made["SecretAccessKey"])


def _whoami(url: str, creds: Credentials) -> str:
    return str(_client("sts", url, creds).get_caller_identity()["Arn"])


def test_regression_a_lost_iam_secret_key_stops_the_start_until_restored_or_reset(
        server_factory: Any, tmp_path: Path) -> None:
    first = server_factory(env=NO_ENV_KEYS)
    data_dir = first.data_dir
    root = _root(data_dir)
    iam = _client("iam", first.url, root)
    iam.create_user(UserName="alice")
    old = _new_key(iam, "alice")
    assert _whoami(first.url, old).endswith(":user/alice")
    first.stop()
    wrapped = data_dir / "iam-secrets.wrapped"
    kept = wrapped.read_bytes()
    wrapped.unlink()

    # Before: a new key was made, and every signed request of alice's was a 500.
    env = server_env(NO_ENV_KEYS)
    refused = run([tool("packyard"), "serve", "--host", "127.0.0.1", "--port", str(free_port()),
                   "--data-dir", str(data_dir)], env, check=False, timeout=30)
    assert refused.returncode == 2
    assert refused.stderr.splitlines()[-1] == (
        f"error: IAM's secret key iam-secrets.wrapped is missing from {data_dir}, and the "
        "catalog holds 1 IAM access key sealed with it: restore iam-secrets.wrapped there from "
        "a backup and start again; or, to give those secrets up (their users then create new "
        "access keys; the root key keeps working), run `packyard iam reset-secret-key` with "
        "this server's --data-dir (and --database-url, --blob-store)")
    assert not wrapped.exists()

    # Restored from a backup, everything works as before.
    wrapped.write_bytes(kept)
    wrapped.chmod(0o600)
    restored = server_factory(env=NO_ENV_KEYS, data_dir=data_dir)
    assert _whoami(restored.url, old).endswith(":user/alice")
    restored.stop()

    # Given up knowingly instead.
    wrapped.unlink()
    reset = run([tool("packyard"), "iam", "reset-secret-key", "--data-dir", str(data_dir)],
                env, check=False, timeout=30)
    assert reset.returncode == 0, reset.stderr
    assert reset.stdout.startswith("1 IAM access key(s) marked lost")

    second = server_factory(env=NO_ENV_KEYS, data_dir=data_dir)
    assert wrapped.exists()  # a new key, made by the start as for a new install
    again = run([tool("packyard"), "iam", "reset-secret-key", "--data-dir", str(data_dir)],
                env, check=False, timeout=30)
    assert again.returncode == 2 and "nothing to reset" in again.stderr
    with pytest.raises(ClientError) as lost:
        _whoami(second.url, old)
    error = lost.value.response["Error"]
    assert lost.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert error["Code"] == "InvalidClientTokenId"
    assert error["Message"].startswith(f"The secret of access key {old.access_key_id} was lost "
                                       "with the server's IAM secret key")
    assert "create a new access key" in error["Message"]
    # The root key does not depend on the lost key: an administrator makes alice a new one.
    iam = _client("iam", second.url, root)
    iam.delete_access_key(UserName="alice", AccessKeyId=old.access_key_id)
    assert _whoami(second.url, _new_key(iam, "alice")).endswith(":user/alice")
