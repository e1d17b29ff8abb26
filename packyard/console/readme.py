"""A version's README as safe HTML, the way Warehouse renders PyPI's.

``readme-renderer`` turns reStructuredText, Markdown (GitHub's variant) and plain text into
HTML and cleans it with its allow-list (``nh3``, Ammonia): no ``script``, no ``style``, no
event attributes, links only to ``http``, ``https`` and ``mailto``. PyPI's
``Description-Content-Type`` chooses the renderer (reST when absent, as PyPI does); a README
with no content type from any other format (npm's) is Markdown, cleaned the same way.

A second pass drops what the allow-list still lets through and the console will not show:
images keep only their alt text (one from another host tells that host who reads the page,
and when; any other is a path on this server, which the reader's browser would request as the
reader, a console page included), and links open without a referrer. The console's
Content-Security-Policy (``web.py``) forbids scripts and remote images as well, should
anything slip through.

``Readmes`` remembers what it rendered, by the README's content: a version's README is the same
on every view, and reStructuredText of a few hundred KiB takes docutils seconds to render.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

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


def _no_image_source(tag: str, attribute: str, value: str) -> str | None:
    """nh3's attribute filter: an image keeps its alt text only. From another host it would
    tell that host who reads the page, and when; from this server, any path (``/console/audit``,
    ``../../access``, ``logo.png``) is a console page that the reader's browser would request
    as the reader, a refusal recorded in the audit trail under the reader's name. A README's
    own images are not on this server anyway."""
    if tag == "img" and attribute == "src":
        return None
    return value


def _clean(html: str) -> str:
    return nh3.clean(html, tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES,
                     url_schemes={"http", "https", "mailto"},
                     link_rel="nofollow noopener noreferrer", attribute_filter=_no_image_source)


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
