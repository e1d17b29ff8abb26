"""The five digests of every stored byte (``storage/blobs.py``): a large chunk's digests split
between the caller's thread and a helper, each hash still seeing every byte in order, and
``side_by_side``'s two halves both finished before it returns or raises."""

from __future__ import annotations

import hashlib
import os
import threading
import time

import pytest

from packyard.storage import blobs
from packyard.storage.blobs import Hasher, side_by_side


def _expected(data: bytes) -> tuple[int, str, str, str, str, str]:
    return (len(data), hashlib.md5(data).hexdigest(), hashlib.sha1(data).hexdigest(),
            hashlib.sha256(data).hexdigest(), hashlib.sha512(data).hexdigest(),
            hashlib.blake2b(data, digest_size=32).hexdigest())


def _digests(chunks: list[bytes]) -> tuple[int, str, str, str, str, str]:
    hasher = Hasher()
    for chunk in chunks:
        hasher.update(memoryview(chunk))
    d = hasher.digests()
    return (d.size, d.md5, d.sha1, d.sha256, d.sha512, d.blake2_256)


@pytest.mark.parametrize("helper", [True, False], ids=["two-threads", "one-core"])
def test_digests_are_each_hashs_own_whatever_the_chunk_sizes(
        monkeypatch: pytest.MonkeyPatch, helper: bool) -> None:
    if not helper:
        monkeypatch.setattr(blobs, "_helper", lambda: None)
    data = os.urandom(2 * 1024 * 1024 + 7)
    cuts = [0, 1, 64 * 1024, 128 * 1024 - 1, 128 * 1024 + 1, 1024 * 1024, 1024 * 1024 + 10,
            len(data)]
    chunks = [data[a:b] for a, b in zip(cuts, cuts[1:], strict=False)]
    assert _digests(chunks) == _expected(data)
    assert _digests([data]) == _expected(data)
    assert _digests([]) == _expected(b"")


@pytest.fixture
def hashing_threads(monkeypatch: pytest.MonkeyPatch) -> set[int]:
    """The threads that feed chunks to hashes from now on."""
    seen: set[int] = set()
    real = blobs._update

    def spy(hashes: tuple[object, ...], chunk: bytes | memoryview) -> None:
        seen.add(threading.get_ident())
        real(hashes, chunk)

    monkeypatch.setattr(blobs, "_update", spy)
    return seen


def test_a_large_chunk_is_hashed_on_two_threads_at_once(hashing_threads: set[int]) -> None:
    if blobs._helper() is None:
        pytest.skip("one core: nothing to split")
    Hasher().update(os.urandom(256 * 1024))
    assert len(hashing_threads) == 2
    hashing_threads.clear()
    Hasher().update(os.urandom(1024))  # small: not worth the hand-over
    assert len(hashing_threads) == 1


def test_a_hasher_for_background_work_keeps_to_one_thread(hashing_threads: set[int]) -> None:
    data = os.urandom(256 * 1024)
    hasher = Hasher(one_thread=True)
    hasher.update(data)
    assert hashing_threads == {threading.get_ident()}
    d = hasher.digests()
    assert (d.size, d.md5, d.sha1, d.sha256, d.sha512, d.blake2_256) == _expected(data)


def test_side_by_side_returns_only_when_both_halves_are_done() -> None:
    done: list[str] = []

    def slow() -> None:
        time.sleep(0.2)
        done.append("there")

    side_by_side(slow, lambda: done.append("here"), size=1 << 20)
    assert sorted(done) == ["here", "there"]


def test_side_by_side_raises_the_helpers_error_after_this_threads_half() -> None:
    done: list[str] = []

    def fails() -> None:
        raise ValueError("there failed")

    def here() -> None:
        time.sleep(0.1)
        done.append("here")

    with pytest.raises(ValueError, match="there failed"):
        side_by_side(fails, here, size=1 << 20)
    assert done == ["here"]


def test_side_by_side_waits_for_the_helper_when_this_threads_half_fails() -> None:
    done: list[str] = []

    def slow() -> None:
        time.sleep(0.2)
        done.append("there")

    def fails() -> None:
        raise ValueError("here failed")

    with pytest.raises(ValueError, match="here failed"):
        side_by_side(slow, fails, size=1 << 20)
    assert done == ["there"]  # nothing of it still running once the error is raised


def test_a_small_buffer_is_worked_on_by_this_thread_alone() -> None:
    threads: set[int] = set()
    side_by_side(lambda: threads.add(threading.get_ident()),
                 lambda: threads.add(threading.get_ident()), size=1024)
    assert threads == {threading.get_ident()}


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork here")
def test_a_forked_child_hashes_with_helpers_of_its_own() -> None:
    # The parent's helper threads do not exist in a child: a child using its parent's pool
    # would wait forever for its first large chunk.
    Hasher().update(os.urandom(256 * 1024))  # the parent's helpers made
    data = os.urandom(256 * 1024)
    child = os.fork()
    if child == 0:  # pragma: no cover - the child's exit status is what is checked
        hasher = Hasher()
        hasher.update(data)
        os._exit(0 if hasher.digests().sha512 == hashlib.sha512(data).hexdigest() else 1)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        pid, status = os.waitpid(child, os.WNOHANG)
        if pid:
            assert os.waitstatus_to_exitcode(status) == 0
            return
        time.sleep(0.01)
    os.kill(child, 9)
    os.waitpid(child, 0)
    pytest.fail("the child's hashing never finished")


@pytest.mark.parametrize("only", [(), ("md5",), ("blake2_256",), ("sha512", "sha1"),
                                  ("md5", "sha1", "sha512")])
def test_a_hasher_told_which_digests_computes_those_and_sha256(only: tuple[str, ...]) -> None:
    data = os.urandom(300 * 1024 + 3)
    hasher = Hasher(only)
    for start in range(0, len(data), 100 * 1024):
        hasher.update(data[start:start + 100 * 1024])
    d = hasher.digests()
    size, md5, sha1, sha256, sha512, blake2 = _expected(data)
    assert (d.size, d.sha256) == (size, sha256)
    assert {name: getattr(d, name) for name in blobs.LATER_DIGESTS} == {
        "md5": md5 if "md5" in only else None,
        "sha1": sha1 if "sha1" in only else None,
        "sha512": sha512 if "sha512" in only else None,
        "blake2_256": blake2 if "blake2_256" in only else None}
    # Every digest but the ones asked for is left for later; none when all were asked for.
    assert d.left_for_later
    assert not Hasher(blobs.LATER_DIGESTS).digests().left_for_later


def test_a_hasher_refuses_a_digest_it_does_not_know() -> None:
    with pytest.raises(ValueError, match="unknown digests"):
        Hasher(("sha3_256",))


def test_a_staged_write_is_told_its_digests_before_its_first_byte(tmp_path) -> None:
    from packyard.storage.staging import StagedFile

    staged = StagedFile(tmp_path / "a.part", sync=False)
    staged.hash_only(("blake2_256",))
    staged.write(b"abc")
    with pytest.raises(RuntimeError, match="after the first write"):
        staged.hash_only(("md5",))
    d = staged.digests()
    assert (d.sha256, d.md5) == (hashlib.sha256(b"abc").hexdigest(), None)
