"""One byte range of a file (RFC 9110 section 14), as a client asks for it and as an upstream
answers it: the rules a range read of a file Packyard has not kept yet follows.

Only a single range is read this way (``bytes=a-b``, ``bytes=a-``, ``bytes=-n``): anything else
(several ranges, other units, a malformed header) is answered as it always was, from the kept
file once it is pulled.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SINGLE = re.compile(r"bytes=(\d*)-(\d*)", re.IGNORECASE)
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)", re.IGNORECASE)


@dataclass(frozen=True)
class ByteRange:
    """``bytes=first-last`` (``last`` None: to the end), or ``bytes=-suffix`` (``first``
    None: the last ``last`` bytes)."""

    first: int | None
    last: int | None

    @classmethod
    def parse(cls, header: str | None) -> ByteRange | None:
        """The one range ``header`` asks for; None when it asks for none, for several, in
        another unit, or malformed (``5-2``, ``-``)."""
        if header is None:
            return None
        found = _SINGLE.fullmatch(header.strip().replace(" ", ""))
        if found is None:
            return None
        first, last = found.group(1), found.group(2)
        if not first and not last:
            return None
        if first and last and int(last) < int(first):
            return None
        return cls(int(first) if first else None, int(last) if last else None)

    @property
    def header(self) -> str:
        """The Range header asking for it."""
        return (f"bytes=-{self.last}" if self.first is None
                else f"bytes={self.first}-{'' if self.last is None else self.last}")

    def within(self, size: int) -> tuple[int, int] | None:
        """The ``[start, end)`` it asks of a file of ``size`` bytes; None when unsatisfiable
        (it starts at or past the end, or is an empty suffix)."""
        if self.first is None:
            assert self.last is not None
            if self.last == 0 or size == 0:
                return None
            return max(size - self.last, 0), size
        if self.first >= size:
            return None
        return self.first, size if self.last is None else min(self.last + 1, size)

    def answered_by(self, start: int, end: int, total: int | None) -> bool:
        """Whether the upstream's ``[start, end)`` of ``total`` bytes (None: not said) is what
        this asks for."""
        if total is not None:
            return self.within(total) == (start, end)
        if self.first is None:  # a suffix needs the total to be placed
            return False
        return start == self.first and (self.last is None or end <= self.last + 1)


def parse_content_range(value: str | None) -> tuple[int, int, int | None] | None:
    """``Content-Range: bytes a-b/total`` as ``(a, b + 1, total)`` (total None for ``*``);
    None when absent or not of that form."""
    if value is None:
        return None
    found = _CONTENT_RANGE.fullmatch(value.strip())
    if found is None:
        return None
    start, last, total = int(found.group(1)), int(found.group(2)), found.group(3)
    if last < start:
        return None
    return start, last + 1, None if total == "*" else int(total)


def unsatisfied_size(value: str | None) -> int | None:
    """The size a 416's ``Content-Range: bytes */size`` states; None when it states none."""
    if value is None:
        return None
    found = re.fullmatch(r"bytes \*/(\d+)", value.strip(), re.IGNORECASE)
    return int(found.group(1)) if found else None


@dataclass(frozen=True)
class FileRequest:
    """What a request asks of a file besides its name: only its headers (HEAD), or one range
    of its bytes (``byte_range``, with the ``If-Range`` the client sent)."""

    head: bool = False
    byte_range: ByteRange | None = None
    if_range: str | None = None

    def range_of(self, sha256: str | None) -> ByteRange | None:
        """The range to answer for a file whose ETag will be its sha256: None when none is
        asked or ``If-Range`` names another version (RFC 9110 13.1.5: the whole file then)."""
        if self.byte_range is None:
            return None
        if self.if_range is not None and (sha256 is None or self.if_range != f'"{sha256}"'):
            return None
        return self.byte_range


WHOLE_FILE = FileRequest()
