"""Which packument a request gets: the full document or the abbreviated ("corgi") one.

npm's install path (pacote) sends ``application/vnd.npm.install-v1+json; q=1.0,
application/json; q=0.8, */*``, and so do pnpm 10 (also on tarball GETs) and yarn 1; npm >= 10.4
installs with ``application/json``; pnpm 12's second request is ``application/json; q=1.0,
*/*``; yarn 4 and ``npm deprecate``'s ``?write=true`` read send none or ``*/*``. The public
registry answers anything it does not recognise with the full document, never 406, and so does
this: a client that did not ask for the abbreviated form by name gets the full one.
"""

from __future__ import annotations

import functools
import re

CORGI = "application/vnd.npm.install-v1+json"
"""The abbreviated packument's media type, also its Content-Type."""
FULL = "application/json"

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# RFC 9110 section 12.4.2: qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
_QVALUE = re.compile(r"0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?")

# What names each document, and how specifically (RFC 9110 section 12.5.1: the most specific
# range that matches decides a type's quality).
_NAMES = {
    CORGI: {CORGI: 2, "application/*": 1, "*/*": 0},
    FULL: {FULL: 2, "application/*": 1, "*/*": 0},
}


def _entries(header: str) -> list[tuple[str, float, int]]:
    """(media range, quality, position) for each well-formed element; malformed ones dropped."""
    found: list[tuple[str, float, int]] = []
    for element in header.split(","):
        value, *params = element.split(";")
        value = value.strip().lower()
        kind, slash, subtype = value.partition("/")
        if not (slash and _TOKEN.fullmatch(kind) and _TOKEN.fullmatch(subtype)):
            continue
        quality: float | None = 1.0
        for param in params:
            name, equals, raw = param.partition("=")
            if name.strip().lower() == "q":
                quality = float(raw.strip()) if equals and _QVALUE.fullmatch(raw.strip()) else None
        if quality is not None:
            found.append((value, quality, len(found)))
    return found


def _rank(media_type: str, entries: list[tuple[str, float, int]]) -> tuple[float, int, int]:
    """(quality, specificity, -position) of the entry deciding ``media_type``; quality 0 when
    nothing names it."""
    names = _NAMES[media_type]
    matches = [(names[value], quality, -position)
               for value, quality, position in entries if value in names]
    if not matches:
        return (0.0, -1, 0)
    specificity, quality, position = max(matches)
    return (quality, specificity, position)


@functools.lru_cache(maxsize=256)  # clients send a handful of distinct headers, over and over
def wants_abbreviated(accept: str | None) -> bool:
    """Tell whether a packument request should get the abbreviated document.

    Yes when the abbreviated type has a quality above zero and ranks above the full one:
    higher quality, then a more specific match, then listed first; a tie goes to the full
    document, which every client reads.
    """
    if not accept:
        return False
    entries = _entries(accept)
    corgi = _rank(CORGI, entries)
    return corgi[0] > 0 and corgi > _rank(FULL, entries)
