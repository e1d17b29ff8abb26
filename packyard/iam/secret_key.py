"""IAM's secret access keys sealed under a data key of the key provider (issue 14), not a key
file beside the database.

The Fernet key that seals secret access keys (``secrets.SecretBox``) is a data key from the
provider, kept only wrapped in ``iam-secrets.wrapped`` in the shared files (``storage/shared_files.py``:
the data directory, or the bucket replicas share, so every replica opens one key) (provider, KEK id
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
import dataclasses
import hashlib
import json
from pathlib import Path

from cryptography.fernet import Fernet, MultiFernet
from sqlalchemy import Table, select, update
from sqlalchemy.engine import Engine

from packyard.crypto.context import EncryptionContext
from packyard.crypto.errors import UnknownKey
from packyard.crypto.keys import KeyDescription, KeyProvider, WrappedKey
from packyard.encryption.key_move import KeyMove
from packyard.encryption.providers import open_key_provider
from packyard.errors import CannotStart, PackyardError
from packyard.iam.schema import iam_access_keys, server_secrets, sts_sessions
from packyard.iam.secrets import KEY_FILE, SecretBox
from packyard.settings import Settings
from packyard.storage.shared_files import DirectoryFiles, SharedFiles

WRAPPED_FILE = "iam-secrets.wrapped"
LOCAL_KEY_ALIAS = "alias/packyard/iam-secrets"
_CONTEXT = EncryptionContext("iam-secrets", hashlib.sha256(b"packyard iam secrets").hexdigest())
_SEALED: tuple[Table, ...] = (iam_access_keys, sts_sessions)


def open_secret_box(settings: Settings, provider: KeyProvider | None, writer: Engine,
                    files: SharedFiles) -> SecretBox:
    """The box IAM seals secrets with: the provider's data key (encryption on), migrating an
    ``iam-secrets.key`` if there is one. With encryption off (``provider`` None), a data
    directory whose secrets are on the provider keeps them there; one that never had
    encryption on keeps its ``iam-secrets.key``.

    Both files are in ``files`` (``storage/shared_files.py``: the data directory, or the
    bucket every replica shares), so every replica opens the one key the first one made."""
    default_key = settings.default_encryption_key
    where = f"{WRAPPED_FILE} in {files.where}"
    if provider is None:
        if files.read(WRAPPED_FILE) is None:
            return SecretBox.from_shared_files(files)
        provider = open_key_provider(settings)
    try:
        wrapped = _decode(files.get_or_create(WRAPPED_FILE, lambda: _encode(
            provider.name, provider.generate_data_key(
                _key_ref(provider, default_key), _CONTEXT).wrapped)))
        key = provider.decrypt_data_key(wrapped, _CONTEXT)
    except PackyardError as e:
        raise CannotStart(f"IAM's secret key ({where}) does not open with "
                          f"PACKYARD_KEY_PROVIDER={provider.name}: {e.message}") from None
    fernet_key = base64.urlsafe_b64encode(key)
    old = files.read(KEY_FILE)
    if old is not None:
        _reseal(writer, MultiFernet([Fernet(fernet_key), Fernet(old.strip())]))
        files.remove(KEY_FILE)
    return SecretBox(fernet_key)


def unwrap_secret_key(settings: Settings, wrapped: bytes) -> bytes:
    """The Fernet key ``wrapped`` (an ``iam-secrets.wrapped``) holds, opened by the data
    directory's local keyring: what ``packyard migrate-storage`` gives a destination whose
    replicas cannot share that keyring, as ``iam-secrets.key``."""
    provider = open_key_provider(dataclasses.replace(settings, key_provider="local"))
    return base64.urlsafe_b64encode(provider.decrypt_data_key(_decode(wrapped), _CONTEXT))


def move_secret_key(wrapped: bytes, move: KeyMove) -> bytes:
    """An ``iam-secrets.wrapped`` of the data directory's local keyring as ``move``'s target
    provider wraps the same key (``packyard migrate-storage``): the sealed secrets stay
    readable, and the key never lies unwrapped in the destination."""
    return _encode(move.target.name, move.move(_decode(wrapped), _CONTEXT))


def secret_key_of(wrapped: bytes, provider: KeyProvider) -> bytes:
    """The key an ``iam-secrets.wrapped`` holds, unwrapped by ``provider``."""
    return provider.decrypt_data_key(_decode(wrapped), _CONTEXT)


def rewrap_secret_key(files: SharedFiles | Path, provider: KeyProvider,
                      key: KeyDescription) -> bool:
    """Re-wrap IAM's secret key with ``key``'s current version if an older one wraps it
    (``packyard keys rotate``, before old versions are retired); True when it did.
    ``files`` may be a data directory."""
    if isinstance(files, Path):
        files = DirectoryFiles(files)
    found = files.read(WRAPPED_FILE)
    if found is None or key.current_version is None:
        return False
    wrapped = _decode(found)
    if wrapped.key_id != key.key_id or (wrapped.key_version or 0) >= key.current_version:
        return False
    files.replace(WRAPPED_FILE, _encode(provider.name, provider.rewrap(wrapped, _CONTEXT)))
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


def _decode(data: bytes) -> WrappedKey:
    document = json.loads(data)
    return WrappedKey(document["key_id"], document["key_version"],
                      base64.b64decode(document["wrapped"]))


def _encode(provider: str, wrapped: WrappedKey) -> bytes:
    return json.dumps({"provider": provider, "key_id": wrapped.key_id,
                       "key_version": wrapped.key_version,
                       "wrapped": base64.b64encode(wrapped.ciphertext).decode()}).encode() + b"\n"


def _reseal(writer: Engine, fernet: MultiFernet) -> None:
    """Every sealed secret under ``fernet``'s first key, in one transaction: IAM's, and the
    secrets replicas share (``shared_secrets``: the generated root credentials)."""
    with writer.connect() as conn, conn.begin():
        for table in _SEALED:
            rows = conn.execute(select(table.c.id, table.c.secret_encrypted)).all()
            for row in rows:
                resealed = fernet.rotate(row.secret_encrypted.encode("ascii")).decode("ascii")
                conn.execute(update(table).where(table.c.id == row.id).values(
                    secret_encrypted=resealed))
        for name, value in conn.execute(select(server_secrets.c.name,
                                               server_secrets.c.value)).all():
            conn.execute(update(server_secrets).where(server_secrets.c.name == name).values(
                value=fernet.rotate(value.encode("ascii")).decode("ascii")))
