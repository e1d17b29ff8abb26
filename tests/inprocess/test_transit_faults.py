"""Encryption at rest on OpenBao's transit when transit misbehaves: a key deleted, disabled or
refused there is the server's fault, said as such to every client and by ``packyard verify``,
never passed off as a file that is not there."""

from __future__ import annotations

import logging
from dataclasses import fields
from pathlib import Path
from typing import Any

import httpx
import pytest

from packyard.encryption.verification import verify_blobs
from packyard.iam.secret_key import WRAPPED_FILE
from tests.inprocess.conftest import PackyardFactory
from tests.inprocess.harness import InProcessPackyard, twine_reason
from tests.inprocess.key_faults import one_file_under_the_default_key
from tests.integration.helpers import DistFactory, DistSpec, upload, upload_ok
from tests.openbao import OpenBao
from tests.relay import Relay


def _on_transit(factory: PackyardFactory, data_dir: Path, bao: OpenBao,
                **overrides: Any) -> InProcessPackyard:
    # The template's IAM secret key is the local keyring's: this data directory starts on
    # transit, as a new install would.
    (data_dir / WRAPPED_FILE).unlink(missing_ok=True)
    # No opened key kept: every read asks transit, as a read after the cache's minutes does.
    settings: dict[str, Any] = {
        "key_provider": "transit", "transit_url": bao.url, "transit_token": bao.root_token,
        "default_encryption_key": bao.new_key(), "data_key_cache_seconds": 0.0}
    return factory(**{**settings, **overrides})


def _transit(bao: OpenBao, method: str, path: str, body: dict[str, Any] | None = None) -> None:
    httpx.request(method, f"{bao.url}/v1/transit/{path}", json=body, timeout=10,
                  headers={"X-Vault-Token": bao.root_token}, trust_env=False
                  ).raise_for_status()


def test_regression_a_file_whose_transit_key_was_deleted_is_a_server_fault_not_missing(
        packyard_factory: PackyardFactory, data_dir: Path, openbao: OpenBao,
        dists: DistFactory) -> None:
    # Was: transit's "encryption key not found" became a NotFound, so pip got 404 "No transit
    # key" for a file the index lists, twine a 404 on upload, and `packyard verify` counted the
    # blob "missing" with no word of the key, while its bytes were all there.
    packyard = _on_transit(packyard_factory, data_dir, openbao)
    key, repo, dist = one_file_under_the_default_key(packyard, dists, "gone-key")
    _transit(openbao, "POST", f"keys/{key}/config", {"deletion_allowed": True})
    _transit(openbao, "DELETE", f"keys/{key}")

    download = repo.get(f"simple/gone-key/{dist.filename}")
    assert download.status_code == 500
    assert f"key '{key}' no longer exists" in twine_reason(download)

    refused = upload(repo, dists.wheel(DistSpec(name="gone-key", version="1.1")))
    assert refused.status_code == 500
    assert f"key '{key}' no longer exists" in twine_reason(refused)
    versions = packyard.codeartifact().list_package_versions(
        domain="acme", repository="shelf", format="pypi", package="gone-key")["versions"]
    assert [v["version"] for v in versions] == ["1.0"]

    assert packyard.container.encryption is not None
    report = verify_blobs(packyard.container.catalog, packyard.container.encryption.blobs)
    assert not report.ok
    assert {f.status for f in report.findings} == {"key-unavailable"}
    assert all(f"key '{key}' no longer exists" in f.detail for f in report.findings)


def test_regression_create_domain_with_a_transit_key_that_is_not_derived_is_a_validation_error(
        packyard_factory: PackyardFactory, data_dir: Path, openbao: OpenBao) -> None:
    # Was: 500 InternalServerException "Internal error", which the AWS CLI retried four times
    # before showing it, for a key the caller chose and can fix.
    packyard = _on_transit(packyard_factory, data_dir, openbao)
    _transit(openbao, "POST", "keys/not-derived", {"type": "aes256-gcm96"})
    api = packyard.codeartifact()
    with pytest.raises(api.exceptions.ValidationException) as refused:
        api.create_domain(domain="acme", encryptionKey="not-derived")
    assert "not a derived key" in refused.value.response["Error"]["Message"]
    assert "derived=true" in refused.value.response["Error"]["Message"]
    with pytest.raises(api.exceptions.ResourceNotFoundException):
        api.describe_domain(domain="acme")


def _bao(bao: OpenBao, method: str, path: str, body: dict[str, Any] | None = None
         ) -> dict[str, Any]:
    response = httpx.request(method, f"{bao.url}/v1/{path}", json=body, timeout=10,
                             headers={"X-Vault-Token": bao.root_token}, trust_env=False)
    response.raise_for_status()
    answer: dict[str, Any] = response.json() if response.content else {}
    return answer


def test_regression_a_revoked_transit_token_is_named_with_the_fix(
        packyard_factory: PackyardFactory, data_dir: Path, openbao: OpenBao,
        dists: DistFactory) -> None:
    # Was: "Transit refused POST decrypt/KEY (403): permission denied", which does not say that
    # it is Packyard's token, nor what to do.
    _bao(openbao, "PUT", "sys/policies/acl/packyard-transit",
         {"policy": 'path "transit/*" { capabilities = ["create", "read", "update"] }'})
    token = _bao(openbao, "POST", "auth/token/create",
                 {"policies": ["packyard-transit"], "ttl": "1h"})["auth"]["client_token"]
    packyard = _on_transit(packyard_factory, data_dir, openbao, transit_token=token)
    repo = packyard.pypi_repo()
    upload_ok(repo, dists.wheel(DistSpec(name="revoked", version="1.0")))
    _bao(openbao, "POST", "auth/token/revoke", {"token": token})

    refused = upload(repo, dists.wheel(DistSpec(name="revoked", version="1.1")))
    assert refused.status_code == 500
    assert "PACKYARD_TRANSIT_TOKEN expired, was revoked" in twine_reason(refused)
    assert "give the server a new token" in twine_reason(refused)


def test_regression_a_raised_min_decryption_version_is_named_with_the_fix(
        packyard_factory: PackyardFactory, data_dir: Path, openbao: OpenBao,
        dists: DistFactory) -> None:
    # Was: "ciphertext or signature version is disallowed by policy (too old)" and nothing on
    # how the files become readable again.
    packyard = _on_transit(packyard_factory, data_dir, openbao)
    key, repo, dist = one_file_under_the_default_key(packyard, dists, "too-old")
    _transit(openbao, "POST", f"keys/{key}/rotate")
    _transit(openbao, "POST", f"keys/{key}/config", {"min_decryption_version": 2})

    download = repo.get(f"simple/too-old/{dist.filename}")
    assert download.status_code == 500
    reason = twine_reason(download)
    assert f"Transit key {key} no longer decrypts" in reason
    assert "min_decryption_version was raised" in reason
    assert "packyard keys rotate --domain <domain> --resume" in reason


def test_regression_create_domain_with_a_transit_key_the_token_may_not_use_is_a_validation_error(
        packyard_factory: PackyardFactory, data_dir: Path, openbao: OpenBao) -> None:
    # Was: 500 InternalServerException "Internal error", retried four times by the AWS CLI.
    _bao(openbao, "PUT", "sys/policies/acl/packyard-some-keys", {"policy": (
        'path "transit/*" { capabilities = ["create", "read", "update"] }\n'
        'path "transit/keys/forbidden-*" { capabilities = ["deny"] }')})
    token = _bao(openbao, "POST", "auth/token/create",
                 {"policies": ["packyard-some-keys"], "ttl": "1h"})["auth"]["client_token"]
    packyard = _on_transit(packyard_factory, data_dir, openbao, transit_token=token)
    _transit(openbao, "POST", "keys/forbidden-1", {"type": "aes256-gcm96", "derived": True})
    api = packyard.codeartifact()
    with pytest.raises(api.exceptions.ValidationException) as refused:
        api.create_domain(domain="acme", encryptionKey="forbidden-1")
    message = refused.value.response["Error"]["Message"]
    assert "encryptionKey 'forbidden-1' cannot be used" in message
    assert "403 permission denied" in message  # transit's reason, on one line
    with pytest.raises(api.exceptions.ResourceNotFoundException):
        api.describe_domain(domain="acme")


def test_regression_a_renewed_transit_token_is_taken_up_without_a_restart(
        packyard_factory: PackyardFactory, data_dir: Path, openbao: OpenBao,
        dists: DistFactory, tmp_path: Path) -> None:
    # Was: the token was read once, at start: when it expired or was revoked, every file not
    # opened lately failed until the server was restarted with a new one. A token file (an
    # agent's sink) is read again when transit refuses the token it held.
    _bao(openbao, "PUT", "sys/policies/acl/packyard-transit",
         {"policy": 'path "transit/*" { capabilities = ["create", "read", "update"] }'})

    def new_token() -> str:
        answer = _bao(openbao, "POST", "auth/token/create",
                      {"policies": ["packyard-transit"], "ttl": "1h"})
        token: str = answer["auth"]["client_token"]
        return token

    first = new_token()
    token_file = tmp_path / "transit-token"
    token_file.write_text(first + "\n")
    packyard = _on_transit(packyard_factory, data_dir, openbao, transit_token=None,
                           transit_token_file=str(token_file))
    repo = packyard.pypi_repo()
    dist = dists.wheel(DistSpec(name="renewed", version="1.0"))
    upload_ok(repo, dist)
    _bao(openbao, "POST", "auth/token/revoke", {"token": first})

    refused = repo.get(f"simple/renewed/{dist.filename}")
    assert refused.status_code == 500
    assert "the token in PACKYARD_TRANSIT_TOKEN_FILE expired" in twine_reason(refused)

    token_file.write_text(new_token() + "\n")
    assert repo.get(f"simple/renewed/{dist.filename}").content == dist.data
    upload_ok(repo, dists.wheel(DistSpec(name="renewed", version="1.1")))


def test_regression_transit_down_is_503_with_its_reason_on_every_surface(
        packyard_factory: PackyardFactory, data_dir: Path, openbao: OpenBao,
        dists: DistFactory, caplog: pytest.LogCaptureFixture) -> None:
    # Was: 500 on the package endpoints and, on the CodeArtifact API, InternalServerException
    # "Internal error", which says nothing of the key provider; a database outage answers 503
    # ServiceUnavailableException with its reason, and this is the same kind of outage.
    relay = Relay(openbao.url)
    first = _on_transit(packyard_factory, data_dir, openbao, transit_url=relay.url)
    dist = dists.wheel(DistSpec(name="away", version="1.0"))
    upload_ok(first.pypi_repo(), dist)
    # Started again: nothing of the file in memory, its key to be opened by transit.
    packyard = packyard_factory(**{f.name: getattr(first.settings, f.name)
                                   for f in fields(first.settings) if f.name != "data_dir"})
    repo = packyard.pypi_repo(create=False)
    relay.stop()

    with caplog.at_level(logging.WARNING, logger="packyard.encryption"):
        download = repo.get(f"simple/away/{dist.filename}")
        refused = upload(repo, dists.wheel(DistSpec(name="away", version="1.1")))
    for response in (download, refused):
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "5"
        assert "The transit server did not answer" in twine_reason(response)
    assert sum("did not answer" in r.getMessage() for r in caplog.records
               if r.name == "packyard.encryption" and "transit server at" in r.getMessage()) == 1

    api = packyard.codeartifact()
    answer = packyard.signed("POST", "/v1/domain?domain=elsewhere", body=b"{}")
    assert answer.status_code == 503
    assert answer.headers["x-amzn-ErrorType"] == "ServiceUnavailableException"
    assert "The transit server did not answer" in answer.json()["message"]
    with pytest.raises(api.exceptions.ResourceNotFoundException):
        api.describe_domain(domain="elsewhere")


def test_regression_a_sealed_transit_is_503_with_retry_after_not_500(
        packyard_factory: PackyardFactory, data_dir: Path, openbao: OpenBao,
        dists: DistFactory) -> None:
    # Was: 500 "Transit refused POST datakey/plaintext/… (503): Vault is sealed" to twine and
    # pip, and InternalServerException on the API: a Vault or OpenBao restarted comes back
    # sealed, the most common way transit is down, and it answers (503) rather than not at all.
    packyard = _on_transit(packyard_factory, data_dir, openbao)
    repo = packyard.pypi_repo()
    dist = dists.wheel(DistSpec(name="sealed", version="1.0"))
    upload_ok(repo, dist)
    openbao.seal()
    try:
        download = repo.get(f"simple/sealed/{dist.filename}")
        refused = upload(repo, dists.wheel(DistSpec(name="sealed", version="1.1")))
        answer = packyard.signed("POST", "/v1/domain?domain=elsewhere", body=b"{}")
    finally:
        openbao.unseal()
    for response in (download, refused):
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "5"
        assert "The transit server cannot answer now" in twine_reason(response)
        assert "Vault is sealed" in twine_reason(response)
    assert answer.status_code == 503
    assert answer.headers["x-amzn-ErrorType"] == "ServiceUnavailableException"
    # Unsealed: served again, no restart.
    assert repo.get(f"simple/sealed/{dist.filename}").content == dist.data
    upload_ok(repo, dists.wheel(DistSpec(name="sealed", version="1.1")))


def test_a_default_key_that_is_not_derived_is_the_servers_fault_not_the_callers(
        packyard_factory: PackyardFactory, data_dir: Path, openbao: OpenBao) -> None:
    # A create-domain naming no key is not refused as the caller's mistake (400): the
    # setting is the operator's, named in the 500's log line.
    _transit(openbao, "POST", "keys/default-not-derived", {"type": "aes256-gcm96"})
    packyard = _on_transit(packyard_factory, data_dir, openbao,
                           default_encryption_key="default-not-derived")
    answer = packyard.signed("POST", "/v1/domain?domain=acme", body=b"{}")
    assert answer.status_code == 500
    assert answer.headers["x-amzn-ErrorType"] == "InternalServerException"
