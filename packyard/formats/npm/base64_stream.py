"""Base64 decoded as it arrives, into a sink, hashed on the way: a publish's tarball.

npm sends the tarball as one base64 string (``Buffer.toString('base64')``: padded, no line
breaks). It is decoded four characters at a time, whatever the chunking, in strict mode so that
anything but the base64 alphabet, or data after the padding, is refused rather than skipped.
"""

from __future__ import annotations

import binascii
import hashlib
from collections.abc import Callable

from packyard.errors import Invalid

Sink = Callable[[bytes], object]


def not_base64() -> Invalid:
    return Invalid("The tarball attachment's data is not valid base64.")


class Base64Stream:
    """Feed base64 text in pieces; the decoded bytes go to ``sink`` and into the hashes."""

    def __init__(self, sink: Sink) -> None:
        self._sink = sink
        self._pending = b""
        self._padded = False
        self.length = 0
        self._sha512 = hashlib.sha512()
        self._sha1 = hashlib.sha1()  # npm's legacy dist.shasum, not for security

    def feed(self, text: bytes) -> None:
        if not text:
            return
        if self._padded:
            raise not_base64()
        text = self._pending + text
        whole = len(text) // 4 * 4
        self._pending = text[whole:]
        if not whole:
            return
        try:
            data = binascii.a2b_base64(text[:whole], strict_mode=True)
        except binascii.Error:
            raise not_base64() from None
        self._padded = text[whole - 1] == ord("=")
        self.length += len(data)
        self._sha512.update(data)
        self._sha1.update(data)
        self._sink(data)

    def finish(self) -> None:
        """The string ended: refuse a dangling partial group."""
        if self._pending:
            raise not_base64()

    @property
    def sha512(self) -> str:
        return self._sha512.hexdigest()

    @property
    def sha1(self) -> str:
        return self._sha1.hexdigest()
