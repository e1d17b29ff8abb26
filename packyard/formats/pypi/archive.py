"""Reading the core metadata out of an uploaded wheel or sdist without trusting the file.

The uploaded file is hostile until proven otherwise: it may not be an archive at all, may hide a
decompression bomb, may carry members whose paths or links escape the archive, or may lie about
sizes in its headers. Nothing is ever extracted to disk; only the metadata member (and a wheel's
``WHEEL`` file) is read into memory, through readers that stop at a size cap.

Where the metadata lives:
- wheel: ``{name}-{version}.dist-info/METADATA`` (binary distribution format, PEP 427/491);
- sdist: ``{name}-{version}/PKG-INFO`` in the single top-level directory (PEP 517/625).
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import posixpath
import re
import struct
import tarfile
import textwrap
import zipfile
import zlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from email.parser import HeaderParser
from pathlib import Path
from types import MappingProxyType
from typing import IO, TYPE_CHECKING, Any, Protocol

from packaging.metadata import Metadata, RawMetadata, parse_email
from packaging.version import InvalidVersion, Version

from packyard.errors import Invalid
from packyard.formats.pypi.filenames import DistFilename, DistKind
from packyard.formats.pypi.names import normalize_name
from packyard.formats.pypi.release_info import info_attributes

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

MiB = 1024 * 1024

_CHUNK = 64 * 1024


@dataclass(frozen=True)
class InspectionLimits:
    """How much of an uploaded archive Packyard is willing to read."""

    max_metadata_bytes: int = 10 * MiB
    """The largest METADATA / PKG-INFO / WHEEL member read (counted after decompression)."""
    max_members: int = 100_000
    """The most members an archive may have."""
    max_sdist_unpacked_bytes: int = 1024 * MiB
    """How much decompressed tar stream is walked to find PKG-INFO and check every member."""
    max_sdist_ratio: int = 1000
    """Past ``sdist_ratio_free_bytes``, how many times its own size a compressed tar may unpack
    to. gzip cannot pass ~1030 (a file of nothing but zeros); bzip2 and xz can pass a
    million: a 785-byte .tar.bz2 cost 3 s of CPU to reach the 1 GiB limit."""
    sdist_ratio_free_bytes: int = 32 * MiB
    """How much a compressed tar may unpack to whatever its ratio."""
    max_xz_memory_bytes: int = 128 * MiB
    """The most memory a .tar.xz's decoder may take: its dictionary, which the file sets (up
    to 1.5 GiB; ``xz -9`` takes 64 MiB) and which fills as it unpacks."""


DEFAULT_LIMITS = InspectionLimits()


@dataclass(frozen=True)
class MetadataProblem:
    """One way the core metadata breaks the core metadata specification."""

    field: str
    """The lower-case metadata field name (``requires-python``), as packaging reports it."""
    message: str


@dataclass(frozen=True)
class DistInspection:
    """What an uploaded distribution's own core metadata says about it."""

    filename: str
    kind: DistKind
    metadata_path: str
    """The archive member the metadata was read from."""
    metadata_bytes: bytes
    """The metadata file exactly as stored (served as PEP 658 ``.metadata``)."""
    metadata: Metadata | None
    """The metadata validated by packaging, or None when ``problems`` is not empty."""
    problems: tuple[MetadataProblem, ...]
    """Every validation error, the ones about Metadata-Version, Name and Version first."""
    metadata_version: str
    name: str
    """The Name field as written ("" when missing)."""
    version: str
    """The Version field as written ("" when missing)."""
    summary: str | None
    description: str | None
    description_content_type: str | None
    requires_python: str | None
    requires_dist: tuple[str, ...]
    license: str | None
    """The License-Expression (PEP 639) if there is one, else the License field."""
    home_page: str | None
    project_urls: Mapping[str, str]
    author: str | None
    author_email: str | None
    keywords: tuple[str, ...]
    classifiers: tuple[str, ...]
    dynamic: tuple[str, ...] = ()
    """The fields the Dynamic field names (PEP 643), lower-case."""
    info: Mapping[str, Any] = field(default_factory=dict)
    """The version attributes keeping the fields the JSON API shows (``release_info.py``)."""
    unpacked_bytes: int | None = None
    """A zip's members' sizes as its directory declares them, summed (what an installer
    writes out: it refuses a member that unpacks to more); None for a tar."""


# The fields pip takes from a PEP 658 metadata file to resolve without building the sdist.
_RESOLUTION_FIELDS = frozenset({"name", "version", "requires-dist", "requires-python",
                                "provides-extra"})


def serves_core_metadata(inspection: DistInspection) -> bool:
    """Whether the metadata file is served beside the distribution as PEP 658 ``.metadata``.

    pip resolves from that file instead of the distribution, so it must be what an install
    would find. A wheel's METADATA is. An sdist's PKG-INFO is only from Metadata-Version 2.2
    on (PEP 643), and then not for the fields it lists as Dynamic: before that, setuptools
    wrote no Requires-Dist whatever setup.py's install_requires said, and pip served such a
    file installs none of the dependencies. PyPI serves no metadata file for an sdist."""
    if inspection.kind == "bdist_wheel":
        return True
    try:
        reliable = Version(inspection.metadata_version.strip()) >= Version("2.2")
    except InvalidVersion:
        reliable = False
    return reliable and not _RESOLUTION_FIELDS & set(inspection.dynamic)


def format_size(size: int) -> str:
    """Render a byte count in binary units for a message (``10 MiB``, ``1.5 GiB``)."""
    for unit, scale in (("GiB", 1024**3), ("MiB", MiB), ("KiB", 1024)):
        if size >= scale:
            value = size / scale
            return f"{value:.0f} {unit}" if size % scale == 0 else f"{value:.1f} {unit}"
    return f"{size} bytes"


class _Readable(Protocol):
    def read(self, size: int, /) -> bytes: ...


class _Rejected(Exception):
    """Internal: why an archive is refused; turned into Invalid with the filename in front."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def inspect_distribution(
    path: str | Path, dist: DistFilename, *, limits: InspectionLimits = DEFAULT_LIMITS
) -> DistInspection:
    """Read and parse the core metadata of the distribution stored at ``path``.

    ``dist`` is the parsed upload filename: it says which format to expect and which
    ``.dist-info`` directory a wheel must have. Raises Invalid ("X is not a valid wheel: ...")
    when the file cannot be read safely; metadata that breaks the spec is not refused here but
    reported in ``DistInspection.problems`` so that the upload checks decide what is fatal.
    """
    label = "wheel" if dist.kind == "bdist_wheel" else "source distribution"
    try:
        unpacked: int | None = None
        if dist.extension == ".whl":
            metadata_path, data, unpacked = _read_wheel_metadata(Path(path), dist, limits)
        elif dist.extension == ".zip":
            metadata_path, data, unpacked = _read_zip_sdist_metadata(Path(path), limits)
        else:
            metadata_path, data = _read_tar_sdist_metadata(Path(path), dist.extension, limits)
        return replace(_describe(dist, metadata_path, data), unpacked_bytes=unpacked)
    except _Rejected as exc:
        raise Invalid(f"{dist.filename} is not a valid {label}: {exc.reason}.") from None


def inspect_core_metadata(data: bytes, dist: DistFilename, source: str) -> DistInspection:
    """``inspect_distribution`` of a wheel whose core metadata is at hand already (an
    upstream's PEP 658 ``.metadata`` file, ``source``), without opening the wheel."""
    try:
        return _describe(dist, source, data)
    except _Rejected as exc:
        raise Invalid(f"{source} is not valid core metadata: {exc.reason}.") from None


# -- members ---------------------------------------------------------------------------------

_DRIVE_RE = re.compile(r"^[A-Za-z]:")


def _member_parts(name: str) -> list[str]:
    """Split a member name into path components, refusing absolute and escaping paths."""
    # Backslashes count as separators: an archive extracted on Windows treats them so.
    normalized = name.replace("\\", "/")
    if normalized.startswith("/") or _DRIVE_RE.match(normalized):
        raise _Rejected(f"member {name!r} has an absolute path")
    parts = [part for part in normalized.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise _Rejected(f"member {name!r} has a '..' path component")
    return parts


def _read_capped(stream: _Readable, cap: int, name: str) -> bytes:
    """Read a whole stream, refusing it as soon as it yields more than ``cap`` bytes.

    Declared sizes are not trusted: the count is of bytes actually produced.
    """
    chunks: list[bytes] = []
    total = 0
    while True:
        chunk = stream.read(min(_CHUNK, cap + 1 - total))
        if not chunk:
            return b"".join(chunks)
        total += len(chunk)
        if total > cap:
            raise _Rejected(f"{name} is larger than {format_size(cap)}")
        chunks.append(chunk)


# -- zip (wheels and legacy .zip sdists) -------------------------------------------------------

_EOCD = struct.Struct("<4s4H2LH")
_EOCD_SIGNATURE = b"PK\x05\x06"
_ZIP64_LOCATOR = struct.Struct("<4sLQL")
_ZIP64_LOCATOR_SIGNATURE = b"PK\x06\x07"
_ZIP64_EOCD = struct.Struct("<4sQ2H2L4Q")
_ZIP64_EOCD_SIGNATURE = b"PK\x06\x06"
_CENTRAL_HEADER_SIZE = 46
_CENTRAL_HEADER_SIGNATURE = b"PK\x01\x02"


def _check_zip_member_count(fp: IO[bytes], limit: int) -> None:
    """Refuse a zip whose central directory lists more than ``limit`` members.

    zipfile builds a ZipInfo object for every central directory entry before anyone can count
    them, so a small file packed with tiny entries could cost a lot of memory. This walks the
    central directory the way zipfile will (from the end record, by the declared directory size)
    and only counts. Anything malformed is left for zipfile to report.
    """
    size = fp.seek(0, io.SEEK_END)
    tail_size = min(size, _EOCD.size + 0xFFFF)  # the end record plus the longest comment
    fp.seek(size - tail_size)
    tail = fp.read(tail_size)
    at = tail.rfind(_EOCD_SIGNATURE)
    if at < 0 or at + _EOCD.size > len(tail):
        return
    directory_size = _EOCD.unpack_from(tail, at)[5]
    directory_end = size - tail_size + at
    locator_at = directory_end - _ZIP64_LOCATOR.size
    if locator_at - _ZIP64_EOCD.size >= 0:
        fp.seek(locator_at - _ZIP64_EOCD.size)
        record = fp.read(_ZIP64_EOCD.size + _ZIP64_LOCATOR.size)
        if (
            record[:4] == _ZIP64_EOCD_SIGNATURE
            and record[_ZIP64_EOCD.size : _ZIP64_EOCD.size + 4] == _ZIP64_LOCATOR_SIGNATURE
        ):
            directory_size = _ZIP64_EOCD.unpack_from(record)[8]
            directory_end = locator_at - _ZIP64_EOCD.size
    position = directory_end - directory_size
    if position < 0:
        return
    fp.seek(position)
    count = 0
    while position < directory_end:
        header = fp.read(_CENTRAL_HEADER_SIZE)
        if len(header) < _CENTRAL_HEADER_SIZE or header[:4] != _CENTRAL_HEADER_SIGNATURE:
            return
        count += 1
        if count > limit:
            raise _Rejected(f"it has more than {limit} members")
        name_length, extra_length, comment_length = struct.unpack_from("<3H", header, 28)
        variable_length = name_length + extra_length + comment_length
        fp.seek(variable_length, io.SEEK_CUR)
        position += _CENTRAL_HEADER_SIZE + variable_length


def _check_zip_members(archive: zipfile.ZipFile) -> None:
    seen: set[str] = set()
    for info in archive.infolist():
        _member_parts(info.filename)
        # Two entries with one name are read differently by different tools (PyPI refuses
        # them for that reason): which METADATA would an installer see?
        if info.filename in seen:
            raise _Rejected(f"it has more than one member named {info.filename!r}")
        seen.add(info.filename)
        if info.flag_bits & 0x1:
            raise _Rejected(f"member {info.filename!r} is encrypted")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise _Rejected(
                f"member {info.filename!r} uses an unsupported compression method "
                "(only stored and deflate are accepted)"
            )


@contextmanager
def _open_zip(path: Path, limits: InspectionLimits) -> Iterator[zipfile.ZipFile]:
    with path.open("rb") as fp:
        _check_zip_member_count(fp, limits.max_members)
        fp.seek(0)
        try:
            archive = zipfile.ZipFile(fp)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, struct.error) as exc:
            raise _Rejected(f"not a zip archive ({exc})") from None
        with archive:
            _check_zip_members(archive)
            yield archive


def _read_zip_member(archive: zipfile.ZipFile, name: str, cap: int) -> bytes:
    try:
        with archive.open(name) as stream:
            return _read_capped(stream, cap, name)
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error, NotImplementedError) as exc:
        raise _Rejected(f"member {name!r} cannot be read ({exc})") from None


def _unpacked_bytes(archive: zipfile.ZipFile) -> int:
    return sum(info.file_size for info in archive.infolist())


def _read_wheel_metadata(
    path: Path, dist: DistFilename, limits: InspectionLimits
) -> tuple[str, bytes, int]:
    with _open_zip(path, limits) as archive:
        names = set(archive.namelist())
        # Only a top-level .dist-info counts: a vendored package's metadata deeper down is data.
        top_levels = {name.split("/", 1)[0] for name in names}
        dist_infos = sorted(top for top in top_levels if top.endswith(".dist-info"))
        if not dist_infos:
            raise _Rejected("it has no .dist-info directory")
        if len(dist_infos) > 1:
            raise _Rejected(f"it has more than one .dist-info directory ({', '.join(dist_infos)})")
        dist_info = dist_infos[0]
        _check_dist_info_matches(dist_info, dist)
        for required in ("WHEEL", "RECORD", "METADATA"):
            if f"{dist_info}/{required}" not in names:
                raise _Rejected(f"{required} not found at {dist_info}/{required}")
        wheel_path = f"{dist_info}/WHEEL"
        wheel_file = _read_zip_member(archive, wheel_path, limits.max_metadata_bytes)
        _check_wheel_version(wheel_path, wheel_file)
        metadata_path = f"{dist_info}/METADATA"
        return (metadata_path,
                _read_zip_member(archive, metadata_path, limits.max_metadata_bytes),
                _unpacked_bytes(archive))


def _check_dist_info_matches(dist_info: str, dist: DistFilename) -> None:
    """Refuse a wheel whose .dist-info directory names another project or version.

    Compared after normalization, as pip does: older tools wrote ``Foo.Bar-1.0.dist-info``.
    """
    name, _, version = dist_info[: -len(".dist-info")].rpartition("-")
    try:
        same_version = Version(version) == dist.version
    except InvalidVersion:
        same_version = False
    if not (name and normalize_name(name) == dist.normalized_name and same_version):
        raise _Rejected(
            f"its .dist-info directory {dist_info!r} does not match the filename "
            f"(expected '{dist.project}-{dist.version_text}.dist-info')"
        )


def _check_wheel_version(wheel_path: str, data: bytes) -> None:
    """Refuse a WHEEL file without a 1.x Wheel-Version: installers refuse those (PEP 427)."""
    try:
        wheel_version = HeaderParser().parsestr(data.decode("utf-8")).get("Wheel-Version")
    except UnicodeDecodeError:
        raise _Rejected(f"{wheel_path} is not valid UTF-8") from None
    if not wheel_version:
        raise _Rejected(f"{wheel_path} has no Wheel-Version")
    if wheel_version.strip().split(".")[0] != "1":
        raise _Rejected(f"Wheel-Version {wheel_version.strip()!r} is not supported (use 1.x)")


def _read_zip_sdist_metadata(path: Path, limits: InspectionLimits) -> tuple[str, bytes, int]:
    with _open_zip(path, limits) as archive:
        top: str | None = None
        metadata_path: str | None = None
        for info in archive.infolist():
            parts = _member_parts(info.filename)
            if not parts:
                continue
            top = _same_top_level(top, parts[0])
            if parts[1:] == ["PKG-INFO"]:
                metadata_path = info.filename
        if top is None:
            raise _Rejected("it is empty")
        if metadata_path is None:
            raise _Rejected(f"PKG-INFO not found at {top}/PKG-INFO")
        return (metadata_path,
                _read_zip_member(archive, metadata_path, limits.max_metadata_bytes),
                _unpacked_bytes(archive))


def _same_top_level(top: str | None, first_part: str) -> str:
    # An sdist is one directory, {name}-{version}/ (source distribution format).
    if top is not None and first_part != top:
        raise _Rejected(f"it has more than one top-level directory ({top!r} and {first_part!r})")
    return first_part


# -- tar.gz sdists ---------------------------------------------------------------------------


class _UnpackLimit(io.RawIOBase):
    """A read-only stream that refuses to yield more than ``limit`` bytes in total.

    Put between gzip and tarfile, it bounds the CPU and memory a gzip bomb can cost.
    """

    def __init__(self, source: _Readable, limit: int, why: str = "") -> None:
        super().__init__()
        self._source = source
        self._limit = limit
        self._why = why
        self._total = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        data = self._source.read(len(view))
        view[: len(data)] = data
        self._total += len(data)
        if self._total > self._limit:
            raise _Rejected(f"it unpacks to more than {format_size(self._limit)}{self._why}")
        return len(data)


def _unpack_limit(source: _Readable, compressed_size: int,
                  limits: InspectionLimits) -> _UnpackLimit:
    """``source`` within the unpack limit, or within its ratio to ``compressed_size`` when
    that is lower: a bomb is refused after a few MiB of work, not a GiB."""
    by_ratio = max(limits.sdist_ratio_free_bytes, compressed_size * limits.max_sdist_ratio)
    if by_ratio < limits.max_sdist_unpacked_bytes:
        return _UnpackLimit(source, by_ratio, f", over {limits.max_sdist_ratio} times its "
                                              f"compressed size ({format_size(compressed_size)})")
    return _UnpackLimit(source, limits.max_sdist_unpacked_bytes)


def _check_tar_member_kind(member: tarfile.TarInfo) -> None:
    if member.ischr() or member.isblk() or member.isfifo():
        raise _Rejected(f"member {member.name!r} is a device or FIFO")
    if member.issym() or member.islnk():
        # A symlink's target is relative to its directory, a hard link's to the archive root.
        base = posixpath.dirname(member.name) if member.issym() else ""
        target = posixpath.normpath(posixpath.join(base, member.linkname))
        if member.linkname.startswith("/") or target == ".." or target.startswith("../"):
            raise _Rejected(
                f"member {member.name!r} links outside the archive ({member.linkname!r})"
            )


def _decompressed(raw: IO[bytes], extension: str, limits: InspectionLimits
                  ) -> bz2.BZ2File | io.BufferedReader | gzip.GzipFile:
    """The tar stream inside a compressed sdist: gzip, or the older formats an upstream may
    list (``filenames.LISTED_EXTENSIONS``)."""
    if extension == ".tar.bz2":
        return bz2.BZ2File(raw, mode="rb")
    if extension == ".tar.xz":
        # Not LZMAFile, which takes no memory limit: a 40 KiB file naming a 1.5 GiB dictionary
        # took the server a gigabyte as it unpacked (within the unpack limit).
        return io.BufferedReader(_XzStream(raw, limits.max_xz_memory_bytes), _CHUNK)
    return gzip.GzipFile(fileobj=raw, mode="rb")


class _XzStream(io.RawIOBase):
    """The bytes of the .xz stream(s) in ``source``, decoded within ``memlimit`` bytes
    (an LZMAError beyond it)."""

    def __init__(self, source: IO[bytes], memlimit: int) -> None:
        super().__init__()
        self._source = source
        self._memlimit = memlimit
        self._decoder = lzma.LZMADecompressor(lzma.FORMAT_XZ, memlimit=memlimit)
        self._pending = b""  # read from the source, not yet given to the decoder
        self._later = False  # the decoder is of a stream after the first, yet to decode

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        while True:
            if self._decoder.eof:
                # Concatenated streams are one file, as xz reads them.
                self._pending = self._decoder.unused_data + self._pending
                if not self._pending:
                    self._pending = self._source.read(_CHUNK)
                if not self._pending:
                    return 0
                self._decoder = lzma.LZMADecompressor(lzma.FORMAT_XZ, memlimit=self._memlimit)
                self._later = True
            if self._decoder.needs_input:
                if not self._pending:
                    self._pending = self._source.read(_CHUNK)
                    if not self._pending:
                        raise EOFError("the xz stream ends before its end marker")
                chunk, self._pending = self._pending, b""
            else:
                chunk = b""
            try:
                data = self._decoder.decompress(chunk, len(view))
            except lzma.LZMAError:
                if self._later:
                    return 0  # what follows the first stream(s) is no stream: ignored
                raise
            if data:
                self._later = False
                view[: len(data)] = data
                return len(data)


def _read_tar_sdist_metadata(path: Path, extension: str,
                             limits: InspectionLimits) -> tuple[str, bytes]:
    """Walk every member of a compressed tar (streaming, never seeking back) and read
    PKG-INFO."""
    top: str | None = None
    found: tuple[str, bytes] | None = None
    count = 0
    cap = limits.max_metadata_bytes
    compression = "gzip" if extension in (".tar.gz", ".tgz") else extension.rsplit(".", 1)[1]
    # Said as it is read aloud: "an xz-compressed", "a bz2-compressed".
    kind = f"{'an' if compression == 'xz' else 'a'} {compression}-compressed tar archive"
    try:
        with (
            path.open("rb") as raw,
            _decompressed(raw, extension, limits) as unzipped,
            _unpack_limit(unzipped, os.fstat(raw.fileno()).st_size, limits) as limited,
            tarfile.open(fileobj=limited, mode="r|") as tar,
        ):
            for member in tar:
                count += 1
                if count > limits.max_members:
                    raise _Rejected(f"it has more than {limits.max_members} members")
                parts = _member_parts(member.name)
                _check_tar_member_kind(member)
                if not parts:
                    continue
                top = _same_top_level(top, parts[0])
                if parts[1:] != ["PKG-INFO"]:
                    continue
                if found is not None:
                    raise _Rejected(f"it has more than one {top}/PKG-INFO")
                if not member.isreg():
                    raise _Rejected(f"{member.name} is not a regular file")
                if member.size > cap:
                    raise _Rejected(f"{member.name} is larger than {format_size(cap)}")
                stream = tar.extractfile(member)
                if stream is None:  # pragma: no cover - isreg() members always have data
                    raise _Rejected(f"{member.name} cannot be read")
                found = (member.name, _read_capped(stream, cap, member.name))
    except (tarfile.TarError, OSError, EOFError, zlib.error, lzma.LZMAError) as exc:
        raise _Rejected(f"not {kind} ({exc})") from None
    if top is None:
        raise _Rejected("it is empty")
    if found is None:
        raise _Rejected(f"PKG-INFO not found at {top}/PKG-INFO")
    return found


# -- core metadata ---------------------------------------------------------------------------

# The fields that decide what the distribution is; their problems are reported first, as
# Warehouse does, because they make most other errors moot.
_FIRST_FIELDS = ("metadata-version", "name", "version")


def _leaves(group: BaseExceptionGroup[BaseException]) -> Iterator[BaseException]:
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            yield from _leaves(exc)
        else:
            yield exc


def _problem_order(problem: MetadataProblem) -> tuple[int, str, str]:
    first = problem.field in _FIRST_FIELDS
    rank = _FIRST_FIELDS.index(problem.field) if first else len(_FIRST_FIELDS)
    return rank, problem.field, problem.message


def _validate_metadata(text: str, raw: RawMetadata, unparsed: Mapping[str, object]
                       ) -> tuple[Metadata | None, tuple[MetadataProblem, ...]]:
    """``Metadata.from_email(text)``'s verdict, from ``parse_email(text)`` already done.

    With every field parsed, ``from_email`` is ``from_raw`` on what ``parse_email`` gave (the
    same problems, the same messages), so the email parser runs once per file; fields it
    could not parse take ``from_email`` itself, which words those problems."""
    try:
        if unparsed:
            return Metadata.from_email(text, validate=True), ()
        return Metadata.from_raw(raw, validate=True), ()
    except ExceptionGroup as group:
        problems = [
            MetadataProblem(field=str(getattr(exc, "field", "")).lower(), message=str(exc))
            for exc in _leaves(group)
        ]
        return None, tuple(sorted(problems, key=_problem_order))


# A Description field in the headers, rather than in the body: the header block ends at the
# first empty line, and a continuation line starts with whitespace, so cannot match.
_DESCRIPTION_HEADER_RE = re.compile(r"\A(?:[^\r\n]+\r?\n)*?description[ \t]*:", re.IGNORECASE)
_PIPED_LINE_RE = re.compile(r"^[ \t]*\|")


def _unfold_description(value: str) -> str:
    """The text of a Description written as a header field, as its author wrote it.

    Metadata-Version 1.x and 2.0 put the description in a ``Description:`` header, each line
    after the first indented so that it continues the field: setuptools and distutils indent
    with 8 spaces, the core metadata specification with 7 and a ``|``. The email parser keeps
    that indentation, which would turn the whole text but its first line into an indented
    block (reStructuredText's block quote, Markdown's code). Taken off here as setuptools and
    pkginfo (hence twine, hence PyPI) take it off: each ``|`` with what precedes it, else the
    indentation common to the continuation lines."""
    lines = value.splitlines()
    if len(lines) < 2:
        return value.strip()
    first, rest = lines[0].strip(), lines[1:]
    if all(_PIPED_LINE_RE.match(line) or not line.strip() for line in rest):
        body = "\n".join(_PIPED_LINE_RE.sub("", line, count=1) if line.strip() else ""
                         for line in rest)
    else:
        body = textwrap.dedent("\n".join(rest))
    # A description that starts on the line after "Description:" starts with its text, as
    # pkginfo strips it, not with an empty line.
    return (f"{first}\n{body}" if first else body).strip("\n").rstrip()


def _description(text: str, raw: RawMetadata) -> str | None:
    description = raw.get("description")
    if description is None or _DESCRIPTION_HEADER_RE.match(text) is None:
        return description  # none, or the message body's, taken as it is
    return _unfold_description(description)


def _describe(dist: DistFilename, metadata_path: str, data: bytes) -> DistInspection:
    # The core metadata specification requires UTF-8; guessing another encoding would store
    # text that differs from what the author wrote.
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        byte = data[exc.start]
        raise _Rejected(
            f"{metadata_path} is not valid UTF-8 (byte {byte:#04x} at offset {exc.start})"
        ) from None
    # parse_email is lenient, so the fields are known even when validation fails.
    raw, unparsed = parse_email(text)
    metadata, problems = _validate_metadata(text, raw, unparsed)
    return DistInspection(
        filename=dist.filename,
        kind=dist.kind,
        metadata_path=metadata_path,
        metadata_bytes=data,
        metadata=metadata,
        problems=problems,
        metadata_version=raw.get("metadata_version", ""),
        name=raw.get("name", ""),
        version=raw.get("version", ""),
        summary=raw.get("summary"),
        description=_description(text, raw),
        description_content_type=raw.get("description_content_type"),
        requires_python=raw.get("requires_python"),
        requires_dist=tuple(raw.get("requires_dist", ())),
        license=raw.get("license_expression") or raw.get("license"),
        home_page=raw.get("home_page"),
        project_urls=MappingProxyType(dict(raw.get("project_urls", {}))),
        author=raw.get("author"),
        author_email=raw.get("author_email"),
        keywords=tuple(raw.get("keywords", ())),
        classifiers=tuple(raw.get("classifiers", ())),
        dynamic=tuple(field.strip().lower() for field in raw.get("dynamic", ())),
        info=MappingProxyType(info_attributes(raw)),
    )
