"""npm's publish body, read as a stream: the document kept, the tarball passed on as it decodes.

``npm publish`` PUTs one JSON document: ``{_id, name, description, dist-tags, versions: {v:
manifest}, access, _attachments: {"<name>-<v>.tgz": {content_type, data: <base64>, length}}}``
(libnpmpublish). The tarball is inside as base64, so the body is a third larger than the tarball
and may be gigabytes. :class:`PublishBodyParser` is fed the body chunk by chunk: it copies the
JSON to a *skeleton* in which the attachment's ``data`` is ``""`` while that string's base64 is
decoded into a sink (the core passes a staged blob's ``write``) and hashed, so memory stays
bounded by the chunk size plus the skeleton, which has its own cap. A body that is not JSON is
refused at the first byte that shows it; one too large, as soon as it is.

Only the root object, ``_attachments`` and each attachment are followed key by key; every other
value is copied by a scan that looks at strings and brackets only, so a large manifest costs
little Python work.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from packyard.errors import Invalid, TooLarge
from packyard.formats.npm.base64_stream import Base64Stream, Sink, not_base64

MiB = 1024 * 1024


@dataclass(frozen=True)
class PublishLimits:
    """How much of a publish body Packyard reads."""

    max_body_bytes: int = 2900 * MiB
    """The whole body; base64 makes 4 bytes of 3, so this fits CodeArtifact's 2 GB asset limit."""
    max_document_bytes: int = 32 * MiB
    """The body without the tarball (the manifest, a readme; a deprecate PUT is the whole
    packument, which is 10 MB for typescript's 3,500 versions)."""
    max_depth: int = 64
    max_tarball_bytes: int = 2048 * MiB
    """The attachment once decoded (``PACKYARD_NPM_MAX_TARBALL_BYTES``): the body limit alone
    would let a tarball as large as the document allowance through on top of it."""


DEFAULT_LIMITS = PublishLimits()


@dataclass(frozen=True)
class PublishBody:
    """A publish (or deprecate/unpublish) body with its attachment decoded elsewhere."""

    document: dict[str, Any]
    """The JSON body, each attachment's ``data`` replaced by ""."""
    attachment: str | None
    """The ``_attachments`` key whose data went to the sink, if any."""
    decoded_length: int
    sha512: str
    sha1: str
    """Hex digests of the decoded attachment."""


_ROOT, _ATTACHMENTS, _ATTACHMENT = "root", "attachments", "attachment"
_KEY_OR_END, _KEY, _COLON, _VALUE, _COMMA_OR_END = range(5)


@dataclass
class _Frame:
    """An object the parser follows key by key."""

    role: str
    state: int = _KEY_OR_END
    key: str = ""
    keys: set[str] = field(default_factory=set)


_WHITESPACE = re.compile(rb"[ \t\r\n]*")
_STRING_BODY = re.compile(rb'[^"\\]*')
_SCAN = re.compile(rb'["\[\]{}]')
_BARE = re.compile(rb"[-+.0-9A-Za-z]*")
_BARE_VALUE = re.compile(rb"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?|true|false|null")
_IGNORED_ESCAPES = {ord("n"), ord("r"), ord("t")}  # line breaks some encoders put in base64


class PublishBodyParser:
    """Feed the body in chunks, then ``close()`` for the document."""

    def __init__(self, sink: Sink, limits: PublishLimits = DEFAULT_LIMITS, *,
                 hash_attachment: bool = True) -> None:
        """``hash_attachment=False`` when ``sink`` hashes what it is given (a staged blob
        does): the body's ``sha512`` and ``sha1`` are then "" for the caller to fill in, and
        a large tarball is not hashed twice."""
        self._limits = limits
        self._buf = bytearray()
        self._pos = 0
        self._offset = 0  # body bytes dropped from the front of _buf
        self._received = 0
        self._skeleton = bytearray()
        self._stack: list[_Frame] = []
        self._done = False
        self._attachment: str | None = None
        # A value being copied (skip), a string being read (in_string), a key being collected.
        self._skip_depth = -1
        self._in_string = False
        self._escape = False
        self._key: bytearray | None = None
        # Inside the attachment's data string.
        self._in_data = False
        self._data_out = Base64Stream(sink, hashed=hash_attachment)

    # -- public ---------------------------------------------------------------------------

    def feed(self, chunk: bytes) -> None:
        """Take the next bytes of the body."""
        self._received += len(chunk)
        if self._received > self._limits.max_body_bytes:
            raise TooLarge(f"The publish body is larger than {_mib(self._limits.max_body_bytes)}.")
        self._buf += chunk
        self._run()
        if self._data_out.length > self._limits.max_tarball_bytes:
            raise TooLarge("The tarball is larger than "
                           f"{_mib(self._limits.max_tarball_bytes)}.")
        self._offset += self._pos
        del self._buf[:self._pos]
        self._pos = 0
        document_bytes = len(self._skeleton) + len(self._buf)
        if not self._in_data and document_bytes > self._limits.max_document_bytes:
            raise TooLarge("The publish document (the body without its tarball) is larger than "
                           f"{_mib(self._limits.max_document_bytes)}.")

    def close(self) -> PublishBody:
        """The body is complete: parse the skeleton."""
        if not self._done:
            raise Invalid("The publish body is not valid JSON: it ends before the document does.")
        try:
            document = json.loads(bytes(self._skeleton))
        except json.JSONDecodeError as exc:
            # Not its position: that is in the skeleton, not in the body the client sent.
            raise Invalid(f"The publish body is not valid JSON ({exc.msg}).") from None
        except (ValueError, UnicodeDecodeError):
            raise Invalid("The publish body is not valid JSON (not UTF-8).") from None
        out = self._data_out
        return PublishBody(document, self._attachment, out.length, out.sha512, out.sha1)

    # -- the state machine ---------------------------------------------------------------

    def _bad(self, what: str) -> Invalid:
        return Invalid(f"The publish body is not valid JSON: {what} at byte "
                       f"{self._offset + self._pos}.")

    def _run(self) -> None:
        while self._pos < len(self._buf):
            if self._in_data:
                if not self._data():
                    return
            elif self._skip_depth >= 0 or self._in_string:
                if not self._skip():
                    return
            elif not self._structure():
                return

    def _structure(self) -> bool:
        """One step at the level of the followed objects; False when more bytes are needed."""
        buf = self._buf
        self._pos = _match_end(_WHITESPACE, buf, self._pos)
        if self._pos >= len(buf):
            return False
        char = buf[self._pos]
        if self._done:
            raise self._bad("data after the document")
        if not self._stack:
            if char != ord("{"):
                raise Invalid("The publish body must be a JSON object (npm's publish document).")
            self._open(_ROOT)
            return True
        frame = self._stack[-1]
        if frame.state in (_KEY_OR_END, _COMMA_OR_END) and char == ord("}"):
            self._copy(1)
            self._stack.pop()
            if self._stack:
                self._stack[-1].state = _COMMA_OR_END
            else:
                self._done = True
        elif frame.state in (_KEY_OR_END, _KEY) and char == ord('"'):
            self._key = bytearray()
            self._in_string = True
            self._copy(1)
        elif frame.state == _COLON and char == ord(":"):
            frame.state = _VALUE
            self._copy(1)
        elif frame.state == _COMMA_OR_END and char == ord(","):
            frame.state = _KEY
            self._copy(1)
        elif frame.state == _VALUE:
            self._value(frame, char)
        else:
            raise self._bad(f"unexpected {chr(char)!r}")
        return True

    def _value(self, frame: _Frame, char: int) -> None:
        if frame.role == _ROOT and frame.key == "_attachments" and char == ord("{"):
            self._open(_ATTACHMENTS)
        elif frame.role == _ATTACHMENTS and char == ord("{"):
            if self._attachment is not None:
                raise Invalid("Packyard stores one tarball per publish, and this body has a "
                              f"second attachment, {json.dumps(frame.key)} (npm publish "
                              "--provenance is not supported).")
            self._attachment = frame.key
            self._open(_ATTACHMENT)
        elif frame.role == _ATTACHMENT and frame.key == "data" and char == ord('"'):
            self._skeleton += b'""'
            self._pos += 1
            self._in_data = True
            frame.state = _COMMA_OR_END
        else:
            frame.state = _COMMA_OR_END
            self._skip_depth = 0

    def _open(self, role: str) -> None:
        if len(self._stack) >= self._limits.max_depth:
            raise self._bad("nesting too deep")
        self._stack.append(_Frame(role))
        self._copy(1)

    def _copy(self, count: int) -> None:
        self._skeleton += self._buf[self._pos:self._pos + count]
        self._pos += count

    def _end_key(self) -> None:
        frame = self._stack[-1]
        assert self._key is not None
        try:
            key = json.loads(b'"' + bytes(self._key) + b'"')
        except (ValueError, UnicodeDecodeError):
            raise self._bad("malformed key") from None
        self._key = None
        if key in frame.keys and (frame.role != _ROOT or key == "_attachments"):
            # json.loads keeps the last of two equal keys; the streamed data must be that one.
            raise Invalid(f"The publish body has the key {json.dumps(key)} twice.")
        frame.keys.add(key)
        frame.key = key
        frame.state = _COLON

    def _string(self) -> bool:
        """Copy string content up to its closing quote (already past the opening one)."""
        buf = self._buf
        while self._pos < len(buf):
            start = self._pos
            if self._escape:  # the character after a backslash, whatever it is
                self._escape = False
                self._pos += 1
            self._pos = _match_end(_STRING_BODY, buf, self._pos)
            if self._key is not None:
                self._key += buf[start:self._pos]
            self._skeleton += buf[start:self._pos]
            if self._pos >= len(buf):
                return False
            if buf[self._pos] == ord("\\"):
                self._escape = True
                if self._key is not None:
                    self._key.append(buf[self._pos])
                self._copy(1)
                continue
            self._copy(1)  # the closing quote
            self._in_string = False
            if self._key is not None:
                self._end_key()
            return True
        return False

    def _skip(self) -> bool:
        """Copy one value the parser does not follow; False when more bytes are needed."""
        buf = self._buf
        while True:
            if self._in_string:
                if not self._string():
                    return False
                if self._skip_depth <= 0:  # a key, or a string that was the whole value
                    self._skip_depth = -1
                    return True
            elif self._skip_depth == 0:
                char = buf[self._pos]
                if char == ord('"'):
                    self._in_string = True
                    self._copy(1)
                    continue
                if char not in b"{[":
                    return self._bare()
                self._skip_depth = 1
                self._copy(1)
            found = _SCAN.search(buf, self._pos)
            if found is None:
                self._copy(len(buf) - self._pos)
                return False
            self._copy(found.start() - self._pos)
            char = buf[self._pos]
            if char in b"{[" and self._skip_depth + len(self._stack) >= self._limits.max_depth:
                raise self._bad("nesting too deep")
            self._copy(1)
            if char == ord('"'):
                self._in_string = True
            elif char in b"{[":
                self._skip_depth += 1
            else:
                self._skip_depth -= 1
                if self._skip_depth == 0:
                    self._skip_depth = -1
                    return True

    def _bare(self) -> bool:
        """A number, true, false or null at the top of a skipped value."""
        end = _match_end(_BARE, self._buf, self._pos)
        if end >= len(self._buf):
            return False  # it may go on in the next chunk
        if not _BARE_VALUE.fullmatch(self._buf, self._pos, end):
            raise self._bad("unexpected " + repr(chr(self._buf[self._pos])))
        self._copy(end - self._pos)
        self._skip_depth = -1
        return True

    def _data(self) -> bool:
        """Decode the attachment's base64 up to its closing quote into the sink."""
        buf = self._buf
        # bytes.find is memchr; a regex character class here ran at ~110 MB/s and was half
        # of a large publish's time.
        end = buf.find(b'"', self._pos)
        stop = len(buf) if end < 0 else end
        escape = buf.find(b"\\", self._pos, stop)
        if escape >= 0:
            end = stop = escape
        self._data_out.feed(memoryview(buf)[self._pos:stop])
        self._pos = stop
        if end < 0:
            return False
        if buf[end] == ord("\\"):
            if end + 1 >= len(buf):
                return False
            escaped = buf[end + 1]
            if escaped == ord("/"):
                self._data_out.feed(b"/")
            elif escaped not in _IGNORED_ESCAPES:
                raise not_base64()
            self._pos = end + 2
            return True
        self._pos = end + 1
        self._data_out.finish()
        self._in_data = False
        return True


def _match_end(pattern: re.Pattern[bytes], buf: bytearray, pos: int) -> int:
    """Where a pattern that may match nothing stops matching at ``pos``."""
    found = pattern.match(buf, pos)
    return found.end() if found else pos


def _mib(size: int) -> str:
    return f"{size // MiB} MiB" if size % MiB == 0 else f"{size} bytes"
