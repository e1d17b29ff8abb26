"""The generic format's naming rules, with the message each rejection shows.

CodeArtifact User Guide, "Generic packages overview": a generic package has a namespace, a
name, versions and assets. Names, namespaces and versions are taken as given (no normalization)
within the API's own pattern (no ``#``, ``/`` or whitespace, 1-255 characters); asset names
"can use Unicode letters and numbers" (categories Ll, Lm, Lo, Lt, Lu, Nl and Nd) and
``~!@^&()-_+[]{};,.``; spaces are the only whitespace, never first, last or two in a row; an
asset cannot be named ``.`` or ``..``.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any, Final

from packyard.errors import Invalid

_LETTERS_AND_NUMBERS: Final = frozenset({"Ll", "Lm", "Lo", "Lt", "Lu", "Nl", "Nd"})
_SPECIALS: Final = frozenset("~!@^&()-_+[]{};,.")
_MAX_LENGTH: Final = 255
_API_PATTERN: Final = re.compile(r"[^#/\s]+")


def check_namespace(namespace: str | None) -> str:
    """The namespace as stored; generic packages must have one."""
    if not namespace:
        raise Invalid("A generic package needs a namespace: give --namespace")
    return _check_part("namespace", namespace)


def check_name(name: str) -> str:
    return _check_part("package name", name)


def check_version(version: str) -> str:
    return _check_part("package version", version)


def _check_part(what: str, value: str) -> str:
    if len(value) > _MAX_LENGTH or not _API_PATTERN.fullmatch(value):
        raise Invalid(f"The {what} {value!r} is not valid: 1 to {_MAX_LENGTH} characters, none "
                      "of them '#', '/' or whitespace")
    return value


def check_asset_name(name: str) -> None:
    """Refuse an asset name CodeArtifact refuses for generic packages."""
    if not name or len(name) > _MAX_LENGTH:
        raise Invalid(f"The asset name must be 1 to {_MAX_LENGTH} characters long")
    if name in (".", ".."):
        raise Invalid(f"An asset cannot be named {name!r}")
    if name != name.strip(" "):
        raise Invalid(f"The asset name {name!r} starts or ends with a space")
    if "  " in name:
        raise Invalid(f"The asset name {name!r} has two spaces in a row")
    for character in name:
        if character == " " or character in _SPECIALS:
            continue
        if unicodedata.category(character) not in _LETTERS_AND_NUMBERS:
            raise Invalid(f"The asset name {name!r} has the character {character!r} "
                          f"(U+{ord(character):04X}): asset names may use letters, numbers, "
                          "spaces and ~!@^&()-_+[]{};,. only")


def version_sort_key(version: str) -> Any:
    """Versions in natural order: runs of digits compare as numbers (``1.10`` after ``1.9``),
    the rest as text."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part)
                 for part in re.split(r"(\d+)", version) if part)
