"""``GET /-/v1/search``: the repository's packages found by name, description and keywords.

CodeArtifact has no search; npm users expect ``npm search`` to work, so this answers in the
public registry's shape (``objects[{package, score, searchScore}], total, time``) over the
repository's own packages. npm reads ``objects[].package`` (libnpmsearch) and its formatter
maps ``maintainers`` unconditionally, so that list is always present.

``text`` is split into words that must all match; ``keywords:a,b`` and ``scope:acme`` narrow
the search, the public registry's other qualifiers (``author:``, ``is:`` …) are ignored.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from packyard.errors import Invalid
from packyard.formats.npm.names import PackageName
from packyard.formats.npm.packument import iso_time

DEFAULT_SIZE = 20
MAX_SIZE = 250
"""The public registry's largest page."""


@dataclass(frozen=True)
class SearchablePackage:
    """What search shows of a package: its ``latest`` version's manifest fields."""

    name: PackageName
    version: str
    description: str | None
    keywords: tuple[str, ...]
    date: datetime
    links: Mapping[str, str]
    publisher: str | None = None


@dataclass(frozen=True)
class SearchQuery:
    text: str
    size: int = DEFAULT_SIZE
    offset: int = 0


def searchable(name: PackageName, version: str, manifest: Mapping[str, Any],
               published: datetime, publisher: str | None = None) -> SearchablePackage:
    """A package's search entry from its latest version's manifest."""
    keywords = manifest.get("keywords")
    if isinstance(keywords, str):  # some old manifests have "a, b"
        keywords = [k for k in keywords.replace(",", " ").split() if k]
    links = {}
    for key in ("homepage", "repository", "bugs"):
        value = manifest.get(key)
        if isinstance(value, Mapping):
            value = value.get("url")
        if isinstance(value, str) and value:
            links[key] = value
    description = manifest.get("description")
    return SearchablePackage(
        name=name, version=version,
        description=description if isinstance(description, str) else None,
        keywords=tuple(k for k in keywords if isinstance(k, str)) if isinstance(
            keywords, list) else (),
        date=published, links=links, publisher=publisher)


def parse_search_query(params: Mapping[str, str]) -> SearchQuery:
    """Read ``text``, ``size`` and ``from`` from the query string (npm also sends quality,
    popularity and maintenance weights, which mean nothing for a private repository)."""
    numbers = {}
    for key, default in (("size", DEFAULT_SIZE), ("from", 0)):
        raw = params.get(key)
        try:
            numbers[key] = int(raw) if raw not in (None, "") else default
        except ValueError:
            raise Invalid(f"Search parameter {key} must be a whole number, not {raw!r}.") from None
        if numbers[key] < 0:
            raise Invalid(f"Search parameter {key} cannot be negative.")
    return SearchQuery(params.get("text", ""), max(1, min(numbers["size"], MAX_SIZE)),
                       numbers["from"])


def _score(package: SearchablePackage, words: Sequence[str]) -> float | None:
    """How well a package matches every word (None: it does not); 1.0 for the exact name."""
    if not words:
        return 1.0
    full = package.name.full.lower()
    keywords = [k.lower() for k in package.keywords]
    description = (package.description or "").lower()
    total = 0.0
    for word in words:
        if word in (full, package.name.bare.lower()):
            total += 1.0
        elif word in full:
            total += 0.8
        elif word in keywords:
            total += 0.6
        elif any(word in k for k in keywords) or word in description:
            total += 0.3
        else:
            return None
    return round(total / len(words), 4)


def _matches_filters(package: SearchablePackage, filters: Mapping[str, list[str]]) -> bool:
    keywords = {k.lower() for k in package.keywords}
    if any(k not in keywords for k in filters.get("keywords", [])):
        return False
    scopes = filters.get("scope", [])
    return not scopes or (package.name.scope or "") in scopes


def search(packages: Iterable[SearchablePackage], query: SearchQuery,
           now: datetime) -> dict[str, Any]:
    """The search response body for ``query`` over ``packages``."""
    words: list[str] = []
    filters: dict[str, list[str]] = {}
    for term in query.text.lower().split():
        qualifier, colon, value = term.partition(":")
        if colon and qualifier in ("keywords", "scope"):
            filters.setdefault(qualifier, []).extend(
                v.lstrip("@") if qualifier == "scope" else v for v in value.split(",") if v)
        elif not colon:
            words.append(term)
    scored = []
    for package in packages:
        score = _score(package, words)
        if score is not None and _matches_filters(package, filters):
            scored.append((score, package))
    scored.sort(key=lambda found: (-found[0], found[1].name.full))
    page = scored[query.offset:query.offset + query.size]
    return {
        "objects": [_object(package, score) for score, package in page],
        "total": len(scored),
        "time": now.astimezone(UTC).strftime("%a %b %d %Y %H:%M:%S GMT+0000 (Coordinated "
                                             "Universal Time)"),
    }


def _object(package: SearchablePackage, score: float) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": package.name.full,
        "scope": package.name.scope or "unscoped",
        "version": package.version,
        "description": package.description or "",
        "keywords": list(package.keywords),
        "date": iso_time(package.date),
        "links": dict(package.links),
        "maintainers": [{"username": package.publisher}] if package.publisher else [],
    }
    if package.publisher:
        entry["publisher"] = {"username": package.publisher}
    return {
        "package": entry,
        "score": {"final": score,
                  "detail": {"quality": score, "popularity": 0.0, "maintenance": 0.0}},
        "searchScore": score,
    }
