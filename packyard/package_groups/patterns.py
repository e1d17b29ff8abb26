"""Package group patterns: the definition syntax, its validation, and matching a package.

CodeArtifact User Guide, "Package group definition syntax and matching behavior":

- A pattern is a package path (``/format/namespace/name``) with the components it leaves
  unspecified omitted, ended by a suffix: ``$`` matches the full coordinate, ``~`` a prefix,
  ``*`` (after a ``/``) every value of the next component. The allowed combinations are
  ``/*``, ``/npm/*``, ``/maven/com.anycompany~``, ``/npm/space/*``,
  ``/npm/space/anycompany-ui~`` and ``/maven/org.apache.logging.log4j/log4j-core$``.
- Formats without a namespace (Python, NuGet; Ruby and Cargo too, per the API reference) leave
  it empty: ``/pypi//requests$``. Formats that always have one (Maven, generic, Swift) must
  give it whenever the name is given.
- ``~`` matches at a word boundary: a word is ``[\\p{L}\\p{N}][\\p{L}\\p{N}\\p{M}]*``, so
  ``/npm/space/foo~`` matches ``foo`` and ``foo-bar`` but not ``food``; the prefix must end in
  a word character ("a wildcard (*) is required to be used instead of ~ when following a
  non-word character").
- Patterns are case sensitive (``/npm//AsyncStorage$`` and ``/npm//asyncstorage$`` are two
  groups), and names of formats CodeArtifact normalizes (NuGet, Python, Swift) must be written
  normalized. A package whose coordinate equals a pattern is a *strong* match; one that equals
  a *variation* of it (case folded; runs of ``-``, ``.`` and ``_`` alike; confusable
  characters) is a *weak* match, still associated with the group.

Confusable characters: variations are compared after NFKC normalization and case folding,
which folds compatibility forms (full-width letters, ligatures) but not look-alikes from other
scripts (Unicode's confusables table, UTS #39, is not applied).
"""

from __future__ import annotations

import enum
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Final, Literal

from packyard.errors import Invalid
from packyard.formats.codeartifact import (
    NAMESPACE_TERMS,
    codeartifact_formats,
    has_namespaces,
    namespace_required,
)

MIN_LENGTH: Final = 2
MAX_LENGTH: Final = 520
"""PackageGroupPattern's length limits in the model."""

MAX_COMPONENT_LENGTH: Final = 255
"""PackageNamespace's and PackageName's limit in the model."""

ROOT: Final = "/*"
"""The root group, in every domain: it holds every package."""

_SUFFIXES: Final = "*~$"
_SEPARATOR_RUN = re.compile(r"[-._]+")

Component = Literal["namespace", "name"]
Normalizer = Callable[[str, Component, str], str]
"""``(format, component, value) -> normalized value``: the form a format stores names in."""


class Scope(enum.IntEnum):
    """What a pattern pins down, from the least specific to the most."""

    ALL = 0  # /*
    FORMAT = 1  # /npm/*
    NAMESPACE_PREFIX = 2  # /maven/com.anycompany~
    NAMESPACE = 3  # /npm/space/*  (and /npm//* for packages without a namespace)
    NAME_PREFIX = 4  # /npm/space/anycompany-ui~
    NAME = 5  # /maven/org.apache.logging.log4j/log4j-core$


class Association(enum.StrEnum):
    """How a package matches a group (the model's PackageGroupAssociationType)."""

    STRONG = "STRONG"
    WEAK = "WEAK"


@dataclass(frozen=True)
class PackageGroupPattern:
    """A parsed pattern. ``namespace`` is the namespace prefix for ``NAMESPACE_PREFIX`` and the
    exact namespace (``""`` for none) from ``NAMESPACE`` on; ``name`` is the name prefix for
    ``NAME_PREFIX`` and the exact name for ``NAME``."""

    scope: Scope
    format: str | None = None
    namespace: str | None = None
    name: str | None = None

    def __str__(self) -> str:
        return self.text

    @property
    def text(self) -> str:
        """The pattern as written: also the group's identifier."""
        if self.scope is Scope.ALL:
            return ROOT
        if self.scope is Scope.FORMAT:
            return f"/{self.format}/*"
        if self.scope is Scope.NAMESPACE_PREFIX:
            return f"/{self.format}/{self.namespace}~"
        if self.scope is Scope.NAMESPACE:
            return f"/{self.format}/{self.namespace}/*"
        suffix = "~" if self.scope is Scope.NAME_PREFIX else "$"
        return f"/{self.format}/{self.namespace}/{self.name}{suffix}"

    @property
    def is_root(self) -> bool:
        return self.scope is Scope.ALL

    @property
    def specificity(self) -> tuple[int, int]:
        """Orders the groups that match one package: the more specific, the greater.

        The groups matching a package form a chain, each a subset of the one before ("the more
        specific pattern is the one that matches a proper subset"); within a prefix scope the
        longer matching prefix is the subset.
        """
        if self.scope is Scope.NAMESPACE_PREFIX:
            return (self.scope.value, len(self.namespace or ""))
        if self.scope is Scope.NAME_PREFIX:
            return (self.scope.value, len(self.name or ""))
        return (self.scope.value, 0)

    def match(self, fmt: str, namespace: str | None, name: str) -> Association | None:
        """Whether the package ``/fmt/namespace/name`` matches, and how strongly."""
        if self.scope is Scope.ALL:
            return Association.STRONG
        if fmt != self.format:
            return None
        if self.scope is Scope.FORMAT:
            return Association.STRONG
        ns = namespace or ""
        if self.scope is Scope.NAMESPACE_PREFIX:
            return _prefix_match(self.namespace or "", ns)
        ns_match = _equal_match(self.namespace or "", ns)
        if ns_match is None or self.scope is Scope.NAMESPACE:
            return ns_match
        if self.scope is Scope.NAME_PREFIX:
            name_match = _prefix_match(self.name or "", name)
        else:
            name_match = _equal_match(self.name or "", name)
        if name_match is None:
            return None
        if Association.WEAK in (ns_match, name_match):
            return Association.WEAK
        return Association.STRONG

    def contains(self, other: PackageGroupPattern) -> bool:
        """Whether every package ``other`` matches also matches this pattern, and the two are
        different patterns: this group is then an ancestor of ``other`` in the hierarchy.

        Containment is structural (strong matches only): ``/pypi/*`` contains ``/pypi//*``.
        """
        if self == other:
            return False
        if self.scope is Scope.ALL:
            return True
        if other.scope is Scope.ALL or other.format != self.format:
            return False
        if self.scope is Scope.FORMAT:
            return True
        if self.scope is Scope.NAMESPACE_PREFIX:
            return (other.scope is not Scope.FORMAT
                    and _prefix_match(self.namespace or "", other.namespace or "",
                                      weak=False) is not None)
        if other.scope not in (Scope.NAME_PREFIX, Scope.NAME) or other.namespace != self.namespace:
            return False
        if self.scope is Scope.NAMESPACE:
            return True
        if self.scope is Scope.NAME_PREFIX:
            return _prefix_match(self.name or "", other.name or "", weak=False) is not None
        return False


ROOT_GROUP: Final = PackageGroupPattern(Scope.ALL)


def package_path(fmt: str, namespace: str | None, name: str) -> str:
    """A package's path as the User Guide writes it: ``/npm/space/anycompany-ui-components``."""
    return f"/{fmt}/{namespace or ''}/{name}"


def parse_pattern(text: str, *, normalize: Normalizer | None = None) -> PackageGroupPattern:
    """Parse and validate a pattern; raises Invalid (a ValidationException) saying what is wrong.

    ``normalize``, given a format's normalization (PEP 503 names for pypi, ...), refuses names
    not written in their normalized form: CodeArtifact matches normalized names, so such a
    group could only ever match weakly.
    """
    def refuse(reason: str) -> Invalid:
        return Invalid(f'Invalid package group pattern "{text}": {reason}',
                       resource_id=text, resource_type="package-group")

    if not MIN_LENGTH <= len(text) <= MAX_LENGTH:
        raise refuse(f"a pattern has {MIN_LENGTH} to {MAX_LENGTH} characters, not {len(text)}")
    for char in text:
        if char.isspace() or unicodedata.category(char).startswith("C"):
            raise refuse(f"it contains {_describe(char)}; a pattern has no whitespace or "
                         "control characters")
    if not text.startswith("/"):
        raise refuse("a pattern is a package path: it starts with / and the package format, "
                     "as in /pypi/*")
    suffix, body = text[-1], text[1:-1]
    if suffix not in _SUFFIXES:
        raise refuse("a pattern ends with * (every value of the next component), ~ (a prefix) "
                     "or $ (one package), as in /npm/*, /npm/space/ui~ or /pypi//requests$")
    parts = _components(text, suffix, body, refuse)
    for part in parts:
        for char in _SUFFIXES:
            if char in part:
                raise refuse(f"{char} may only end the pattern")
        if "#" in part:
            raise refuse("a package path component cannot contain #")
        if len(part) > MAX_COMPONENT_LENGTH:
            raise refuse(f"a component has at most {MAX_COMPONENT_LENGTH} characters")
    if not parts:
        return ROOT_GROUP
    fmt = parts[0]
    if not fmt:
        raise refuse("the package format is missing after the first /")
    if fmt not in codeartifact_formats():
        raise refuse(f'"{fmt}" is not a package format (one of '
                     f'{", ".join(codeartifact_formats())})')
    pattern = _scoped(fmt, suffix, parts, refuse)
    _check_namespace(pattern, refuse)
    if normalize is not None:
        _check_normalized(pattern, normalize, refuse)
    return pattern


def _components(text: str, suffix: str, body: str,
                refuse: Callable[[str], Invalid]) -> list[str]:
    if suffix == "*":
        if body and not body.endswith("/"):
            hint = (f", as in {text[:-1]}~" if _ends_with_word(body.rsplit("/", 1)[-1])
                    else " after a letter or digit")
            raise refuse("* follows a / and matches every value of the next component; for a "
                         f"prefix match use ~{hint}")
        parts = body[:-1].split("/") if body else []
        if len(parts) > 2:
            raise refuse("* matches every format (/*), every namespace of a format (/npm/*) or "
                         "every name in a namespace (/npm/space/*); for one package end the "
                         "name with $")
        return parts
    parts = body.split("/")
    if suffix == "~":
        if len(parts) == 1:
            raise refuse(f"a package format cannot be matched by prefix; use /{parts[0]}/* for "
                         "every package of a format")
        if len(parts) > 3:
            raise refuse("a pattern has at most three components: format, namespace and name")
        return parts
    if len(parts) != 3:
        raise refuse("$ matches one package: give its format, namespace and name, as in "
                     "/npm/space/ui-core$ (an empty namespace is //, as in /pypi//requests$)")
    return parts


def _scoped(fmt: str, suffix: str, parts: list[str],
            refuse: Callable[[str], Invalid]) -> PackageGroupPattern:
    if suffix == "*":
        if len(parts) == 1:
            return PackageGroupPattern(Scope.FORMAT, fmt)
        return PackageGroupPattern(Scope.NAMESPACE, fmt, parts[1])
    if suffix == "~":
        prefix = parts[-1]
        every = f"/{fmt}/*" if len(parts) == 2 else f"/{fmt}/{parts[1]}/*"
        if not prefix:
            raise refuse(f"~ needs a prefix before it; to match every value use {every}")
        if not _ends_with_word(prefix):
            raise refuse(f'~ matches at a word boundary, so its prefix must end with a letter or '
                         f'digit; "{prefix}" ends with "{prefix[-1]}"')
        if len(parts) == 2:
            return PackageGroupPattern(Scope.NAMESPACE_PREFIX, fmt, prefix)
        return PackageGroupPattern(Scope.NAME_PREFIX, fmt, parts[1], prefix)
    if not parts[2]:
        raise refuse("the package name is missing before $")
    return PackageGroupPattern(Scope.NAME, fmt, parts[1], parts[2])


def _check_namespace(pattern: PackageGroupPattern, refuse: Callable[[str], Invalid]) -> None:
    fmt = pattern.format or ""
    if not has_namespaces(fmt):
        if pattern.scope is Scope.NAMESPACE_PREFIX:
            raise refuse(f"{fmt} packages have no namespace, so no namespace prefix matches "
                         f"them; use /{fmt}/* for all of them")
        if pattern.namespace:
            example = replace(pattern, namespace="")
            raise refuse(f"{fmt} packages have no namespace: leave it empty, as in {example}")
    if (namespace_required(fmt) and pattern.scope >= Scope.NAMESPACE
            and not pattern.namespace):
        raise refuse(f"{fmt} packages always have a namespace ({NAMESPACE_TERMS[fmt]}), so an "
                     "empty one (//) matches none of them")


def _check_normalized(pattern: PackageGroupPattern, normalize: Normalizer,
                      refuse: Callable[[str], Invalid]) -> None:
    fmt = pattern.format or ""
    checks: list[tuple[Component, str]] = []
    if pattern.namespace:
        checks.append(("namespace", pattern.namespace))
    if pattern.name:
        checks.append(("name", pattern.name))
    for component, value in checks:
        expected = normalize(fmt, component, value)
        if expected != value:
            raise refuse(f"{fmt} package {component}s are stored and matched normalized: write "
                         f'"{expected}" instead of "{value}"')


def _describe(char: str) -> str:
    name = unicodedata.name(char, "")
    return f"U+{ord(char):04X}" + (f" ({name})" if name else "")


def _is_word_char(char: str) -> bool:
    return unicodedata.category(char)[0] in "LNM"


def _ends_with_word(prefix: str) -> bool:
    """Whether ``prefix`` ends inside a word ``[\\p{L}\\p{N}][\\p{L}\\p{N}\\p{M}]*``: its trailing
    run of letters, digits and marks holds a letter or digit (marks alone start no word)."""
    for char in reversed(prefix):
        category = unicodedata.category(char)[0]
        if category in "LN":
            return True
        if category != "M":
            return False
    return False


def variation(text: str) -> str:
    """The form weak matching compares: NFKC, case folded, each run of ``-._`` one ``.``."""
    return _SEPARATOR_RUN.sub(".", unicodedata.normalize("NFKC", text).casefold())


def _equal_match(expected: str, value: str) -> Association | None:
    if value == expected:
        return Association.STRONG
    if variation(value) == variation(expected):
        return Association.WEAK
    return None


def _prefix_match(prefix: str, value: str, *, weak: bool = True) -> Association | None:
    if _at_word_boundary(prefix, value):
        return Association.STRONG
    if weak and _at_word_boundary(variation(prefix), variation(value)):
        return Association.WEAK
    return None


def _at_word_boundary(prefix: str, value: str) -> bool:
    return (bool(prefix) and value.startswith(prefix)
            and (len(value) == len(prefix) or not _is_word_char(value[len(prefix)])))
