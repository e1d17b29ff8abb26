"""``GET /-/v1/search``: the repository's packages found by name, description and keywords.

CodeArtifact has no search; npm users expect ``npm search`` to work, so this answers in the
public registry's shape (``objects[{package, score, searchScore}], total, time``) over the
repository's own packages. npm reads ``objects[].package`` (libnpmsearch); its formatter maps
``maintainers`` unconditionally, so that list is always present, and prints
"published … by <publisher.username>" (``???`` without one).

``text`` is split into words that must all match, and the public registry's qualifiers
(its REGISTRY-API.md, ``GET /-/v1/search``) narrow the search where Packyard has the data:
``author:`` (the manifest's author), ``maintainer:`` (the maintainers and publishers),
``scope:``, ``keywords:`` (``,`` OR, ``+`` AND, ``,-`` NOT: ``foo,bar+baz,-quux``),
``is:``/``not:`` ``unstable`` (version below 1.0.0) and ``deprecated``, ``boost-exact:false``.
``is:insecure``/``not:insecure`` narrow nothing: Packyard knows no vulnerabilities, and
pretending none is insecure would be a made-up answer. Any other ``x:y`` is a word.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from packyard.errors import Invalid
from packyard.formats.npm.names import PackageName
from packyard.formats.npm.packument import iso_time
from packyard.formats.npm.semver import parse_version

DEFAULT_SIZE = 20
MAX_SIZE = 250
"""The public registry's largest page."""


@dataclass(frozen=True)
class Person:
    """npm's person field (author, a maintainer, the publisher)."""

    name: str
    email: str | None = None
    url: str | None = None

    def answers_to(self, wanted: str) -> bool:
        """Whether a qualifier's value (one word, lower case) names this person: the name or
        one of its words, the e-mail address or its user part (``author:bob`` for "Bob
        Builder <bob@example.com>", as for the username the public registry matches)."""
        name = self.name.lower()
        email = (self.email or "").lower()
        return wanted in {name, *name.split(), email, email.partition("@")[0]} - {""}


# "Name <email> (url)", every part but the name optional (npm's own parsing of the string form).
_PERSON = re.compile(r"^\s*([^<(]*?)\s*(?:<([^>]*)>)?\s*(?:\(([^)]*)\))?\s*$")


def person(value: Any) -> Person | None:
    """A person from a manifest: ``{"name", "email", "url"}`` or ``"Name <email> (url)"``
    (the registry's ``_npmUser`` and ``maintainers`` use the object form)."""
    if isinstance(value, Mapping):
        name, email, url = (value.get(k) for k in ("name", "email", "url"))
    elif isinstance(value, str) and (found := _PERSON.match(value)):
        name, email, url = found.groups()
    else:
        return None
    if not isinstance(name, str) or not name.strip():
        return None
    return Person(name.strip(), email if isinstance(email, str) and email else None,
                  url if isinstance(url, str) and url else None)


@dataclass(frozen=True)
class SearchablePackage:
    """What search shows of a package: its ``latest`` version's manifest fields, and who
    maintains it."""

    name: PackageName
    version: str
    description: str | None
    keywords: tuple[str, ...]
    date: datetime
    links: Mapping[str, str]
    publisher: Person | None = None
    maintainers: tuple[Person, ...] = ()
    author: Person | None = None
    deprecated: bool = False

    @property
    def is_unstable(self) -> bool:
        """The public registry's "unstable": a version below 1.0.0."""
        try:
            return parse_version(self.version).major == 0
        except Invalid:  # an old upstream version that is not semver: no claim either way
            return False


@dataclass(frozen=True)
class SearchQuery:
    text: str
    size: int = DEFAULT_SIZE
    offset: int = 0


def searchable(name: PackageName, version: str, manifest: Mapping[str, Any],
               published: datetime, publishers: Sequence[Person] = (),
               deprecated: bool = False) -> SearchablePackage:
    """A package's search entry from its latest version's manifest. Its publisher is the
    manifest's ``_npmUser`` (the registry's record of who published it: Packyard's own on a
    publish, the upstream's on a kept version); its maintainers the manifest's
    ``maintainers`` and ``publishers``, who published the package's other versions."""
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
    publisher = person(manifest.get("_npmUser"))
    listed = manifest.get("maintainers")
    maintainers: dict[str, Person] = {}
    for found in [*(person(m) for m in (listed if isinstance(listed, list) else ())),
                  publisher, *publishers]:
        if found is not None:
            maintainers.setdefault(found.name, found)
    return SearchablePackage(
        name=name, version=version,
        description=description if isinstance(description, str) else None,
        keywords=tuple(k for k in keywords if isinstance(k, str)) if isinstance(
            keywords, list) else (),
        date=published, links=links, publisher=publisher,
        maintainers=tuple(maintainers.values()), author=person(manifest.get("author")),
        deprecated=deprecated)


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


def _score(package: SearchablePackage, words: Sequence[str],
           boost_exact: bool = True) -> float | None:
    """How well a package matches every word (None: it does not); 1.0 for the exact name
    (unless ``boost-exact:false``: then as any name containing the word)."""
    if not words:
        return 1.0
    full = package.name.full.lower()
    keywords = [k.lower() for k in package.keywords]
    description = (package.description or "").lower()
    total = 0.0
    for word in words:
        if boost_exact and word in (full, package.name.bare.lower()):
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


@dataclass
class _Filters:
    """The qualifiers of one query; each one given must hold."""

    authors: list[str] = field(default_factory=list)
    maintainers: list[str] = field(default_factory=list)
    scopes: list[str] = field(default_factory=list)
    # keywords: each a list of OR-ed groups (AND-ed keywords in each) and the excluded ones.
    keywords: list[tuple[list[list[str]], list[str]]] = field(default_factory=list)
    is_: set[str] = field(default_factory=set)
    not_: set[str] = field(default_factory=set)
    boost_exact: bool = True


_STATES = frozenset({"unstable", "deprecated", "insecure"})


def _keyword_expression(value: str) -> tuple[list[list[str]], list[str]]:
    """``foo,bar+baz,-quux``: foo OR (bar AND baz), and NOT quux."""
    groups: list[list[str]] = []
    excluded: list[str] = []
    for part in value.split(","):
        if part.startswith("-"):
            excluded.extend(k for k in part[1:].split("+") if k)
        elif wanted := [k for k in part.split("+") if k]:
            groups.append(wanted)
    return groups, excluded


def _read_text(text: str) -> tuple[list[str], _Filters]:
    """The words of a query's text and its qualifiers."""
    words: list[str] = []
    filters = _Filters()
    for term in text.lower().split():
        qualifier, colon, value = term.partition(":")
        if not colon or not value:
            words.append(term)
        elif qualifier == "author":
            filters.authors.append(value)
        elif qualifier == "maintainer":
            filters.maintainers.append(value)
        elif qualifier == "scope":
            filters.scopes.extend(v.lstrip("@") for v in value.split(",") if v)
        elif qualifier == "keywords":
            filters.keywords.append(_keyword_expression(value))
        elif qualifier in ("is", "not") and value in _STATES:
            (filters.is_ if qualifier == "is" else filters.not_).add(value)
        elif qualifier == "boost-exact":
            filters.boost_exact = value != "false"
        else:
            words.append(term)
    return words, filters


def _state(package: SearchablePackage, state: str) -> bool | None:
    """Whether the package is ``state``; None when Packyard cannot tell (insecure)."""
    if state == "unstable":
        return package.is_unstable
    if state == "deprecated":
        return package.deprecated
    return None


def _matches_filters(package: SearchablePackage, filters: _Filters) -> bool:
    author = package.author
    if any(author is None or not author.answers_to(a) for a in filters.authors):
        return False
    if any(not any(m.answers_to(wanted) for m in package.maintainers)
           for wanted in filters.maintainers):
        return False
    if filters.scopes and (package.name.scope or "") not in filters.scopes:
        return False
    keywords = {k.lower() for k in package.keywords}
    for groups, excluded in filters.keywords:
        if groups and not any(all(k in keywords for k in group) for group in groups):
            return False
        if any(k in keywords for k in excluded):
            return False
    if any(_state(package, s) is False for s in filters.is_):
        return False
    return not any(_state(package, s) is True for s in filters.not_)


def search(packages: Iterable[SearchablePackage], query: SearchQuery,
           now: datetime) -> dict[str, Any]:
    """The search response body for ``query`` over ``packages``."""
    words, filters = _read_text(query.text)
    scored = []
    for package in packages:
        score = _score(package, words, filters.boost_exact)
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


def _user(found: Person) -> dict[str, str]:
    """A person as the registry's search names a user: ``{"username", "email"}``."""
    return {"username": found.name, **({"email": found.email} if found.email else {})}


def _object(package: SearchablePackage, score: float) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": package.name.full,
        "scope": package.name.scope or "unscoped",
        "version": package.version,
        "description": package.description or "",
        "keywords": list(package.keywords),
        "date": iso_time(package.date),
        "links": dict(package.links),
        "maintainers": [_user(m) for m in package.maintainers],
    }
    if package.author is not None:
        author = package.author
        entry["author"] = {"name": author.name,
                           **({"email": author.email} if author.email else {}),
                           **({"url": author.url} if author.url else {})}
    if package.publisher is not None:
        entry["publisher"] = _user(package.publisher)
    return {
        "package": entry,
        "score": {"final": score,
                  "detail": {"quality": score, "popularity": 0.0, "maintenance": 0.0}},
        "searchScore": score,
    }
