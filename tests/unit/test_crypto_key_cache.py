"""The data-key cache: bounded in time and entries, keyed by exactly what the provider answered."""

from __future__ import annotations

from pathlib import Path

from packyard.crypto.context import EncryptionContext
from packyard.crypto.key_cache import CachingKeyProvider
from packyard.crypto.keyring import LocalKeyring
from packyard.crypto.keys import WrappedKey
from packyard.ttl_cache import TtlCache

CONTEXT = EncryptionContext("d1", "f0" * 32)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Counting(LocalKeyring):
    unwraps = 0

    def decrypt_data_key(self, wrapped: WrappedKey, context: EncryptionContext) -> bytes:
        self.unwraps += 1
        return super().decrypt_data_key(wrapped, context)


def _cached(tmp_path: Path, clock: Clock, entries: int = 10) -> tuple[CachingKeyProvider, Counting]:
    inner = Counting(tmp_path / "keyring.json")
    cache: TtlCache[tuple[str, int | None, bytes, EncryptionContext], bytes] = TtlCache(
        ttl_seconds=30, max_entries=entries, monotonic=clock)
    return CachingKeyProvider(inner, cache=cache), inner


def test_a_generated_key_is_cached_for_its_first_read(tmp_path: Path) -> None:
    cached, inner = _cached(tmp_path, Clock())
    key = cached.create_key()
    data_key = cached.generate_data_key(key.key_id, CONTEXT)
    assert cached.decrypt_data_key(data_key.wrapped, CONTEXT) == data_key.plaintext
    assert inner.unwraps == 0


def test_entries_expire_after_the_ttl(tmp_path: Path) -> None:
    clock = Clock()
    cached, inner = _cached(tmp_path, clock)
    data_key = inner.generate_data_key(inner.create_key().key_id, CONTEXT)
    cached.decrypt_data_key(data_key.wrapped, CONTEXT)
    clock.now = 29
    cached.decrypt_data_key(data_key.wrapped, CONTEXT)
    assert inner.unwraps == 1
    clock.now = 31
    cached.decrypt_data_key(data_key.wrapped, CONTEXT)
    assert inner.unwraps == 2


def test_the_cache_holds_at_most_its_bound(tmp_path: Path) -> None:
    cached, inner = _cached(tmp_path, Clock(), entries=3)
    key = inner.create_key()
    wrapped = [inner.generate_data_key(key.key_id, CONTEXT).wrapped for _ in range(5)]
    for w in wrapped:
        cached.decrypt_data_key(w, CONTEXT)
    assert len(cached.cache) == 3
    cached.decrypt_data_key(wrapped[0], CONTEXT)  # the oldest went first
    assert inner.unwraps == 6


def test_a_rewrapped_key_is_found_under_its_new_wrapping(tmp_path: Path) -> None:
    cached, inner = _cached(tmp_path, Clock())
    key = cached.create_key()
    data_key = cached.generate_data_key(key.key_id, CONTEXT)
    cached.rotate(key.key_id)
    rewrapped = cached.rewrap(data_key.wrapped, CONTEXT)
    assert cached.decrypt_data_key(rewrapped, CONTEXT) == data_key.plaintext
    assert inner.unwraps == 1  # the rewrap's own unwrap, not the read
