"""dist-tags: names for versions (``latest``, ``beta``), and the rule that keeps ``latest`` right.

``latest`` is what ``npm install pkg`` installs, so Packyard keeps it on the highest published
non-prerelease version by itself, and only a tag set on purpose (``npm dist-tag add pkg@v
latest``) pins it elsewhere. The stored tags therefore hold ``latest`` only while it is pinned;
:func:`effective_dist_tags` adds the automatic one when a document is rendered. Every npm
publish names ``latest`` unless ``--tag`` is given, so a publish that names it releases a pin
instead of moving ``latest`` to a lower version (npm 11 itself refuses that without ``--tag``:
"Cannot implicitly apply the "latest" tag because previously published version ... is
higher"; npm 10 does not, and a backport would silently become ``latest``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping

from packyard.errors import Invalid, NotFound, TooLarge
from packyard.formats.npm.semver import highest
from packyard.model import PackageVersion

LATEST = "latest"

MAX_TAG_LENGTH = 255
MAX_TAG_BODY_BYTES = 1024
"""A dist-tag PUT body is one JSON string: a version."""

# npm-package-arg refuses a tag that encodeURIComponent would change.
_URL_FRIENDLY = re.compile(r"[A-Za-z0-9\-_.!~*'()]+")
# The URL-friendly spellings node-semver's validRange accepts: "1", "1.x", "~1.2", "v2", "*",
# "1.2.3-beta" ... (comparators, "+", spaces and "||" are not URL-friendly: refused before).
_X = r"(?:[xX*]|0|[1-9][0-9]*)"
_RANGE_LIKE = re.compile(
    rf"~?[vV]?{_X}(?:\.{_X}(?:\.{_X}(?:-[0-9A-Za-z\-.]+)?)?)?",
    re.ASCII,
)


def validate_tag(tag: str) -> str:
    """Check a dist-tag name as npm does before it sends one; return it unchanged."""
    if not tag:
        raise Invalid("A dist-tag name is required.")
    if len(tag) > MAX_TAG_LENGTH:
        raise Invalid(f"Invalid dist-tag: longer than {MAX_TAG_LENGTH} characters.")
    if not _URL_FRIENDLY.fullmatch(tag):
        raise Invalid(f'Invalid dist-tag "{tag}": tags may not have any characters that '
                      "encodeURIComponent encodes.")
    if _RANGE_LIKE.fullmatch(tag):
        # A tag that reads as a range would shadow it: is "pkg@1" the tag or the range?
        raise Invalid(f"Tag name must not be a valid SemVer range: {tag}")
    return tag


def parse_tag_body(body: bytes) -> str:
    """The version a ``PUT /-/package/<name>/dist-tags/<tag>`` body names (a JSON string)."""
    if len(body) > MAX_TAG_BODY_BYTES:
        raise TooLarge(f"A dist-tag body is one JSON string; this one is {len(body)} bytes.")
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise Invalid("A dist-tag body must be a JSON string naming a version, "
                      'such as "1.0.0".') from None
    if not isinstance(value, str) or not value:
        raise Invalid("A dist-tag body must be a JSON string naming a version, "
                      'such as "1.0.0".')
    return value


def named_tags(stored: Mapping[str, str], versions: Iterable[PackageVersion]) -> dict[str, str]:
    """The catalog's tags (tag -> version key) as dist-tags name them (tag -> version), those
    whose version the package still has."""
    by_key = {v.version_key: v.version for v in versions}
    return {tag: by_key[key] for tag, key in stored.items() if key in by_key}


def effective_dist_tags(stored: Mapping[str, str], listed: Iterable[str]) -> dict[str, str]:
    """The ``dist-tags`` a document shows: stored tags that point at a listed version, and
    ``latest`` unless pinned: the highest non-prerelease, else the highest prerelease (npm's
    docs: every package has a ``latest`` tag; pacote resolves ``pkg`` through it)."""
    versions = set(listed)
    tags = {tag: version for tag, version in stored.items() if version in versions}
    if LATEST not in tags:
        automatic = (highest(versions, include_prereleases=False)
                     or highest(versions, include_prereleases=True))
        if automatic is not None:
            tags[LATEST] = automatic
    # latest first, then by name: the order npm dist-tag ls prints is the document's.
    return {tag: tags[tag] for tag in sorted(tags, key=lambda t: (t != LATEST, t))}


def tags_after_publish(stored: Mapping[str, str], requested: Mapping[str, object],
                       version: str, listed: Iterable[str] = ()) -> dict[str, str]:
    """The stored tags once ``version`` is published with the body's ``dist-tags``, the
    package's ``listed`` versions before it.

    npm sends exactly one tag, the ``--tag`` value (``latest`` by default), naming the version
    it publishes; a tag naming another version is refused rather than guessed at. A publish
    under another tag (``--tag next``) leaves ``latest`` where it was, as the npm registry
    does: it is pinned there, or the new version, highest, would take it automatically.
    """
    tags = dict(stored)
    if LATEST not in requested and LATEST not in tags:
        before = effective_dist_tags(stored, listed).get(LATEST)
        if before is not None:
            tags[LATEST] = before
    for tag, target in requested.items():
        validate_tag(tag)
        if target != version:
            raise Invalid(f'The dist-tag "{tag}" in the publish body names {target!r}, not the '
                          f"version being published ({version}).")
        if tag == LATEST:
            tags.pop(LATEST, None)
        else:
            tags[tag] = version
    return tags


def tags_after_set(stored: Mapping[str, str], tag: str, version: str,
                   listed: Iterable[str], package: str) -> dict[str, str]:
    """The stored tags after ``npm dist-tag add <package>@<version> <tag>``."""
    validate_tag(tag)
    if version not in set(listed):
        raise NotFound(f"version not found: {package}@{version}")
    return {**stored, tag: version}


def tags_after_delete(stored: Mapping[str, str], tag: str, package: str) -> dict[str, str]:
    """The stored tags after ``npm dist-tag rm <package> <tag>``.

    Removing ``latest`` releases a pin, so it follows the highest version again; removing the
    automatic one changes nothing and is refused so that the client does not claim otherwise.
    """
    if tag not in stored:
        if tag == LATEST:
            raise Invalid(f'"latest" of {package} already follows its highest version and '
                          "cannot be removed.")
        raise NotFound(f"{tag} is not a dist-tag on {package}")
    return {name: value for name, value in stored.items() if name != tag}
