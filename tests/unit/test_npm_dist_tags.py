"""dist-tags: tag names as npm checks them, and the rule that keeps ``latest`` right."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from packyard.errors import Invalid, NotFound, TooLarge
from packyard.formats.npm.dist_tags import (
    effective_dist_tags,
    named_tags,
    parse_tag_body,
    tags_after_delete,
    tags_after_publish,
    tags_after_set,
    validate_tag,
)
from packyard.model import PackageVersion


@pytest.mark.parametrize("tag", ["latest", "beta", "next", "vnext", "x-ray", "xyz", "canary",
                                 "1.2-beta", "release-1", "v", "rc_2"])
def test_valid_tags(tag: str) -> None:
    assert validate_tag(tag) == tag


# node-semver's validRange() accepts each of these (checked with the npm 11 bundle), so npm
# refuses them: "pkg@1" would be ambiguous.
@pytest.mark.parametrize("tag", ["1", "1.x", "~1.2", "v2", "*", "x", "X", "1.2.3-beta",
                                 "v1.2.3-rc.1", "0.0.0"])
def test_tags_that_read_as_ranges(tag: str) -> None:
    with pytest.raises(Invalid) as caught:
        validate_tag(tag)
    assert caught.value.message == f"Tag name must not be a valid SemVer range: {tag}"


@pytest.mark.parametrize(("tag", "message"), [
    ("", "A dist-tag name is required."),
    ("has space", 'Invalid dist-tag "has space": tags may not have any characters that '
                  "encodeURIComponent encodes."),
    ("a/b", 'Invalid dist-tag "a/b": tags may not have any characters that encodeURIComponent '
            "encodes."),
    ("été", 'Invalid dist-tag "été": tags may not have any characters that encodeURIComponent '
            "encodes."),
    ("t" * 256, "Invalid dist-tag: longer than 255 characters."),
])
def test_malformed_tags(tag: str, message: str) -> None:
    with pytest.raises(Invalid) as caught:
        validate_tag(tag)
    assert caught.value.message == message


def test_tag_body_is_a_json_string() -> None:
    # npm dist-tag add sends JSON.stringify(version) with content-type application/json.
    assert parse_tag_body(b'"1.0.0"') == "1.0.0"


@pytest.mark.parametrize("body", [b"1.0.0", b"1", b'""', b"null", b'{"v": "1.0.0"}', b"\xff"])
def test_tag_body_that_is_not_a_version_string(body: bytes) -> None:
    with pytest.raises(Invalid) as caught:
        parse_tag_body(body)
    assert caught.value.message == ('A dist-tag body must be a JSON string naming a version, '
                                    'such as "1.0.0".')


def test_tag_body_too_large() -> None:
    with pytest.raises(TooLarge) as caught:
        parse_tag_body(b'"' + b"1" * 2000 + b'"')
    assert caught.value.message == "A dist-tag body is one JSON string; this one is 2002 bytes."


LISTED = ["1.0.0", "1.1.0", "2.0.0-rc.1"]


@pytest.mark.parametrize(("stored", "listed", "expected"), [
    # latest follows the highest non-prerelease by itself
    ({}, LISTED, {"latest": "1.1.0"}),
    ({"next": "2.0.0-rc.1"}, LISTED, {"latest": "1.1.0", "next": "2.0.0-rc.1"}),
    # ... unless pinned on purpose
    ({"latest": "1.0.0"}, LISTED, {"latest": "1.0.0"}),
    # a tag on a version that left the packument (unlisted, archived) is not shown
    ({"latest": "1.2.0", "beta": "1.2.0"}, LISTED, {"latest": "1.1.0"}),
    # only prereleases: every package has a latest (npm's docs), the highest prerelease
    ({}, ["2.0.0-beta.1", "2.0.0-rc.1"], {"latest": "2.0.0-rc.1"}),
    ({"beta": "1.0.0"}, [], {}),
    # latest first, the others by name
    ({"zeta": "1.0.0", "alpha": "1.0.0"}, LISTED,
     {"latest": "1.1.0", "alpha": "1.0.0", "zeta": "1.0.0"}),
])
def test_effective_dist_tags(stored: dict[str, str], listed: list[str],
                             expected: dict[str, str]) -> None:
    tags = effective_dist_tags(stored, listed)
    assert tags == expected
    assert list(tags) == list(expected)


def test_publish_with_the_default_tag_releases_a_pin() -> None:
    # npm publish sends {"latest": version} unless --tag is given.
    assert tags_after_publish({"latest": "1.0.0", "beta": "2.0.0-b.1"}, {"latest": "2.0.0"},
                              "2.0.0") == {"beta": "2.0.0-b.1"}


def test_a_backport_published_with_the_default_tag_does_not_become_latest() -> None:
    stored = tags_after_publish({}, {"latest": "1.0.1"}, "1.0.1")
    assert effective_dist_tags(stored, ["1.0.0", "1.0.1", "2.0.0"])["latest"] == "2.0.0"


def test_publish_with_another_tag_stores_it() -> None:
    assert tags_after_publish({}, {"beta": "2.0.0-rc.1"}, "2.0.0-rc.1") == {"beta": "2.0.0-rc.1"}


def test_regression_publish_with_another_tag_leaves_latest_where_it_was() -> None:
    # npm publish --tag next of 2.0.0 after 1.0.0: latest stays 1.0.0, as on the npm registry
    # (2.0.0 would otherwise take it as the highest version).
    stored = tags_after_publish({}, {"next": "2.0.0"}, "2.0.0", ["1.0.0"])
    assert stored == {"next": "2.0.0", "latest": "1.0.0"}
    assert effective_dist_tags(stored, ["1.0.0", "2.0.0"])["latest"] == "1.0.0"
    # A pin stays as it is; the first version of all becomes latest, whatever its tag.
    assert tags_after_publish({"latest": "0.9.0"}, {"next": "2.0.0"}, "2.0.0",
                              ["0.9.0", "1.0.0"]) == {"latest": "0.9.0", "next": "2.0.0"}
    first = tags_after_publish({}, {"next": "1.0.0"}, "1.0.0", [])
    assert effective_dist_tags(first, ["1.0.0"]) == {"latest": "1.0.0", "next": "1.0.0"}


@pytest.mark.parametrize(("requested", "message"), [
    ({"latest": "9.9.9"}, 'The dist-tag "latest" in the publish body names \'9.9.9\', not the '
                          "version being published (1.0.0)."),
    ({"1.x": "1.0.0"}, "Tag name must not be a valid SemVer range: 1.x"),
])
def test_publish_tags_refused(requested: dict[str, object], message: str) -> None:
    with pytest.raises(Invalid) as caught:
        tags_after_publish({}, requested, "1.0.0")
    assert caught.value.message == message


def test_dist_tag_add() -> None:
    assert tags_after_set({}, "latest", "1.0.0", LISTED, "demo") == {"latest": "1.0.0"}
    assert tags_after_set({"beta": "1.0.0"}, "beta", "1.1.0", LISTED, "demo") == {"beta": "1.1.0"}


def test_dist_tag_add_for_a_version_that_is_not_listed() -> None:
    with pytest.raises(NotFound) as caught:
        tags_after_set({}, "stable", "3.0.0", LISTED, "demo")
    assert caught.value.message == "version not found: demo@3.0.0"


def test_dist_tag_rm() -> None:
    assert tags_after_delete({"beta": "1.0.0", "latest": "1.0.0"}, "latest", "demo") == {
        "beta": "1.0.0"}
    with pytest.raises(NotFound) as caught:
        tags_after_delete({}, "stable", "demo")
    assert caught.value.message == "stable is not a dist-tag on demo"
    with pytest.raises(Invalid) as refused:
        tags_after_delete({}, "latest", "demo")
    assert refused.value.message == ('"latest" of demo already follows its highest version and '
                                     "cannot be removed.")


def test_named_tags_are_the_catalogs_tags_by_version_of_versions_still_held() -> None:
    when = datetime(2026, 1, 1, tzinfo=UTC)
    versions = [PackageVersion(1, 1, "1.0.0-Beta", "1.0.0-beta", "Published", "r", when),
                PackageVersion(2, 1, "2.0.0", "2.0.0", "Unlisted", "r", when)]
    assert named_tags({"next": "1.0.0-beta", "old": "0.9.0", "latest": "2.0.0"}, versions) == {
        "next": "1.0.0-Beta", "latest": "2.0.0"}
