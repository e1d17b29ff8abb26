"""Resource tags: AWS's limits, and what TagResource and UntagResource do to a resource's tags.

Sources: botocore's ``codeartifact`` model (``TagKey``: 1-128 characters, ``\\P{C}+``;
``TagValue``: 0-256 characters, ``\\P{C}*``; ``TagList``: a list of ``{key, value}``), the
CodeArtifact User Guide ("Tagging resources": keys and values are case sensitive, an omitted
value is the empty string; "Tag a repository": "up to 50 tags to each repository"; TagResource
"adds or updates tags"), and AWS's tagging rules (the ``aws:`` prefix, in any letter case, is
reserved for AWS: such keys can be neither added nor removed).

Tags are a ``dict[str, str]`` from key to value. A request that would leave a resource with more
than 50 tags is a QuotaExceeded (TagResource's ServiceQuotaExceededException); every other bad
tag is Invalid (ValidationException), and the request changes nothing.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from typing import Final

from packyard.errors import Invalid, QuotaExceeded

MAX_TAGS_PER_RESOURCE: Final = 50
MAX_KEY_LENGTH: Final = 128
MAX_VALUE_LENGTH: Final = 256
RESERVED_PREFIX: Final = "aws:"


def check_tag_key(key: str) -> None:
    """Refuse a key AWS would refuse: its length, a control character, the reserved prefix."""
    if not 1 <= len(key) <= MAX_KEY_LENGTH:
        raise Invalid(f'Tag key "{key}" has {len(key)} characters; a tag key has 1 to '
                      f"{MAX_KEY_LENGTH}")
    _check_characters(f'Tag key "{key}"', key)
    if _is_reserved(key):
        raise Invalid(f'Tag key "{key}" is not allowed: the aws: prefix is reserved for AWS')


def check_tag(key: str, value: str) -> None:
    """Refuse a key-value pair AWS would refuse."""
    check_tag_key(key)
    if len(value) > MAX_VALUE_LENGTH:
        raise Invalid(f'The value of tag "{key}" has {len(value)} characters; a tag value has at '
                      f"most {MAX_VALUE_LENGTH}")
    _check_characters(f'The value of tag "{key}"', value)


def tags_from_list(tag_list: Sequence[Mapping[str, str]]) -> dict[str, str]:
    """A request's TagList (``[{"key": ..., "value": ...}]``) as a dict, every tag checked.

    A key given twice is refused rather than letting one of the values win silently.
    """
    tags: dict[str, str] = {}
    for item in tag_list:
        key, value = item["key"], item.get("value", "")
        check_tag(key, value)
        if key in tags:
            raise Invalid(f'Tag key "{key}" appears more than once in the request')
        tags[key] = value
    return tags


def tag_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    """Tags as ListTagsForResource's TagList, sorted by key."""
    return [{"key": key, "value": tags[key]} for key in sorted(tags)]


def tags_for_new_resource(tags: Mapping[str, str]) -> dict[str, str]:
    """The tags a create request (``--tags``) gives a new resource, checked and counted."""
    for key, value in tags.items():
        check_tag(key, value)
    _check_count(len(tags))
    return dict(tags)


def tag_resource(current: Mapping[str, str], new: Mapping[str, str]) -> dict[str, str]:
    """TagResource: the resource's tags with ``new`` added, or replacing the value of a key it
    already has."""
    for key, value in new.items():
        check_tag(key, value)
    merged = {**current, **new}
    _check_count(len(merged))
    return merged


def untag_resource(current: Mapping[str, str], keys: Iterable[str]) -> dict[str, str]:
    """UntagResource: the resource's tags without ``keys``; a key it does not have is no error."""
    removed = set()
    for key in keys:
        if _is_reserved(key):
            raise Invalid(f'Tag key "{key}" cannot be removed: the aws: prefix is reserved for '
                          "AWS")
        removed.add(key)
    return {key: value for key, value in current.items() if key not in removed}


def _is_reserved(key: str) -> bool:
    return key[:len(RESERVED_PREFIX)].lower() == RESERVED_PREFIX


def _check_characters(what: str, text: str) -> None:
    # The model's \P{C}: no control, format, surrogate, private-use or unassigned characters.
    for char in text:
        if unicodedata.category(char).startswith("C"):
            raise Invalid(f"{what} contains U+{ord(char):04X}; tag keys and values cannot "
                          "contain control or format characters")


def _check_count(count: int) -> None:
    if count > MAX_TAGS_PER_RESOURCE:
        raise QuotaExceeded(f"A resource can have at most {MAX_TAGS_PER_RESOURCE} tags; this "
                            f"request would give it {count}")
