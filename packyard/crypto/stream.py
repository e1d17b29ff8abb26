"""A segmented AEAD stream that can be decrypted from any offset: Tink's AES-GCM-HKDF-Streaming.

The byte layout is Tink's, so Tink decrypts what we write and we decrypt what Tink writes
(``tests/unit/test_crypto_tink_interop.py``); the code is ours, over ``cryptography``'s AESGCM,
because Tink's Python stream cannot seek and range reads must. Sources: Tink's "Streaming AEAD"
wire-format page and ``AesGcmHkdfStreaming.java`` / ``StreamingAeadSeekableDecryptingChannel.java``
(tink-java), ``aes_gcm_hkdf_stream_segment_decrypter.cc`` (tink-cc).

    ciphertext = header || segment_0 || segment_1 || ... || segment_{n-1}
    header     = u8 header_length (40) || salt (32 bytes) || nonce_prefix (7 bytes)
    segment_i  = AES-256-GCM(segment_key, nonce_i, plaintext_i, associated data = empty)
    segment_key = HKDF-SHA256(ikm = data key, salt, info = associated data, L = 32)  (RFC 5869)
    nonce_i    = nonce_prefix || u32be(i) || u8(1 if i is the last segment else 0)

Every ciphertext segment is ``segment_size`` bytes (64 KiB here; Tink's key sets it), tag
included, except that segment 0 is shorter by the header (so the header and segment 0 together
fill one segment: Tink's "ciphertext offset", with its ``firstSegmentOffset`` of 0) and the last
one may be shorter. So plaintext segments hold 65520 bytes, the first 65480. An empty plaintext
is one segment of just a tag. The associated data is never stored: it is the caller's binding
(``context.py``: domain and sha256), and without it the key cannot even be derived.

Tampering shows as ``TamperedBlob``: a changed byte fails its segment's tag; reordered, dropped
or duplicated segments fail because the segment number is in the nonce; truncation at a segment
boundary or appended bytes fail because the last segment is marked in its nonce, and, before any
read, because the size the catalog recorded no longer matches the ciphertext's size.
"""

from __future__ import annotations

import os
import struct
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from packyard.crypto.errors import TamperedBlob

KEY_SIZE = 32  # AES-256: data key, HKDF salt and derived segment key are all this long
NONCE_PREFIX_SIZE = 7
HEADER_SIZE = 1 + KEY_SIZE + NONCE_PREFIX_SIZE  # Tink's getHeaderLength(): 40
TAG_SIZE = 16
SEGMENT_SIZE = 64 * 1024
_MAX_SEGMENTS = 2**32  # the segment number is a 32-bit field of the nonce
_READ_SIZE = 1024 * 1024  # ciphertext asked of read_at at once, in whole segments

_NONCE = struct.Struct(">7sIB")
_DECRYPT_INTO = hasattr(AESGCM, "decrypt_into")

ReadAt = Callable[[int, int], bytes]
"""``read_at(offset, length)``: ``length`` ciphertext bytes from ``offset`` (fewer only at the
end): a file's ``os.pread``, an object store's ranged GET."""
AsyncReadAt = Callable[[int, int], Awaitable[bytes]]
# Runs a piece's reading and decryption elsewhere (a worker thread) and gives its result.
Run = Callable[[Callable[[], bytes]], Awaitable[bytes]]


@dataclass(frozen=True, slots=True)
class Layout:
    """Where segments lie for one ciphertext segment size (Tink's ``ciphertext_segment_size``)."""

    segment_size: int = SEGMENT_SIZE

    def __post_init__(self) -> None:
        # Tink refuses a segment that cannot hold the header and a tag.
        if not HEADER_SIZE + TAG_SIZE < self.segment_size < 2**31:
            raise ValueError(f"segment size {self.segment_size} out of range")

    @property
    def plaintext_segment_size(self) -> int:
        return self.segment_size - TAG_SIZE

    def ciphertext_size(self, plaintext_size: int) -> int:
        """The size of the ciphertext of ``plaintext_size`` bytes (Tink's
        ``expectedCiphertextSize``: a plaintext ending on a segment boundary ends with that full
        segment, not with an empty one)."""
        if plaintext_size < 0:
            raise ValueError("negative plaintext size")
        full, rest = divmod(plaintext_size + HEADER_SIZE, self.plaintext_segment_size)
        size = full * self.segment_size + (rest + TAG_SIZE if rest else 0)
        if self.segment_count(size) > _MAX_SEGMENTS:
            raise ValueError(f"{plaintext_size} bytes is more than one stream can hold")
        return size

    def segment_count(self, ciphertext_size: int) -> int:
        """How many segments a ciphertext of this size has (``TamperedBlob`` if no ciphertext
        can have this size)."""
        full, rest = divmod(ciphertext_size, self.segment_size)
        count = full + (1 if rest else 0)
        if (rest and rest < TAG_SIZE) or ciphertext_size < HEADER_SIZE + count * TAG_SIZE \
                or count == 0:
            raise TamperedBlob(f"no stream ciphertext is {ciphertext_size} bytes long")
        return count

    def plaintext_size(self, ciphertext_size: int) -> int:
        """The size of the plaintext a ciphertext of this size holds (unauthenticated until the
        last segment is decrypted, or checked against a size recorded elsewhere)."""
        return ciphertext_size - HEADER_SIZE - self.segment_count(ciphertext_size) * TAG_SIZE

    def segment_of(self, plaintext_offset: int) -> int:
        """The segment holding plaintext byte ``plaintext_offset``."""
        return (plaintext_offset + HEADER_SIZE) // self.plaintext_segment_size

    def plaintext_start(self, segment: int) -> int:
        """The plaintext offset at which ``segment`` begins."""
        return max(0, segment * self.plaintext_segment_size - HEADER_SIZE)

    def ciphertext_start(self, segment: int) -> int:
        """The ciphertext offset at which ``segment`` begins (just after the header for 0)."""
        return segment * self.segment_size if segment else HEADER_SIZE


LAYOUT = Layout()


def _segment_key(data_key: bytes, salt: bytes, associated_data: bytes) -> AESGCM:
    if len(data_key) != KEY_SIZE:
        raise ValueError(f"a data key is {KEY_SIZE} bytes, not {len(data_key)}")
    # RFC 5869 HKDF-SHA256; Tink puts the associated data in *info*.
    hkdf = HKDF(algorithm=hashes.SHA256(), length=KEY_SIZE, salt=salt, info=associated_data)
    return AESGCM(hkdf.derive(data_key))


def _seal_copying(aead: AESGCM, nonce: bytes, plaintext: memoryview | bytearray,
                  out: memoryview) -> None:
    out[:] = aead.encrypt(nonce, plaintext, None)


def _seal_in_place(aead: AESGCM, nonce: bytes, plaintext: memoryview | bytearray,
                   out: memoryview) -> None:
    aead.encrypt_into(nonce, plaintext, None, out)


# Sealing into one reused buffer: fresh megabyte-sized outputs cost page faults that halved
# throughput when measured. ``encrypt_into`` exists in recent ``cryptography`` releases only;
# older ones take the copying path (same bytes, one more copy).
_seal_into = _seal_in_place if hasattr(AESGCM, "encrypt_into") else _seal_copying


Sink = Callable[[memoryview], object]
"""Where ciphertext goes: ``file.write``, ``os.write`` bound to a descriptor, a multipart
upload's buffer. It must copy what it is given before returning: the view is reused."""


class StreamEncryptor:
    """A writable stream that encrypts: ``write`` plaintext in chunks of any size, ``close`` to
    seal the last segment; ciphertext goes to ``sink`` as soon as segments are complete (the
    header first).

    Memory is bounded whatever the stream's length: one segment of plaintext held back (a full
    segment is sealed only once more plaintext follows, since the last one is marked in its
    nonce) and one reused output buffer of up to 16 segments (1 MiB).
    """

    def __init__(self, data_key: bytes, associated_data: bytes, sink: Sink, *,
                 layout: Layout = LAYOUT) -> None:
        salt = os.urandom(KEY_SIZE)
        self._prefix = os.urandom(NONCE_PREFIX_SIZE)
        self._aead = _segment_key(data_key, salt, associated_data)
        self._sink = sink
        self._layout = layout
        self.header = bytes([HEADER_SIZE]) + salt + self._prefix
        self._pending = bytearray()
        self._capacity = layout.plaintext_segment_size - HEADER_SIZE
        self._segment = 0
        self._batch = max(1, _READ_SIZE // layout.segment_size)
        self._out = memoryview(bytearray())  # grown on demand: a small blob needs little
        self._started = False
        self.closed = False
        self.plaintext_size = 0

    def _start(self) -> None:
        if not self._started:
            self._started = True
            self._sink(memoryview(self.header))

    def _seal(self, plaintexts: list[memoryview | bytearray], last: bool) -> None:
        """Seal consecutive segments into the output buffer and hand it to the sink."""
        if self._segment + len(plaintexts) > _MAX_SEGMENTS:
            raise ValueError("more plaintext than one stream can hold")
        needed = sum(map(len, plaintexts)) + TAG_SIZE * len(plaintexts)
        if len(self._out) < needed:
            self._out = memoryview(bytearray(needed))
        position, out, prefix = 0, self._out, self._prefix
        final = len(plaintexts) - 1
        for i, plaintext in enumerate(plaintexts):
            size = len(plaintext) + TAG_SIZE
            nonce = _NONCE.pack(prefix, self._segment, last and i == final)
            _seal_into(self._aead, nonce, plaintext, out[position:position + size])
            self._segment += 1
            position += size
        self._capacity = self._layout.plaintext_segment_size
        self._sink(out[:position])

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Encrypt ``data`` (copied only for the part of a segment that stays pending)."""
        if self.closed:
            raise ValueError("write to a closed StreamEncryptor")
        self._start()
        view = memoryview(data).cast("B")
        size = len(view)
        self.plaintext_size += size
        pending = self._pending
        if pending:
            room = self._capacity - len(pending)
            if size <= room:
                pending += view
                return size
            pending += view[:room]
            view = view[room:]
            self._seal([pending], False)
            pending.clear()
        # Whole segments straight from the caller's buffer, a batch per output buffer.
        batch: list[memoryview | bytearray] = []
        while len(view) > self._capacity:
            batch.append(view[:self._capacity])
            view = view[self._capacity:]
            if len(batch) == self._batch or len(batch) == 1 and self._segment == 0:
                self._seal(batch, False)  # segment 0 goes alone: later ones are all one size
                batch = []
        if batch:
            self._seal(batch, False)
        pending += view
        return size

    def close(self) -> None:
        """Seal the last segment (for an empty stream, a segment of just a tag)."""
        if self.closed:
            return
        self._start()
        self.closed = True
        self._seal([self._pending], True)
        self._pending = bytearray()

    def __enter__(self) -> StreamEncryptor:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self.close()


def encrypt_bytes(data_key: bytes, associated_data: bytes, plaintext: bytes, *,
                  layout: Layout = LAYOUT) -> bytes:
    """The whole ciphertext of a small plaintext held in memory."""
    out = bytearray()
    with StreamEncryptor(data_key, associated_data, out.extend, layout=layout) as encryptor:
        encryptor.write(plaintext)
    return bytes(out)


@dataclass(frozen=True, slots=True)
class _Batch:
    """One ``read_at`` call and what to keep of its plaintext."""

    offset: int
    length: int
    first: int  # first segment in the batch
    count: int  # segments in the batch (0: the header alone)
    keep_from: int  # slice of the batch's plaintext that the caller asked for
    keep_to: int


class StreamDecryptor:
    """Random-access decryption of one ciphertext of known size.

    ``read(read_at, start, end)`` yields plaintext bytes [start, end) (clipped to the plaintext
    size, as ``BlobStore.read`` clips), reading the header once and then only the segments that
    cover the range, up to 1 MiB per ``read_at`` call. ``plaintext_size`` is the size recorded
    when the blob was written (the catalog's): when given, a ciphertext of any other size is
    refused before a byte is read, which is what makes a range read that does not reach the last
    segment safe against truncation. Without it, the last segment is authenticated before the
    first byte of any range is returned.
    """

    def __init__(self, data_key: bytes, associated_data: bytes, ciphertext_size: int, *,
                 plaintext_size: int | None = None, layout: Layout = LAYOUT) -> None:
        if len(data_key) != KEY_SIZE:
            raise ValueError(f"a data key is {KEY_SIZE} bytes, not {len(data_key)}")
        self._data_key = data_key
        self._associated_data = associated_data
        self._layout = layout
        self._ciphertext_size = ciphertext_size
        self._segments = layout.segment_count(ciphertext_size)
        self.plaintext_size = layout.plaintext_size(ciphertext_size)
        if plaintext_size is not None and plaintext_size != self.plaintext_size:
            raise TamperedBlob(
                f"the ciphertext is {ciphertext_size} bytes, which holds {self.plaintext_size} "
                f"bytes of plaintext, not the {plaintext_size} recorded")
        self._size_verified = plaintext_size is not None
        self._aead: AESGCM | None = None
        self._prefix = b""

    def _open_header(self, header: bytes | memoryview) -> None:
        if len(header) != HEADER_SIZE or header[0] != HEADER_SIZE:
            raise TamperedBlob("the stream header is damaged")
        self._prefix = bytes(header[1 + KEY_SIZE:])
        self._aead = _segment_key(self._data_key, bytes(header[1:1 + KEY_SIZE]),
                                  self._associated_data)

    def _plan(self, start: int, end: int) -> Iterator[_Batch]:
        layout = self._layout
        last_segment = self._segments - 1
        if start >= end:
            # Nothing to return, but a size nobody recorded is still authenticated (an empty
            # range of a blob truncated to one segment must not read as a clean empty blob).
            if not self._size_verified:
                if self._aead is None and last_segment != 0:
                    yield _Batch(0, HEADER_SIZE, 0, 0, 0, 0)
                offset = 0 if self._aead is None else layout.ciphertext_start(last_segment)
                yield _Batch(offset, self._ciphertext_size - offset, last_segment, 1, 0, 0)
            return
        first, final = layout.segment_of(start), layout.segment_of(end - 1)
        verify_last = not self._size_verified and final != last_segment
        if self._aead is None and (first != 0 or verify_last):
            yield _Batch(0, HEADER_SIZE, 0, 0, 0, 0)
        if verify_last:
            offset = layout.ciphertext_start(last_segment)
            yield _Batch(offset, self._ciphertext_size - offset, last_segment, 1, 0, 0)
        per_read = max(1, _READ_SIZE // layout.segment_size)
        for a in range(first, final + 1, per_read):
            b = min(a + per_read - 1, final)
            offset = 0 if a == 0 and self._aead is None else layout.ciphertext_start(a)
            stop = self._ciphertext_size if b == last_segment else layout.ciphertext_start(b + 1)
            base = layout.plaintext_start(a)
            yield _Batch(offset, stop - offset, a, b - a + 1,
                         max(start, base) - base, min(end, layout.plaintext_start(b + 1)) - base)

    def _sealed_segments(self, batch: _Batch, data: bytes
                         ) -> Iterator[tuple[int, bytes, memoryview]]:
        """Each of a batch's segments as (segment number, nonce, sealed bytes), after the
        header when the batch starts with it. The caller decrypts each before asking for the
        next: the last segment counts as verified (the size with it) only once it has."""
        if len(data) != batch.length:
            raise TamperedBlob(f"the ciphertext ended {batch.length - len(data)} bytes early")
        view = memoryview(data)
        if batch.offset == 0:
            self._open_header(view[:HEADER_SIZE])
            view = view[HEADER_SIZE:]
        layout, prefix, last_segment = self._layout, self._prefix, self._segments - 1
        position = 0
        for segment in range(batch.first, batch.first + batch.count):
            size = (layout.ciphertext_start(segment + 1) - layout.ciphertext_start(segment)
                    if segment != last_segment else len(view) - position)
            yield (segment, _NONCE.pack(prefix, segment, segment == last_segment),
                   view[position:position + size])
            position += size
            if segment == last_segment:
                self._size_verified = True

    def _tampered(self, segment: int) -> TamperedBlob:
        return TamperedBlob(f"segment {segment} of {self._segments} does not authenticate")

    def _open(self, batch: _Batch, data: bytes) -> list[bytes]:
        """The plaintext of a batch's segments that the caller asked for, a piece per segment
        (pieces of at most 64 KiB come from, and go back to, the allocator's free lists; joining
        them into megabytes measured slower)."""
        pieces: list[bytes] = []
        kept = 0
        for segment, nonce, sealed in self._sealed_segments(batch, data):
            aead = self._aead
            assert aead is not None  # the plan reads the header first
            try:
                plaintext = aead.decrypt(nonce, sealed, None)
            except InvalidTag:
                raise self._tampered(segment) from None
            lo, hi = max(batch.keep_from - kept, 0), batch.keep_to - kept
            kept += len(plaintext)
            if hi > 0 and lo < len(plaintext):
                pieces.append(plaintext if lo == 0 and hi >= len(plaintext) else plaintext[lo:hi])
        return pieces

    def _open_joined(self, batch: _Batch, data: bytes) -> bytes:
        """``_open``'s plaintext in one piece, each segment decrypted into its place in one
        buffer: for a whole download, a piece per ``read_at`` call (1 MiB) for one copy (into
        ``bytes``, which every reader takes), where 16 pieces of 64 KiB cost 16 sends
        downstream."""
        segments = self._sealed_segments(batch, data)
        if batch.count == 0:
            next(segments, None)  # the length and the header are checked all the same
            return b""
        # The header's length comes off only when the batch carries it.
        header = HEADER_SIZE if batch.offset == 0 else 0
        out = bytearray(max(len(data) - header - batch.count * TAG_SIZE, 0))
        into = memoryview(out)
        written = 0
        for segment, nonce, sealed in segments:
            aead = self._aead
            assert aead is not None  # the plan reads the header first
            target = into[written:written + len(sealed) - TAG_SIZE]
            try:
                if _DECRYPT_INTO:
                    aead.decrypt_into(nonce, sealed, None, target)
                else:  # cryptography before 45
                    target[:] = aead.decrypt(nonce, sealed, None)
            except InvalidTag:
                raise self._tampered(segment) from None
            written += len(sealed) - TAG_SIZE
        if batch.keep_from == 0 and batch.keep_to >= len(out):
            return bytes(out)
        return bytes(into[batch.keep_from:batch.keep_to])

    def _range(self, start: int, end: int | None) -> tuple[int, int]:
        if start < 0 or (end is not None and end < 0):
            raise ValueError("negative offset")
        return start, self.plaintext_size if end is None else min(end, self.plaintext_size)

    def read(self, read_at: ReadAt, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """Plaintext bytes [start, end), a piece per segment (at most 64 KiB each)."""
        start, end = self._range(start, end)
        for batch in self._plan(start, end):
            yield from self._open(batch, read_at(batch.offset, batch.length))

    def read_joined(self, read_at: ReadAt, start: int = 0, end: int | None = None
                    ) -> Iterator[bytes]:
        """``read``, a piece per ``read_at`` call (up to 1 MiB) instead of per segment."""
        start, end = self._range(start, end)
        for batch in self._plan(start, end):
            piece = self._open_joined(batch, read_at(batch.offset, batch.length))
            if piece:
                yield piece

    async def aread_joined(self, read_at: AsyncReadAt, start: int = 0,
                           end: int | None = None) -> AsyncIterator[bytes]:
        """``read_joined`` over an asynchronous ``read_at``: the reads wait elsewhere, the
        decryption runs here (AES-GCM holds the GIL: in a worker thread it would only contend
        with the event loop)."""
        start, end = self._range(start, end)
        for batch in self._plan(start, end):
            piece = self._open_joined(batch, await read_at(batch.offset, batch.length))
            if piece:
                yield piece

    async def aread_ahead(self, read_at: ReadAt, run: Run, start: int = 0,
                          end: int | None = None) -> AsyncIterator[bytes]:
        """``read_joined``, each piece read and decrypted by ``run`` (a worker thread), the
        next one under way while the caller sends this one. AES-GCM holds the GIL, so this
        pays only where the sending lets it go (the server writes large pieces on the socket
        itself, ``server/response_cycle.py``): then the decryption of one mebibyte and the
        kernel's copy of the one before it share the two cores. A piece still under way when
        the caller stops is left to finish (``read_at`` must stay usable until it does)."""
        start, end = self._range(start, end)

        def opened(batch: _Batch) -> Callable[[], bytes]:
            return lambda: self._open_joined(batch, read_at(batch.offset, batch.length))

        pending: Awaitable[bytes] | None = None
        for batch in self._plan(start, end):
            # The plan moves on only once the batch before is decrypted: the first one reads
            # the header the rest are planned by.
            piece = b"" if pending is None else await pending
            pending = run(opened(batch))
            if piece:
                yield piece
        if pending is not None:
            piece = await pending
            if piece:
                yield piece

    async def aread(self, read_at: AsyncReadAt, start: int = 0,
                    end: int | None = None) -> AsyncIterator[bytes]:
        """``read`` over an asynchronous ``read_at`` (an async blob store's ranged reads)."""
        start, end = self._range(start, end)
        for batch in self._plan(start, end):
            for piece in self._open(batch, await read_at(batch.offset, batch.length)):
                yield piece

    def verify(self, read_at: ReadAt) -> None:
        """Authenticate every segment (``packyard verify``); ``TamperedBlob`` if one fails."""
        self._size_verified = False  # an empty plaintext's one segment is checked too
        for _ in self.read(read_at):
            pass


def decrypt_bytes(data_key: bytes, associated_data: bytes, ciphertext: bytes, *,
                  plaintext_size: int | None = None, layout: Layout = LAYOUT) -> bytes:
    """The whole plaintext of a ciphertext held in memory (every segment authenticated)."""
    decryptor = StreamDecryptor(data_key, associated_data, len(ciphertext),
                                plaintext_size=plaintext_size, layout=layout)

    def read_at(offset: int, length: int) -> bytes:
        return ciphertext[offset:offset + length]

    if decryptor.plaintext_size == 0:
        decryptor.verify(read_at)
        return b""
    return b"".join(decryptor.read(read_at))
