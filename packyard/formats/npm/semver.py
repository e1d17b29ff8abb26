"""npm versions: strict Semantic Versioning 2.0.0 parsing and precedence order.

npm refuses to publish anything that is not semver (libnpmpublish: "invalid semver"), after
cleaning ``v1.0.0`` and ``=1.0.0`` on the client side; the registry accepts only the clean
form, since other clients (or a raw PUT) do not clean. Precedence follows semver.org section 11:
numeric major.minor.patch, a pre-release below its release, pre-release identifiers compared
numerically when numeric and in ASCII order otherwise, numeric below alphanumeric, a longer set
above its prefix; build metadata is ignored, which is also why a version's identity
(:attr:`SemVer.canonical`) leaves it out, as node-semver's ``clean`` does before npm publishes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from packyard.errors import Invalid

MAX_VERSION_LENGTH = 255
"""CodeArtifact's PackageVersion limit (node-semver's own MAX_LENGTH is 256)."""

MAX_SAFE_INTEGER = 2**53 - 1
"""node-semver refuses larger numbers: JavaScript clients could not compare them."""

_NUMBER = r"0|[1-9][0-9]*"
_PRERELEASE_ID = r"0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*"
_BUILD_ID = r"[0-9A-Za-z-]+"
_SEMVER = re.compile(
    rf"(?P<major>{_NUMBER})\.(?P<minor>{_NUMBER})\.(?P<patch>{_NUMBER})"
    rf"(?:-(?P<pre>(?:{_PRERELEASE_ID})(?:\.(?:{_PRERELEASE_ID}))*))?"
    rf"(?:\+(?P<build>{_BUILD_ID}(?:\.{_BUILD_ID})*))?",
    re.ASCII,
)

SortKey = tuple[int, int, int, int, tuple[tuple[int, int, str], ...]]
"""Precedence as a tuple: compares like the versions it was made from."""


@dataclass(frozen=True)
class SemVer:
    """A parsed semantic version."""

    major: int
    minor: int
    patch: int
    prerelease: tuple[int | str, ...]
    build: tuple[str, ...]

    def __str__(self) -> str:
        return self.canonical + (f"+{'.'.join(self.build)}" if self.build else "")

    @property
    def canonical(self) -> str:
        """The version without build metadata: its identity in a package (``1.0.0+a`` is
        ``1.0.0``), as node-semver's ``clean`` produces it."""
        core = f"{self.major}.{self.minor}.{self.patch}"
        if self.prerelease:
            return f"{core}-{'.'.join(str(part) for part in self.prerelease)}"
        return core

    @property
    def is_prerelease(self) -> bool:
        return bool(self.prerelease)

    @property
    def precedence(self) -> SortKey:
        """Orders versions by semver precedence; equal for versions that differ in build only."""
        # A release sorts above each of its pre-releases: 1 > 0 in the fourth place. Within
        # pre-release identifiers numbers come before words, and a tuple that is a prefix of
        # another sorts first, as section 11.4 wants.
        identifiers = tuple(
            (0, part, "") if isinstance(part, int) else (1, 0, part) for part in self.prerelease
        )
        return (self.major, self.minor, self.patch, 0 if self.prerelease else 1, identifiers)


def _refuse(text: str, reason: str) -> Invalid:
    return Invalid(f'Invalid version "{text}": {reason}.')


def _why_not(text: str) -> str:
    """A reason a publisher can act on, for the usual mistakes."""
    if not text:
        return "a version is required"
    if text.strip() != text or " " in text:
        return "a version cannot contain spaces"
    if text[0] in "vV=":
        return f'write it without the leading "{text[0]}" ({text.lstrip("vV=")})'
    main, _, pre = text.split("+", 1)[0].partition("-")
    parts = main.split(".") + (pre.split(".") if pre else [])
    if any(len(part) > 1 and part.startswith("0") and part.isdigit() for part in parts):
        return "numbers cannot have leading zeros"
    return "it is not a semantic version (MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD], e.g. 1.0.0)"


def parse_version(text: str) -> SemVer:
    """Parse a strict SemVer 2.0.0 version; raise Invalid with the reason otherwise."""
    if len(text) > MAX_VERSION_LENGTH:
        raise _refuse(text[:40] + "…", f"longer than {MAX_VERSION_LENGTH} characters")
    found = _SEMVER.fullmatch(text)
    if found is None:
        raise _refuse(text, _why_not(text))
    numbers = [int(found[part]) for part in ("major", "minor", "patch")]
    if max(numbers) > MAX_SAFE_INTEGER:
        raise _refuse(text, f"numbers cannot be larger than {MAX_SAFE_INTEGER}")
    prerelease = tuple(
        int(part) if part.isdigit() else part for part in found["pre"].split(".")
    ) if found["pre"] else ()
    build = tuple(found["build"].split(".")) if found["build"] else ()
    return SemVer(numbers[0], numbers[1], numbers[2], prerelease, build)


def is_valid_version(text: str) -> bool:
    """Tell whether ``text`` is a strict semantic version."""
    try:
        parse_version(text)
    except Invalid:
        return False
    return True


def version_key(text: str) -> str:
    """The string a version is unique by within a package (build metadata left out)."""
    return parse_version(text).canonical


def version_sort_key(text: str) -> tuple[int, SortKey, str] | tuple[int, str]:
    """A sort key for any version string: semver precedence, then the text (so that versions
    differing only in build metadata still sort the same way every time); non-semver strings,
    which some very old upstream packages have, sort first, by text."""
    try:
        parsed = parse_version(text)
    except Invalid:
        return (0, text)
    return (1, parsed.precedence, text)


def highest(versions: Iterable[str], *, include_prereleases: bool) -> str | None:
    """The version of highest precedence among the valid ones given, or None."""
    best: tuple[SortKey, str] | None = None
    for text in versions:
        try:
            parsed = parse_version(text)
        except Invalid:
            continue
        if parsed.is_prerelease and not include_prereleases:
            continue
        if best is None or parsed.precedence > best[0]:
            best = (parsed.precedence, text)
    return best[1] if best else None
