"""Unwrapped data keys kept in memory for a while, so a hot blob costs no provider round trip.

``CachingKeyProvider`` is a ``KeyProvider`` around any other: ``decrypt_data_key`` answers from a
``TtlCache`` (``packyard/ttl_cache.py``: bounded in entries, least recently used first out,
entries expire), and a key it has just generated or re-wrapped is remembered the same way, since
an upload is usually read soon after. Plaintext keys live only in this process's memory: never
logged (``DataKey`` hides its plaintext from ``repr``), never written to disk.

The cache is keyed by the wrapped key's bytes *and* the context, so a hit is exactly a call the
provider has already answered; a different wrapping or context always reaches the provider.
The price of caching: a key disabled in the provider keeps decrypting cached blobs for up to
``ttl_seconds`` (AWS's own Encryption SDK caches data keys with the same trade-off).
"""

from __future__ import annotations

from packyard.crypto.context import EncryptionContext
from packyard.crypto.keys import DataKey, KeyDescription, KeyProvider, WrappedKey
from packyard.ttl_cache import TtlCache

DEFAULT_TTL_SECONDS = 300.0
DEFAULT_MAX_ENTRIES = 10_000  # ~32 bytes of key each, plus the wrapped form as the cache key

_CacheKey = tuple[str, int | None, bytes, EncryptionContext]


def _cache_key(wrapped: WrappedKey, context: EncryptionContext) -> _CacheKey:
    return (wrapped.key_id, wrapped.key_version, wrapped.ciphertext, context)


class CachingKeyProvider:
    """A ``KeyProvider`` that remembers unwrapped data keys for ``ttl_seconds``."""

    def __init__(self, inner: KeyProvider, *, ttl_seconds: float = DEFAULT_TTL_SECONDS,
                 max_entries: int = DEFAULT_MAX_ENTRIES,
                 cache: TtlCache[_CacheKey, bytes] | None = None) -> None:
        self.inner = inner
        # ``is None``, not ``or``: an empty cache is falsy (it has a length).
        self.cache: TtlCache[_CacheKey, bytes] = cache if cache is not None else TtlCache(
            ttl_seconds=ttl_seconds, max_entries=max_entries)

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def supports_aliases(self) -> bool:
        return self.inner.supports_aliases

    def create_key(self, *, description: str = "", alias: str | None = None) -> KeyDescription:
        return self.inner.create_key(description=description, alias=alias)

    def describe_key(self, key_ref: str) -> KeyDescription:
        return self.inner.describe_key(key_ref)

    def generate_data_key(self, key_ref: str, context: EncryptionContext) -> DataKey:
        data_key = self.inner.generate_data_key(key_ref, context)
        self.cache.put(_cache_key(data_key.wrapped, context), data_key.plaintext)
        return data_key

    def wrap_data_key(self, key_ref: str, plaintext: bytes,
                      context: EncryptionContext) -> WrappedKey:
        wrapped = self.inner.wrap_data_key(key_ref, plaintext, context)
        self.cache.put(_cache_key(wrapped, context), plaintext)
        return wrapped

    def decrypt_data_key(self, wrapped: WrappedKey, context: EncryptionContext) -> bytes:
        return self.cache.get_or_load(_cache_key(wrapped, context),
                                      lambda: self.inner.decrypt_data_key(wrapped, context))

    def rewrap(self, wrapped: WrappedKey, context: EncryptionContext) -> WrappedKey:
        rewrapped = self.inner.rewrap(wrapped, context)
        plaintext = self.cache.get(_cache_key(wrapped, context))
        if plaintext is not None:
            self.cache.put(_cache_key(rewrapped, context), plaintext)
        self.cache.discard(_cache_key(wrapped, context))
        return rewrapped

    def rotate(self, key_ref: str) -> KeyDescription:
        return self.inner.rotate(key_ref)
