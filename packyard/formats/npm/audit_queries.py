"""npm audit's queries, read so that only the packages the public registry may hear of are sent.

npm 7+ posts the bulk advisories query, ``{"name": ["version", ...]}`` (gzip-encoded); pnpm
posts npm 6's audit tree, ``{"name": ..., "requires": {name: range}, "dependencies": {name:
{"version": ..., "requires": ..., "dependencies": ...}}}`` (its importers, ``.`` and workspace
paths, are keys of the root's ``dependencies``). Packyard passes them on to
``public:npmjs``. A package a repository never asks the registry about (its origin controls or
its package group block the external connection: an internal name) is left out, so the query
does not tell the public registry the internal names a package group keeps from it; an
advisory about a public package of that name would be about someone else's code anyway.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable, Mapping
from typing import Any

from packyard.errors import Invalid, TooLarge
from packyard.formats.npm.names import PackageName, parse_package_name

ADVISORIES = "advisories"
AUDITS = "audits"

_DECODERS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS,
             "deflate": zlib.MAX_WBITS}


def read_query(body: bytes, content_encoding: str | None, limit: int) -> Any:
    """The JSON document of an audit query, decoded (gzip, deflate or none) up to ``limit``
    bytes; Invalid when it is not one."""
    encoding = (content_encoding or "identity").strip().lower()
    if encoding not in ("", "identity"):
        wbits = _DECODERS.get(encoding)
        if wbits is None:
            raise Invalid(f"An audit query is JSON, gzip- or deflate-encoded, not {encoding}.")
        decoder = zlib.decompressobj(wbits)
        try:
            body = decoder.decompress(body, limit + 1)
        except zlib.error:
            raise Invalid(f"The audit query is not valid {encoding} data.") from None
        if len(body) > limit:
            raise TooLarge(f"The audit query is larger than {limit} bytes once decoded.")
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise Invalid("The audit query is not a JSON document.") from None


def queried_names(kind: str, document: Any) -> set[str]:
    """Every package name the query asks about."""
    if kind == ADVISORIES:
        return set(document) if isinstance(document, dict) else set()
    names: set[str] = set()
    for node in _tree_nodes(document):
        for key in ("requires", "dependencies"):
            part = node.get(key)
            if isinstance(part, dict):
                names.update(part)
    return names


def without_names(kind: str, document: Any, withheld: set[str]) -> Any:
    """The query without the packages ``withheld`` (a new document)."""
    if kind == ADVISORIES:
        return {name: versions for name, versions in document.items() if name not in withheld}
    try:
        return _pruned(document, withheld)
    except RecursionError:
        raise Invalid("The audit query's tree is too deep.") from None


def package_names(names: Iterable[str]) -> dict[str, PackageName | None]:
    """Each name parsed (None where no registry could have a package of that name: pnpm's
    importers, ``.`` and workspace paths, are keys of the tree too)."""
    parsed: dict[str, PackageName | None] = {}
    for name in names:
        try:
            parsed[name] = parse_package_name(name)
        except Invalid:
            parsed[name] = None
    return parsed


def _tree_nodes(document: Any) -> Iterable[Mapping[str, Any]]:
    """The audit tree's nodes, the root's first (iteratively: the tree may be deep)."""
    stack = [document]
    while stack:
        node = stack.pop()
        if not isinstance(node, dict):
            continue
        yield node
        dependencies = node.get("dependencies")
        if isinstance(dependencies, dict):
            stack.extend(dependencies.values())


def _pruned(document: Any, withheld: set[str]) -> Any:
    if not isinstance(document, dict):
        return document
    pruned = dict(document)
    requires = document.get("requires")
    if isinstance(requires, dict):
        pruned["requires"] = {k: v for k, v in requires.items() if k not in withheld}
    dependencies = document.get("dependencies")
    if isinstance(dependencies, dict):
        pruned["dependencies"] = {k: _pruned(v, withheld) for k, v in dependencies.items()
                                  if k not in withheld}
    return pruned
