"""Resource tags: AWS's limits and TagResource/UntagResource semantics, each refusal's message.

Limits from botocore's TagKey/TagValue shapes and the CodeArtifact User Guide ("up to 50 tags to
each repository"); the reserved ``aws:`` prefix from AWS's tagging rules.
"""

from __future__ import annotations

import pytest

from packyard.errors import Invalid, PackyardError, QuotaExceeded
from packyard.tagging.resource_tags import (
    MAX_TAGS_PER_RESOURCE,
    check_tag,
    tag_list,
    tag_resource,
    tags_for_new_resource,
    tags_from_list,
    untag_resource,
)


def fifty() -> dict[str, str]:
    return {f"k{i:02}": str(i) for i in range(MAX_TAGS_PER_RESOURCE)}


@pytest.mark.parametrize(("key", "value"), [
    ("k", ""),  # "Omitting the tag value is the same as using an empty string"
    ("k" * 128, "v" * 256),
    ("CostCenter", "111122223333"),
    ("team name: backend/ops +=@_.-", "Équipe Données"),  # the model allows any non-control
    ("awsome", "x"),  # only the aws: prefix is reserved
    ("x", "aws:value"),  # in a key, not a value
])
def test_valid_tags(key: str, value: str) -> None:
    check_tag(key, value)


BAD_TAGS: list[tuple[str, str, type[PackyardError], str]] = [
    ("", "v", Invalid, 'Tag key "" has 0 characters; a tag key has 1 to 128'),
    ("k" * 129, "v", Invalid, f'Tag key "{"k" * 129}" has 129 characters; a tag key has 1 to '
     "128"),
    ("k", "v" * 257, Invalid, 'The value of tag "k" has 257 characters; a tag value has at most '
     "256"),
    ("a\tb", "v", Invalid, 'Tag key "a\tb" contains U+0009; tag keys and values cannot contain '
     "control or format characters"),
    ("k", "line\nbreak", Invalid, 'The value of tag "k" contains U+000A; tag keys and values '
     "cannot contain control or format characters"),
    ("k\u200e", "v", Invalid, 'Tag key "k\u200e" contains U+200E; tag keys and values cannot '
     "contain control or format characters"),
    ("aws:cloudformation:stack-name", "v", Invalid, 'Tag key "aws:cloudformation:stack-name" '
     "is not allowed: the aws: prefix is reserved for AWS"),
    ("AWS:x", "v", Invalid, 'Tag key "AWS:x" is not allowed: the aws: prefix is reserved for '
     "AWS"),
    ("Aws:x", "v", Invalid, 'Tag key "Aws:x" is not allowed: the aws: prefix is reserved for '
     "AWS"),
]


@pytest.mark.parametrize(("key", "value", "error", "message"), BAD_TAGS,
                         ids=[repr(b[0][:12]) + "=" + repr(b[1][:12]) for b in BAD_TAGS])
def test_bad_tags_are_refused(key: str, value: str, error: type[PackyardError],
                              message: str) -> None:
    with pytest.raises(error) as err:
        check_tag(key, value)
    assert err.value.message == message


def test_a_tag_list_becomes_a_dict_and_back() -> None:
    tags = tags_from_list([{"key": "key2", "value": "value2"}, {"key": "key1", "value": ""}])
    assert tags == {"key2": "value2", "key1": ""}
    assert tag_list(tags) == [{"key": "key1", "value": ""}, {"key": "key2", "value": "value2"}]


def test_a_key_twice_in_one_request_is_refused() -> None:
    with pytest.raises(Invalid) as err:
        tags_from_list([{"key": "env", "value": "a"}, {"key": "env", "value": "b"}])
    assert err.value.message == 'Tag key "env" appears more than once in the request'
    # Keys are case sensitive: these are two tags.
    assert tags_from_list([{"key": "env", "value": "a"}, {"key": "Env", "value": "b"}]) == {
        "env": "a", "Env": "b"}


def test_tag_resource_adds_and_updates() -> None:
    # The guide's "Edit tags": tag-resource with an existing key changes its value.
    current = {"key1": "value1", "key2": "value2"}
    assert tag_resource(current, {"key1": "newvalue1", "key3": ""}) == {
        "key1": "newvalue1", "key2": "value2", "key3": ""}
    assert current == {"key1": "value1", "key2": "value2"}  # the input is not changed


def test_untag_resource_removes_and_ignores_keys_it_lacks() -> None:
    current = {"key1": "value1", "key2": "value2", "Key1": "other case"}
    assert untag_resource(current, ["key1", "missing"]) == {"key2": "value2",
                                                           "Key1": "other case"}


def test_untag_refuses_the_reserved_prefix() -> None:
    with pytest.raises(Invalid) as err:
        untag_resource({}, ["ok", "aws:createdBy"])
    assert err.value.message == ('Tag key "aws:createdBy" cannot be removed: the aws: prefix is '
                                 "reserved for AWS")


def test_fifty_tags_and_no_more() -> None:
    full = tag_resource({}, fifty())
    assert len(full) == 50
    assert tag_resource(full, {"k00": "changed"})["k00"] == "changed"  # an update adds none
    with pytest.raises(QuotaExceeded) as err:
        tag_resource(full, {"one-more": "x"})
    assert err.value.message == "A resource can have at most 50 tags; this request would give it 51"
    with pytest.raises(QuotaExceeded):
        tags_for_new_resource({**fifty(), "one-more": "x"})
    assert tags_for_new_resource(fifty()) == fifty()


def test_a_bad_tag_anywhere_changes_nothing() -> None:
    current = {"a": "1"}
    with pytest.raises(Invalid):
        tag_resource(current, {"b": "2", "aws:c": "3"})
    assert current == {"a": "1"}
