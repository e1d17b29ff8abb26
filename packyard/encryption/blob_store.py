"""``EncryptingBlobStore``: a ``BlobStore`` that keeps every blob encrypted in another one.

Each blob of a domain is stored as a segmented AEAD stream (``crypto/stream.py``: Tink's
AES-GCM-HKDF-Streaming layout, 64 KiB segments) under its own random data key, with associated
data binding it to its domain and sha256 (``crypto/context.py``). The data key is kept only
wrapped, in the catalog (``metadata/data_keys.py``), by the domain's key-encryption key.

Where things are in the inner store:

- ciphertext under ``<domain-key>.enc/<sha[:2]>/<sha256>``, named by the *plaintext's* sha256,
  so content addressing and dedupe within a domain work as before;
- blobs stored before encryption was on stay plain under ``<domain-key>/...`` and are read as
  they are, but only while the catalog has no data key for them: once ``packyard encrypt`` has
  encrypted one (``encryption/migration.py``), a plain copy is never served again;
- staged uploads: plain, in the staging folder, for as long as the upload is inspected (seconds),
  and removed at commit (``docs/decisions/0001``, "Staging").

Writes (``commit``): the staged plaintext was hashed as it arrived; the catalog decides the one
data key of (domain, sha256) (the first writer's, ``Catalog.add_data_key``), then the plaintext
is read once more, hashed again while it is encrypted into a new inner staged write (a staged
file changed since it was hashed is refused), and that is committed under the plaintext's
sha256. A pull, whose sha256 its upstream declared before the first byte, is encrypted as it
is written instead (``stage(expected=...)``, ``sealed_while_written.py``): its key is proposed
to the catalog at commit, and when it is the first the ciphertext is committed as it is
(``docs/decisions/0020``). The order is key row, ciphertext, then (the caller's) asset rows.
The key row's commit does not wait for the disk on its own (``add_data_key(durable=False)``): the asset rows' commit
flushes it with them, which saves an upload one database flush per blob. A killed process loses
nothing; a power loss between the ciphertext and the asset rows can leave ciphertext that no row
opens and no asset names, which the next upload of the same bytes replaces (``_seal``).

Reads (``read``): the row is looked up and its key unwrapped once, then kept in memory for
``cache_seconds``; a range reads the stream header and the segments covering it. The ciphertext
size follows from the recorded plaintext size, and a read reaching the last segment asks for one
byte more, so truncation and appended bytes are caught. A segment that does not authenticate
raises ``TamperedBlob`` (logged, naming domain and sha256) before any of its bytes go out.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import logging
import os
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Protocol

import anyio

from packyard.crypto.context import EncryptionContext
from packyard.crypto.errors import KeyUnavailable, TamperedBlob, UnknownKey
from packyard.crypto.keys import DataKey, KeyProvider, UnwrapsNow, WrappedKey
from packyard.crypto.stream import (
    LAYOUT,
    Layout,
    StreamDecryptor,
    StreamEncryptor,
    decrypt_bytes,
)
from packyard.encryption.read_ahead import LongReads, SharedFile
from packyard.encryption.sealed_while_written import MadeKey, SealedWhileWritten
from packyard.errors import NotFound
from packyard.metadata.catalog import StoredDataKey
from packyard.metadata.point_reads import WouldWait
from packyard.model import Domain
from packyard.storage.blobs import (
    LIST_PAGE,
    BlobStore,
    Digests,
    ExpectedBlob,
    Hasher,
    StagedBlob,
    StoredBlob,
    check_blob_key,
    listed_domains,
    side_by_side,
)
from packyard.storage.read_cache import CachingBlobStore
from packyard.thread_hop import ThreadHop
from packyard.ttl_cache import TtlCache

log = logging.getLogger("packyard.encryption")

SEALED_SUFFIX = ".enc"
_CHUNK = 1024 * 1024
_INLINE_PREAD = 256 * 1024  # smaller reads of a local file are done on the event loop
_AHEAD_FROM = 1024 * 1024  # longer reads of a local file are decrypted ahead, in a worker thread


def sealed_partition(domain_key: str) -> str:
    """The inner store's partition holding a domain's ciphertext."""
    return domain_key + SEALED_SUFFIX


class DataKeyCatalog(Protocol):
    """What this store needs of the catalog (``Catalog`` has it all)."""

    def data_key(self, domain_id: int, sha256: str) -> StoredDataKey | None: ...

    def data_key_now(self, domain_id: int, sha256: str) -> StoredDataKey | None:
        """``data_key`` without waiting, or ``WouldWait``."""
        ...

    def add_data_key(self, key: StoredDataKey, now: datetime, *,
                     durable: bool = True) -> tuple[StoredDataKey, bool]: ...

    def add_data_keys(self, keys: Sequence[StoredDataKey], now: datetime, *,
                      durable: bool = True) -> list[tuple[StoredDataKey, bool]]: ...

    def delete_data_key(self, domain_id: int, sha256: str) -> None: ...


class KeyChooser(Protocol):
    """Which KEK a domain's new data keys are wrapped with (``providers.DomainKeys``)."""

    def kek_of(self, domain_id: int) -> str: ...


@dataclass(frozen=True, slots=True)
class OpenedKey:
    """A blob's unwrapped data key and what reading it needs; in memory only."""

    data_key: bytes
    associated_data: bytes
    plaintext_size: int
    ciphertext_size: int


def key_gone(provider: str, key_id: str, context: EncryptionContext) -> KeyUnavailable:
    """The provider no longer has a key the catalog names (deleted in transit or KMS): the
    server's fault, not a missing file (a ``NotFound`` would answer 404 for a file the index
    lists, and ``packyard verify`` would count it missing while its bytes are there)."""
    return KeyUnavailable(
        f"The {provider} key {key_id!r} no longer exists at the key provider (it wraps the data "
        f"key of blob {context.sha256}): restore it there, from the provider's backup; the "
        "files it wraps cannot be read, nor new ones written, without it",
        resource_id=key_id, resource_type="key")


class EncryptingBlobStore:
    """A ``BlobStore`` encrypting into ``inner`` (see the module docstring)."""

    def __init__(self, inner: BlobStore, catalog: DataKeyCatalog, provider: KeyProvider,
                 keys: KeyChooser, *, cache_seconds: float = 300.0,
                 layout: Layout = LAYOUT) -> None:
        self.inner = inner
        self._catalog = catalog
        self._provider = provider
        self._keys = keys
        self._layout = layout
        # Unwrapping on the caller's thread, where the provider can without waiting.
        self._unwrap_now = provider.decrypt_data_key_now if isinstance(provider, UnwrapsNow) \
            else None
        # Unwrapped data keys by (domain, sha256): never written anywhere.
        self._opened: TtlCache[tuple[str, str], OpenedKey] = TtlCache(
            ttl_seconds=cache_seconds, max_entries=10_000)
        # Long reads of local files under way (``_read_file``: only one alone decrypts
        # ahead, in these threads).
        self._long_reads = LongReads()
        self._decrypting = ThreadHop(max_workers=2, name="packyard-decrypt")

    # -- keys ----------------------------------------------------------------------------------

    def _opened_key(self, row: StoredDataKey, context: EncryptionContext) -> OpenedKey:
        try:
            data_key = self._provider.decrypt_data_key(
                WrappedKey(row.key_id, row.key_version, row.wrapped), context)
        except UnknownKey:
            raise key_gone(self._provider.name, row.key_id, context) from None
        return self._opened_with(row, context, data_key)

    def _generate(self, kek: str, context: EncryptionContext) -> DataKey:
        try:
            return self._provider.generate_data_key(kek, context)
        except UnknownKey:
            raise key_gone(self._provider.name, kek, context) from None

    def _opened_with(self, row: StoredDataKey, context: EncryptionContext,
                     data_key: bytes) -> OpenedKey:
        return OpenedKey(data_key, context.blob_associated_data(), row.plaintext_size,
                         self._layout.ciphertext_size(row.plaintext_size))

    def open_key(self, domain_key: str, sha256: str) -> OpenedKey | None:
        """The blob's data key, or None when it has none (a blob stored plain)."""
        check_blob_key(domain_key, sha256)
        cached = self._opened.get((domain_key, sha256))
        if cached is not None:
            return cached
        row = self._catalog.data_key(Domain.id_of_blob_key(domain_key), sha256)
        if row is None:
            return None
        opened = self._opened_key(row, EncryptionContext(domain_key, sha256))
        self._opened.put((domain_key, sha256), opened)
        return opened

    def _open_key_now(self, domain_key: str, sha256: str) -> OpenedKey | None:
        """``open_key`` on the caller's thread: the key open in memory, else its row by a
        point read and unwrapped by a provider that can without waiting (the local keyring);
        ``WouldWait`` when either would wait (PostgreSQL, KMS, transit, a busy keyring)."""
        cached = self._opened.get((domain_key, sha256))
        if cached is not None:
            return cached
        if self._unwrap_now is None:
            raise WouldWait
        row = self._catalog.data_key_now(Domain.id_of_blob_key(domain_key), sha256)
        if row is None:
            return None
        context = EncryptionContext(domain_key, sha256)
        data_key = self._unwrap_now(WrappedKey(row.key_id, row.key_version, row.wrapped),
                                    context)
        if data_key is None:
            raise WouldWait
        opened = self._opened_with(row, context, data_key)
        self._opened.put((domain_key, sha256), opened)
        return opened

    async def _open_key_async(self, domain_key: str, sha256: str) -> OpenedKey | None:
        cached = self._opened.get((domain_key, sha256))
        if cached is not None:
            return cached
        return await anyio.to_thread.run_sync(self.open_key, domain_key, sha256)

    def _decide_key(self, domain_key: str, sha256: str, size: int) -> tuple[OpenedKey, bool]:
        """The one data key of (domain, sha256): the one recorded, or a new one recorded now
        (then True). A new blob's key costs the catalog one write and no read before it:
        ``add_data_key`` returns the row already there, if any (the rare upload of bytes the
        domain holds but this process has not opened lately then costs one provider call
        more, for the key it does not keep)."""
        check_blob_key(domain_key, sha256)
        opened = self._opened.get((domain_key, sha256))
        if opened is not None:
            return opened, False
        context, plaintext, key = self._new_key(domain_key, sha256, size)
        # Not flushed on its own: the asset rows' commit, after the ciphertext is durable,
        # flushes it with them. Before that, only a power loss can lose it, leaving ciphertext
        # no row opens, which the next upload of these bytes replaces (``_seal``).
        row, ours = self._catalog.add_data_key(key, datetime.now(UTC), durable=False)
        return self._decided(domain_key, context, plaintext, size, row, ours)

    def _new_key(self, domain_key: str, sha256: str, size: int
                 ) -> tuple[EncryptionContext, bytes, StoredDataKey]:
        """A fresh data key for a blob: its context, its plaintext and the row recording it."""
        domain_id = Domain.id_of_blob_key(domain_key)
        context = EncryptionContext(domain_key, sha256)
        fresh = self._generate(self._keys.kek_of(domain_id), context)
        wrapped = fresh.wrapped
        return context, fresh.plaintext, StoredDataKey(
            domain_id, sha256, self._provider.name, wrapped.key_id, wrapped.key_version,
            wrapped.ciphertext, size)

    def _decided(self, domain_key: str, context: EncryptionContext, plaintext: bytes,
                 size: int, row: StoredDataKey, ours: bool) -> tuple[OpenedKey, bool]:
        """The key the catalog kept for a blob: ours (``plaintext``, remembered), or the one
        another writer recorded first."""
        if not ours:
            return self._opened_key(row, context), False
        opened = OpenedKey(plaintext, context.blob_associated_data(), size,
                           self._layout.ciphertext_size(size))
        self._opened.put((domain_key, context.sha256), opened)
        return opened, True

    def _decide_keys(self, domain_key: str, blobs: Sequence[Digests],
                     made: Sequence[MadeKey | None]) -> list[tuple[OpenedKey, bool]]:
        """``_decide_key`` for several blobs, with one catalog write for all the new keys
        (``commit_many``: a pulled wheel and its metadata file). ``made``: a blob's key made
        already (its ciphertext written with the download: ``SealedWhileWritten``), proposed
        instead of a new one."""
        decided: list[tuple[OpenedKey, bool] | None] = []
        new: list[tuple[int, EncryptionContext, bytes, StoredDataKey]] = []
        for blob, ready in zip(blobs, made, strict=True):
            check_blob_key(domain_key, blob.sha256)
            opened = self._opened.get((domain_key, blob.sha256))
            decided.append(None if opened is None else (opened, False))
            if opened is None:
                new.append((len(decided) - 1, ready.context, ready.data_key,
                            self._wrapped_now(ready))
                           if ready is not None else
                           (len(decided) - 1, *self._new_key(domain_key, blob.sha256, blob.size)))
        if new:
            # Not flushed on its own, as in ``_decide_key``.
            rows = self._catalog.add_data_keys([key for *_, key in new], datetime.now(UTC),
                                               durable=False)
            for (index, context, plaintext, key), (row, ours) in zip(new, rows, strict=True):
                decided[index] = self._decided(domain_key, context, plaintext,
                                               key.plaintext_size, row, ours)
        return [found for found in decided if found is not None]

    # -- writing -------------------------------------------------------------------------------

    def stage(self, *, batched: bool = False, expected: ExpectedBlob | None = None,
              scratch: bool = False) -> StagedBlob:
        # The plaintext is never committed as it is, so it needs no flush of its own, and
        # never goes to the disk as it is written.
        plain = self.inner.stage(batched=True, scratch=True)
        if expected is None:
            return plain
        # Bytes whose sha256 is known before they arrive (a pull): encrypted as written.
        return SealedWhileWritten(plain, expected, self._start_sealing, self.inner.discard)

    def _start_sealing(self, expected: ExpectedBlob
                       ) -> tuple[MadeKey, StagedBlob, StreamEncryptor]:
        """For ``SealedWhileWritten``: a fresh data key for bytes expected to be ``expected``
        (recorded only if the commit uses it), the inner staged write for their ciphertext and
        the encryptor writing into it."""
        context, plaintext, row = self._new_key(expected.domain_key, expected.sha256, 0)
        out = self.inner.stage(batched=True)
        out.name_as(expected.sha256)
        return (MadeKey(context, plaintext, row), out,
                StreamEncryptor(plaintext, context.blob_associated_data(), out.write,
                                layout=self._layout))

    def _wrapped_now(self, made: MadeKey) -> StoredDataKey:
        """``made``'s row, its data key wrapped again under the KEK's current version. It was
        made when the bytes began to arrive: a ``packyard keys rotate`` that ran while they came
        could not see it, and may have retired the version that wrapped it. A provider whose
        keys have no versions (KMS: rotation is AWS's, and what a key wrapped stays unwrappable)
        is not asked again: the row is kept as made."""
        if made.row.key_version is None:
            return made.row
        try:
            wrapped = self._provider.wrap_data_key(made.row.key_id, made.data_key, made.context)
        except UnknownKey:
            raise key_gone(self._provider.name, made.row.key_id, made.context) from None
        return replace(made.row, key_id=wrapped.key_id, key_version=wrapped.key_version,
                       wrapped=wrapped.ciphertext)

    def _made_key(self, staged: StagedBlob, digests: Digests,
                  domain_key: str) -> MadeKey | None:
        """The key ``staged``'s ciphertext was made under while it was written, when it can be
        the blob's: made for these bytes in this domain."""
        if not isinstance(staged, SealedWhileWritten) \
                or staged.expected.domain_key != domain_key:
            return None
        return staged.made_key(digests)

    def _seal(self, source: Path | bytes, digests: Digests, domain_key: str, *,
              batched: bool, decided: tuple[OpenedKey, bool] | None = None,
              staged: StagedBlob | None = None) -> StagedBlob | None:
        """The ciphertext of ``source``, staged in the inner store and named by the
        plaintext's sha256; None when the domain already holds it under its key. ``decided``:
        its key as ``_decide_key`` gives it, decided already (``_decide_keys``). ``staged``: the
        write ``source`` is, whose ciphertext made as it was written (``SealedWhileWritten``)
        is taken as it is when its key is the one decided."""
        sha256 = digests.sha256
        opened, fresh = decided if decided is not None else self._decide_key(
            domain_key, sha256, digests.size)
        target = sealed_partition(domain_key)
        if self.inner.exists(target, sha256):
            if not fresh:
                return None
            # Ours is the first key of these bytes, so what is there is ciphertext under a key
            # nobody has any more (its domain was deleted, or a crash came between): replace it.
            self.inner.delete(target, sha256)
        elif not fresh:
            # A key this process remembers, but no ciphertext: the blob was swept, perhaps by
            # another process, which deleted its key row too. Decide the key through the
            # catalog again rather than write bytes under a key no row may hold any more.
            self._opened.discard((domain_key, sha256))
            opened, fresh = self._decide_key(domain_key, sha256, digests.size)
        if fresh and isinstance(staged, SealedWhileWritten):
            # Made from the very bytes that were hashed: nothing to read or check again.
            taken = staged.take_ciphertext(opened.data_key)
            if taken is not None:
                return taken
        out = self.inner.stage(batched=batched)
        try:
            out.name_as(sha256)
            check = hashlib.sha256()
            with StreamEncryptor(opened.data_key, opened.associated_data, out.write,
                                 layout=self._layout) as encryptor:
                if isinstance(source, bytes):
                    check.update(source)
                    encryptor.write(source)
                else:
                    with source.open("rb") as plain:
                        while chunk := plain.read(_CHUNK):
                            # The check on a helper thread while this one encrypts.
                            side_by_side(partial(check.update, chunk),
                                         partial(encryptor.write, chunk), size=len(chunk))
            if check.hexdigest() != sha256:
                raise ValueError(f"the staged file for {sha256} changed after it was hashed")
        except BaseException:
            self.inner.discard(out)
            raise
        return out

    def commit(self, staged: StagedBlob, domain_key: str) -> Digests:
        digests = staged.digests()
        try:
            made = self._made_key(staged, digests, domain_key)
            decided = None if made is None else self._decide_keys(domain_key, [digests],
                                                                  [made])[0]
            # Not flushed on its own: the inner store's commit flushes it (with the commits
            # running at the same moment, where it groups them).
            sealed = self._seal(staged.local_path, digests, domain_key, batched=True,
                                decided=decided, staged=staged)
            if sealed is not None:
                try:
                    self.inner.commit(sealed, sealed_partition(domain_key))
                except BaseException:
                    # The inner store leaves a failed commit's file to its caller (the store
                    # down, the disk full): the ciphertext is this one's to discard.
                    self.inner.discard(sealed)
                    raise
        finally:
            _done_with(staged)
        return digests

    def commit_many(self, staged: Sequence[StagedBlob], domain_key: str) -> list[Digests]:
        digests = [blob.digests() for blob in staged]
        sealed: list[StagedBlob] = []
        try:
            made = [self._made_key(blob, digest, domain_key)
                    for blob, digest in zip(staged, digests, strict=True)]
            # Every new key in one catalog write.
            keys = self._decide_keys(domain_key, digests, made)
            for blob, digest, decided in zip(staged, digests, keys, strict=True):
                out = self._seal(blob.local_path, digest, domain_key, batched=True,
                                 decided=decided, staged=blob)
                if out is not None:
                    sealed.append(out)
            # One flush for the whole batch, as the inner store does it.
            self.inner.commit_many(sealed, sealed_partition(domain_key))
        except BaseException:
            for out in sealed:
                self.inner.discard(out)
            raise
        finally:
            for blob in staged:
                _done_with(blob)
        return digests

    def discard(self, staged: StagedBlob) -> None:
        self.inner.discard(staged)

    def put_bytes(self, data: bytes, domain_key: str) -> Digests:
        hasher = Hasher()
        hasher.update(data)
        digests = hasher.digests()
        check_blob_key(domain_key, digests.sha256)
        sealed = self._seal(bytes(data), digests, domain_key, batched=True)
        if sealed is not None:
            self.inner.commit(sealed, sealed_partition(domain_key))
        return digests

    # -- encrypting what was stored plain (``packyard encrypt``) -------------------------------

    def encrypt_plain(self, domain_key: str, sha256: str, *, remove_plain: bool = True) -> str:
        """Encrypt one blob stored before encryption was on, in the order that keeps it
        readable at every step, crash or not: the encrypted copy is written, then its key row
        committed (from here on reads decrypt), then the plain file removed (unless not
        ``remove_plain``: a reader that found no key a moment earlier is opening it). Returns
        ``encrypted``, ``done`` (it had its row already), ``missing`` (no plain file either) or
        ``corrupt`` (the plain file's bytes are not its sha256; left as it is)."""
        target = sealed_partition(domain_key)
        if self.open_key(domain_key, sha256) is not None:
            if self.inner.exists(target, sha256):
                self.inner.delete(domain_key, sha256)
                return "done"
        elif not self.inner.exists(domain_key, sha256):
            return "missing"
        source, spooled = self._plain_source(domain_key, sha256)
        try:
            size = source.stat().st_size
            domain_id = Domain.id_of_blob_key(domain_key)
            context = EncryptionContext(domain_key, sha256)
            row = self._catalog.data_key(domain_id, sha256)
            if row is not None:
                opened = self._opened_key(row, context)
            else:
                fresh = self._generate(self._keys.kek_of(domain_id), context)
                opened = OpenedKey(fresh.plaintext, context.blob_associated_data(), size,
                                   self._layout.ciphertext_size(size))
            if not self._replace_ciphertext(source, opened, domain_key, sha256):
                return "corrupt"
            if row is None:
                wrapped = fresh.wrapped
                row, ours = self._catalog.add_data_key(StoredDataKey(
                    domain_id, sha256, self._provider.name, wrapped.key_id,
                    wrapped.key_version, wrapped.ciphertext, size), datetime.now(UTC))
                if not ours:
                    # An upload of the same bytes recorded its key first: ciphertext under it.
                    self._replace_ciphertext(source, self._opened_key(row, context),
                                             domain_key, sha256)
        finally:
            if spooled:
                source.unlink(missing_ok=True)
        if remove_plain:
            self.inner.delete(domain_key, sha256)
        return "encrypted"

    def _plain_source(self, domain_key: str, sha256: str) -> tuple[Path, bool]:
        """A local file with the plain blob's bytes: its own file, or a staged copy."""
        path = self.inner.local_path(domain_key, sha256)
        if path is not None:
            return path, False
        staged = self.inner.stage(batched=True, scratch=True)

        async def copy() -> None:
            async for chunk in self.inner.read(domain_key, sha256):
                staged.write(chunk)

        try:
            anyio.run(copy)
            staged.digests()
        except BaseException:
            self.inner.discard(staged)
            raise
        return staged.local_path, True

    def _replace_ciphertext(self, source: Path, opened: OpenedKey, domain_key: str,
                            sha256: str) -> bool:
        target = sealed_partition(domain_key)
        out = self.inner.stage()
        try:
            out.name_as(sha256)
            check = hashlib.sha256()
            with StreamEncryptor(opened.data_key, opened.associated_data, out.write,
                                 layout=self._layout) as encryptor, source.open("rb") as plain:
                while chunk := plain.read(_CHUNK):
                    check.update(chunk)
                    encryptor.write(chunk)
            if check.hexdigest() != sha256:
                self.inner.discard(out)
                return False
            # What is there is ciphertext no row opens (a run killed before its row), or under
            # another key than the one recorded: replaced.
            self.inner.delete(target, sha256)
            self.inner.commit(out, target)
        except BaseException:
            self.inner.discard(out)
            raise
        return True

    # -- reading -------------------------------------------------------------------------------

    def exists(self, domain_key: str, sha256: str) -> bool:
        if self.open_key(domain_key, sha256) is not None:
            return self.inner.exists(sealed_partition(domain_key), sha256)
        return self.inner.exists(domain_key, sha256)

    def size(self, domain_key: str, sha256: str) -> int:
        opened = self.open_key(domain_key, sha256)
        if opened is None:
            return self.inner.size(domain_key, sha256)
        self.inner.size(sealed_partition(domain_key), sha256)  # NotFound when it is gone
        return opened.plaintext_size

    def local_path(self, domain_key: str, sha256: str) -> Path | None:
        # Ciphertext is no file to send; a blob not encrypted yet is sent from its file.
        if self.open_key(domain_key, sha256) is not None:
            return None
        return self.inner.local_path(domain_key, sha256)

    def read_small_now(self, domain_key: str, sha256: str, limit: int) -> bytes | None:
        # With the data key opened without waiting (``_open_key_now``); a blob stored plain is
        # read as ``read`` reads it. Anything ``read`` would refuse (truncated, grown,
        # tampered) is left to it, which says so and logs it.
        check_blob_key(domain_key, sha256)
        try:
            opened = self._open_key_now(domain_key, sha256)
        except WouldWait:
            return None
        if opened is None:
            return self.inner.read_small_now(domain_key, sha256, limit)
        if opened.plaintext_size > limit:
            return None
        ciphertext = self.inner.read_small_now(sealed_partition(domain_key), sha256,
                                               opened.ciphertext_size)
        if ciphertext is None or len(ciphertext) != opened.ciphertext_size:
            return None
        try:
            return decrypt_bytes(opened.data_key, opened.associated_data, ciphertext,
                                 plaintext_size=opened.plaintext_size, layout=self._layout)
        except TamperedBlob:
            return None

    async def read(self, domain_key: str, sha256: str, start: int = 0,
                   end: int | None = None) -> AsyncIterator[bytes]:
        opened = await self._open_key_async(domain_key, sha256)
        if opened is None:
            async for chunk in self.inner.read(domain_key, sha256, start, end):
                yield chunk
            return
        decryptor = StreamDecryptor(opened.data_key, opened.associated_data,
                                    opened.ciphertext_size, plaintext_size=opened.plaintext_size,
                                    layout=self._layout)
        target = sealed_partition(domain_key)
        path = self.inner.local_path(target, sha256)
        whole = start == 0 and end in (None, opened.plaintext_size)
        if path is None and whole and isinstance(self.inner, CachingBlobStore):
            # A replica's read cache (S3): a whole download fetches the ciphertext whole into
            # it, then reads it as a local file, as later downloads do, also while the store is
            # down. Range reads go to the store, as they do without encryption.
            path = await self.inner.fetch_whole(target, sha256, opened.ciphertext_size)
        try:
            if path is not None:
                async for piece in self._read_file(decryptor, path, opened, start, end):
                    yield piece
            else:
                async for piece in decryptor.aread_joined(
                        self._remote_reader(target, sha256, opened), start, end):
                    yield piece
        except TamperedBlob as e:
            log.error("blob %s of domain %s failed its integrity check and was not served: %s",
                      sha256, domain_key, e)
            raise TamperedBlob(f"The stored file {sha256} failed its integrity check",
                               resource_id=sha256, resource_type="asset") from None

    async def _read_file(self, decryptor: StreamDecryptor, path: Path, opened: OpenedKey,
                         start: int, end: int | None) -> AsyncIterator[bytes]:
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            raise NotFound(f"No blob {path.name}") from None
        long = (end if end is not None else decryptor.plaintext_size) - start > _AHEAD_FROM
        if long and self._long_reads.begin():
            # The one long read under way: each mebibyte read and decrypted in a worker thread
            # while the one before is sent (``StreamDecryptor.aread_ahead``); beside another,
            # on the event loop as below (``read_ahead.py`` says why).
            file = SharedFile(fd, self._decrypting)

            def exact_at(offset: int, length: int) -> bytes:
                last = offset + length == opened.ciphertext_size
                return _exact(os.pread(fd, length + 1 if last else length, offset), length)

            try:
                async for piece in decryptor.aread_ahead(exact_at, file.run, start, end):
                    yield piece
            finally:
                file.release()
                self._long_reads.end()
            return
        try:
            async def read_at(offset: int, length: int) -> bytes:
                last = offset + length == opened.ciphertext_size
                want = length + 1 if last else length  # one more: appended bytes show
                if want <= _INLINE_PREAD:
                    data = os.pread(fd, want, offset)
                else:
                    data = await anyio.to_thread.run_sync(os.pread, fd, want, offset)
                return _exact(data, length)

            # A piece per read (up to 1 MiB), decrypted into one buffer: one send downstream
            # where a piece per 64 KiB segment cost 16.
            async for piece in decryptor.aread_joined(read_at, start, end):
                yield piece
        finally:
            os.close(fd)
            if long:
                self._long_reads.end()  # counted in by begin() above, but not alone

    def _remote_reader(self, target: str, sha256: str, opened: OpenedKey
                       ) -> _RemoteReadAt:
        return _RemoteReadAt(self.inner, target, sha256, opened.ciphertext_size)

    # -- deleting and recovering ---------------------------------------------------------------

    def delete(self, domain_key: str, sha256: str) -> None:
        # Blob first, then its key: a crash between leaves a key without a blob, which the next
        # upload of those bytes reuses.
        self.delete_bytes(domain_key, sha256)
        self._catalog.delete_data_key(Domain.id_of_blob_key(domain_key), sha256)

    def delete_bytes(self, domain_key: str, sha256: str) -> None:
        """The blob's bytes only, for a caller that deletes its data key row in its own write
        transaction (the blob sweep, ``metadata/blob_sweeps.py``: a second writer here would
        wait for the lock that transaction holds)."""
        self.inner.delete(sealed_partition(domain_key), sha256)
        self.inner.delete(domain_key, sha256)
        self._opened.discard((domain_key, sha256))

    def delete_domain(self, domain_key: str) -> None:
        self.inner.delete_domain(sealed_partition(domain_key))
        self.inner.delete_domain(domain_key)

    def recover(self) -> int:
        return self.inner.recover()

    # -- listing ---------------------------------------------------------------------------------

    def domain_keys(self) -> list[str]:
        return sorted({key.removesuffix(SEALED_SUFFIX) for key in self.inner.domain_keys()})

    def list_blobs(self, domain_key: str | None = None, *,
                   page_size: int = LIST_PAGE) -> Iterator[StoredBlob]:
        """Each blob of the domain once, encrypted or still plain (both when an interrupted
        ``packyard encrypt`` left its plain file: the later time); the inner store's
        ``list_blobs`` says where each file is."""
        for key in listed_domains(self, domain_key):
            both = heapq.merge(
                self.inner.list_blobs(key, page_size=page_size),
                self.inner.list_blobs(sealed_partition(key), page_size=page_size),
                key=lambda blob: blob.sha256)
            for sha256, copies in itertools.groupby(both, key=lambda blob: blob.sha256):
                yield StoredBlob(key, sha256, max(blob.modified for blob in copies))


def _done_with(staged: StagedBlob) -> None:
    """A committed (or failed) staged write's plaintext removed, and a ciphertext made as it
    was written that the commit did not take thrown away."""
    staged.local_path.unlink(missing_ok=True)
    if isinstance(staged, SealedWhileWritten):
        staged.close()


class _RemoteReadAt:
    """``read_at`` over a store's ranged reads (memory, S3)."""

    def __init__(self, inner: BlobStore, target: str, sha256: str, size: int) -> None:
        self._inner, self._target, self._sha256, self._size = inner, target, sha256, size

    async def __call__(self, offset: int, length: int) -> bytes:
        last = offset + length == self._size
        stop = offset + length + (1 if last else 0)
        pieces = [chunk async for chunk in self._inner.read(self._target, self._sha256,
                                                            offset, stop)]
        return _exact(b"".join(pieces), length)


def _exact(data: bytes, length: int) -> bytes:
    if len(data) > length:
        raise TamperedBlob(f"bytes were appended to the ciphertext ({len(data) - length}+)")
    return data
