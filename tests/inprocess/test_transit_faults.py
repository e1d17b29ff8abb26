"""Encryption at rest on OpenBao's transit when transit misbehaves: a key deleted, disabled or
refused there is the server's fault, said as such to every client and by ``packyard verify``,
never passed off as a file that is not there."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from packyard.encryption.verification import verify_blobs
from packyard.iam.secret_key import WRAPPED_FILE
from tests.inprocess.conftest import PackyardFactory
from tests.inprocess.harness import InProcessPackyard, twine_reason
from tests.integration.helpers import DistFactory, DistSpec, upload, upload_ok
from tests.openbao import OpenBao


def _on_transit(factory: PackyardFactory, data_dir: Path, bao: OpenBao,
                **overrides: Any) -> InProcessPackyard:
    # The template's IAM secret key is the local keyring's: this data directory starts on
    # transit, as a new install would.
    (data_dir / WRAPPED_FILE).unlink(missing_ok=True)
    # No opened key kept: every read asks transit, as a read after the cache's minutes does.
    return factory(key_provider="transit", transit_url=bao.url, transit_token=bao.root_token,
                   default_encryption_key=bao.new_key(), data_key_cache_seconds=0.0,
                   **overrides)


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
    key = packyard.settings.default_encryption_key
    repo = packyard.pypi_repo()
    dist = dists.wheel(DistSpec(name="gone-key", version="1.0"))
    upload_ok(repo, dist)
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
