"""Project names and versions as the Python packaging specs define them.

A project is stored under its PEP 503 normalized name (``Foo.Bar`` and ``foo-bar`` are one
project) and a release under its canonical version (``1.0`` and ``1.0.0`` are one release),
while the strings the publisher wrote are kept for display.
"""

from __future__ import annotations

import re

from packaging.utils import canonicalize_version
from packaging.version import InvalidVersion, Version

from packyard.errors import Invalid, NotFound

# PEP 508 "names" rule: ASCII letters and digits, with '.', '_' and '-' allowed inside.
# re.ASCII: on a str pattern IGNORECASE alone lets [A-Z] match the Kelvin sign, long s and
# dotless i (they case-fold to k, s and i), so a homoglyph of a project's name would pass.
_PROJECT_NAME_RE = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$",
                              re.IGNORECASE | re.ASCII)

# PEP 503: runs of '-', '_' and '.' are equivalent.
_SEPARATOR_RUN_RE = re.compile(r"[-_.]+")

PROJECT_NAME_RULE = (
    "a name must start and end with an ASCII letter or digit and contain only ASCII "
    "letters, digits, '.', '_' and '-'"
)
"""The naming rule in words, for error messages."""


def normalize_name(name: str) -> str:
    """Return the PEP 503 normalized form of a project name (``Foo_Bar.baz`` -> ``foo-bar-baz``)."""
    return _SEPARATOR_RUN_RE.sub("-", name).lower()


def is_valid_project_name(name: str) -> bool:
    """Tell whether ``name`` is a valid PEP 508 project name."""
    # fullmatch, because "$" would also accept a name followed by a newline.
    return _PROJECT_NAME_RE.fullmatch(name) is not None


def require_project_name(name: str) -> None:
    """Refuse a project name from a request path that no project can have (NotFound).

    Checked before the name is looked up anywhere, above all before it goes into an upstream
    URL: the path segment arrives percent-decoded once, so ``%252e%252e%252f`` would otherwise
    become ``%2e%2e%2f`` there, and ``a%3Fx=1%23`` a query string.
    """
    if not is_valid_project_name(name):
        raise NotFound(f"No project {name!r}: not a valid project name ({PROJECT_NAME_RULE})",
                       resource_id=name, resource_type="package")


def is_valid_version(version: str) -> bool:
    """Whether ``version`` is a PEP 440 version as written (no surrounding whitespace)."""
    try:
        parse_version(version)
    except Invalid:
        return False
    return True


def parse_version(version: str) -> Version:
    """Parse a PEP 440 version string, refusing anything a publisher should not send.

    Raises Invalid with a one-line reason.
    """
    # packaging.version silently strips surrounding whitespace; a version string with
    # whitespace would then be stored and displayed differently from what was parsed.
    if version != version.strip():
        raise Invalid(f"Version {version!r} must not have leading or trailing whitespace.")
    try:
        return Version(version)
    except InvalidVersion:
        raise Invalid(
            f"{version!r} is not a valid version: see PEP 440 "
            "(https://peps.python.org/pep-0440/) for the version format."
        ) from None


def normalize_version(version: str) -> str:
    """Return the canonical form of a version, for deciding whether two versions are the same.

    Trailing zeros of the release segment are dropped (PEP 625 and Warehouse do the same), so
    ``1.0``, ``1.0.0`` and ``v1.0`` all give ``1``: the same release, as ``Version`` equality
    says. Raises Invalid for a string that is not a PEP 440 version.
    """
    return canonicalize_version(parse_version(version))
