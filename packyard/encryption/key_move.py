"""Moving an install's keys off its local keyring onto transit or KMS (``packyard
migrate-storage``; docs/decisions/0015 says why replicas cannot share the keyring).

A blob's ciphertext depends on its data key only, never on the key-encryption key (KEK) that
wraps the data key in the catalog. So the move rewrites no blob: each data key is unwrapped by
the data directory's keyring and the same key wrapped by a KEK of the target provider, for the
same ``EncryptionContext`` (``KeyProvider.wrap_data_key``); the ciphertext is copied as it is.

Which target KEK: each local key the operator names (``--key-map LOCAL=TARGET``, by the local
key's id, ARN or alias; the target's id, name, ARN or alias) goes to that key, every other to
the target's default key (``PACKYARD_DEFAULT_ENCRYPTION_KEY``, which the replicas need anyway).
A domain that records a local key records its target key instead (``domain_key``).

``check_copy`` opens a copied blob as a replica will: its moved key unwrapped by the target
provider, then the stream header and the first and last segments authenticated.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

import anyio

from packyard.crypto.context import EncryptionContext
from packyard.crypto.errors import (
    KeyUnavailable,
    TamperedBlob,
    TamperedKey,
    UnknownKey,
    UnusableKey,
)
from packyard.crypto.keyring import KEYRING_FILE
from packyard.crypto.keys import KeyDescription, KeyProvider, WrappedKey
from packyard.crypto.stream import StreamDecryptor
from packyard.encryption.blob_store import sealed_partition
from packyard.encryption.providers import key_name, open_key_provider
from packyard.errors import CannotStart, Invalid
from packyard.settings import Settings
from packyard.storage.blobs import BlobStore

SHARED_PROVIDERS = ("transit", "kms")


@dataclass(frozen=True)
class KeyMove:
    """The data directory's keyring, the target provider, and which target KEK each local
    KEK's data keys go to."""

    source: KeyProvider
    target: KeyProvider
    default: KeyDescription
    mapped: Mapping[str, KeyDescription]  # local key id -> target key (--key-map)

    def target_of(self, local_key_id: str) -> KeyDescription:
        return self.mapped.get(local_key_id, self.default)

    def move(self, wrapped: WrappedKey, context: EncryptionContext) -> WrappedKey:
        """``wrapped`` (by a local KEK) as the target provider wraps the same data key."""
        plaintext = self.source.decrypt_data_key(wrapped, context)
        return self.target.wrap_data_key(self.target_of(wrapped.key_id).key_id, plaintext,
                                         context)

    def domain_key(self, recorded: str) -> str | None:
        """What a domain that records ``recorded`` records after the move; None when that is
        not a key of the local keyring (a domain already on the target's keys)."""
        try:
            local = self.source.describe_key(recorded)
        except UnknownKey:
            return None
        return key_name(self.target_of(local.key_id))


def moves_keys(source: Settings, target: Settings) -> bool:
    """Whether a copy from ``source`` to ``target`` moves keys off a local keyring: the
    target keeps them in a provider replicas share, and the data directory has a keyring."""
    return (target.encryption == "on" and target.key_provider in SHARED_PROVIDERS
            and (source.data_dir / KEYRING_FILE).exists())


def open_key_move(source: Settings, target: Settings,
                  key_map: Mapping[str, str] | None = None) -> KeyMove:
    """The move from ``source``'s keyring to ``target``'s provider (``moves_keys`` must hold),
    with every target key checked usable first: ``Invalid``, naming the key and the setting,
    before anything is copied."""
    keyring = open_key_provider(replace(source, key_provider="local"))
    provider = open_target_provider(target)
    setting = f"PACKYARD_KEY_PROVIDER={target.key_provider}"

    def usable(ref: str, named_by: str) -> KeyDescription:
        try:
            key = provider.describe_key(ref)
        except (UnknownKey, UnusableKey, KeyUnavailable) as e:
            raise Invalid(f"{named_by} names {ref!r}, which {setting} cannot use: "
                          f"{e.message}") from None
        if not key.enabled:
            raise Invalid(f"{named_by} names {ref!r}, which is disabled in {setting}")
        return key

    mapped = {}
    for local_ref, target_ref in (key_map or {}).items():
        try:
            local = keyring.describe_key(local_ref)
        except UnknownKey:
            raise Invalid(f"--key-map names {local_ref!r}, which is not a key of "
                          f"{source.data_dir / KEYRING_FILE}") from None
        mapped[local.key_id] = usable(target_ref, f"--key-map {local_ref}=…")
    default = usable(target.default_encryption_key, "PACKYARD_DEFAULT_ENCRYPTION_KEY")
    return KeyMove(keyring, provider, default, mapped)


def open_target_provider(target: Settings) -> KeyProvider:
    """The target's provider (``Invalid`` with the fix when its settings are unusable)."""
    try:
        return open_key_provider(target)
    except CannotStart as e:
        raise Invalid(str(e)) from None


def check_copy(store: BlobStore, provider: KeyProvider, domain_key: str, sha256: str,
               wrapped: WrappedKey, plaintext_size: int) -> None:
    """Open the copy of blob ``sha256`` (its ciphertext, in ``store`` under ``domain_key``'s
    sealed partition) as the destination will: ``Invalid`` naming the blob when its key
    does not unwrap or its header, first or last segment does not authenticate."""
    context = EncryptionContext(domain_key, sha256)
    sealed = sealed_partition(domain_key)
    try:
        data_key = provider.decrypt_data_key(wrapped, context)
        decryptor = StreamDecryptor(data_key, context.blob_associated_data(),
                                    store.size(sealed, sha256), plaintext_size=plaintext_size)

        def read_at(offset: int, length: int) -> bytes:
            async def read() -> bytes:
                return b"".join([chunk async for chunk in
                                 store.read(sealed, sha256, offset, offset + length)])
            return anyio.run(read)

        if plaintext_size == 0:
            decryptor.verify(read_at)
        else:
            for start in {0, plaintext_size - 1}:
                for _ in decryptor.read(read_at, start, start + 1):
                    pass
    except (TamperedKey, TamperedBlob, KeyUnavailable, UnknownKey) as e:
        raise Invalid(f"the copy of blob {sha256} of {domain_key} does not open with its "
                      f"key on {provider.name}: {e.message}; the rows were not copied") from None
