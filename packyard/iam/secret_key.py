"""IAM's secret access keys sealed under a data key of the key provider (issue 14), not a key
file beside the database.

The Fernet key that seals secret access keys (``secrets.SecretBox``) is a data key from the
provider, kept only wrapped in ``iam-secrets.wrapped`` in the data directory (provider, KEK id
and version, wrapped bytes: useless without the provider's key, like a blob's data key in the
catalog). With the local keyring it is wrapped by its own key, ``alias/packyard/iam-secrets``,
so rotating a domain's key never touches it; with transit or KMS by the default domain key, and
``packyard keys rotate`` re-wraps it with the domain keys (``rewrap_secret_key``).

A data directory from before (``iam-secrets.key``) is migrated at start, crash-safely: the
wrapped key is written first, then every sealed secret is re-sealed under it in one transaction
(read through both keys, so rows under either open), then the old file is removed. A start
that finds both files does the rest again; secrets are never under a key that is not there.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import uuid
from pathlib import Path

from cryptography.fernet import Fernet, MultiFernet
from sqlalchemy import Table, select, update
from sqlalchemy.engine import Engine

from packyard.crypto.context import EncryptionContext
from packyard.crypto.errors import UnknownKey
from packyard.crypto.keys import KeyDescription, KeyProvider, WrappedKey
from packyard.encryption.providers import open_key_provider
from packyard.errors import CannotStart, PackyardError
from packyard.iam.schema import iam_access_keys, sts_sessions
from packyard.iam.secrets import KEY_FILE, SecretBox
from packyard.settings import Settings

WRAPPED_FILE = "iam-secrets.wrapped"
LOCAL_KEY_ALIAS = "alias/packyard/iam-secrets"
_CONTEXT = EncryptionContext("iam-secrets", hashlib.sha256(b"packyard iam secrets").hexdigest())
_SEALED: tuple[Table, ...] = (iam_access_keys, sts_sessions)


def open_secret_box(settings: Settings, provider: KeyProvider | None,
                    writer: Engine) -> SecretBox:
    """The box IAM seals secrets with: the provider's data key (encryption on), migrating an
    ``iam-secrets.key`` if there is one. With encryption off (``provider`` None), a data
    directory whose secrets are on the provider keeps them there; one that never had
    encryption on keeps its ``iam-secrets.key``."""
    data_dir, default_key = settings.data_dir, settings.default_encryption_key
    wrapped_path = data_dir / WRAPPED_FILE
    if provider is None:
        if not wrapped_path.exists():
            return SecretBox.from_data_dir(data_dir)
        provider = open_key_provider(settings)
    try:
        wrapped = _read(wrapped_path) if wrapped_path.exists() else _create(
            wrapped_path, provider, _key_ref(provider, default_key))
        key = provider.decrypt_data_key(wrapped, _CONTEXT)
    except PackyardError as e:
        raise CannotStart(f"IAM's secret key ({wrapped_path}) does not open with "
                          f"PACKYARD_KEY_PROVIDER={provider.name}: {e.message}") from None
    fernet_key = base64.urlsafe_b64encode(key)
    old_path = data_dir / KEY_FILE
    if old_path.exists():
        old = Fernet(old_path.read_bytes().strip())
        _reseal(writer, MultiFernet([Fernet(fernet_key), old]))
        old_path.unlink(missing_ok=True)
    return SecretBox(fernet_key)


def rewrap_secret_key(data_dir: Path, provider: KeyProvider, key: KeyDescription) -> bool:
    """Re-wrap IAM's secret key with ``key``'s current version if an older one wraps it
    (``packyard keys rotate``, before old versions are retired); True when it did."""
    path = data_dir / WRAPPED_FILE
    if not path.exists() or key.current_version is None:
        return False
    wrapped = _read(path)
    if wrapped.key_id != key.key_id or (wrapped.key_version or 0) >= key.current_version:
        return False
    _write(path, provider.name, provider.rewrap(wrapped, _CONTEXT), replace=True)
    return True


def _key_ref(provider: KeyProvider, default_key: str) -> str:
    if provider.name != "local":
        return default_key
    try:
        provider.describe_key(LOCAL_KEY_ALIAS)
    except UnknownKey:
        try:
            provider.create_key(description="Seals IAM's secret access keys",
                                alias=LOCAL_KEY_ALIAS)
        except PackyardError:
            provider.describe_key(LOCAL_KEY_ALIAS)  # another process made it first
    return LOCAL_KEY_ALIAS


def _create(path: Path, provider: KeyProvider, key_ref: str) -> WrappedKey:
    fresh = provider.generate_data_key(key_ref, _CONTEXT)
    if not _write(path, provider.name, fresh.wrapped, replace=False):
        return _read(path)  # another process wrote it first: theirs
    return fresh.wrapped


def _read(path: Path) -> WrappedKey:
    document = json.loads(path.read_text())
    return WrappedKey(document["key_id"], document["key_version"],
                      base64.b64decode(document["wrapped"]))


def _write(path: Path, provider: str, wrapped: WrappedKey, *, replace: bool) -> bool:
    """Write durably (0600); without ``replace``, False when the file exists already."""
    data = json.dumps({"provider": provider, "key_id": wrapped.key_id,
                       "key_version": wrapped.key_version,
                       "wrapped": base64.b64encode(wrapped.ciphertext).decode()}).encode()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data + b"\n")
            f.flush()
            os.fsync(f.fileno())
        if replace:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)
            except FileExistsError:
                return False
    finally:
        tmp.unlink(missing_ok=True)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return True


def _reseal(writer: Engine, fernet: MultiFernet) -> None:
    """Every sealed secret under ``fernet``'s first key, in one transaction."""
    with writer.connect() as conn, conn.begin():
        for table in _SEALED:
            rows = conn.execute(select(table.c.id, table.c.secret_encrypted)).all()
            for row in rows:
                resealed = fernet.rotate(row.secret_encrypted.encode("ascii")).decode("ascii")
                conn.execute(update(table).where(table.c.id == row.id).values(
                    secret_encrypted=resealed))
