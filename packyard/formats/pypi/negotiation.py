"""Content negotiation for the PyPI Simple Repository API (PEP 691).

The simple index serves one resource in three media types; the client's ``Accept`` header
(or an explicit ``?format=`` query parameter) picks one. This module only decides; the
route handler sets ``Content-Type`` to the answer and adds ``Vary: Accept``.

When ``Accept`` names none of them (``application/json``, ``image/png``, a future
``v2+json``), the answer is ``text/html``, as PyPI (Warehouse's ``_select_content_type``)
answers: the first of the three choices PEP 691 leaves the server, rather than a 406 that a
script asking PyPI for ``application/json`` never meets there.
"""

from __future__ import annotations

import functools

from packyard.http.negotiation import TOKEN, AcceptEntry, parse_accept

SIMPLE_V1_JSON = "application/vnd.pypi.simple.v1+json"
SIMPLE_V1_HTML = "application/vnd.pypi.simple.v1+html"
TEXT_HTML = "text/html"

# PEP 691 "latest" meta-versions; the response must carry the concrete v1 type instead.
_SIMPLE_LATEST_JSON = "application/vnd.pypi.simple.latest+json"
_SIMPLE_LATEST_HTML = "application/vnd.pypi.simple.latest+html"

# What each concrete media type answers to, with the specificity of each name.
# Exact names beat "type/*", which beats "*/*" (RFC 9110 section 12.5.1).
_EXACT = 2
_SUBTYPE_WILDCARD = 1
_FULL_WILDCARD = 0
_NAMES: dict[str, dict[str, int]] = {
    SIMPLE_V1_JSON: {
        SIMPLE_V1_JSON: _EXACT,
        _SIMPLE_LATEST_JSON: _EXACT,
        "application/*": _SUBTYPE_WILDCARD,
        "*/*": _FULL_WILDCARD,
    },
    SIMPLE_V1_HTML: {
        SIMPLE_V1_HTML: _EXACT,
        _SIMPLE_LATEST_HTML: _EXACT,
        "application/*": _SUBTYPE_WILDCARD,
        "*/*": _FULL_WILDCARD,
    },
    TEXT_HTML: {
        TEXT_HTML: _EXACT,
        "text/*": _SUBTYPE_WILDCARD,
        "*/*": _FULL_WILDCARD,
    },
}

# Last tie-break, when one Accept entry covers several of our types at the same quality.
# text/html comes first so that "*/*" (what curl, requests and httpx send by default, and
# what PEP 691 says a missing header means) gets the legacy HTML page that pre-PEP 691
# clients such as older Poetry parse without looking at Content-Type. "application/*"
# names only the vendor types and gets JSON, the more expressive of the two.
_SERVER_PREFERENCE = (TEXT_HTML, SIMPLE_V1_JSON, SIMPLE_V1_HTML)

# PEP 691 "URL Parameter": ?format= takes exactly one media type, no wildcards or q.
_FORMAT_VALUES = {
    SIMPLE_V1_JSON: SIMPLE_V1_JSON,
    _SIMPLE_LATEST_JSON: SIMPLE_V1_JSON,
    SIMPLE_V1_HTML: SIMPLE_V1_HTML,
    _SIMPLE_LATEST_HTML: SIMPLE_V1_HTML,
    TEXT_HTML: TEXT_HTML,
}



def choose_media_type(accept_header: str | None) -> str:
    """Pick the media type to answer a simple-index request with.

    Returns one of SIMPLE_V1_JSON, SIMPLE_V1_HTML or TEXT_HTML. A missing header, an empty
    one, or one with no well-formed entry means "anything" and gets TEXT_HTML, the type
    every client since PEP 503 understands. Otherwise each of our types takes its quality
    from the most specific entry that names it; q=0 rules a type out. The best quality
    wins, then the more specific match, then the entry the client listed first, then
    ``_SERVER_PREFERENCE``. When no type is acceptable, TEXT_HTML, as on PyPI.
    """
    entries = [e for e in parse_accept(accept_header) if _is_media_range(e.value)]
    if not entries:
        return TEXT_HTML
    ranked: list[tuple[float, int, int, int, str]] = []
    for preference, media_type in enumerate(_SERVER_PREFERENCE):
        match = _best_match(media_type, entries)
        if match is None:
            continue
        entry, specificity = match
        if entry.quality > 0:
            ranked.append((-entry.quality, -specificity, entry.position, preference, media_type))
    if not ranked:
        return TEXT_HTML
    return min(ranked)[-1]


def media_type_for_format(value: str | None) -> str | None:
    """Map a ``?format=`` query value to the media type to answer with, or None if unknown.

    PEP 691 lets a server honour this parameter ahead of ``Accept`` so that people can
    explore the API in a browser. The value must be exactly one of the simple-API media
    types (the ``latest`` aliases answer with the concrete v1 type). None tells the caller
    to fall back to :func:`choose_media_type`, which PEP 691 allows.

    A space stands for "+": the URL PEP 691 and PyPI's docs show,
    ``?format=application/vnd.pypi.simple.v1+json``, has the "+" unescaped, and a query
    string decodes it as a space (no media type has one).
    """
    if value is None:
        return None
    return _FORMAT_VALUES.get(value.strip().lower().replace(" ", "+"))


@functools.lru_cache(maxsize=512)  # clients send few distinct headers, over and over
def negotiate(accept_header: str | None, format_param: str | None = None) -> str:
    """Pick the media type for a request: a known ``?format=`` wins, else ``Accept`` decides."""
    return media_type_for_format(format_param) or choose_media_type(accept_header)


def _best_match(media_type: str, entries: list[AcceptEntry]) -> tuple[AcceptEntry, int] | None:
    """Find the entry that decides ``media_type``'s quality: the most specific one.

    Among equally specific entries (``v1+json`` and ``latest+json`` both name JSON) the
    most favourable quality counts, and then the earliest position.
    """
    names = _NAMES[media_type]
    matches = [(entry, names[entry.value]) for entry in entries if entry.value in names]
    if not matches:
        return None
    return max(matches, key=lambda match: (match[1], match[0].quality, -match[0].position))


def _is_media_range(value: str) -> bool:
    """Check ``type/subtype`` syntax; ``*/subtype`` is not a valid range."""
    kind, slash, subtype = value.partition("/")
    if not slash or not TOKEN.fullmatch(kind) or not TOKEN.fullmatch(subtype):
        return False
    return not (kind == "*" and subtype != "*")


