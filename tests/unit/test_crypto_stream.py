"""The segmented AEAD stream: sizes, range reads at segment edges, and every kind of tampering.

Each tampering is its own test and must raise ``TamperedBlob`` (never return bytes). The layout
facts checked here (40-byte header, 65480-byte first plaintext segment, 65520 after) are Tink's;
``test_crypto_tink_interop.py`` checks them against Tink itself.
"""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import Awaitable, Callable, Iterator

import anyio
import pytest

from packyard.crypto import stream
from packyard.crypto.context import EncryptionContext
from packyard.crypto.errors import TamperedBlob
from packyard.crypto.stream import (
    HEADER_SIZE,
    LAYOUT,
    SEGMENT_SIZE,
    TAG_SIZE,
    Layout,
    StreamDecryptor,
    StreamEncryptor,
    decrypt_bytes,
    encrypt_bytes,
)

KEY = bytes(range(32))
CONTEXT = EncryptionContext("d1", "ab" * 32)
AD = CONTEXT.blob_associated_data()
FIRST = SEGMENT_SIZE - TAG_SIZE - HEADER_SIZE  # 65480 plaintext bytes in segment 0
PLAIN = SEGMENT_SIZE - TAG_SIZE  # 65520 in every later one


class Recorder:
    """A ``read_at`` over bytes in memory that remembers every call."""

    def __init__(self, ciphertext: bytes) -> None:
        self.ciphertext = ciphertext
        self.calls: list[tuple[int, int]] = []

    def __call__(self, offset: int, length: int) -> bytes:
        self.calls.append((offset, length))
        return self.ciphertext[offset:offset + length]


_MODE = ["per-segment"]


@pytest.fixture(autouse=True, params=["per-segment", "joined", "ahead"])
def _reading(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every read, range and tampering case holds for ``read`` (a piece per segment), for
    ``read_joined`` (a piece per ``read_at`` call, what the encrypted store sends) and for
    ``aread_ahead`` (those pieces each read and decrypted in a worker thread, the next one
    under way while the caller has this one: the encrypted store's long reads of a file)."""
    _MODE[0] = request.param
    yield
    _MODE[0] = "per-segment"


def _ahead(decryptor: StreamDecryptor, read_at: stream.ReadAt, start: int,
           end: int | None) -> bytes:
    async def collect() -> bytes:
        loop = asyncio.get_running_loop()

        def run(work: Callable[[], bytes]) -> Awaitable[bytes]:
            return loop.run_in_executor(None, work)

        return b"".join([piece async for piece in decryptor.aread_ahead(read_at, run, start,
                                                                         end)])

    return asyncio.run(collect())


def _read(ciphertext: bytes, start: int, end: int | None, *, size: int | None = None,
          key: bytes = KEY, ad: bytes = AD) -> bytes:
    decryptor = StreamDecryptor(key, ad, len(ciphertext), plaintext_size=size)
    if _MODE[0] == "ahead":
        return _ahead(decryptor, Recorder(ciphertext), start, end)
    read = decryptor.read_joined if _MODE[0] == "joined" else decryptor.read
    return b"".join(read(Recorder(ciphertext), start, end))


def _segments(ciphertext: bytes) -> tuple[bytes, list[bytes]]:
    """The header and the ciphertext segments, cut where the layout says."""
    count = LAYOUT.segment_count(len(ciphertext))
    bounds = [LAYOUT.ciphertext_start(i) for i in range(count)] + [len(ciphertext)]
    return ciphertext[:HEADER_SIZE], [ciphertext[a:b] for a, b in itertools.pairwise(bounds)]


@pytest.fixture(scope="module")
def plaintext() -> bytes:
    return os.urandom(FIRST + 3 * PLAIN + 1000)  # five segments, the last one partial


@pytest.fixture(scope="module")
def ciphertext(plaintext: bytes) -> bytes:
    return encrypt_bytes(KEY, AD, plaintext)


# -- sizes ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("plaintext_size", "ciphertext_size"), [
    (0, HEADER_SIZE + TAG_SIZE),  # an empty stream is one segment of just a tag
    (1, HEADER_SIZE + 1 + TAG_SIZE),
    (FIRST - 1, SEGMENT_SIZE - 1),
    (FIRST, SEGMENT_SIZE),  # segment 0 exactly full: no empty segment after it
    (FIRST + 1, SEGMENT_SIZE + 1 + TAG_SIZE),
    (FIRST + PLAIN, 2 * SEGMENT_SIZE),
    (FIRST + PLAIN + 1, 2 * SEGMENT_SIZE + 1 + TAG_SIZE),
])
def test_ciphertext_size_follows_tinks_expected_ciphertext_size(plaintext_size: int,
                                                                ciphertext_size: int) -> None:
    assert LAYOUT.ciphertext_size(plaintext_size) == ciphertext_size
    assert LAYOUT.plaintext_size(ciphertext_size) == plaintext_size
    assert len(encrypt_bytes(KEY, AD, bytes(plaintext_size))) == ciphertext_size


@pytest.mark.parametrize("size", [0, 1, 39, HEADER_SIZE + TAG_SIZE - 1,
                                  SEGMENT_SIZE + TAG_SIZE - 1, SEGMENT_SIZE + 1])
def test_a_size_no_ciphertext_can_have_is_tampered(size: int) -> None:
    with pytest.raises(TamperedBlob, match="no stream ciphertext"):
        LAYOUT.plaintext_size(size)


def test_segment_sizes_too_small_for_a_header_are_refused() -> None:
    with pytest.raises(ValueError):
        Layout(HEADER_SIZE + TAG_SIZE)


def _encrypt_in_chunks(plaintext: bytes, chunk: int) -> bytes:
    out = bytearray()
    with StreamEncryptor(KEY, AD, out.extend) as encryptor:
        for i in range(0, len(plaintext), chunk):
            assert encryptor.write(plaintext[i:i + chunk]) == len(plaintext[i:i + chunk])
    return bytes(out)


@pytest.mark.parametrize("chunk", [1, 4096, FIRST, PLAIN, PLAIN + 1, 1024 * 1024, 3 * 1024 * 1024])
def test_chunked_encryption_has_the_one_shot_layout(plaintext: bytes, chunk: int) -> None:
    if chunk == 1:
        plaintext = plaintext[:FIRST + PLAIN + 3]  # byte by byte, across two boundaries
    ciphertext = _encrypt_in_chunks(plaintext, chunk)
    assert len(ciphertext) == LAYOUT.ciphertext_size(len(plaintext))
    assert decrypt_bytes(KEY, AD, ciphertext, plaintext_size=len(plaintext)) == plaintext


def test_the_copying_path_for_older_cryptography_writes_the_same_layout(
        plaintext: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stream, "_seal_into", stream._seal_copying)
    ciphertext = _encrypt_in_chunks(plaintext, 100_000)
    assert decrypt_bytes(KEY, AD, ciphertext, plaintext_size=len(plaintext)) == plaintext


def test_the_encryptor_holds_at_most_one_segment(plaintext: bytes) -> None:
    out = bytearray()
    encryptor = StreamEncryptor(KEY, AD, out.extend)
    encryptor.write(plaintext[:FIRST + 2 * PLAIN])
    # Three full segments of plaintext: two are out, the third waits to learn if it is last.
    assert len(out) == 2 * SEGMENT_SIZE
    assert len(encryptor._pending) == PLAIN
    encryptor.write(b"x")
    assert len(out) == 3 * SEGMENT_SIZE
    assert len(encryptor._pending) == 1


def test_the_sink_gets_the_header_first_and_views_it_must_copy() -> None:
    received: list[bytes] = []
    with StreamEncryptor(KEY, AD, lambda view: received.append(bytes(view))) as encryptor:
        encryptor.write(bytes(3 * PLAIN))
    assert received[0] == encryptor.header and len(encryptor.header) == HEADER_SIZE
    assert encryptor.header[0] == HEADER_SIZE
    assert sum(map(len, received)) == LAYOUT.ciphertext_size(3 * PLAIN)


def test_each_stream_has_its_own_salt_and_nonce_prefix() -> None:
    one, two = encrypt_bytes(KEY, AD, b"same"), encrypt_bytes(KEY, AD, b"same")
    assert one[:HEADER_SIZE] != two[:HEADER_SIZE] and one[HEADER_SIZE:] != two[HEADER_SIZE:]


def test_write_after_close_is_refused() -> None:
    encryptor = StreamEncryptor(KEY, AD, bytearray().extend)
    encryptor.close()
    with pytest.raises(ValueError):
        encryptor.write(b"more")


def test_a_failed_write_leaves_the_stream_unsealed() -> None:
    out = bytearray()
    with pytest.raises(RuntimeError), StreamEncryptor(KEY, AD, out.extend) as encryptor:
        encryptor.write(b"partial")
        raise RuntimeError("the upload broke")
    assert not encryptor.closed and out == encryptor.header  # no last segment: never readable


# -- range reads at segment edges ---------------------------------------------------------------

@pytest.mark.parametrize("size", [0, 1, FIRST - 1, FIRST, FIRST + 1, FIRST + PLAIN - 1,
                                  FIRST + PLAIN, FIRST + PLAIN + 1])
def test_whole_reads_around_the_first_segment_boundary(size: int) -> None:
    data = os.urandom(size)
    ciphertext = encrypt_bytes(KEY, AD, data)
    assert _read(ciphertext, 0, None, size=size) == data
    assert _read(ciphertext, 0, None) == data


@pytest.mark.parametrize(("start", "end"), [
    (0, 1),  # first byte
    (FIRST + 3 * PLAIN + 999, FIRST + 3 * PLAIN + 1000),  # last byte
    (FIRST - 10, FIRST + 10),  # crossing from segment 0 into segment 1
    (FIRST + PLAIN - 1, FIRST + PLAIN + 1),  # crossing segments 1 and 2 by one byte each
    (FIRST + 3 * PLAIN, FIRST + 3 * PLAIN + 1000),  # exactly the final partial segment
    (FIRST + 3 * PLAIN + 10, None),  # inside the final partial segment, to the end
    (FIRST, FIRST + PLAIN),  # exactly one full segment
    (0, FIRST),  # exactly segment 0
    (4096, 8192),  # a 4 KiB range inside one segment
])
def test_range_reads_at_segment_edges(plaintext: bytes, ciphertext: bytes,
                                      start: int, end: int | None) -> None:
    assert _read(ciphertext, start, end, size=len(plaintext)) == plaintext[start:end]
    assert _read(ciphertext, start, end) == plaintext[start:end]


def test_ranges_are_clipped_to_the_plaintext_as_blob_store_reads_are(plaintext: bytes,
                                                                     ciphertext: bytes) -> None:
    assert _read(ciphertext, len(plaintext) - 5, len(plaintext) + 100) == plaintext[-5:]
    assert _read(ciphertext, len(plaintext), None) == b""
    assert _read(ciphertext, len(plaintext) + 7, None) == b""
    assert _read(ciphertext, 10, 10) == b""


def test_empty_plaintext_reads_as_nothing_and_verifies() -> None:
    ciphertext = encrypt_bytes(KEY, AD, b"")
    assert _read(ciphertext, 0, None, size=0) == b""
    StreamDecryptor(KEY, AD, len(ciphertext)).verify(Recorder(ciphertext))
    with pytest.raises(TamperedBlob):
        # The tag's last byte flipped (set to 0, it was already 0 one time in 256).
        tampered = ciphertext[:-1] + bytes([ciphertext[-1] ^ 1])
        StreamDecryptor(KEY, AD, len(ciphertext)).verify(Recorder(tampered))


def test_a_range_read_asks_for_the_header_and_the_covering_segments_only(
        plaintext: bytes, ciphertext: bytes) -> None:
    recorder = Recorder(ciphertext)
    decryptor = StreamDecryptor(KEY, AD, len(ciphertext), plaintext_size=len(plaintext))
    start = FIRST + 2 * PLAIN + 100  # inside segment 3
    assert b"".join(decryptor.read(recorder, start, start + 4096)) == plaintext[start:start + 4096]
    assert recorder.calls == [(0, HEADER_SIZE), (3 * SEGMENT_SIZE, SEGMENT_SIZE)]
    # The header is read once per decryptor.
    recorder.calls.clear()
    assert b"".join(decryptor.read(recorder, 0, 10)) == plaintext[:10]
    assert recorder.calls == [(HEADER_SIZE, SEGMENT_SIZE - HEADER_SIZE)]


def test_a_read_from_the_start_takes_the_header_with_segment_zero(plaintext: bytes,
                                                                  ciphertext: bytes) -> None:
    recorder = Recorder(ciphertext)
    decryptor = StreamDecryptor(KEY, AD, len(ciphertext), plaintext_size=len(plaintext))
    assert b"".join(decryptor.read(recorder)) == plaintext
    assert recorder.calls == [(0, len(ciphertext))]  # five segments: one read of at most 1 MiB


def test_without_a_recorded_size_the_last_segment_is_authenticated_first(
        plaintext: bytes, ciphertext: bytes) -> None:
    recorder = Recorder(ciphertext)
    decryptor = StreamDecryptor(KEY, AD, len(ciphertext))
    assert b"".join(decryptor.read(recorder, 0, 10)) == plaintext[:10]
    assert recorder.calls == [(0, HEADER_SIZE), (4 * SEGMENT_SIZE, len(ciphertext) - 4 * SEGMENT_SIZE),
                              (HEADER_SIZE, SEGMENT_SIZE - HEADER_SIZE)]


def test_large_reads_are_asked_for_a_mebibyte_at_a_time() -> None:
    data = os.urandom(3 * 1024 * 1024)
    ciphertext = encrypt_bytes(KEY, AD, data)
    recorder = Recorder(ciphertext)
    pieces = list(StreamDecryptor(KEY, AD, len(ciphertext), plaintext_size=len(data))
                  .read(recorder))
    assert b"".join(pieces) == data
    assert max(length for _, length in recorder.calls) == 1024 * 1024
    assert len(recorder.calls) == 4
    assert max(map(len, pieces)) == PLAIN  # a piece per segment


def test_async_reads_equal_sync_reads(plaintext: bytes, ciphertext: bytes) -> None:
    async def read_at(offset: int, length: int) -> bytes:
        return ciphertext[offset:offset + length]

    async def collect() -> bytes:
        decryptor = StreamDecryptor(KEY, AD, len(ciphertext), plaintext_size=len(plaintext))
        return b"".join([piece async for piece in decryptor.aread(read_at, 70000, 200000)])

    assert anyio.run(collect) == plaintext[70000:200000]


def test_async_joined_reads_equal_sync_reads(plaintext: bytes, ciphertext: bytes) -> None:
    async def read_at(offset: int, length: int) -> bytes:
        return ciphertext[offset:offset + length]

    async def collect(start: int, end: int | None) -> bytes:
        decryptor = StreamDecryptor(KEY, AD, len(ciphertext), plaintext_size=len(plaintext))
        return b"".join([piece async for piece in decryptor.aread_joined(read_at, start, end)])

    assert anyio.run(collect, 70000, 200000) == plaintext[70000:200000]
    assert anyio.run(collect, 0, None) == plaintext


def test_reads_ahead_run_each_mebibyte_elsewhere_one_at_a_time() -> None:
    """``aread_ahead`` hands each piece's read and decryption to ``run`` (a worker thread in
    the store), the next one started only once the one before is done (it may hold the header
    the rest are planned by) and before that one is handed to the caller."""
    data = os.urandom(3 * 1024 * 1024 + 5)
    ciphertext = encrypt_bytes(KEY, AD, data)
    events: list[str] = []

    async def collect() -> bytes:
        loop = asyncio.get_running_loop()
        under_way = 0

        def run(work: Callable[[], bytes]) -> Awaitable[bytes]:
            def counted() -> bytes:
                nonlocal under_way
                under_way += 1
                assert under_way == 1, "two pieces decrypted at once"
                try:
                    return work()
                finally:
                    under_way -= 1
            events.append("run")
            return loop.run_in_executor(None, counted)

        decryptor = StreamDecryptor(KEY, AD, len(ciphertext), plaintext_size=len(data))
        pieces = []
        async for piece in decryptor.aread_ahead(Recorder(ciphertext), run):
            events.append("piece")
            pieces.append(piece)
        return b"".join(pieces)

    assert asyncio.run(collect()) == data
    # Four reads of up to a mebibyte: the second starts before the first piece is handed on.
    assert events == ["run", "run", "piece", "run", "piece", "run", "piece", "piece"]


def test_other_segment_sizes_keep_the_same_rules() -> None:
    layout = Layout(256)
    data = os.urandom(5000)
    ciphertext = encrypt_bytes(KEY, AD, data, layout=layout)
    assert len(ciphertext) == layout.ciphertext_size(5000)
    for start, end in [(0, 1), (199, 201), (4999, 5000), (1000, 4000)]:
        decryptor = StreamDecryptor(KEY, AD, len(ciphertext), plaintext_size=5000, layout=layout)
        assert b"".join(decryptor.read(Recorder(ciphertext), start, end)) == data[start:end]


# -- tampering: each is detected, and no plaintext comes out ------------------------------------

def _refused(ciphertext: bytes, size: int | None) -> None:
    with pytest.raises(TamperedBlob):
        _read(ciphertext, 0, None, size=size)


@pytest.mark.parametrize("recorded", [True, False], ids=["size-recorded", "size-unknown"])
def test_truncation_at_a_segment_boundary(plaintext: bytes, ciphertext: bytes,
                                          recorded: bool) -> None:
    cut = ciphertext[:3 * SEGMENT_SIZE]  # segments 0-2 intact, 3 and 4 gone
    _refused(cut, len(plaintext) if recorded else None)
    if not recorded:
        # Even a range that the remaining segments cover is refused: the last one is checked.
        with pytest.raises(TamperedBlob, match="segment 2 of 3"):
            _read(cut, 0, 10)


def test_an_empty_range_still_authenticates_a_size_nobody_recorded(ciphertext: bytes) -> None:
    # Truncated to exactly one segment: it would read as a clean, shorter blob.
    cut = ciphertext[:SEGMENT_SIZE]
    with pytest.raises(TamperedBlob, match="segment 0 of 1"):
        _read(cut, FIRST, None)
    recorder = Recorder(ciphertext)
    decryptor = StreamDecryptor(KEY, AD, len(ciphertext))
    assert list(decryptor.read(recorder, 10**9, None)) == []
    assert recorder.calls == [(0, HEADER_SIZE), (4 * SEGMENT_SIZE, len(ciphertext) - 4 * SEGMENT_SIZE)]
    recorder.calls.clear()
    assert list(decryptor.read(recorder, 10**9, None)) == []  # authenticated once is enough
    assert recorder.calls == []


def test_truncation_inside_a_segment(plaintext: bytes, ciphertext: bytes) -> None:
    _refused(ciphertext[:-1], len(plaintext))
    _refused(ciphertext[:-1], None)


def test_reordered_segments(plaintext: bytes, ciphertext: bytes) -> None:
    header, segments = _segments(ciphertext)
    swapped = header + segments[0] + segments[2] + segments[1] + b"".join(segments[3:])
    _refused(swapped, len(plaintext))
    with pytest.raises(TamperedBlob, match="segment 1 of 5"):
        _read(swapped, FIRST, FIRST + 1, size=len(plaintext))


def test_dropped_segment(plaintext: bytes, ciphertext: bytes) -> None:
    header, segments = _segments(ciphertext)
    dropped = header + segments[0] + b"".join(segments[2:])
    _refused(dropped, len(plaintext))
    _refused(dropped, None)


def test_duplicated_segment(plaintext: bytes, ciphertext: bytes) -> None:
    header, segments = _segments(ciphertext)
    doubled = header + segments[0] + segments[1] + b"".join(segments[1:])
    _refused(doubled, len(plaintext))
    _refused(doubled, None)


@pytest.mark.parametrize("extra", [b"\0", b"x" * TAG_SIZE, b"y" * SEGMENT_SIZE],
                         ids=["one-byte", "a-tag", "a-segment"])
def test_appended_bytes(plaintext: bytes, ciphertext: bytes, extra: bytes) -> None:
    _refused(ciphertext + extra, len(plaintext))
    _refused(ciphertext + extra, None)


def test_appended_copy_of_the_last_segment(plaintext: bytes, ciphertext: bytes) -> None:
    _, segments = _segments(ciphertext)
    _refused(ciphertext + segments[-1], len(plaintext))
    _refused(ciphertext + segments[-1], None)


@pytest.mark.parametrize("bit", [0, 1 * 8, 20 * 8 + 3, (HEADER_SIZE - 1) * 8 + 7],
                         ids=["length-byte", "salt-first", "salt-middle", "nonce-prefix-last"])
def test_flipped_header_bit(plaintext: bytes, ciphertext: bytes, bit: int) -> None:
    damaged = bytearray(ciphertext)
    damaged[bit // 8] ^= 1 << (bit % 8)
    _refused(bytes(damaged), len(plaintext))
    # A range in a later segment reads the header too, and fails as well.
    with pytest.raises(TamperedBlob):
        _read(bytes(damaged), FIRST + 2 * PLAIN, FIRST + 2 * PLAIN + 10, size=len(plaintext))


@pytest.mark.parametrize("offset", [HEADER_SIZE, SEGMENT_SIZE - 1, 2 * SEGMENT_SIZE + 500, -1],
                         ids=["first-byte-of-segment-0", "tag-of-segment-0", "inside-segment-2",
                              "tag-of-last-segment"])
def test_flipped_ciphertext_bit(plaintext: bytes, ciphertext: bytes, offset: int) -> None:
    damaged = bytearray(ciphertext)
    damaged[offset] ^= 0x80
    _refused(bytes(damaged), len(plaintext))


def test_blob_moved_to_another_domain(plaintext: bytes, ciphertext: bytes) -> None:
    other = EncryptionContext("d2", CONTEXT.sha256).blob_associated_data()
    with pytest.raises(TamperedBlob):
        _read(ciphertext, 0, None, size=len(plaintext), ad=other)


def test_blob_moved_to_another_sha256(plaintext: bytes, ciphertext: bytes) -> None:
    other = EncryptionContext(CONTEXT.domain, "cd" * 32).blob_associated_data()
    with pytest.raises(TamperedBlob):
        _read(ciphertext, 5, 6, size=len(plaintext), ad=other)


def test_another_data_key(plaintext: bytes, ciphertext: bytes) -> None:
    with pytest.raises(TamperedBlob):
        _read(ciphertext, 0, None, size=len(plaintext), key=os.urandom(32))


def test_a_short_read_from_the_store_is_tampering(plaintext: bytes, ciphertext: bytes) -> None:
    decryptor = StreamDecryptor(KEY, AD, len(ciphertext), plaintext_size=len(plaintext))
    with pytest.raises(TamperedBlob, match="ended .* early"):
        list(decryptor.read(lambda offset, length: ciphertext[offset:offset + length - 1]))


def test_verify_reads_every_segment(plaintext: bytes, ciphertext: bytes) -> None:
    StreamDecryptor(KEY, AD, len(ciphertext)).verify(Recorder(ciphertext))
    damaged = bytearray(ciphertext)
    damaged[3 * SEGMENT_SIZE + 7] ^= 1
    with pytest.raises(TamperedBlob, match="segment 3 of 5"):
        StreamDecryptor(KEY, AD, len(ciphertext)).verify(Recorder(bytes(damaged)))


def test_joined_reads_give_a_piece_per_read_at_call() -> None:
    plaintext = os.urandom(3 * 1024 * 1024 + 12345)
    ciphertext = encrypt_bytes(KEY, AD, plaintext)
    recorder = Recorder(ciphertext)
    decryptor = StreamDecryptor(KEY, AD, len(ciphertext), plaintext_size=len(plaintext))
    pieces = list(decryptor.read_joined(recorder, 0, None))
    assert b"".join(pieces) == plaintext
    assert len(pieces) == len(recorder.calls) == 4  # a mebibyte of ciphertext at a time
