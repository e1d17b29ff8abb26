"""Encryption at rest on AWS KMS when KMS misbehaves: down or hung, a key disabled, pending
deletion, deleted or denied to the server's credentials. Each is said as what it is, with the
fix, on every surface and by ``packyard verify``; a KMS that does not answer is an outage (503,
try again), not a server error or a wait of botocore's retries. KMS here is ``tests/kms_fake.py``
behind a relay that can be stopped or hung."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from click.testing import CliRunner

from packyard.cli.encryption import verify
from packyard.crypto.context import EncryptionContext
from packyard.crypto.errors import KeyProviderSilent
from packyard.crypto.kms import KmsKeyProvider, kms_client
from packyard.iam.secret_key import WRAPPED_FILE
from tests.inprocess.conftest import PackyardFactory
from tests.inprocess.harness import InProcessPackyard, twine_reason
from tests.inprocess.key_faults import one_file_under_the_default_key
from tests.integration.helpers import DistFactory, DistSpec, upload, upload_ok
from tests.integration.test_upstreams import StaticIndex
from tests.kms_fake import FakeKms
from tests.relay import Relay


@pytest.fixture()
def kms(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeKms]:
    # botocore signs every call: credentials from its chain, as a deployment's would be.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDPACKYARDTEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    fake = FakeKms()
    yield fake
    fake.close()


def _on_kms(factory: PackyardFactory, data_dir: Path, kms: FakeKms, url: str | None = None,
            **overrides: Any) -> InProcessPackyard:
    # The template's IAM secret key is the local keyring's: this data directory starts on KMS.
    (data_dir / WRAPPED_FILE).unlink(missing_ok=True)
    # No opened key kept: every read asks KMS, as a read after the cache's minutes does.
    settings: dict[str, Any] = {
        "key_provider": "kms", "kms_region": "us-east-1", "kms_endpoint_url": url or kms.url,
        "default_encryption_key": kms.create_key(), "data_key_cache_seconds": 0.0}
    return factory(**{**settings, **overrides})


def _again(factory: PackyardFactory, first: InProcessPackyard) -> InProcessPackyard:
    """The same server started again: nothing of any file in memory."""
    return factory(**{f.name: getattr(first.settings, f.name)
                      for f in fields(first.settings) if f.name != "data_dir"})


def _verify(packyard: InProcessPackyard) -> dict[str, Any]:
    """``packyard verify --output json`` with the server's settings, as an operator runs it."""
    env = {name: value for name, value in packyard.settings.as_environment().items()
           if name.startswith("PACKYARD_")}
    result = CliRunner().invoke(verify, ["--output", "json"], env=env)
    assert result.exit_code == 1, result.output
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def _outage_lines(caplog: pytest.LogCaptureFixture, words: str) -> int:
    return sum(words in r.getMessage() for r in caplog.records
               if r.name == "packyard.encryption" and "KMS at" in r.getMessage())


def test_regression_kms_down_is_503_with_its_reason_on_every_surface_and_recovers(
        packyard_factory: PackyardFactory, data_dir: Path, kms: FakeKms, dists: DistFactory,
        caplog: pytest.LogCaptureFixture) -> None:
    # Was: botocore retried each refused connection four times (seconds per request), then a
    # 500 on the package endpoints and InternalServerException "Internal error" on the
    # CodeArtifact API, with an error line logged per request.
    relay = Relay(kms.url)
    first = _on_kms(packyard_factory, data_dir, kms, relay.url)
    dist = dists.wheel(DistSpec(name="away", version="1.0"))
    upload_ok(first.pypi_repo(), dist)
    packyard = _again(packyard_factory, first)
    repo = packyard.pypi_repo(create=False)
    relay.stop()

    with caplog.at_level(logging.WARNING, logger="packyard.encryption"):
        started = time.monotonic()
        download = repo.get(f"simple/away/{dist.filename}")
        refused = upload(repo, dists.wheel(DistSpec(name="away", version="1.1")))
        answer = packyard.signed("POST", "/v1/domain?domain=elsewhere", body=b"{}")
        waited = time.monotonic() - started
        for response in (download, refused):
            assert response.status_code == 503
            assert response.headers["Retry-After"] == "5"
            assert "KMS did not answer" in twine_reason(response)
        assert answer.status_code == 503
        assert answer.headers["x-amzn-ErrorType"] == "ServiceUnavailableException"
        assert "KMS did not answer" in answer.json()["message"]
        assert waited < 3  # no retries of botocore's between the client and its answer
        assert _outage_lines(caplog, "did not answer") == 1

        relay.start()
        time.sleep(3.1)  # the quiet seconds after the last call that got no answer
        assert repo.get(f"simple/away/{dist.filename}").content == dist.data
        upload_ok(repo, dists.wheel(DistSpec(name="away", version="1.2")))
    assert _outage_lines(caplog, "answers again") == 1


def test_regression_uploads_refused_while_kms_is_down_log_no_line_of_their_own(
        packyard_factory: PackyardFactory, data_dir: Path, kms: FakeKms, dists: DistFactory,
        caplog: pytest.LogCaptureFixture) -> None:
    # Was: besides the outage's one line and each request's own, every upload declaring its
    # sha256 (twine's do) logged "could not encrypt … as it was written (KMS did not answer …);
    # it is encrypted when kept": a second line per refused upload, twine's five retries ten
    # lines, and the file was not kept.
    relay = Relay(kms.url)
    packyard = _on_kms(packyard_factory, data_dir, kms, relay.url)
    repo = packyard.pypi_repo()
    relay.stop()
    with caplog.at_level(logging.DEBUG, logger="packyard.encryption"):
        for _ in range(3):
            refused = upload(repo, dists.wheel(DistSpec(name="later", version="1.0")))
            assert refused.status_code == 503
    warnings = [r.getMessage() for r in caplog.records
                if r.name == "packyard.encryption" and r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and warnings[0].startswith("KMS at ")
    assert any("as it was written" in r.getMessage() for r in caplog.records)  # at debug


def test_regression_calls_queued_behind_a_hung_kms_fail_after_one_timeout(kms: FakeKms) -> None:
    # Was: botocore's own 60 s read timeout, and its retries, for each call: downloads queued
    # on the server's read threads waited minutes each behind a hung KMS.
    relay = Relay(kms.url)
    provider = KmsKeyProvider(kms_client("us-east-1", relay.url, timeout_seconds=0.5))
    key = kms.create_key()
    wrapped = provider.generate_data_key(key, EncryptionContext("d1", "ab" * 32)).wrapped
    relay.hang()

    def call(_: int) -> float:
        started = time.monotonic()
        with pytest.raises(KeyProviderSilent, match="KMS did not answer"):
            provider.decrypt_data_key(wrapped, EncryptionContext("d1", "ab" * 32))
        return time.monotonic() - started

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=4) as pool:
        waits = list(pool.map(call, range(16)))
    assert max(waits) < 1.5
    assert time.monotonic() - started < 1.5  # not 16 / 4 turns of a timeout


def test_regression_one_call_at_a_time_asks_a_hung_kms_again(kms: FakeKms) -> None:
    # Was: once the quiet seconds after a failed call were over, every call asked KMS again:
    # all the requests that came during the next timeout waited it whole (7.5 to 10 s each
    # for six downloads half a second apart), not only the one that asked.
    relay = Relay(kms.url)
    provider = KmsKeyProvider(kms_client("us-east-1", relay.url, timeout_seconds=1.0),
                              quiet_seconds=0.2)
    key = kms.create_key()
    context = EncryptionContext("d1", "ab" * 32)
    wrapped = provider.generate_data_key(key, context).wrapped
    relay.hang()
    with pytest.raises(KeyProviderSilent):
        provider.decrypt_data_key(wrapped, context)  # the outage begins: one timeout
    time.sleep(0.3)  # past the quiet seconds: KMS is asked again

    def call(delay: float) -> float:
        time.sleep(delay)
        started = time.monotonic()
        with pytest.raises(KeyProviderSilent, match="KMS did not answer"):
            provider.decrypt_data_key(wrapped, context)
        return time.monotonic() - started

    with ThreadPoolExecutor(max_workers=6) as pool:
        waits = sorted(pool.map(call, [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]))
    assert waits[-1] >= 0.9  # the one that asked waited its timeout
    assert waits[-2] < 0.2, waits  # the others were answered at once
    relay.start()
    time.sleep(0.3)
    assert provider.decrypt_data_key(wrapped, context)  # asked again once it is back


def _make_unusable(kms: FakeKms, key: str, state: str) -> None:
    """``key`` denied to the server (``state`` "denied"), or put in KMS key state ``state``."""
    if state == "denied":
        kms.deny(key)
    else:
        kms.set_state(key, state)


@pytest.mark.parametrize(("state", "why", "fix"), [
    ("Disabled", "is disabled", "aws kms enable-key --key-id"),
    ("PendingDeletion", "is pending deletion", "aws kms cancel-key-deletion --key-id"),
    ("denied", "may not be used by this server's AWS credentials",
     "allow kms:Decrypt, kms:GenerateDataKey"),
])
def test_regression_a_kms_key_the_server_cannot_use_is_named_with_the_fix(
        packyard_factory: PackyardFactory, data_dir: Path, kms: FakeKms, dists: DistFactory,
        state: str, why: str, fix: str) -> None:
    # Was: "KMS key ARN is not in a state that allows this (pending deletion?): ..." and no
    # word of what to do, for a key disabled, pending deletion or denied alike.
    packyard = _on_kms(packyard_factory, data_dir, kms)
    key, repo, dist = one_file_under_the_default_key(packyard, dists, "stuck")
    _make_unusable(kms, key, state)

    for response in (repo.get(f"simple/stuck/{dist.filename}"),
                     upload(repo, dists.wheel(DistSpec(name="stuck", version="1.1")))):
        assert response.status_code == 500
        assert f"KMS key {key} {why}" in twine_reason(response)
        assert fix in twine_reason(response)

    # The same key wraps IAM's secret key (the default key): verify does not need that one.
    report = _verify(packyard)
    assert {f["status"] for f in report["findings"]} == {"key-unavailable"}
    assert all(why in f["detail"] and fix in f["detail"] for f in report["findings"])


def test_regression_verify_does_not_advise_deleting_files_whose_kms_key_is_disabled(
        packyard_factory: PackyardFactory, data_dir: Path, kms: FakeKms,
        dists: DistFactory) -> None:
    # Was: after naming the disabled key and `aws kms enable-key`, verify ended with "To repair
    # a blob: put its file back from a backup …; or delete the versions using it … and publish
    # them again", which mends nothing here (the files are whole) and loses them.
    packyard = _on_kms(packyard_factory, data_dir, kms)
    key = packyard.settings.default_encryption_key
    upload_ok(packyard.pypi_repo(), dists.wheel(DistSpec(name="whole", version="1.0")))
    kms.set_state(key, "Disabled")
    env = {name: value for name, value in packyard.settings.as_environment().items()
           if name.startswith("PACKYARD_")}
    result = CliRunner().invoke(verify, [], env=env)
    assert result.exit_code == 1
    assert "To repair a blob" not in result.stdout
    assert result.stdout.splitlines()[-1] == (
        "A blob whose key the provider will not open is not damaged: mend the key as its line "
        "says (enable it, cancel its deletion, allow it to the server's credentials, restore "
        "it at the provider, or bring the provider back) and run verify again; do not delete "
        "its versions nor replace its file.")
    report = _verify(packyard)
    assert "repair" not in report
    assert report["keyRepair"].startswith("A blob whose key the provider will not open is not")
    kms.set_state(key, "Enabled")  # what the finding said: all is well again
    assert CliRunner().invoke(verify, [], env=env).exit_code == 0


@pytest.mark.parametrize(("state", "why", "fix"), [
    ("Disabled", "is disabled", "aws kms enable-key --key-id"),
    ("denied", "may not be used by this server's AWS credentials",
     "allow kms:Decrypt, kms:GenerateDataKey"),
])
def test_regression_the_codeartifact_api_names_an_unusable_kms_key_not_internal_error(
        packyard_factory: PackyardFactory, data_dir: Path, kms: FakeKms, dists: DistFactory,
        state: str, why: str, fix: str) -> None:
    # The AWS CLI's user read "InternalServerException … Internal error" (after botocore's
    # retries), the fix only in the server's log, while twine and pip were told it.
    packyard = _on_kms(packyard_factory, data_dir, kms)
    key, _, dist = one_file_under_the_default_key(packyard, dists, "stuck")
    _make_unusable(kms, key, state)
    with pytest.raises(ClientError) as refused:
        packyard.codeartifact().get_package_version_asset(
            domain="acme", repository="shelf", format="pypi", package="stuck",
            packageVersion="1.0", asset=dist.filename)
    error = refused.value.response["Error"]
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert error["Code"] == "InternalServerException"
    assert f"KMS key {key} {why}" in error["Message"] and fix in error["Message"]


def test_a_pull_while_kms_is_down_is_a_503_and_works_once_it_is_back(
        packyard_factory: PackyardFactory, data_dir: Path, kms: FakeKms,
        dists: DistFactory) -> None:
    upstream = StaticIndex().start()
    try:
        wheel = dists.wheel(DistSpec(name="pulled", version="1.0"))
        upstream.add(wheel)
        relay = Relay(kms.url)
        packyard = _on_kms(packyard_factory, data_dir, kms, relay.url,
                           pypi_upstream_url=upstream.url, upstream_cooldown_seconds=0.0)
        repo = packyard.pypi_repo(repository="pypi-store")
        packyard.codeartifact().associate_external_connection(
            domain="acme", repository="pypi-store", externalConnection="public:pypi")
        relay.stop()
        pulled = repo.get(f"simple/pulled/{wheel.filename}")
        assert pulled.status_code == 503
        assert "KMS did not answer" in twine_reason(pulled)
        relay.start()
        time.sleep(3.1)  # the quiet seconds after the last call that got no answer
        assert repo.get(f"simple/pulled/{wheel.filename}").content == wheel.data
    finally:
        upstream.stop()


def test_a_file_whose_kms_key_was_deleted_is_a_server_fault_not_missing(
        packyard_factory: PackyardFactory, data_dir: Path, kms: FakeKms,
        dists: DistFactory) -> None:
    packyard = _on_kms(packyard_factory, data_dir, kms)
    key, repo, dist = one_file_under_the_default_key(packyard, dists, "gone-key")
    kms.delete(key)

    download = repo.get(f"simple/gone-key/{dist.filename}")
    assert download.status_code == 500
    assert f"key '{key}' no longer exists" in twine_reason(download)
    report = _verify(packyard)
    assert {f["status"] for f in report["findings"]} == {"key-unavailable"}
    assert all("no longer exists" in f["detail"] for f in report["findings"])


@pytest.mark.parametrize(("state", "words"), [
    ("Disabled", "is disabled"),
    ("PendingDeletion", "is pending deletion"),
    ("asymmetric", "not a symmetric encryption key"),
    ("denied", "may not be used by this server's AWS credentials"),
])
def test_regression_create_domain_with_a_kms_key_that_cannot_wrap_is_a_validation_error(
        packyard_factory: PackyardFactory, data_dir: Path, kms: FakeKms, state: str,
        words: str) -> None:
    # Was: a disabled or asymmetric key made the domain, whose every upload then failed 500; a
    # key denied to the server's credentials was 500 "Internal error" (retried four times by
    # the AWS CLI).
    packyard = _on_kms(packyard_factory, data_dir, kms)
    key = kms.create_key(spec="RSA_2048" if state == "asymmetric" else "SYMMETRIC_DEFAULT")
    if state == "denied":
        kms.deny(key)
    elif state != "asymmetric":
        kms.set_state(key, state)
    api = packyard.codeartifact()
    with pytest.raises(api.exceptions.ValidationException) as refused:
        api.create_domain(domain="acme", encryptionKey=key)
    message = refused.value.response["Error"]["Message"]
    assert f"key {key}" in message
    assert words in message
    with pytest.raises(api.exceptions.ResourceNotFoundException):
        api.describe_domain(domain="acme")


def test_create_domain_with_an_unknown_kms_key_is_not_found(
        packyard_factory: PackyardFactory, data_dir: Path, kms: FakeKms) -> None:
    packyard = _on_kms(packyard_factory, data_dir, kms)
    api = packyard.codeartifact()
    with pytest.raises(api.exceptions.ResourceNotFoundException):
        api.create_domain(domain="acme", encryptionKey="alias/nobody")


def test_a_default_kms_key_that_cannot_wrap_is_the_servers_setting_not_a_validation_error(
        packyard_factory: PackyardFactory, data_dir: Path, kms: FakeKms) -> None:
    # create-domain naming no key gets the default key: one that cannot wrap data keys is the
    # server's PACKYARD_DEFAULT_ENCRYPTION_KEY to mend, said as such (not a ValidationException
    # about a key the caller never named).
    first = _on_kms(packyard_factory, data_dir, kms)
    first.close()
    asymmetric = kms.create_key(spec="RSA_2048")
    packyard = packyard_factory(**{
        **{f.name: getattr(first.settings, f.name) for f in fields(first.settings)
           if f.name != "data_dir"}, "default_encryption_key": asymmetric})
    with pytest.raises(ClientError) as refused:
        packyard.codeartifact().create_domain(domain="plain-default")
    error = refused.value.response["Error"]
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert error["Code"] == "InternalServerException"
    assert error["Message"].startswith(
        f"PACKYARD_DEFAULT_ENCRYPTION_KEY: KMS key {asymmetric} is not a symmetric encryption "
        "key")
