"""The tag condition keys: ``aws:ResourceTag/<key>``, ``aws:RequestTag/<key>`` and
``aws:TagKeys``, from tags the caller supplies.

IAM User Guide, "AWS global condition context keys", "Controlling access to AWS resources using
tags" and "Single-valued vs. multivalued context keys":

- ``aws:ResourceTag/<key>`` is the value of the resource's tag ``<key>``, present when the
  resource has that tag; ``aws:RequestTag/<key>`` the value the request passes for it (create
  requests with ``tags``, TagResource). Each is single-valued.
- ``aws:TagKeys`` is multivalued: the keys of the tags in the request (for UntagResource, the
  keys it removes), tested with ``ForAnyValue:`` / ``ForAllValues:``.
- Condition key names ignore case, so ``aws:ResourceTag/Team`` in a policy also tests a tag
  ``team``; tag keys and values are case sensitive, and the CodeArtifact User Guide adds
  ``aws:TagKeys`` to a policy to hold the key's case ("The aws:TagKeys condition ensures tag
  key case sensitivity").

The engine needs nothing else: the caller passes this mapping as the request's context
(``Authorizer.check(..., context=tag_context(...))``) and ``RequestContext`` treats a list as a
multivalued key. When a resource has two tags whose keys differ only in case, both values are
the key's values, and a condition matches either.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

from packyard.policy.conditions import ContextInput

RESOURCE_TAG: Final = "aws:ResourceTag/"
REQUEST_TAG: Final = "aws:RequestTag/"
TAG_KEYS: Final = "aws:TagKeys"


def tag_context(*, resource_tags: Mapping[str, str] | None = None,
                request_tags: Mapping[str, str] | None = None,
                tag_keys: Iterable[str] | None = None) -> dict[str, ContextInput]:
    """Condition keys for a request's tags.

    ``resource_tags``: the tags the resource has now (any action on an existing domain,
    repository or package group). ``request_tags``: the tags the request sets. ``tag_keys``: the
    keys the request names, by default those of ``request_tags``; UntagResource passes the keys
    it removes. An empty request adds no ``aws:TagKeys`` (a missing key, as IAM treats an empty
    one).
    """
    context: dict[str, ContextInput] = {}
    context.update(_tag_values(RESOURCE_TAG, resource_tags or {}))
    context.update(_tag_values(REQUEST_TAG, request_tags or {}))
    keys = list(tag_keys) if tag_keys is not None else list(request_tags or {})
    if keys:
        context[TAG_KEYS] = list(dict.fromkeys(keys))
    return context


def _tag_values(prefix: str, tags: Mapping[str, str]) -> dict[str, ContextInput]:
    grouped: dict[str, list[str]] = {}
    for key, value in tags.items():
        grouped.setdefault((prefix + key).lower(), []).append(value)
    return {name: values[0] if len(values) == 1 else values for name, values in grouped.items()}
