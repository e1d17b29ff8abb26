"""Reading Accept-style request headers (RFC 9110 section 12.4/12.5), for every protocol
surface: the elements with their quality, and whether a client takes gzip."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass

TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# RFC 9110 section 12.4.2: qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
_QVALUE = re.compile(r"0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?")


@dataclass(frozen=True)
class AcceptEntry:
    """One well-formed element of an Accept-style header."""

    value: str  # lower-cased media range or content coding
    quality: float
    position: int  # index among the well-formed entries, in the client's order


@functools.lru_cache(maxsize=512)
def accepts_gzip(accept_encoding: str | None) -> bool:
    """Tell whether the client takes a gzip-coded response (RFC 9110 section 12.5.3).

    ``gzip`` or its old alias ``x-gzip`` with q > 0 says yes; either with q=0 says no even
    when ``*`` would allow it. A missing header gets the identity coding: RFC 9110 would
    allow any coding, but clients that omit the header rarely decode one.
    """
    explicit: AcceptEntry | None = None
    wildcard: AcceptEntry | None = None
    for entry in parse_accept(accept_encoding):
        if entry.value in ("gzip", "x-gzip"):
            if explicit is None or entry.quality > explicit.quality:
                explicit = entry
        elif entry.value == "*" and (wildcard is None or entry.quality > wildcard.quality):
            wildcard = entry
    chosen = explicit or wildcard
    return chosen is not None and chosen.quality > 0


def parse_accept(header: str | None) -> Iterator[AcceptEntry]:
    """Yield the well-formed elements of an Accept-style header, skipping malformed ones.

    Each element is ``value *( ";" name "=" value )``; only the ``q`` parameter matters
    here. An element with a parameter without ``=`` or a q outside RFC 9110's qvalue
    grammar is dropped, so one bad entry never spoils the rest. Callers check the value.
    """
    if header is None:
        return
    position = 0
    for element in _split_outside_quotes(header, ","):
        value, *params = _split_outside_quotes(element, ";")
        value = value.strip().lower()
        if not value:
            continue
        quality = _quality(params)
        if quality is None:
            continue
        yield AcceptEntry(value=value, quality=quality, position=position)
        position += 1


def _quality(params: list[str]) -> float | None:
    """Read the q parameter (default 1); None when any parameter is malformed."""
    quality = 1.0
    for param in params:
        if not param.strip():
            continue  # RFC 9110 allows empty parameters: "text/html;"
        name, equals, raw = param.partition("=")
        name = name.strip().lower()
        if not equals or not TOKEN.fullmatch(name):
            return None
        if name == "q":
            raw = raw.strip()
            if not _QVALUE.fullmatch(raw):
                return None
            quality = float(raw)
    return quality


def _split_outside_quotes(text: str, separator: str) -> list[str]:
    """Split on ``separator`` except inside RFC 9110 quoted-strings (with backslash escapes)."""
    parts: list[str] = []
    current: list[str] = []
    in_quotes = False
    escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif in_quotes and char == "\\":
            escaped = True
        elif char == '"':
            in_quotes = not in_quotes
        elif char == separator and not in_quotes:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return parts
