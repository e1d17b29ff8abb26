"""``GroupFlush``: writers at the same moment share a flush, and each returns only after a
flush that started after it asked (its writes are in it)."""

from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path

import pytest

from packyard.storage import local
from packyard.storage.blobs import StagedBlob
from packyard.storage.group_flush import GroupFlush
from packyard.storage.local import LocalBlobStore


class SlowDisk:
    """A flush that blocks until released, and records what had been written when it began."""

    def __init__(self) -> None:
        self.written: list[int] = []
        self.flushed: list[list[int]] = []  # per flush: the writes it covers
        self.started = threading.Event()
        self.release = threading.Event()
        self.fail_next = False

    def flush(self) -> None:
        covered = list(self.written)
        self.started.set()
        self.release.wait(10)
        if self.fail_next:
            self.fail_next = False
            raise OSError("disk gone")
        self.flushed.append(covered)


def _wait_for(condition: object, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_writers_arriving_during_a_flush_share_the_next_one_and_are_covered_by_it() -> None:
    disk = SlowDisk()
    group = GroupFlush(disk.flush)
    covered: dict[int, list[int]] = {}

    def writer(number: int) -> None:
        disk.written.append(number)
        group.flush()
        covered[number] = next(c for c in disk.flushed if number in c)

    first = threading.Thread(target=writer, args=(0,))
    first.start()
    _wait_for(disk.started.is_set)  # flush 1 runs, and covers writer 0 only
    others = [threading.Thread(target=writer, args=(n,)) for n in range(1, 9)]
    for thread in others:
        thread.start()
    # All eight wait on the group's condition (CPython's Condition keeps its waiters there).
    _wait_for(lambda: len(group._cond._waiters) == 8)  # type: ignore[attr-defined]
    disk.release.set()
    for thread in [first, *others]:
        thread.join(10)
    assert group.flushes == 2
    assert disk.flushed[0] == [0]
    assert sorted(covered) == list(range(9))  # every writer returned, after a covering flush


def test_a_lone_writer_runs_its_own_flush() -> None:
    disk = SlowDisk()
    disk.release.set()
    group = GroupFlush(disk.flush)
    for _ in range(3):
        group.flush()
    assert group.flushes == 3


def test_a_failed_flush_fails_the_writers_it_was_for_and_the_next_one_runs_again() -> None:
    disk = SlowDisk()
    disk.fail_next = True
    disk.release.set()
    group = GroupFlush(disk.flush)
    with pytest.raises(OSError, match="flushing the blob store failed: disk gone"):
        group.flush()
    group.flush()  # the disk is back
    assert group.flushes == 2


# -- the local blob store's batches through it ---------------------------------------------


def _staged(store: LocalBlobStore, data: bytes) -> StagedBlob:
    blob = store.stage(batched=True)
    blob.write(data)
    return blob


def test_a_local_batch_is_flushed_before_its_renames_and_after_them(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``commit_many`` through the store's group flush keeps ``commit``'s order: the bytes are
    durable before any name appears, the names before it returns."""
    store = LocalBlobStore(tmp_path)
    steps: list[str] = []
    store.flushes = GroupFlush(lambda: steps.append("flush"))
    real_replace = local.os.replace

    def replace(source: Path, target: Path) -> None:
        steps.append("rename")
        real_replace(source, target)

    monkeypatch.setattr(local.os, "replace", replace)
    digests = store.commit_many([_staged(store, b"wheel"), _staged(store, b"metadata")], "d1")
    assert steps == ["flush", "rename", "rename", "flush"]
    assert [store.local_path("d1", d.sha256).read_bytes() for d in digests  # type: ignore[union-attr]
            ] == [b"wheel", b"metadata"]


def test_a_local_batch_whose_flush_fails_leaves_no_blob_visible(tmp_path: Path) -> None:
    """A crash or a failed flush before the renames: nothing of the batch is found under its
    name (the staged files are what ``recover`` removes at the next start)."""
    store = LocalBlobStore(tmp_path)

    def failing() -> None:
        raise OSError("disk gone")

    store.flushes = GroupFlush(failing)
    staged = [_staged(store, b"wheel"), _staged(store, b"metadata")]
    with pytest.raises(OSError, match="disk gone"):
        store.commit_many(staged, "d1")
    for data in (b"wheel", b"metadata"):
        assert not store.exists("d1", hashlib.sha256(data).hexdigest())



def test_a_large_batch_flushes_its_own_files_and_folders_not_the_whole_file_system(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch of ``OWN_FLUSH_AT`` bytes or more is flushed by an fsync of each of its files,
    then, after the renames, of the folders whose entries lead to the new names (their own,
    the domain's, the root): a syncfs would also write every other dirty page of the file
    system (an encrypted store's plaintext staged beside its ciphertext: twice the bytes)."""
    store = LocalBlobStore(tmp_path)
    steps: list[str] = []
    store.flushes = GroupFlush(lambda: steps.append("flush"))
    monkeypatch.setattr(local, "OWN_FLUSH_AT", 8)
    monkeypatch.setattr(local, "_fsync", lambda path: steps.append(f"fsync {path}"))
    real_replace = local.os.replace

    def replace(source: Path, target: Path) -> None:
        steps.append("rename")
        real_replace(source, target)

    monkeypatch.setattr(local.os, "replace", replace)
    staged = [_staged(store, b"a large wheel"), _staged(store, b"meta")]
    paths = [blob.local_path for blob in staged]
    digests = store.commit_many(staged, "d1")
    finals = [tmp_path / "d1" / d.sha256[:2] / d.sha256 for d in digests]
    assert steps[:2] == [f"fsync {paths[0]}", f"fsync {paths[1]}"]
    assert steps[2:4] == ["rename", "rename"]
    assert sorted(steps[4:]) == sorted({f"fsync {final.parent}" for final in finals}
                                       | {f"fsync {tmp_path / 'd1'}", f"fsync {tmp_path}"})
    assert [final.read_bytes() for final in finals] == [b"a large wheel", b"meta"]


def test_a_large_blob_committed_alone_flushes_its_own_file_and_folders(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = LocalBlobStore(tmp_path)
    (tmp_path / "d1").mkdir()
    steps: list[str] = []
    store.flushes = GroupFlush(lambda: steps.append("flush"))
    monkeypatch.setattr(local, "OWN_FLUSH_AT", 8)
    monkeypatch.setattr(local, "_fsync", lambda path: steps.append(f"fsync {path}"))
    blob = _staged(store, b"a large wheel")
    staged_path = blob.local_path
    digests = store.commit(blob, "d1")
    final = tmp_path / "d1" / digests.sha256[:2] / digests.sha256
    # The file, then the folders whose entries lead to it (made now or a moment ago by
    # another commit whose flush may still be to come).
    assert steps[0] == f"fsync {staged_path}"
    assert sorted(steps[1:]) == sorted([f"fsync {final.parent}", f"fsync {tmp_path / 'd1'}",
                                        f"fsync {tmp_path}"])
    assert final.read_bytes() == b"a large wheel"
    # A small one still shares the group's flushes.
    store.commit(_staged(store, b"small"), "d1")
    assert steps[4:] == ["flush", "flush"]
