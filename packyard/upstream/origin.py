"""Package origin controls: how new versions of a package may enter a repository.

CodeArtifact ("Editing package origin controls", "Package origin control settings"):

- ``publish``: whether versions may be published directly to the repository;
- ``upstream``: whether versions may come from an upstream repository or external connection;
- the defaults depend on how the package's first version arrived: published directly gives
  ``publish: ALLOW, upstream: BLOCK``; pulled from an upstream or external connection gives
  ``publish: BLOCK, upstream: ALLOW``. A repository without the package at all takes it from
  upstream freely.

This is the defence against dependency substitution: a private package that someone also puts
on the public index never shows the public versions in the repository it was published to,
unless an administrator sets ``upstream: ALLOW``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

ALLOW = "ALLOW"
BLOCK = "BLOCK"


@dataclass(frozen=True)
class Restrictions:
    """A package's origin restrictions, as PackageOriginRestrictions carries them."""

    publish: str
    upstream: str


PUBLISHED_FIRST = Restrictions(publish=ALLOW, upstream=BLOCK)
"""Defaults for a package whose first version was published directly."""

RETAINED_FIRST = Restrictions(publish=BLOCK, upstream=ALLOW)
"""Defaults for a package whose first version came from an upstream or external connection."""


class HasRestrictions(Protocol):
    @property
    def origin_publish(self) -> str: ...

    @property
    def origin_upstream(self) -> str: ...


def takes_from_upstream(package: HasRestrictions | None) -> bool:
    """Whether a repository holding ``package`` (None: not holding it) may take upstream versions."""
    return package is None or package.origin_upstream == ALLOW


def takes_publishing(package: HasRestrictions | None) -> bool:
    """Whether versions of ``package`` (None: not in the repository yet) may be published."""
    return package is None or package.origin_publish == ALLOW
