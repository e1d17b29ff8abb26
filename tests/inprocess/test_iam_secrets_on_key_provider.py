"""IAM's secret access keys sealed by the key provider (``iam/secret_key.py``): a new data
directory has no ``iam-secrets.key``; an older one is migrated at start, and a start stopped
half-way is finished by the next; rotation re-wraps the secret key before retiring."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from click.testing import CliRunner
from sqlalchemy import select

from packyard.auth.credentials import RootCredentials
from packyard.auth.signed import SignedRequestAuthenticator
from packyard.auth.sigv4 import UnrecognizedClient
from packyard.bootstrap import Services, build_services
from packyard.cli.main import main
from packyard.clock import Clock
from packyard.crypto.keyring import LocalKeyring
from packyard.encryption.mode_locks import hold_encrypting_mode, hold_plain_mode
from packyard.iam import secret_key
from packyard.iam.schema import iam_access_keys
from packyard.iam.secret_key import (
    LOCAL_KEY_ALIAS,
    WRAPPED_FILE,
    LostSecretKey,
    rewrap_secret_key,
)
from packyard.iam.secrets import KEY_FILE
from packyard.iam.shared_secrets import account_created_at
from packyard.settings import load_settings
from tests.inprocess.conftest import PackyardFactory
from tests.integration.helpers import Credentials, DistFactory, DistSpec, upload_ok

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _services(data_dir: Path, **env: str) -> Services:
    return build_services(load_settings(environ=env, data_dir=data_dir))


def _with_access_key(data_dir: Path, **env: str) -> tuple[str, str, str]:
    services = _services(data_dir, **env)
    try:
        services.iam_store.create_user("alice", "/", NOW)
        key, secret = services.iam_store.create_access_key("alice", NOW)
        return key.id, secret, _sealed(services, key.id)
    finally:
        services.catalog.dispose()


def _sealed(services: Services, key_id: str) -> str:
    with services.catalog.engines[0].connect() as conn:
        return str(conn.execute(select(iam_access_keys.c.secret_encrypted).where(
            iam_access_keys.c.id == key_id)).scalar_one())


def _secret(data_dir: Path, key_id: str) -> tuple[str | None, str]:
    services = _services(data_dir)
    try:
        return services.iam_store.access_key_secret(key_id), _sealed(services, key_id)
    finally:
        services.catalog.dispose()


def test_a_new_data_directory_seals_iam_secrets_with_the_key_provider(tmp_path: Path) -> None:
    key_id, secret, _ = _with_access_key(tmp_path)
    assert not (tmp_path / KEY_FILE).exists()
    assert (tmp_path / WRAPPED_FILE).stat().st_mode & 0o777 == 0o600
    assert _secret(tmp_path, key_id)[0] == secret
    services = _services(tmp_path)
    try:
        assert services.encryption is not None
        assert LOCAL_KEY_ALIAS in services.encryption.provider.describe_key(
            LOCAL_KEY_ALIAS).aliases
    finally:
        services.catalog.dispose()


def test_an_iam_secrets_key_file_is_migrated_at_start(tmp_path: Path) -> None:
    key_id, secret, before = _with_access_key(tmp_path, PACKYARD_ENCRYPTION="off")
    assert (tmp_path / KEY_FILE).exists()
    found, after = _secret(tmp_path, key_id)
    assert found == secret and after != before
    assert not (tmp_path / KEY_FILE).exists()
    assert _secret(tmp_path, key_id) == (secret, after)


def test_a_migration_stopped_before_the_key_file_went_is_finished_by_the_next_start(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key_id, secret, before = _with_access_key(tmp_path, PACKYARD_ENCRYPTION="off")

    def crash(*_args: object) -> None:
        raise KeyboardInterrupt("stopped")

    monkeypatch.setattr(secret_key, "_reseal", crash)
    with pytest.raises(KeyboardInterrupt):
        _services(tmp_path)
    monkeypatch.undo()
    assert (tmp_path / WRAPPED_FILE).exists() and (tmp_path / KEY_FILE).exists()
    found, after = _secret(tmp_path, key_id)
    assert found == secret and after != before
    assert not (tmp_path / KEY_FILE).exists()


def test_with_encryption_off_iam_secrets_stay_on_the_provider(tmp_path: Path) -> None:
    key_id, secret, sealed = _with_access_key(tmp_path)
    services = _services(tmp_path, PACKYARD_ENCRYPTION="off")
    try:
        assert services.encryption is None
        assert services.iam_store.access_key_secret(key_id) == secret
        assert _sealed(services, key_id) == sealed
    finally:
        services.catalog.dispose()
    assert not (tmp_path / KEY_FILE).exists()


def test_rotation_rewraps_the_secret_key_before_old_versions_retire(tmp_path: Path) -> None:
    key_id, secret, _ = _with_access_key(tmp_path)
    services = _services(tmp_path)
    try:
        assert services.encryption is not None
        provider = services.encryption.provider
        rotated = provider.rotate(LOCAL_KEY_ALIAS)
        assert rewrap_secret_key(tmp_path, provider, rotated)
        assert not rewrap_secret_key(tmp_path, provider, rotated)  # done already
        assert isinstance(provider, LocalKeyring) and rotated.current_version is not None
        provider.retire_versions_below(LOCAL_KEY_ALIAS, rotated.current_version)
    finally:
        services.catalog.dispose()
    assert _secret(tmp_path, key_id)[0] == secret


@pytest.mark.parametrize(("env", "name"), [({}, WRAPPED_FILE),
                                           ({"PACKYARD_ENCRYPTION": "off"}, KEY_FILE)])
def test_regression_a_lost_secret_key_is_not_replaced_while_secrets_need_it(
        tmp_path: Path, env: dict[str, str], name: str) -> None:
    key_id, secret, sealed = _with_access_key(tmp_path, **env)
    (tmp_path / name).unlink()
    with pytest.raises(LostSecretKey) as refused:
        _services(tmp_path, **env)
    assert str(refused.value).startswith(
        f"IAM's secret key {name} is missing from {tmp_path}, and the catalog holds 1 IAM "
        f"access key sealed with it: restore {name} there from a backup")
    assert "packyard iam reset-secret-key" in str(refused.value)
    assert not (tmp_path / WRAPPED_FILE).exists() and not (tmp_path / KEY_FILE).exists()


def test_regression_after_a_reset_the_old_keys_are_refused_saying_so_and_new_ones_work(
        tmp_path: Path) -> None:
    key_id, _, _ = _with_access_key(tmp_path)
    services = _services(tmp_path)
    try:
        role = services.iam_store.create_role(
            "deployer", "/", json.dumps({"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::000000000000:root"},
                "Action": "sts:AssumeRole"}]}), None, 3600, NOW)
        services.iam_store.create_session(role, "s", "arn:aws:iam::000000000000:root", NOW,
                                          NOW + timedelta(hours=1))
    finally:
        services.catalog.dispose()
    (tmp_path / WRAPPED_FILE).unlink()
    with pytest.raises(LostSecretKey) as refused:
        _services(tmp_path)
    assert "holds 1 IAM access key and 1 role session sealed" in str(refused.value)
    done = CliRunner().invoke(main, ["iam", "reset-secret-key", "--data-dir", str(tmp_path),
                                     "--output", "json"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout) == {"accessKeysLost": 1, "sessionsEnded": 1,
                                       "sharedSecretsRemoved": 0}
    services = _services(tmp_path)
    try:
        root = RootCredentials("AKIAROOTROOTROOTROOT", "root-secret")
        signed = SignedRequestAuthenticator(root, "000000000000", Clock(), 300,
                                            services.iam_store)
        with pytest.raises(UnrecognizedClient) as lost:
            signed.verify_secret(key_id, "whatever was kept")
        assert str(lost.value).startswith(f"The secret of access key {key_id} was lost with "
                                          "the server's IAM secret key and given up on ")
        assert signed.verify_secret(root.access_key_id, root.secret_access_key).arn.endswith(
            ":root")
        new, secret = services.iam_store.create_access_key("alice", NOW)
        assert signed.verify_secret(new.id, secret).arn.endswith(":user/alice")
    finally:
        services.catalog.dispose()
    # Nothing is lost any more: the command refuses, naming the new key.
    again = CliRunner().invoke(main, ["iam", "reset-secret-key", "--data-dir", str(tmp_path)])
    assert again.exit_code == 2 and "nothing to reset" in again.output


def test_regression_without_iam_secrets_a_missing_key_is_made_again_silently(
        tmp_path: Path) -> None:
    services = _services(tmp_path)  # a new install: no key yet, none needed
    try:
        made = account_created_at(services.secrets, NOW)
    finally:
        services.catalog.dispose()
    (tmp_path / WRAPPED_FILE).unlink()
    services = _services(tmp_path)
    try:
        # The account's creation date, not a secret, was sealed with the key that went: made
        # again on the next ask instead of failing every read.
        later = NOW + timedelta(days=1)
        assert account_created_at(services.secrets, later) == later != made
    finally:
        services.catalog.dispose()
    assert (tmp_path / WRAPPED_FILE).exists()


def test_regression_a_secret_the_key_does_not_open_names_the_wrapped_file(
        tmp_path: Path) -> None:
    key_id, _, _ = _with_access_key(tmp_path)
    other = tmp_path / "other"
    _with_access_key(other)
    (tmp_path / WRAPPED_FILE).write_bytes((other / WRAPPED_FILE).read_bytes())
    (tmp_path / "keyring.json").write_bytes((other / "keyring.json").read_bytes())
    services = _services(tmp_path)
    try:
        with pytest.raises(ValueError) as wrong:
            services.iam_store.access_key_secret(key_id)
        assert str(wrong.value).startswith(
            f"A stored secret cannot be decrypted: {WRAPPED_FILE} in {tmp_path} is not the key")
    finally:
        services.catalog.dispose()


@pytest.mark.parametrize("mode", ["on", "off"])
def test_regression_reset_secret_key_refuses_while_a_server_runs_on_the_data_directory(
        tmp_path: Path, mode: str) -> None:
    # Before: it marked the keys lost under a running server, which still held the lost key
    # and sealed the new access keys an administrator then made with it, so the next start
    # refused again, now for those.
    env = {} if mode == "on" else {"PACKYARD_ENCRYPTION": "off"}
    _with_access_key(tmp_path, **env)
    (tmp_path / (WRAPPED_FILE if mode == "on" else KEY_FILE)).unlink()
    server = (hold_encrypting_mode(tmp_path, "this server") if mode == "on"
              else hold_plain_mode(tmp_path))  # what `packyard serve` holds while it runs
    try:
        refused = CliRunner().invoke(main, ["iam", "reset-secret-key", "--data-dir",
                                            str(tmp_path)])
    finally:
        server.close()
    assert refused.exit_code == 2
    assert " ".join(refused.output.split()) == (
        f"error: a Packyard server (or packyard import or encrypt) is running on {tmp_path}: "
        "stop it first, then run this again (a server running meanwhile keeps sealing secrets "
        "with the lost key)")
    with pytest.raises(LostSecretKey):  # nothing was given up
        _services(tmp_path, **env)
    done = CliRunner().invoke(main, ["iam", "reset-secret-key", "--data-dir", str(tmp_path)])
    assert done.exit_code == 0, done.output
    assert done.output.startswith("1 IAM access key(s) marked lost")


def test_regression_a_lost_key_is_refused_in_each_api_s_own_words(
        packyard_factory: PackyardFactory, data_dir: Path) -> None:
    # README said every API answered InvalidClientTokenId; the CodeArtifact API's word for it
    # is UnrecognizedClientException (as AWS's), both 403 with the same message.
    first = packyard_factory()
    first.iam().create_user(UserName="alice")
    made = first.iam().create_access_key(UserName="alice")["AccessKey"]
    old = Credentials(made["AccessKeyId"], made["SecretAccessKey"])
    first.close()
    (data_dir / WRAPPED_FILE).unlink()
    reset = CliRunner().invoke(main, ["iam", "reset-secret-key", "--data-dir", str(data_dir)])
    assert reset.exit_code == 0, reset.output
    second = packyard_factory()
    for call, code in ((lambda: second.codeartifact(old).list_domains(),
                        "UnrecognizedClientException"),
                       (lambda: second.sts(old).get_caller_identity(), "InvalidClientTokenId"),
                       (lambda: second.iam(old).list_users(), "InvalidClientTokenId")):
        with pytest.raises(ClientError) as refused:
            call()
        assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
        assert refused.value.response["Error"]["Code"] == code
        assert refused.value.response["Error"]["Message"].startswith(
            f"The secret of access key {old.access_key_id} was lost with the server's IAM "
            "secret key")


def test_regression_reset_secret_key_without_the_servers_blob_store_gives_nothing_up(
        tmp_path: Path) -> None:
    # Before: run with --data-dir alone on a server given --blob-store DIR (whose .packyard/
    # holds IAM's secret key), it found no key file in the data directory and marked every
    # access key lost, the key being whole where the server keeps it.
    data_dir, store = tmp_path / "data", tmp_path / "store"
    key_id, secret, _ = _with_access_key(data_dir, PACKYARD_BLOB_STORE=str(store))
    assert (store / ".packyard" / WRAPPED_FILE).exists()
    for options, refusal in (
            ([], f"error: {data_dir / 'blobs'} does not exist: the server keeps its files, and "
                 "IAM's secret key with them, in another blob store; pass the server's "
                 "--blob-store (and --database-url), as `packyard serve` is given them"),
            (["--blob-store", str(tmp_path / "elsewhere")],
             f"error: the blob store {tmp_path / 'elsewhere'} does not exist: pass the "
             "server's --blob-store, as `packyard serve` is given it")):
        refused = CliRunner().invoke(main, ["iam", "reset-secret-key", "--data-dir",
                                            str(data_dir), *options])
        assert refused.exit_code == 2
        assert " ".join(refused.output.split()) == refusal
    services = _services(data_dir, PACKYARD_BLOB_STORE=str(store))
    try:
        assert services.iam_store.access_key_secret(key_id) == secret  # nothing given up
    finally:
        services.catalog.dispose()
    # With the server's --blob-store, the key is found there: nothing to reset.
    there = CliRunner().invoke(main, ["iam", "reset-secret-key", "--data-dir", str(data_dir),
                                      "--blob-store", str(store)])
    assert there.exit_code == 2 and "nothing to reset" in there.output


def test_regression_reset_secret_key_after_a_start_without_the_blob_store_gives_nothing_up(
        packyard_factory: PackyardFactory, data_dir: Path, tmp_path: Path,
        dists: DistFactory) -> None:
    # A start without the server's --blob-store refuses (no key in the data directory) but
    # leaves an empty blobs/ there: reset-secret-key then took the data directory for the
    # store, found no key, and gave every access key up while the key was whole in the store.
    store = tmp_path / "store"
    (data_dir / WRAPPED_FILE).unlink()  # the template's: this server's goes to its store
    first = packyard_factory(blob_store=str(store))
    first.iam().create_user(UserName="alice")
    made = first.iam().create_access_key(UserName="alice")["AccessKey"]
    upload_ok(first.pypi_repo(), dists.wheel(DistSpec(name="kept", version="1.0")))
    first.close()
    assert (store / ".packyard" / WRAPPED_FILE).exists()
    shutil.rmtree(data_dir / "blobs", ignore_errors=True)
    with pytest.raises(LostSecretKey) as lost:  # started without --blob-store
        _services(data_dir)
    assert (data_dir / "blobs").is_dir()
    # The start's refusal says what happened first (it named only a backup and the reset).
    assert (f"sealed with it: {data_dir / 'blobs'} holds none of the catalog's files either, so "
            "this server was started with another --blob-store (PACKYARD_BLOB_STORE) before, "
            "where the key is kept with them: start it with the same. Else restore "
            ) in str(lost.value)

    refused = CliRunner().invoke(main, ["iam", "reset-secret-key", "--data-dir",
                                        str(data_dir)])
    assert refused.exit_code == 2
    assert " ".join(refused.output.split()) == (
        f"error: {data_dir / 'blobs'} holds none of this catalog's files: it is not the "
        "server's blob store, where IAM's secret key is kept with them; pass the server's "
        "--blob-store (and --database-url), as `packyard serve` is given them")
    again = packyard_factory(blob_store=str(store))
    assert again.sts(Credentials(made["AccessKeyId"], made["SecretAccessKey"])
                     ).get_caller_identity()["Arn"].endswith(":user/alice")


def test_reset_secret_key_on_a_directory_without_a_database_refuses_and_makes_none(
        tmp_path: Path) -> None:
    # Without the check it would migrate a new, empty catalog into the wrong directory.
    refused = CliRunner().invoke(main, ["iam", "reset-secret-key", "--data-dir",
                                        str(tmp_path)])
    assert refused.exit_code == 2
    assert " ".join(refused.output.split()) == (
        f"error: no Packyard database in {tmp_path.resolve()}; pass the server's --data-dir")
    assert not (tmp_path / "packyard.db").exists()
