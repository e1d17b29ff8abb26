"""IAM's secret access keys sealed by the key provider (``iam/secret_key.py``): a new data
directory has no ``iam-secrets.key``; an older one is migrated at start, and a start stopped
half-way is finished by the next; rotation re-wraps the secret key before retiring."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from packyard.bootstrap import Services, build_services
from packyard.crypto.keyring import LocalKeyring
from packyard.iam import secret_key
from packyard.iam.schema import iam_access_keys
from packyard.iam.secret_key import LOCAL_KEY_ALIAS, WRAPPED_FILE, rewrap_secret_key
from packyard.iam.secrets import KEY_FILE
from packyard.settings import load_settings

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
