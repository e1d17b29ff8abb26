"""Reading an uploaded npm tarball without trusting it: its package.json, README and shape.

The .tgz is hostile until proven otherwise: it may not be gzip or tar at all, may be a
decompression bomb, may carry names that escape the folder it is unpacked in, or may hold a
package.json naming another package than the one published. It is read once, as a stream, in
bounded memory; only package.json and the README are kept, each up to a cap.

The archive itself is walked by ``tar_stream``.

Where things are: ``npm pack`` puts every file under ``package/``; clients unpack with node-tar's
``strip: 1`` (pacote), so the first path component may be any folder name (old packages use
others) and only files count (pacote filters out links). ``package.json`` and the README are read
from that root; the README is chosen as @npmcli/package-json does: ``README.md``/``.markdown``
first, then ``README``, then (Packyard only, for display) any other ``README.*``.
"""

from __future__ import annotations

import json
import re
import zlib
from dataclasses import dataclass
from typing import Any

from packyard.errors import Invalid
from packyard.formats.npm.prepare import npm_reads_readme
from packyard.formats.npm.semver import parse_version
from packyard.formats.npm.tar_stream import (
    BLOCK,
    FILE_KINDS,
    NO_DATA_KINDS,
    MiB,
    Readable,
    Rejected,
    UnpackedStream,
    size_text,
    tar_entries,
)


@dataclass(frozen=True)
class TarballLimits:
    """How much of an uploaded tarball Packyard is willing to read."""

    max_unpacked_bytes: int = 4096 * MiB
    """The most bytes the gzip stream may unpack to."""
    max_ratio: int = 200
    """The most unpacked bytes per gzip byte, judged once ``ratio_floor_bytes`` are unpacked
    (real packages stay under 20; a bomb of zeros reaches 1000)."""
    ratio_floor_bytes: int = 16 * MiB
    max_entries: int = 100_000
    max_manifest_bytes: int = 4 * MiB
    max_readme_bytes: int = 1 * MiB
    """A longer README is kept truncated: it is for display, not worth refusing a publish."""
    max_header_bytes: int = 64 * 1024
    """The largest pax or GNU long-name header (a path and a few numbers)."""


DEFAULT_LIMITS = TarballLimits()


@dataclass(frozen=True)
class TarballInspection:
    """What an uploaded tarball says about itself."""

    manifest: dict[str, Any]
    """Its own package.json, parsed."""
    manifest_path: str
    readme: str | None
    readme_filename: str | None
    has_shrinkwrap: bool
    """Whether npm-shrinkwrap.json is at the root (the packument's ``_hasShrinkwrap``)."""
    file_count: int
    unpacked_size: int
    """Bytes of all files (the public registry's ``dist.fileCount`` and ``dist.unpackedSize``)."""
    paths: frozenset[str] = frozenset()
    """Every file's path below the package's folder (``lib/index.js``), for what npm's
    ``prepare`` reads from the files (``prepare.py``)."""
    authors: str | None = None
    """The root ``AUTHORS`` file's text (npm makes ``contributors`` of it), up to a cap."""
    npm_readme: str | None = None
    """The README npm itself reads (a Markdown name, or one ending in ``README``), which
    ``readme`` is unless only another ``README.*`` is there."""


_DRIVE = re.compile(r"^[A-Za-z]:")


def _parts(name: str) -> list[str]:
    """A member's path components, refusing absolute and escaping names."""
    # Backslashes count as separators: Windows unpacks them so.
    normalized = name.replace("\\", "/")
    if normalized.startswith("/") or _DRIVE.match(normalized):
        raise Rejected(f"entry {name!r} has an absolute path")
    parts = [part for part in normalized.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise Rejected(f"entry {name!r} has a '..' path component")
    return parts


_README = re.compile(r"readme(?:\..*)?", re.IGNORECASE)
_MARKDOWN = re.compile(r"\.m?a?r?k?d?o?w?n?$", re.IGNORECASE)


def _readme_rank(filename: str) -> int | None:
    if not _README.fullmatch(filename):
        return None
    if _MARKDOWN.search(filename):
        return 0
    return 1 if "." not in filename else 2


def _read_capped(stream: UnpackedStream, size: int, cap: int) -> bytes:
    data = stream.exact(min(size, cap))
    stream.skip(size - len(data))
    return data


def inspect_tarball(source: Readable, filename: str, *,
                    limits: TarballLimits = DEFAULT_LIMITS) -> TarballInspection:
    """Walk the whole tarball once and return its package.json and README.

    ``filename`` names the tarball in messages ("@acme/util-1.0.0.tgz is not a valid npm
    package tarball: ..."). Raises Invalid when the tarball cannot be read safely.
    """
    try:
        stream = UnpackedStream(source, max_unpacked_bytes=limits.max_unpacked_bytes,
                                max_ratio=limits.max_ratio,
                                ratio_floor_bytes=limits.ratio_floor_bytes)
        return _inspect(stream, limits)
    except Rejected as exc:
        raise Invalid(f"{filename} is not a valid npm package tarball: {exc.reason}.") from None
    except (OSError, EOFError, zlib.error) as exc:
        raise Invalid(f"{filename} is not a valid npm package tarball: it is not "
                      f"gzip-compressed ({exc}).") from None


def _inspect(stream: UnpackedStream, limits: TarballLimits) -> TarballInspection:
    top: str | None = None
    manifest: tuple[str, bytes] | None = None
    readme: tuple[int, str, bytes] | None = None
    has_shrinkwrap = False
    files = unpacked = 0
    paths: set[str] = set()
    authors: str | None = None
    npm_readme: tuple[int, bytes] | None = None
    for count, entry in enumerate(tar_entries(stream, limits.max_header_bytes), start=1):
        if count > limits.max_entries:
            raise Rejected(f"it has more than {limits.max_entries} entries")
        parts = _parts(entry.name)
        is_file = entry.kind in FILE_KINDS
        data_size = 0 if entry.kind in NO_DATA_KINDS else entry.size
        if parts and top is None:
            top = parts[0]
        root_name = parts[1] if is_file and len(parts) == 2 else None
        if is_file:
            files += 1
            unpacked += entry.size
            if len(parts) > 1:
                paths.add("/".join(parts[1:]))
        if root_name == "package.json":
            if manifest is not None:
                # node-tar's strip would let the last one win: which would clients see?
                raise Rejected(f"it has more than one package.json at its root "
                                f"({manifest[0]} and {entry.name})")
            if entry.size > limits.max_manifest_bytes:
                raise Rejected(f"{entry.name} is larger than "
                                f"{size_text(limits.max_manifest_bytes)}")
            manifest = (entry.name, stream.exact(entry.size))
        elif root_name is not None and (rank := _readme_rank(root_name)) is not None and (
                readme is None or rank < readme[0]):
            readme = (rank, root_name, _read_capped(stream, entry.size, limits.max_readme_bytes))
            if npm_reads_readme(root_name):
                npm_readme = (rank, readme[2])
        elif root_name == "AUTHORS" and authors is None:
            authors = _read_capped(stream, entry.size, limits.max_readme_bytes).decode(
                "utf-8", "replace")
        else:
            has_shrinkwrap = has_shrinkwrap or root_name == "npm-shrinkwrap.json"
            stream.skip(data_size)
        stream.skip(-data_size % BLOCK)
    stream.drain()  # what clients would unpack after the archive counts against the caps too
    if top is None:
        raise Rejected("it is empty")
    if manifest is None:
        raise Rejected(f"package.json not found at {top}/package.json")
    return TarballInspection(
        manifest=_parse_manifest(*manifest), manifest_path=manifest[0],
        readme=readme[2].decode("utf-8", "replace") if readme else None,
        readme_filename=readme[1] if readme else None,
        has_shrinkwrap=has_shrinkwrap, file_count=files, unpacked_size=unpacked,
        paths=frozenset(paths), authors=authors,
        npm_readme=npm_readme[1].decode("utf-8", "replace") if npm_readme else None)


def _parse_manifest(path: str, data: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(data)
    except UnicodeDecodeError:
        raise Rejected(f"{path} is not valid UTF-8") from None
    except json.JSONDecodeError as exc:
        raise Rejected(f"{path} is not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(parsed, dict):
        raise Rejected(f"{path} is not a JSON object")
    return parsed


def check_tarball_matches(inspection: TarballInspection, name: str, version: str,
                          filename: str) -> None:
    """Refuse a tarball whose own package.json names another package or version.

    The version is compared as npm cleans it before publishing (``v1.0.0`` in package.json is
    published as ``1.0.0``; libnpmpublish calls semver.clean).
    """
    own_name = inspection.manifest.get("name")
    if own_name != name:
        raise Invalid(f'The package.json in {filename} names the package {json.dumps(own_name)}, '
                      f'not "{name}".')
    own_version = inspection.manifest.get("version")
    cleaned = own_version.strip().lstrip("=v") if isinstance(own_version, str) else ""
    try:
        same = parse_version(cleaned).canonical == parse_version(version).canonical
    except Invalid:
        same = False
    if not same:
        raise Invalid(f"The package.json in {filename} has the version "
                      f'{json.dumps(own_version)}, not "{version}".')
