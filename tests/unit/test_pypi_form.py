"""The streaming multipart parse of an upload: fields in memory, the file straight to staging.

Issue 5's target is memory flat as the file grows (a 1 GiB upload must not raise the server's
RSS by more than a few tens of MiB; `bench/run --huge-upload-mib` measures the whole server).
These tests pin the part that could break it: the form parser must never hold the file.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import tracemalloc
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from packyard.errors import Denied, Invalid, TooLarge
from packyard.formats.pypi.form import UploadForm, read_upload_form
from packyard.storage.blobs import StagedBlob
from packyard.storage.local import LocalBlobStore

MiB = 1024 * 1024
BOUNDARY = "packyard-test-boundary"
CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}"


async def _body(file_bytes: int, chunk: bytes, fields: dict[str, str]) -> AsyncIterator[bytes]:
    """A multipart body as twine sends it, the file part `file_bytes` long, in `chunk`-sized pieces."""
    for name, value in fields.items():
        yield (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        ).encode()
    yield (
        f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"content\"; "
        'filename="sample-1.0-py3-none-any.whl"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    remaining = file_bytes
    while remaining:
        # A fresh object each time, as from the network: a parser that kept pieces would show.
        piece = bytes(memoryview(chunk)[: min(remaining, len(chunk))])
        remaining -= len(piece)
        yield piece
    yield f"\r\n--{BOUNDARY}--\r\n".encode()


def _parse(store: LocalBlobStore, body: AsyncIterator[bytes], max_file_bytes: int) -> UploadForm:
    return asyncio.run(
        read_upload_form(CONTENT_TYPE, body, lambda _declared: store.stage(), store.discard,
                         max_file_bytes)
    )


def _expected_sha256(file_bytes: int, chunk: bytes) -> str:
    digest = hashlib.sha256()
    for _ in range(file_bytes // len(chunk)):
        digest.update(chunk)
    digest.update(chunk[: file_bytes % len(chunk)])
    return digest.hexdigest()


def test_file_part_streams_to_staging_with_bounded_memory(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    file_bytes = 32 * MiB + 12345  # not a multiple of the chunk: the last piece is short
    chunk = bytes(range(256)) * 256  # 64 KiB, what uvicorn hands over at a time
    fields = {":action": "file_upload", "name": "sample", "version": "1.0"}

    tracemalloc.start()
    try:
        form = _parse(store, _body(file_bytes, chunk, fields), 5 * 1024 * MiB)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    # A few chunks in flight at most: far below the file's size, whatever that size is.
    assert peak < 2 * MiB, f"parsing a {file_bytes / MiB:.0f} MiB upload traced {peak / MiB:.1f} MiB"
    assert form.fields == {":action": ["file_upload"], "name": ["sample"], "version": ["1.0"]}
    assert form.filename == "sample-1.0-py3-none-any.whl"
    assert form.staged is not None
    digests = form.staged.digests()
    assert digests.size == file_bytes
    assert digests.sha256 == _expected_sha256(file_bytes, chunk)
    assert form.staged.local_path.stat().st_size == file_bytes
    store.discard(form.staged)


def test_the_next_piece_is_read_while_the_last_is_parsed_and_written(tmp_path: Path) -> None:
    # One after the other, a large upload took as long as receiving it plus hashing and
    # writing it: the file's first piece is written here only once the body has been asked
    # for the piece after it.
    store = LocalBlobStore(tmp_path / "blobs")
    asked_for_more = threading.Event()
    waited: list[bool] = []

    async def body() -> AsyncIterator[bytes]:
        pieces = _body(4 * 256 * 1024, bytes(256 * 1024), {"name": "sample"})
        file_pieces = 0
        async for piece in pieces:
            if len(piece) == 256 * 1024:
                file_pieces += 1
                if file_pieces == 2:
                    asked_for_more.set()
            yield piece

    def stage(_declared: str | None) -> StagedBlob:
        staged = store.stage()
        write = staged.write

        def first_waits(chunk: bytes | memoryview) -> None:
            if not waited:
                waited.append(asked_for_more.wait(3))
            write(chunk)

        staged.write = first_waits  # type: ignore[method-assign]
        return staged

    form = asyncio.run(read_upload_form(CONTENT_TYPE, body(), stage, store.discard, 10 * MiB))
    assert waited == [True]
    assert form.staged is not None and form.staged.digests().size == 4 * 256 * 1024
    store.discard(form.staged)


def test_file_over_the_limit_is_refused_and_its_staged_bytes_removed(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    with pytest.raises(TooLarge) as caught:
        _parse(store, _body(3 * MiB, bytes(64 * 1024), {}), 1 * MiB)
    assert caught.value.message == ("File too large: sample-1.0-py3-none-any.whl is larger than "
                                    "1 MiB, the limit.")
    assert list((tmp_path / "blobs" / ".staging").iterdir()) == []


def test_a_body_that_is_not_multipart_is_refused(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")

    async def body() -> AsyncIterator[bytes]:
        yield b"name=sample"

    with pytest.raises(Invalid) as caught:
        asyncio.run(
            read_upload_form(
                "application/x-www-form-urlencoded", body(), lambda _declared: store.stage(),
                store.discard, MiB
            )
        )
    assert caught.value.message == "Uploads must be multipart/form-data (the legacy upload API)"


def _parse_checked(store: LocalBlobStore, body: AsyncIterator[bytes],
                   check: Callable[[str], None]) -> UploadForm:
    return asyncio.run(read_upload_form(CONTENT_TYPE, body, lambda _declared: store.stage(),
                                        store.discard, 10 * MiB, check))


def _staged(store: LocalBlobStore) -> list[Path]:
    return list((store.root / ".staging").iterdir())


def test_the_name_is_checked_before_the_file_is_staged(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    seen: list[tuple[str, int]] = []

    def check(name: str) -> None:
        seen.append((name, len(_staged(store))))

    form = _parse_checked(store, _body(3 * MiB, b"x" * 65536,
                                       {"name": "sample", "version": "1.0", "name2": "x"}), check)
    assert seen == [("sample", 0)]  # once, with nothing staged yet
    assert form.staged is not None and form.staged.size == 3 * MiB


def test_a_refused_name_stops_the_upload_before_anything_is_staged(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")

    def refuse(name: str) -> None:
        raise Denied(f"not allowed to publish {name}")

    with pytest.raises(Denied, match="not allowed to publish sample"):
        _parse_checked(store, _body(3 * MiB, b"x" * 65536, {"name": "sample"}), refuse)
    assert _staged(store) == []


def test_a_file_before_the_name_is_refused_when_the_name_is_checked(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    with pytest.raises(Invalid, match="must send the 'name' field before the file"):
        _parse_checked(store, _body(MiB, b"x" * 65536, {"version": "1.0"}), lambda name: None)
    assert _staged(store) == []


@pytest.mark.parametrize(("fields", "told"), [
    ({"name": "sample", "sha256_digest": "AB" * 32}, "ab" * 32),  # twine's order
    ({"name": "sample"}, None),
    ({"name": "sample", "sha256_digest": "not a digest"}, None),
    ({"name": "sample", "sha256_digest": "ab" * 31}, None),
])
def test_the_file_is_staged_told_the_sha256_the_form_declared_before_it(
        tmp_path: Path, fields: dict[str, str], told: str | None) -> None:
    """An encrypted store encrypts a file whose sha256 it is told as it arrives (decision
    0020); what is published is named by the bytes' own sha256 all the same."""
    store = LocalBlobStore(tmp_path / "blobs")
    asked: list[str | None] = []

    def stage(declared: str | None) -> StagedBlob:
        asked.append(declared)
        return store.stage()

    form = asyncio.run(read_upload_form(CONTENT_TYPE, _body(1000, b"x" * 100, fields), stage,
                                        store.discard, MiB))
    assert asked == [told]
    assert form.staged is not None
    store.discard(form.staged)


def test_a_sha256_declared_after_the_file_is_not_told(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    asked: list[str | None] = []

    def stage(declared: str | None) -> StagedBlob:
        asked.append(declared)
        return store.stage()

    async def body() -> AsyncIterator[bytes]:
        async for piece in _body(10, b"y" * 10, {"name": "sample"}):
            if piece.startswith(f"\r\n--{BOUNDARY}--".encode()):
                yield (f'\r\n--{BOUNDARY}\r\nContent-Disposition: form-data; '
                       f'name="sha256_digest"\r\n\r\n{"cd" * 32}').encode()
            yield piece

    form = asyncio.run(read_upload_form(CONTENT_TYPE, body(), stage, store.discard, MiB))
    assert asked == [None] and form.first("sha256_digest") == "cd" * 32
    assert form.staged is not None
    store.discard(form.staged)
