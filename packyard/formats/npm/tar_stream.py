"""A gzip-compressed tar archive read once, front to back, in bounded memory.

The tar headers are read here rather than by :mod:`tarfile`, whose stream mode reads a whole pax
or GNU long-name header into memory however large it claims to be. What is understood is what
npm's tarballs use: ustar headers with their prefix field (node-tar), pax ``path``/``size``
records, GNU long names; every other kind of entry is passed on for the caller to judge. The
decompressed stream refuses to grow past a size, or faster than a ratio to the compressed bytes
read (a decompression bomb), as soon as it does.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

MiB = 1024 * 1024
BLOCK = 512
_CHUNK = 64 * 1024

FILE_KINDS = (b"0", b"\0", b"7")
"""Regular files (``7``: contiguous, read as regular by every tar)."""
NO_DATA_KINDS = (b"1", b"2", b"3", b"4", b"5", b"6")
"""Links, devices, directories and FIFOs carry no data whatever their size field says."""


class Rejected(Exception):
    """Why an archive is refused, as a clause ("it is truncated") for the caller's message."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def size_text(size: int) -> str:
    """A byte count for a message: whole MiB when it is one."""
    return f"{size // MiB} MiB" if size >= MiB and size % MiB == 0 else f"{size} bytes"


class Readable(Protocol):
    def read(self, size: int, /) -> bytes: ...


class _Counting:
    """Counts the compressed bytes gzip consumes, for the ratio check."""

    def __init__(self, source: Readable) -> None:
        self.source = source
        self.total = 0

    def read(self, size: int = -1, /) -> bytes:
        data = self.source.read(size)
        self.total += len(data)
        return data

    def seek(self, offset: int, /) -> int:
        raise OSError("an uploaded tarball is read once, front to back")


class UnpackedStream:
    """The decompressed stream, refused as soon as it grows too large or too fast."""

    def __init__(self, source: Readable, *, max_unpacked_bytes: int, max_ratio: int,
                 ratio_floor_bytes: int) -> None:
        self._compressed = _Counting(source)
        self._gzip = gzip.GzipFile(fileobj=self._compressed, mode="rb")
        self._max_unpacked = max_unpacked_bytes
        self._max_ratio = max_ratio
        self._ratio_floor = ratio_floor_bytes
        self.total = 0

    def read(self, size: int) -> bytes:
        """Up to ``size`` decompressed bytes (fewer only at the end)."""
        data = self._gzip.read(size)
        self.total += len(data)
        if self.total > self._max_unpacked:
            raise Rejected(f"it unpacks to more than {size_text(self._max_unpacked)}")
        # Judged only past a floor: a small file of zeros compresses a thousandfold honestly.
        if (self.total > self._ratio_floor
                and self.total > self._max_ratio * max(self._compressed.total, 1)):
            raise Rejected(f"it is a decompression bomb ({self._compressed.total} bytes unpack "
                           f"to more than {self.total}, over {self._max_ratio} times as many)")
        return data

    def exact(self, size: int) -> bytes:
        """Exactly ``size`` bytes, or Rejected when the archive ends first."""
        parts = []
        wanted = size
        while wanted:
            chunk = self.read(min(wanted, _CHUNK))
            if not chunk:
                raise Rejected("the tar archive is truncated")
            parts.append(chunk)
            wanted -= len(chunk)
        return b"".join(parts)

    def skip(self, size: int) -> None:
        while size:
            chunk = self.read(min(size, _CHUNK))
            if not chunk:
                raise Rejected("the tar archive is truncated")
            size -= len(chunk)

    def drain(self) -> None:
        """Read to the end: what a client would decompress after the archive counts too."""
        while self.read(_CHUNK):
            pass


@dataclass
class TarEntry:
    """One member's header: its full name (pax or GNU long name applied), kind and data size."""

    name: str
    kind: bytes
    size: int


def _number(field: bytes) -> int:
    if field[:1] and field[0] & 0x80:  # GNU base-256, for sizes of 8 GiB and more
        return int.from_bytes(bytes([field[0] & 0x7F]) + field[1:], "big")
    text = field.replace(b"\0", b" ").strip()
    try:
        return int(text, 8) if text else 0
    except ValueError:
        raise Rejected("it is not a tar archive (bad number in a header)") from None


def _pax_records(data: bytes) -> dict[str, str]:
    records: dict[str, str] = {}
    at = 0
    while at < len(data):
        space = data.find(b" ", at)
        try:
            length = int(data[at:space])
        except ValueError:
            raise Rejected("it has a malformed pax header") from None
        if space < 0 or length <= 0 or at + length > len(data):
            raise Rejected("it has a malformed pax header")
        key, _, value = data[space + 1:at + length - 1].partition(b"=")
        records[key.decode("utf-8", "replace")] = value.decode("utf-8", "replace")
        at += length
    return records


def tar_entries(stream: UnpackedStream, max_header_bytes: int) -> Iterator[TarEntry]:
    """Yield each member; the caller reads or skips exactly ``size`` bytes of its data."""
    long_name: str | None = None
    pax: dict[str, str] = {}
    while True:
        header = stream.read(BLOCK)
        if len(header) < BLOCK:
            if not header and not long_name and not pax:
                return  # no end-of-archive blocks: node-tar accepts that too
            raise Rejected("the tar archive is truncated")
        if header == bytes(BLOCK):
            return
        # The checksum field counts as spaces; some old tars summed signed bytes.
        unsigned = sum(header[:148]) + 8 * 32 + sum(header[156:])
        signed = unsigned - 256 * sum(1 for byte in header[:148] + header[156:] if byte > 127)
        if _number(header[148:156]) not in (unsigned, signed):
            raise Rejected("it is not a tar archive (header checksum mismatch)")
        kind = header[156:157]
        size = _number(header[124:136])
        if kind in (b"x", b"g", b"L", b"K"):
            if size > max_header_bytes:
                raise Rejected(f"it has a {size}-byte extended header")
            data = stream.exact(size)
            stream.skip(-size % BLOCK)
            if kind == b"x":
                pax = _pax_records(data)
            elif kind == b"L":
                long_name = data.rstrip(b"\0").decode("utf-8", "replace")
            continue
        name = header[:100].split(b"\0", 1)[0].decode("utf-8", "replace")
        if header[257:263] == b"ustar\0" and header[345] != 0:
            prefix = header[345:500].split(b"\0", 1)[0].decode("utf-8", "replace")
            name = f"{prefix}/{name}"
        name = pax.get("path", long_name or name)
        if "size" in pax:
            try:
                size = int(pax["size"])
            except ValueError:
                raise Rejected("it has a malformed pax header") from None
        long_name, pax = None, {}
        yield TarEntry(name, kind, size)
