"""A staged write encrypted as it is written: a pulled file whose upstream declared its sha256.

``EncryptingBlobStore`` stores a blob's ciphertext under a data key bound to the blob's domain
and sha256 (``crypto/context.py``), so it can only start encrypting once it knows the sha256:
an upload's bytes are staged plain, hashed, then read again, checked and encrypted at commit
(``EncryptingBlobStore._seal``), a second pass over every byte (half of a large pull's
commit). A pull knows the sha256 to expect before the first byte, from the upstream's index
page, so ``EncryptingBlobStore.stage(expected=...)`` hands out a ``SealedWhileWritten``: the
plaintext staged as any write is (readers of the download follow it by its path; formats open
it), and beside it the ciphertext, made chunk by chunk under a fresh data key as the bytes are
written. At commit the ciphertext is used as it is when the bytes are the sha256 expected and
the catalog records that key as the blob's first; otherwise (bytes not as declared, a key
recorded already by another writer, the key not made) it is thrown away and the commit
encrypts as it does for an upload. The key is made on the first write (in the writer's
worker thread: a KMS or transit provider asks the network), and recorded only at commit, once
the bytes are verified: a download that fails leaves no row.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Collection
from concurrent.futures import Future
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

from packyard.crypto.context import EncryptionContext
from packyard.crypto.errors import KeyUnavailable
from packyard.crypto.stream import StreamEncryptor
from packyard.errors import PackyardError
from packyard.metadata.data_keys import StoredDataKey
from packyard.storage.blobs import Digests, ExpectedBlob, StagedBlob, on_helper

log = logging.getLogger("packyard.encryption")

# A file's first 8 MiB are encrypted on the writer's thread, the rest on a helper thread, handed
# over a mebibyte at a time: handing small files' reads over cost more CPU than it moved (the
# bench's cold fetch of 61 small wheels: 1.67–1.68 s of server CPU encrypting on the writer's
# thread, 1.77 s handing every network read over, 1.79 s every mebibyte), while a large pull
# encrypted on the writer's thread alone left the second core idle (a 300 MiB wheel: 1.67 →
# 1.51 s and 2.43 → 1.99 s cold with the helper; bench/UPSTREAM.md round 11).
_HELPED_FROM = 8 * 1024 * 1024
_HAND_OVER_AT = 1024 * 1024


@dataclass(frozen=True, slots=True)
class MadeKey:
    """A fresh data key made for a blob not yet written: its context, plaintext and the row
    that would record it (its ``plaintext_size`` set once the size is known)."""

    context: EncryptionContext
    data_key: bytes
    row: StoredDataKey


Start = Callable[[ExpectedBlob], tuple[MadeKey, StagedBlob, StreamEncryptor]]
"""What encrypting as written needs of the store: a fresh key for (domain, sha256), a staged
write of the inner store for the ciphertext (named by the plaintext's sha256), and the
encryptor writing into it."""


class SealedWhileWritten:
    """A ``StagedBlob`` whose bytes are encrypted as they are written (module docstring)."""

    def __init__(self, plain: StagedBlob, expected: ExpectedBlob, start: Start,
                 discard: Callable[[StagedBlob], None]) -> None:
        self._plain = plain
        self.expected = expected
        self._start_sealing = start
        self._discard = discard
        self._key: MadeKey | None = None
        self._ciphertext: StagedBlob | None = None
        self._encryptor: StreamEncryptor | None = None
        self._held: list[bytes] = []  # plaintext not handed over yet
        self._held_size = 0
        self._encrypting: Future[object] | None = None  # the helper's batch under way
        self._given_up = False
        self._finished = False

    # -- the plaintext's side, as any staged write ---------------------------------------------

    @property
    def size(self) -> int:
        return self._plain.size

    @property
    def local_path(self) -> Path:
        return self._plain.local_path

    def flush(self) -> None:
        self._plain.flush()

    def name_as(self, sha256: str) -> None:
        raise RuntimeError("a write sealed as it is written is named by its expected sha256")

    def hash_only(self, digests: Collection[str]) -> None:
        self._plain.hash_only(digests)

    def write(self, chunk: bytes | memoryview) -> None:
        encryptor = self._encryptor if self._encryptor is not None else self._start()
        self._plain.write(chunk)
        if encryptor is None:
            return
        if self._plain.size <= _HELPED_FROM:
            encryptor.write(chunk)
            return
        # Held (a copy only of a view, whose buffer the caller may reuse) until a batch is
        # worth handing over.
        self._held.append(chunk if isinstance(chunk, bytes) else bytes(chunk))
        self._held_size += len(chunk)
        if self._held_size >= _HAND_OVER_AT:
            self._hand_over(encryptor)

    def _hand_over(self, encryptor: StreamEncryptor) -> None:
        """The held plaintext encrypted on a helper thread (its writes let the interpreter lock
        go; it never waits for anything) while this one goes on writing and hashing; one batch
        at a time, so the ciphertext stays in order."""
        held, self._held, self._held_size = self._held, [], 0
        self._wait_for_helper()
        self._encrypting = on_helper(partial(_encrypt_all, encryptor, held))

    def _wait_for_helper(self) -> None:
        """The batch under way finished; its error, if any, raised."""
        encrypting, self._encrypting = self._encrypting, None
        if encrypting is not None:
            encrypting.result()

    def _start(self) -> StreamEncryptor | None:
        if self._given_up or self._plain.size:
            return None  # written to before it could start: the commit encrypts it
        try:
            self._key, self._ciphertext, self._encryptor = self._start_sealing(self.expected)
        except KeyUnavailable as e:
            # The provider down, or the key refused: the commit asks again and most likely
            # fails the same way, its request's line saying why (and an outage's start is
            # logged once): a warning here was a second line per refused upload or pull, and
            # its "encrypted when kept" was not so.
            log.debug("could not encrypt %s as it was written (%s); the commit tries again",
                      self.expected.sha256, e.message)
            self._give_up()
            return None
        except PackyardError as e:  # another refusal of the key provider: its reason says it
            log.warning("could not encrypt %s as it was written (%s); it is encrypted when kept",
                        self.expected.sha256, e.message)
            self._give_up()
            return None
        except Exception:  # noqa: BLE001 - the write goes on; its commit encrypts it
            log.warning("could not encrypt %s as it was written; it is encrypted when kept",
                        self.expected.sha256, exc_info=True)
            self._give_up()
            return None
        return self._encryptor

    def digests(self) -> Digests:
        digests = self._plain.digests()
        if not self._finished:
            self._finished = True
            if self._encryptor is not None and digests.sha256 == self.expected.sha256:
                try:
                    if self._held:
                        self._hand_over(self._encryptor)
                    self._wait_for_helper()
                    self._encryptor.close()
                    assert self._ciphertext is not None
                    self._ciphertext.digests()
                except Exception:  # noqa: BLE001 - the commit encrypts it instead
                    log.warning("could not finish encrypting %s as it was pulled",
                                self.expected.sha256, exc_info=True)
                    self._give_up()
            else:
                self._give_up()
        return digests

    def close(self) -> None:
        """The plaintext's handle released; the ciphertext, unless the commit took it, thrown
        away."""
        self._plain.close()
        self._give_up()

    def _give_up(self) -> None:
        self._given_up = True
        self._encryptor = None
        self._held, self._held_size = [], 0
        # Finished before its file is removed; what it was writing is thrown away anyway.
        with contextlib.suppress(Exception):
            self._wait_for_helper()
        ciphertext, self._ciphertext = self._ciphertext, None
        if ciphertext is not None:
            self._discard(ciphertext)

    # -- what the commit takes -----------------------------------------------------------------

    def made_key(self, digests: Digests) -> MadeKey | None:
        """The key the ciphertext was made under, with the blob's size, when there is a whole
        ciphertext of exactly these bytes (after ``digests``); None otherwise."""
        if self._key is None or self._ciphertext is None or not self._finished \
                or digests.sha256 != self.expected.sha256:
            return None
        return replace(self._key, row=replace(self._key.row, plaintext_size=digests.size))

    def take_ciphertext(self, data_key: bytes) -> StagedBlob | None:
        """The finished ciphertext, handed to the commit (no longer this write's to discard),
        when it was made under ``data_key`` (the key the catalog decided: ``made_key``'s, if
        it was the first); None otherwise."""
        if self._key is None or self._key.data_key != data_key or not self._finished:
            return None
        ciphertext, self._ciphertext = self._ciphertext, None
        self._given_up = True
        return ciphertext


def _encrypt_all(encryptor: StreamEncryptor, chunks: list[bytes]) -> None:
    for chunk in chunks:
        encryptor.write(chunk)
