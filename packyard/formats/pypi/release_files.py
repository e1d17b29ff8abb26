"""Which files one release may hold side by side, as PyPI rules it.

A release (a project's canonical version) holds at most one source distribution, and at most one
wheel per build tag and set of compatibility tags. ``pkg-1.0.0-py3-none-any.whl`` is the same
wheel as ``pkg-1.0-py3-none-any.whl`` to an installer (``1.0.0 == 1.0``), so a second one with
other bytes would not be a new file but a shadow of the first: ``pip download pkg==1.0`` could
fetch either. File names themselves are unique in a repository (the catalog's own rule); this
is the rule on top of it, applied by the catalog inside the transaction that adds a file.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import Protocol

from packaging.tags import Tag
from packaging.utils import BuildTag

from packyard.errors import Conflict, Invalid
from packyard.formats.pypi.filenames import parse_distribution_filename

_Slot = tuple[str, BuildTag, frozenset[Tag]]


class ReleaseFile(Protocol):
    """A file a release already holds (``model.Asset`` fits)."""

    @property
    def name(self) -> str: ...

    @property
    def blake2_256(self) -> str: ...


@lru_cache(maxsize=4096)
def _slot(filename: str) -> _Slot | None:
    """The place a file takes in its release: ``sdist``, or a wheel's build tag and tags."""
    try:
        dist = parse_distribution_filename(filename)
    except Invalid:
        return None  # stored before today's filename checks: it takes no place
    if dist.kind == "sdist":
        return ("sdist", (), frozenset())
    return ("wheel", dist.build_tag, dist.tags)


def release_conflict(filename: str, siblings: Iterable[ReleaseFile]) -> Conflict | None:
    """The refusal of a new file ``filename`` that would take the place of a file the release
    holds under another name, or None.

    A file of the same name is not judged here: the same bytes again are a no-op and other
    bytes a conflict by name, whatever this rule says.
    """
    slot = _slot(filename)
    if slot is None:
        return None
    for other in siblings:
        if other.name == filename or _slot(other.name) != slot:
            continue
        if slot[0] == "sdist":
            # Warehouse's words, so a PyPI user recognises them.
            return Conflict(f"Only one sdist may be uploaded per release: this release has "
                            f"{other.name} already; files are never replaced",
                            resource_id=filename, resource_type="asset")
        # A pulled file's BLAKE2b may not be filled in yet.
        held = (f"'{other.name}', with blake2_256 hash {other.blake2_256}" if other.blake2_256
                else f"'{other.name}'")
        return Conflict(f"File already exists ({held}): {filename} is the same release, build "
                        "tag and tags under another name; files are never replaced",
                        resource_id=filename, resource_type="asset")
    return None
