"""A long read of an encrypted local file (``EncryptingBlobStore.read``, a download of a large
wheel): each mebibyte read and decrypted in a worker thread while the one before is sent
(``StreamDecryptor.aread_ahead``); a short one stays on the caller's thread; a reader that
stops early (a client gone) leaves no descriptor open once the piece under way is done."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from packyard.crypto import stream
from packyard.crypto.keyring import LocalKeyring
from packyard.encryption.blob_store import EncryptingBlobStore
from packyard.encryption.providers import DomainKeys
from packyard.metadata.catalog import SqlCatalog
from packyard.storage.local import LocalBlobStore

LONG = os.urandom(3 * 1024 * 1024 + 17)
SHORT = os.urandom(300 * 1024)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[EncryptingBlobStore]:
    catalog = SqlCatalog(f"sqlite:///{tmp_path / 'catalog.db'}")
    catalog.migrate()
    keyring = LocalKeyring.in_data_dir(tmp_path)
    keys = DomainKeys(keyring, catalog, "alias/aws/codeartifact")
    catalog.create_domain("one", "000000000000", keys.for_new_domain(None),
                          datetime.now(UTC))  # blob key d1
    yield EncryptingBlobStore(LocalBlobStore(tmp_path / "blobs"), catalog, keyring, keys)
    catalog.dispose()


@pytest.fixture
def decrypted_on(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The threads each piece was decrypted on."""
    threads: list[int] = []
    original = stream.StreamDecryptor._open_joined

    def recorded(self: stream.StreamDecryptor, batch: object, data: bytes) -> bytes:
        threads.append(threading.get_ident())
        return original(self, batch, data)  # type: ignore[arg-type]

    monkeypatch.setattr(stream.StreamDecryptor, "_open_joined", recorded)
    return threads


def _read(store: EncryptingBlobStore, sha256: str, start: int = 0,
          end: int | None = None) -> bytes:
    async def collect() -> bytes:
        return b"".join([piece async for piece in store.read("d1", sha256, start, end)])

    return asyncio.run(collect())


def test_a_long_read_is_decrypted_ahead_in_worker_threads(
        store: EncryptingBlobStore, decrypted_on: list[int]) -> None:
    sha256 = store.put_bytes(LONG, "d1").sha256
    assert _read(store, sha256) == LONG
    assert len(decrypted_on) == 4 and threading.get_ident() not in decrypted_on
    decrypted_on.clear()
    assert _read(store, sha256, 100_000, 2_600_000) == LONG[100_000:2_600_000]
    assert threading.get_ident() not in decrypted_on


def test_beside_another_long_read_a_long_read_is_decrypted_on_the_callers_thread(
        store: EncryptingBlobStore, decrypted_on: list[int]) -> None:
    """Decrypting ahead pays only with a core to spare: of two long reads at once, the first
    decrypts ahead and the second on the event loop as before (in a thread it would only
    contend with the loop for the GIL); once both are done, the next one alone is ahead
    again."""
    sha256 = store.put_bytes(LONG, "d1").sha256

    async def two_at_once() -> tuple[bytes, bytes]:
        first, second = store.read("d1", sha256), store.read("d1", sha256)
        got = [b"", b""]
        while True:
            progressed = False
            for index, reader in enumerate((first, second)):
                try:
                    got[index] += await reader.__anext__()
                    progressed = True
                except StopAsyncIteration:
                    pass
            if not progressed:
                return got[0], got[1]

    assert asyncio.run(two_at_once()) == (LONG, LONG)
    loop_thread = threading.get_ident()
    assert decrypted_on.count(loop_thread) == 4  # the second read's four mebibytes
    assert len(decrypted_on) == 8
    decrypted_on.clear()
    assert _read(store, sha256) == LONG
    assert loop_thread not in decrypted_on


def test_a_short_read_is_decrypted_on_the_callers_thread(
        store: EncryptingBlobStore, decrypted_on: list[int]) -> None:
    sha256 = store.put_bytes(SHORT, "d1").sha256
    long_sha256 = store.put_bytes(LONG, "d1").sha256
    assert _read(store, sha256) == SHORT
    assert _read(store, long_sha256, 5, 900_000) == LONG[5:900_000]  # a short range of it
    assert set(decrypted_on) == {threading.get_ident()}


def _open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
def test_a_reader_that_stops_early_leaves_no_file_open(store: EncryptingBlobStore) -> None:
    sha256 = store.put_bytes(LONG, "d1").sha256
    _read(store, sha256, 0, 10)  # the data key opened, its catalog connection made

    async def first_piece_then_stop() -> tuple[bytes, int, int]:
        before = _open_descriptors()
        reader = store.read("d1", sha256)
        piece = await reader.__anext__()  # the second mebibyte is under way meanwhile
        await reader.aclose()  # type: ignore[attr-defined]
        for _ in range(200):  # the piece under way finishes in its thread, then closes it
            if _open_descriptors() == before:
                break
            await asyncio.sleep(0.01)
        return piece, before, _open_descriptors()

    piece, before, after = asyncio.run(first_piece_then_stop())
    assert piece == LONG[:1024 * 1024 - 40 - 16 * 16]  # a mebibyte less the header and tags
    assert after == before


def test_a_file_is_closed_by_the_last_of_its_reader_and_the_read_under_way(
        tmp_path: Path) -> None:
    """The reader stopping while a worker thread still reads must not close the descriptor
    under it (its number could be reused by another open file meanwhile)."""
    from packyard.encryption.read_ahead import SharedFile
    from packyard.thread_hop import ThreadHop

    path = tmp_path / "f"
    path.write_bytes(b"0123456789")
    fd = os.open(path, os.O_RDONLY)
    go = threading.Event()

    async def main() -> tuple[bool, bytes, bool]:
        file = SharedFile(fd, ThreadHop(1, "test-read-ahead"))

        def slow_read() -> bytes:
            go.wait(5)
            return os.pread(fd, 4, 2)

        under_way = file.run(slow_read)
        file.release()  # the reader is gone
        open_meanwhile = _is_open(fd)
        go.set()
        got = await under_way
        return open_meanwhile, got, _is_open(fd)

    assert asyncio.run(main()) == (True, b"2345", False)


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True
