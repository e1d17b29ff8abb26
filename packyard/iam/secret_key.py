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

A key is made only when nothing is sealed yet: a start that finds neither file while the
catalog holds sealed secrets (a key file lost, or left out of a restore) refuses
(``LostSecretKey``) instead of making a new key that would open none of them. Giving them up is
an explicit step, ``packyard iam reset-secret-key`` (``forget_lost_secrets``): the access keys
are kept, marked lost, so that a signature made with one gets an answer saying so.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography.fernet import Fernet, MultiFernet
from sqlalchemy import Table, delete, func, select, update
from sqlalchemy.engine import Engine

from packyard.crypto.context import EncryptionContext
from packyard.crypto.errors import UnknownKey
from packyard.crypto.keys import KeyDescription, KeyProvider, WrappedKey
from packyard.encryption.blob_store import SEALED_SUFFIX
from packyard.encryption.key_move import KeyMove
from packyard.encryption.providers import open_key_provider
from packyard.errors import CannotStart, PackyardError
from packyard.iam.schema import iam_access_keys, server_secrets, sts_sessions
from packyard.iam.secrets import KEY_FILE, LOST_PREFIX, SecretBox
from packyard.iam.shared_secrets import ROOT_SECRET
from packyard.metadata.schema import blobs
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
    missing = _check_not_lost(writer, files, KEY_FILE if provider is None else WRAPPED_FILE,
                              blob_root=directory_blob_root(settings))
    if provider is None:
        if files.read(WRAPPED_FILE) is None:
            box = SecretBox.from_shared_files(files)
            if missing:
                _drop_unreadable_server_secrets(writer, box)
            return box
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
    box = SecretBox(fernet_key, source=where)
    if missing:
        _drop_unreadable_server_secrets(writer, box)
    return box


class LostSecretKey(CannotStart):
    """IAM's secret key file is gone while the catalog holds secrets sealed with it."""


@dataclass(frozen=True)
class SealedSecrets:
    """What the catalog holds sealed with IAM's secret key (access keys already marked lost
    need it no more)."""

    access_keys: int
    sessions: int
    root_key: bool  # the replicas' shared root key (PostgreSQL), ``auth/credentials.py``

    def __bool__(self) -> bool:
        return bool(self.access_keys or self.sessions or self.root_key)

    def __str__(self) -> str:
        parts = [_count(self.access_keys, "IAM access key"), _count(self.sessions, "role session")]
        parts = [part for part in parts if part]
        if self.root_key:
            parts.append("the replicas' shared root key")
        return " and ".join([", ".join(parts[:-1]), parts[-1]] if len(parts) > 1 else parts)


def sealed_secrets(engine: Engine) -> SealedSecrets:
    """What the catalog on ``engine`` holds sealed with IAM's secret key."""
    with engine.connect() as conn:
        keys = conn.execute(select(func.count()).select_from(iam_access_keys).where(
            iam_access_keys.c.secret_encrypted.not_like(f"{LOST_PREFIX}%"))).scalar_one()
        sessions = conn.execute(select(func.count()).select_from(sts_sessions)).scalar_one()
        root = conn.execute(select(server_secrets.c.name).where(
            server_secrets.c.name == ROOT_SECRET)).first() is not None
    return SealedSecrets(keys, sessions, root)


def secret_key_file(files: SharedFiles) -> str | None:
    """The name of IAM's secret key file in ``files``, or None when neither is there."""
    for name in (WRAPPED_FILE, KEY_FILE):
        if files.read(name) is not None:
            return name
    return None


def directory_blob_root(settings: Settings) -> Path | None:
    """The directory the blobs are in, when they are in one (not S3, not memory)."""
    where = settings.blob_store
    if where and "://" in where:
        return None
    return Path(where) if where else settings.blob_dir


def holds_none_of_the_blobs(engine: Engine, root: Path) -> bool:
    """Whether the directory blob store at ``root`` holds none of the first files the catalog
    on ``engine`` lists: then it is not the server's (started before with another
    ``--blob-store``), and neither is the IAM secret key looked for beside it."""
    with engine.connect() as conn:
        rows = conn.execute(select(blobs.c.domain_id, blobs.c.sha256).limit(20)).all()
    return bool(rows) and not any(
        (root / f"d{domain_id}{suffix}" / sha256[:2] / sha256).exists()
        for domain_id, sha256 in rows for suffix in (SEALED_SUFFIX, ""))


def _check_not_lost(writer: Engine, files: SharedFiles, expected: str, *,
                    blob_root: Path | None = None) -> bool:
    """Whether the key is still to be made; ``LostSecretKey`` if secrets are sealed with one
    that is gone."""
    if secret_key_file(files) is not None:
        return False
    sealed = sealed_secrets(writer)
    if not sealed:
        return True
    # A replica starting at the same moment on a new store writes its key before it seals
    # anything: secrets seen now with no key there yet were sealed with one that is gone.
    if secret_key_file(files) is not None:
        return False
    raise LostSecretKey(
        f"IAM's secret key {expected} is missing from {files.where}, and the catalog holds "
        f"{sealed} sealed with it: "
        + (f"{blob_root} holds none of the catalog's files either, so this server was started "
           "with another --blob-store (PACKYARD_BLOB_STORE) before, where the key is kept with "
           "them: start it with the same. Else "
           if blob_root is not None and holds_none_of_the_blobs(writer, blob_root) else "")
        + f"restore {expected} there from a backup and start again; or, "
        "to give those secrets up (their users then create new access keys; the root key "
        "keeps working), run `packyard iam reset-secret-key` with this server's --data-dir "
        "(and --database-url, --blob-store)")


@dataclass(frozen=True)
class ForgottenSecrets:
    """What ``forget_lost_secrets`` gave up."""

    access_keys: int
    sessions: int
    server_secrets: int


def forget_lost_secrets(writer: Engine, files: SharedFiles, now: datetime) -> ForgottenSecrets:
    """Give up the secrets a lost IAM secret key sealed (``packyard iam reset-secret-key``), so
    that the next start makes a new key: access keys are marked lost (a signature made with one
    is answered saying so, until it is deleted), role sessions end, and the secrets replicas
    share in the database go (the root key is seeded again from ``credentials.json``).
    ``CannotStart`` when a key file is there: nothing is lost."""
    found = secret_key_file(files)
    if found is not None:
        raise CannotStart(f"IAM's secret key is there ({found} in {files.where}): nothing to "
                          "reset (a secret that does not open with it was sealed with another "
                          "key: restore that one)")
    lost = f"{LOST_PREFIX}{now.isoformat(timespec='seconds')}"
    with writer.connect() as conn, conn.begin():
        keys = conn.execute(update(iam_access_keys).where(
            iam_access_keys.c.secret_encrypted.not_like(f"{LOST_PREFIX}%")).values(
            secret_encrypted=lost)).rowcount
        sessions = conn.execute(delete(sts_sessions)).rowcount
        shared = conn.execute(delete(server_secrets)).rowcount
    return ForgottenSecrets(keys, sessions, shared)


def _drop_unreadable_server_secrets(writer: Engine, box: SecretBox) -> None:
    """After a key was made where none was: shared rows that are not secrets (the account's
    creation date) sealed with a key that is gone would fail every read; they are made again
    when next asked. Rows another replica just sealed with the new key open, and stay."""
    with writer.connect() as conn, conn.begin():
        for name, value in conn.execute(select(server_secrets.c.name,
                                               server_secrets.c.value)).all():
            if not box.opens(value):
                conn.execute(delete(server_secrets).where(server_secrets.c.name == name))


def _count(n: int, noun: str) -> str:
    return "" if n == 0 else f"{n} {noun}" + ("" if n == 1 else "s")


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
            rows = conn.execute(select(table.c.id, table.c.secret_encrypted).where(
                table.c.secret_encrypted.not_like(f"{LOST_PREFIX}%"))).all()
            for row in rows:
                resealed = fernet.rotate(row.secret_encrypted.encode("ascii")).decode("ascii")
                conn.execute(update(table).where(table.c.id == row.id).values(
                    secret_encrypted=resealed))
        for name, value in conn.execute(select(server_secrets.c.name,
                                               server_secrets.c.value)).all():
            conn.execute(update(server_secrets).where(server_secrets.c.name == name).values(
                value=fernet.rotate(value.encode("ascii")).decode("ascii")))
