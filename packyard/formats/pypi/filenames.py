"""Distribution filenames: what an uploaded file's name says about the file.

A filename is the first thing a registry trusts about an upload: it becomes a storage key and a
URL path segment, so it is checked for path tricks before it is parsed. Wheels follow the binary
distribution format (PEP 427, PEP 491), source distributions the sdist format (PEP 625).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from packaging.tags import Tag
from packaging.utils import (
    BuildTag,
    InvalidSdistFilename,
    InvalidWheelFilename,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from packyard.errors import Invalid
from packyard.formats.pypi.names import PROJECT_NAME_RULE, is_valid_project_name, normalize_name

DistKind = Literal["bdist_wheel", "sdist"]
"""The legacy upload API's ``filetype`` values that Packyard accepts."""

MAX_FILENAME_LENGTH = 255
"""The longest filename accepted: the common limit of file systems and object stores."""

# Extension -> kind. PEP 625 asks new sdists to be .tar.gz; .zip sdists still exist on indexes
# and pip installs them, so they are accepted. Eggs, .exe and .tar.bz2 are gone (PEP 527, PEP 715).
EXTENSIONS: dict[str, DistKind] = {
    ".whl": "bdist_wheel",
    ".tar.gz": "sdist",
    ".zip": "sdist",
}

_ACCEPTED_EXTENSIONS_TEXT = ".whl (wheel), .tar.gz (source distribution) or legacy .zip"

# What an upstream may list besides: sdists from before PEP 527 that pip and uv still install
# (PyPI serves them for old releases: Twisted 8-12, WebOb 1.0.2). Never taken in an upload.
# Eggs, .exe and .msi are left out: no installer Packyard serves reads them.
LISTED_EXTENSIONS: dict[str, DistKind] = {
    **EXTENSIONS,
    ".tar.bz2": "sdist",
    ".tgz": "sdist",
    ".tar.xz": "sdist",
}

# A wheel's compatibility tags (PEP 425): packaging parses any text there, so a filename could
# carry quotes or markup into pages and storage keys. Dots separate a compressed tag set.
_TAG_RE = re.compile(r"[A-Za-z0-9_.]+", re.ASCII)
# PEP 427's build tag: a number, then an optional suffix.
_BUILD_TAG_RE = re.compile(r"[0-9]+[A-Za-z0-9_.]*", re.ASCII)

# Control characters (NUL included) and DEL: one C-level scan instead of a Python loop over
# the characters, which a page of 10,000 upstream files made visible.
_UNPRINTABLE_RE = re.compile(r"[\x00-\x1f\x7f]")
# What a PEP 440 version may be written with (packaging's parse also takes spaces around it).
_VERSION_TEXT_RE = re.compile(r"[A-Za-z0-9._+!-]+", re.ASCII)

_WHEEL_FORMAT_HINT = ("See https://packaging.python.org/specifications/"
                      "binary-distribution-format/ for the wheel filename format.")


@dataclass(frozen=True)
class DistFilename:
    """What a distribution's filename says: its kind, project and version."""

    filename: str
    kind: DistKind
    extension: str
    project: str
    """The project name exactly as written in the filename (``Foo_Bar`` in ``Foo_Bar-1.0.whl``)."""
    normalized_name: str
    """The PEP 503 form of ``project``."""
    version: Version
    version_text: str
    """The version exactly as written in the filename."""
    tags: frozenset[Tag] = frozenset()
    """Compatibility tags (wheels only)."""
    build_tag: BuildTag = ()
    """The optional build number (wheels only): ``()`` or ``(number, suffix)``."""

    @property
    def stem(self) -> str:
        """The filename without its extension: a sdist's top-level directory name."""
        return self.filename[: -len(self.extension)]


def check_filename_is_safe(filename: str) -> None:
    """Refuse a filename that could act as a path or break a storage key.

    Raises Invalid with a one-line reason.
    """
    if not filename:
        raise Invalid("The uploaded file has no filename.")
    if len(filename) > MAX_FILENAME_LENGTH:
        raise Invalid(
            f"Filename is too long: {len(filename)} characters, the limit is "
            f"{MAX_FILENAME_LENGTH} ({filename[:40]!r}...)."
        )
    # Control characters (NUL included) and DEL have no place in a filename and break headers
    # and object stores; Warehouse refuses them too.
    if _UNPRINTABLE_RE.search(filename):
        raise Invalid(
            "Cannot upload a file with non-printable characters (ordinals 0-31) or the DEL "
            "character (ordinal 127) in the name."
        )
    if "/" in filename or "\\" in filename:
        raise Invalid("Cannot upload a file with '/' or '\\' in the name.")
    # No valid distribution name contains "..", and a leading dot would make a hidden file.
    if ".." in filename:
        raise Invalid(f"Cannot upload a file with '..' in the name: {filename!r}.")
    if filename.startswith("."):
        raise Invalid(f"Cannot upload a file whose name starts with '.': {filename!r}.")


def _extension_of(filename: str, *, listed: bool = False) -> str:
    for extension in LISTED_EXTENSIONS if listed else EXTENSIONS:
        if filename.endswith(extension):
            return extension
    raise Invalid(
        f"Invalid file extension for {filename!r}: use {_ACCEPTED_EXTENSIONS_TEXT}. "
        "See https://peps.python.org/pep-0527/ for more information."
    )


def _check_wheel_tags(filename: str, extension: str) -> None:
    """Refuse a wheel whose build tag or compatibility tags hold more than letters, digits,
    '_' and '.' (packaging accepts any text there)."""
    parts = filename[: -len(extension)].split("-")
    build, tags = parts[2:-3], parts[-3:]
    for tag in tags:
        if not _TAG_RE.fullmatch(tag):
            raise Invalid(f"Invalid wheel tag {ascii(tag)} in {ascii(filename)}: python, abi "
                          f"and platform tags contain only ASCII letters, digits, '_' and "
                          f"'.'. {_WHEEL_FORMAT_HINT}")
    if build and not _BUILD_TAG_RE.fullmatch(build[0]):
        raise Invalid(f"Invalid build tag {ascii(build[0])} in {ascii(filename)}: a build tag "
                      f"is a number optionally followed by ASCII letters, digits, '_' or "
                      f"'.'. {_WHEEL_FORMAT_HINT}")


def _name_and_version(filename: str, extension: str) -> tuple[str, str]:
    if extension == ".whl":
        # Wheel names never contain '-' (PEP 427 escapes it to '_'), so the name and the
        # version are the first two dash-separated parts.
        project, version_text = filename.split("-")[:2]
        return project, version_text
    # A PEP 440 version has no '-', so an sdist's version follows the last one.
    project, _, version_text = filename[: -len(extension)].rpartition("-")
    return project, version_text


def version_text_of(filename: str, project: str) -> str:
    """The version as written in the name of a file ``parse_listed_filename`` accepted for
    ``project`` (normalized), without parsing it again."""
    extension = _extension_of(filename, listed=True)
    name, version_text = _name_and_version(filename, extension)
    if extension == ".whl" or normalize_name(name) == project:
        return version_text
    split = _after_project(filename[: -len(extension)], project)
    return split[1] if split is not None else version_text


def parse_distribution_filename(filename: str) -> DistFilename:
    """Parse and check the filename of an uploaded wheel or source distribution.

    Raises Invalid with a one-line reason (twine shows it to the user).
    """
    check_filename_is_safe(filename)
    extension = _extension_of(filename)
    kind = EXTENSIONS[extension]
    tags: frozenset[Tag] = frozenset()
    build_tag: BuildTag = ()
    if kind == "bdist_wheel":
        try:
            _, version, build_tag, tags = parse_wheel_filename(filename)
        except InvalidWheelFilename as exc:
            raise Invalid(f"{exc}. {_WHEEL_FORMAT_HINT}") from None
        project, version_text = _name_and_version(filename, extension)
        _check_wheel_tags(filename, extension)
    else:
        try:
            _, version = parse_sdist_filename(filename)
        except InvalidSdistFilename as exc:
            raise Invalid(
                f"{exc}. See https://packaging.python.org/specifications/"
                "source-distribution-format/ for the sdist filename format."
            ) from None
        project, version_text = _name_and_version(filename, extension)
    if not is_valid_project_name(project):
        raise Invalid(
            f"Invalid project name {project!r} in filename {filename!r}: "
            f"{PROJECT_NAME_RULE}."
        )
    return DistFilename(
        filename=filename,
        kind=kind,
        extension=extension,
        project=project,
        normalized_name=normalize_name(project),
        version=version,
        version_text=version_text,
        tags=tags,
        build_tag=build_tag,
    )


def _after_project(stem: str, project: str) -> tuple[str, str] | None:
    """An sdist's stem split after the name of ``project`` (normalized), as pip splits it
    knowing the project: the name as written and the rest, or None when it starts otherwise."""
    for at, char in enumerate(stem):
        if char == "-" and normalize_name(stem[:at]) == project:
            return stem[:at], stem[at + 1:]
    return None


def parse_listed_filename(filename: str, project: str) -> DistFilename:
    """Parse the name of a file an upstream lists on the page of ``project`` (normalized).

    The same checks as an upload's name, but an old sdist's version may hold a '-'
    (``docutils-0.15.1-post1.tar.gz``, ``cffi-1.0.2-2.tar.gz``: from before PEP 625, which
    uploads must follow). pip, which knows the project, takes what follows its name as the
    version (0.15.1.post1, 1.0.2.post2), so such a file is read that way too; and so is an
    sdist in one of ``LISTED_EXTENSIONS``' older archive formats (``Twisted-8.2.0.tar.bz2``).
    A name that still does not parse, or names another project, is the upload's parse and its
    refusal.
    """
    try:
        dist = parse_distribution_filename(filename)
    except Invalid:
        check_filename_is_safe(filename)  # the refusal of an unsafe name stands
        legacy = _legacy_sdist(filename, _extension_of(filename, listed=True), project)
        if legacy is None:
            raise
        return legacy
    if dist.kind == "sdist" and dist.normalized_name != project:
        return _legacy_sdist(filename, dist.extension, project) or dist
    return dist


def _legacy_sdist(filename: str, extension: str, project: str) -> DistFilename | None:
    if LISTED_EXTENSIONS[extension] != "sdist":
        return None
    split = _after_project(filename[: -len(extension)], project)
    if split is None or not is_valid_project_name(split[0]) \
            or not _VERSION_TEXT_RE.fullmatch(split[1]):
        return None
    try:
        version = Version(split[1])
    except InvalidVersion:
        return None
    return DistFilename(filename=filename, kind="sdist", extension=extension,
                        project=split[0], normalized_name=project, version=version,
                        version_text=split[1])
