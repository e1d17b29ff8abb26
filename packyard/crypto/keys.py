"""Envelope keys: the ``KeyProvider`` interface and the records it deals in.

Each blob has its own random 256-bit data key (``stream.py`` encrypts the blob with it). The data
key is stored only wrapped, in the catalog, by a key-encryption key (KEK) that a provider keeps:
the local keyring (``keyring.py``, the default), Vault/OpenBao transit (``transit.py``) or AWS KMS
(``kms.py``). Each wrapping is bound to the blob's ``EncryptionContext`` (domain, sha256), so a
wrapped key copied to another blob's row does not unwrap.

A data key made by one provider can be wrapped by another (``wrap_data_key``): that is how an
install moves off the local keyring without rewriting a blob.

KEKs are versioned: ``rotate`` makes a new version that wraps every new data key, while the old
versions still unwrap what they wrapped until ``rewrap`` has moved each wrapped key to the new
one (no blob is rewritten: the data key itself stays). AWS KMS keeps its versions (backing keys)
to itself, so there ``key_version`` is None and rotation is AWS's business.

Every provider passes ``tests/conformance/key_providers/test_contract.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

from packyard.crypto.context import EncryptionContext
from packyard.crypto.errors import KeyUnavailable

DATA_KEY_SIZE = 32


@dataclass(frozen=True, slots=True)
class WrappedKey:
    """A data key as stored in the catalog, with the KEK that wrapped it."""

    key_id: str  # the KEK's canonical id: keyring UUID, transit key name, KMS key ARN
    key_version: int | None  # the KEK version that wrapped it; None where the provider hides it
    ciphertext: bytes  # the provider's own form (keyring: 65 bytes; transit: b"vault:vN:..."; KMS blob)


@dataclass(frozen=True, slots=True)
class DataKey:
    """A fresh data key: the plaintext to encrypt one blob with, and its wrapped form to store."""

    plaintext: bytes = field(repr=False)
    wrapped: WrappedKey


@dataclass(frozen=True, slots=True)
class KeyDescription:
    """What a provider says about one KEK (``DescribeKey``'s ``KeyMetadata``, in short)."""

    key_id: str
    provider: str
    enabled: bool
    current_version: int | None  # the version new data keys are wrapped with
    versions: tuple[int, ...]  # every version that still unwraps; () where the provider hides them
    aliases: tuple[str, ...] = ()
    arn: str | None = None
    description: str = ""
    created_at: datetime | None = None
    state: str | None = None  # the provider's own word for it (KMS's KeyState: PendingDeletion)


class KeyProvider(Protocol):
    """Keeps KEKs and wraps, unwraps and re-wraps data keys with them.

    ``key_ref`` is whatever names a key in this provider: an id, an ARN, or an ``alias/...``
    where the provider has aliases. Failures are ``crypto.errors``: ``UnknownKey`` (no such key),
    ``TamperedKey`` (the wrapped key does not unwrap under this context and key),
    ``KeyUnavailable`` (disabled, denied, unreachable).
    """

    @property
    def name(self) -> str:
        """``local``, ``transit`` or ``kms``: recorded beside each wrapped key."""
        ...

    @property
    def supports_aliases(self) -> bool: ...

    def create_key(self, *, description: str = "", alias: str | None = None) -> KeyDescription:
        """A new KEK (version 1), optionally under an alias (``alias/...``)."""
        ...

    def describe_key(self, key_ref: str) -> KeyDescription: ...

    def generate_data_key(self, key_ref: str, context: EncryptionContext) -> DataKey:
        """A new random 256-bit data key, and that key wrapped by the KEK's current version for
        ``context``."""
        ...

    def decrypt_data_key(self, wrapped: WrappedKey, context: EncryptionContext) -> bytes:
        """The plaintext data key of ``wrapped``, if it was wrapped for ``context``."""
        ...

    def wrap_data_key(self, key_ref: str, plaintext: bytes,
                      context: EncryptionContext) -> WrappedKey:
        """A data key made elsewhere wrapped by the KEK's current version for ``context``
        (``packyard migrate-storage`` moving data keys off the local keyring, which only it
        can unwrap, onto transit or KMS); it then unwraps as a ``generate_data_key`` one does."""
        ...

    def rewrap(self, wrapped: WrappedKey, context: EncryptionContext) -> WrappedKey:
        """The same data key wrapped by the KEK's current version (rotation's background work);
        the plaintext key never leaves the provider where it can help it (transit, KMS)."""
        ...

    def rotate(self, key_ref: str) -> KeyDescription:
        """Make a new KEK version the current one; older versions keep unwrapping."""
        ...


@runtime_checkable
class UnwrapsNow(Protocol):
    """A ``KeyProvider`` that can unwrap a data key on the caller's thread without waiting
    (its KEKs in this process's memory: the local keyring), for the event loop's first read of
    a small encrypted file. KMS and transit are round trips and have no such method."""

    def decrypt_data_key_now(self, wrapped: WrappedKey, context: EncryptionContext
                             ) -> bytes | None:
        """``decrypt_data_key`` when it needs no waiting (no lock another thread holds, no
        file to read again); None otherwise, and on any failure, which
        ``decrypt_data_key`` then raises."""
        ...


def check_data_key(plaintext: bytes, provider: str) -> bytes:
    """Refuse a provider's answer that is not a 256-bit key (a misconfigured key spec)."""
    if len(plaintext) != DATA_KEY_SIZE:
        raise KeyUnavailable(f"the {provider} key provider returned a {len(plaintext)}-byte "
                             f"data key, not {DATA_KEY_SIZE}")
    return plaintext
