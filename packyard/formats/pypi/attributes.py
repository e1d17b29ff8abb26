"""PyPI's own data about a file, kept in its asset's ``attributes`` (a JSON object).

The catalog keeps what every format shares (name, size, the CodeArtifact hashes); PyPI adds
the BLAKE2b-256 digest Warehouse reports, ``Requires-Python`` for the Simple API's
``data-requires-python``, and the sha256 and size of the PEP 658 core metadata file served
beside it — a wheel's, or an uploaded sdist's whose PKG-INFO PEP 643 makes reliable
(``archive.serves_core_metadata``) — a blob of its own, also recorded as the asset's companion
blob.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_BLAKE2_256 = "blake2_256"
_REQUIRES_PYTHON = "requires_python"
_METADATA_SHA256 = "metadata_sha256"
_METADATA_SIZE = "metadata_size"


def file_attributes(*, blake2_256: str | None, requires_python: str | None,
                    metadata_sha256: str | None, metadata_size: int | None,
                    blake2_later: bool = False) -> dict[str, Any]:
    """The attributes of a file, leaving out what it does not have. ``blake2_later``: a pulled
    file's BLAKE2b, not computed yet, is recorded as null, which the catalog fills in once it
    is (``metadata/later_digests.py``: the key is the digest's name)."""
    found = {_BLAKE2_256: blake2_256, _REQUIRES_PYTHON: requires_python,
             _METADATA_SHA256: metadata_sha256, _METADATA_SIZE: metadata_size}
    kept: dict[str, Any] = {key: value for key, value in found.items() if value is not None}
    if blake2_later and blake2_256 is None:
        kept[_BLAKE2_256] = None
    return kept


def _text(attributes: Mapping[str, Any], key: str) -> str | None:
    value = attributes.get(key)
    return value if isinstance(value, str) else None


def blake2_256(attributes: Mapping[str, Any]) -> str:
    return _text(attributes, _BLAKE2_256) or ""


def requires_python(attributes: Mapping[str, Any]) -> str | None:
    return _text(attributes, _REQUIRES_PYTHON)


def metadata_sha256(attributes: Mapping[str, Any]) -> str | None:
    """The sha256 of the PEP 658 core metadata file served next to the file, if there is one."""
    return _text(attributes, _METADATA_SHA256)


def metadata_size(attributes: Mapping[str, Any]) -> int | None:
    value = attributes.get(_METADATA_SIZE)
    return value if isinstance(value, int) and not isinstance(value, bool) else None
