"""A version's README as safe HTML, the way Warehouse renders PyPI's.

``readme-renderer`` turns reStructuredText, Markdown (GitHub's variant) and plain text into
HTML and cleans it with its allow-list (``nh3``, Ammonia): no ``script``, no ``style``, no
event attributes, links only to ``http``, ``https`` and ``mailto``. PyPI's
``Description-Content-Type`` chooses the renderer (reST when absent, as PyPI does); a README
with no content type from any other format (npm's) is Markdown, cleaned the same way.

A second pass drops what the allow-list still lets through and the console will not show:
images from other hosts (loading one tells that host who reads the page, and when) keep only
their alt text, and links open without a referrer. The console's Content-Security-Policy
(``routes.py``) forbids scripts and remote images as well, should anything slip through.

``Readmes`` remembers what it rendered, by the README's content: a version's README is the same
on every view, and reStructuredText of a few hundred KiB takes docutils seconds to render.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

import nh3
from markupsafe import Markup
from readme_renderer import markdown, rst, txt
from readme_renderer.clean import ALLOWED_ATTRIBUTES, ALLOWED_TAGS

from packyard.ttl_cache import TtlCache

# Beyond this, a README is shown as plain text (rendering cost grows with its size).
MAX_RENDERED_CHARS = 512 * 1024


@dataclass(frozen=True)
class RenderedReadme:
    html: Markup
    # How it was read: "reStructuredText", "Markdown" or "plain text".
    kind: str


def _renderer(content_type: str | None, fmt: str) -> str:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media == "text/markdown" or (not media and fmt != "pypi"):
        return "Markdown"
    if media == "text/plain":
        return "plain text"
    return "reStructuredText"


# What a browser drops from a URL before reading it: C0 controls and spaces around it, tabs
# and newlines anywhere (the URL Standard's basic URL parser).
_AROUND = "".join(map(chr, range(0x21)))
_INSIDE = re.compile(r"[\t\n\r]")


def _elsewhere(url: str) -> bool:
    """Whether a browser would load ``url`` from another host: it names a scheme or a host,
    read as the browser reads it, where "\\" is "/" and any run of slashes at the start
    introduces a host (``/\\host/x.png`` and ``///host/x.png`` are another host's image)."""
    cleaned = _INSIDE.sub("", url.strip(_AROUND)).replace("\\", "/")
    try:
        parts = urlsplit(cleaned)
    except ValueError:  # an unclosed IPv6 host ("//[x/p.png"): not kept either
        return True
    return bool(parts.scheme or parts.netloc) or cleaned.startswith("//")


def _local_only(tag: str, attribute: str, value: str) -> str | None:
    """nh3's attribute filter: an image from another host keeps its alt text only."""
    if tag == "img" and attribute == "src" and _elsewhere(value):
        return None
    return value


def _clean(html: str) -> str:
    return nh3.clean(html, tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES,
                     url_schemes={"http", "https", "mailto"},
                     link_rel="nofollow noopener noreferrer", attribute_filter=_local_only)


def render_readme(text: str | None, content_type: str | None, fmt: str) -> RenderedReadme | None:
    """The README as HTML that is safe to put in a page; None when there is none."""
    if not text or not text.strip():
        return None
    kind = _renderer(content_type, fmt)
    if len(text) > MAX_RENDERED_CHARS:
        kind = "plain text"
    html: str | None
    if kind == "Markdown":
        variant = "CommonMark" if "variant=commonmark" in (content_type or "").lower() else "GFM"
        html = markdown.render(text, variant=variant)
    elif kind == "reStructuredText":
        html = rst.render(text)
    else:
        html = None
    if html is None:
        # reST that does not parse is shown as text, as PyPI does.
        kind = "plain text"
        html = txt.render(text) or ""
    return RenderedReadme(Markup(_clean(html)), kind)


class Readmes:
    """``render_readme`` with its answers remembered by the README's text, content type and
    format, bounded by the rendered HTML's total size (least recently viewed out first)."""

    def __init__(self, *, max_bytes: int = 32 * 1024 * 1024, max_entries: int = 512,
                 ttl_seconds: float = 3600.0) -> None:
        self._rendered: TtlCache[tuple[str, str, str], RenderedReadme | None] = TtlCache(
            ttl_seconds=ttl_seconds, max_entries=max_entries, max_weight=max_bytes,
            weigh=lambda found: len(found.html) if found is not None else 0)

    def render(self, text: str | None, content_type: str | None, fmt: str
               ) -> RenderedReadme | None:
        if not text or not text.strip():
            return None
        digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
        return self._rendered.get_or_load((digest, content_type or "", fmt),
                                          lambda: render_readme(text, content_type, fmt))
