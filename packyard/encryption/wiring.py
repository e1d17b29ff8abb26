"""Encryption at rest as ``bootstrap`` wires it from the settings: the key provider, the domains'
keys, and the encrypting blob store over whichever backend ``PACKYARD_BLOB_STORE`` names."""

from __future__ import annotations

from dataclasses import dataclass

from packyard.crypto.keys import KeyProvider
from packyard.encryption.blob_store import EncryptingBlobStore
from packyard.encryption.providers import DomainKeys, open_key_provider
from packyard.errors import CannotStart
from packyard.metadata.catalog import Catalog
from packyard.metadata.engine import backend_name
from packyard.settings import Settings
from packyard.storage.blobs import BlobStore


@dataclass
class Encryption:
    """What encryption at rest adds to a process: None of it when ``PACKYARD_ENCRYPTION=off``."""

    provider: KeyProvider
    keys: DomainKeys
    blobs: EncryptingBlobStore


def wire_encryption(settings: Settings, catalog: Catalog,
                    inner: BlobStore) -> Encryption | None:
    """The encrypting store over ``inner`` (on), or None (off: refused once blobs are
    encrypted, which a plain store could not read)."""
    if settings.encryption == "off":
        if catalog.data_key_count():
            raise CannotStart("PACKYARD_ENCRYPTION=off, but this data directory holds "
                              "encrypted blobs that only encryption can read: set "
                              "PACKYARD_ENCRYPTION=on")
        return None
    if settings.key_provider == "local" and backend_name(
            settings.effective_database_url) == "postgresql":
        # Each replica would make its own keyring.json: a blob one wrote, the others could
        # not open (docs/decisions/0015).
        raise CannotStart("encryption at rest with PACKYARD_KEY_PROVIDER=local keeps keys in "
                          "each data directory, which replicas on one PostgreSQL database "
                          "cannot share: set PACKYARD_KEY_PROVIDER=transit or kms (or "
                          "PACKYARD_ENCRYPTION=off)")
    provider = open_key_provider(settings)
    keys = DomainKeys(provider, catalog, settings.default_encryption_key)
    blobs = EncryptingBlobStore(inner, catalog, provider, keys,
                                cache_seconds=settings.data_key_cache_seconds)
    return Encryption(provider, keys, blobs)
