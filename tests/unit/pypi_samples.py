"""Builders of sample wheels and sdists (good and hostile) for the PyPI unit tests.

Everything is written with zipfile/tarfile into a tmp directory, so each test says exactly which
bytes it feeds to the code under test.
"""

from __future__ import annotations

import base64
import hashlib
import io
import tarfile
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer


def metadata_text(
    name: str = "sample",
    version: str = "1.0",
    *,
    metadata_version: str = "2.1",
    headers: Iterable[tuple[str, str]] = (),
    body: str | None = None,
) -> str:
    """A METADATA / PKG-INFO document with the given extra headers and description body."""
    lines = [f"Metadata-Version: {metadata_version}", f"Name: {name}", f"Version: {version}"]
    lines += [f"{key}: {value}" for key, value in headers]
    text = "\n".join(lines) + "\n"
    if body is not None:
        text += "\n" + body
    return text


WHEEL_FILE = b"Wheel-Version: 1.0\nGenerator: packyard-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"


def _record(files: Mapping[str, bytes], record_path: str) -> bytes:
    rows = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        rows.append(f"{path},sha256={digest},{len(data)}")
    rows.append(f"{record_path},,")
    return ("\n".join(rows) + "\n").encode()


def wheel_members(
    name: str = "sample",
    version: str = "1.0",
    *,
    metadata: str | bytes | None = None,
    dist_info: str | None = None,
    wheel_file: bytes = WHEEL_FILE,
    omit: Iterable[str] = (),
) -> dict[str, bytes]:
    """The members of a valid wheel (a module, METADATA, WHEEL, RECORD), minus ``omit``."""
    dist_info = dist_info or f"{name}-{version}.dist-info"
    if metadata is None:
        metadata = metadata_text(name, version)
    files: dict[str, bytes] = {
        f"{name}/__init__.py": b"VALUE = 1\n",
        f"{dist_info}/METADATA": metadata.encode() if isinstance(metadata, str) else metadata,
        f"{dist_info}/WHEEL": wheel_file,
    }
    files[f"{dist_info}/RECORD"] = _record(files, f"{dist_info}/RECORD")
    omitted = {f"{dist_info}/{member}" for member in omit}
    return {path: data for path, data in files.items() if path not in omitted}


def write_zip(
    path: Path,
    members: Mapping[str, bytes] | Iterable[tuple[str | zipfile.ZipInfo, bytes]],
    *,
    compression: int = zipfile.ZIP_DEFLATED,
) -> Path:
    """Write a zip archive; members may be (ZipInfo, bytes) pairs to set flags by hand."""
    items = members.items() if isinstance(members, Mapping) else members
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        for member, data in items:
            archive.writestr(member, data)
    return path


def build_wheel(
    directory: Path,
    filename: str | None = None,
    *,
    name: str = "sample",
    version: str = "1.0",
    metadata: str | bytes | None = None,
    dist_info: str | None = None,
) -> Path:
    """Write a valid wheel named for ``name`` and ``version`` unless ``filename`` is given."""
    filename = filename or f"{name}-{version}-py3-none-any.whl"
    members = wheel_members(name, version, metadata=metadata, dist_info=dist_info)
    return write_zip(directory / filename, members)


@dataclass
class TarMember:
    """One member to put in a tar: a regular file unless ``kind`` says otherwise."""

    name: str
    data: bytes = b""
    kind: bytes = tarfile.REGTYPE
    linkname: str = ""
    size: int | None = None
    """A size to declare instead of len(data) (with a reader that produces that much)."""


class Zeros(io.RawIOBase):
    """A stream of ``size`` zero bytes, produced as read (no big buffer in the test)."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self._left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        count = min(len(view), self._left)
        view[:count] = bytes(count)
        self._left -= count
        return count


def write_tar_gz(path: Path, members: Iterable[TarMember]) -> Path:
    """Write a compressed tar with hand-made members (links, devices, odd paths): gzip, or
    bzip2 / xz when the name ends ``.tar.bz2`` / ``.tar.xz``."""
    compression = {".bz2": "bz2", ".xz": "xz"}.get(path.suffix, "gz")
    with tarfile.open(path, f"w:{compression}") as tar:
        for member in members:
            info = tarfile.TarInfo(member.name)
            info.type = member.kind
            info.linkname = member.linkname
            if member.kind == tarfile.REGTYPE:
                if member.size is not None:
                    info.size = member.size
                    tar.addfile(info, Zeros(member.size))
                else:
                    info.size = len(member.data)
                    tar.addfile(info, io.BytesIO(member.data))
            else:
                tar.addfile(info)
    return path


def sdist_members(
    name: str = "sample", version: str = "1.0", *, pkg_info: str | bytes | None = None
) -> list[TarMember]:
    """The members of a valid sdist: top directory, PKG-INFO, pyproject.toml and a module."""
    top = f"{name}-{version}"
    if pkg_info is None:
        pkg_info = metadata_text(name, version)
    data = pkg_info.encode() if isinstance(pkg_info, str) else pkg_info
    return [
        TarMember(top, kind=tarfile.DIRTYPE),
        TarMember(f"{top}/PKG-INFO", data),
        TarMember(f"{top}/pyproject.toml", b"[project]\nname = 'sample'\n"),
        TarMember(f"{top}/{name}/__init__.py", b"VALUE = 1\n"),
    ]


def build_sdist(directory: Path, *, name: str = "sample", version: str = "1.0") -> Path:
    """Write a valid .tar.gz sdist named ``{name}-{version}.tar.gz``."""
    return write_tar_gz(directory / f"{name}-{version}.tar.gz", sdist_members(name, version))


@dataclass(frozen=True)
class Computed:
    """Digests and size of a file, as the storage layer reports them."""

    size: int
    md5: str
    sha256: str
    blake2_256: str

    @classmethod
    def of(cls, path: Path) -> Computed:
        data = path.read_bytes()
        return cls(
            size=len(data),
            md5=hashlib.md5(data).hexdigest(),
            sha256=hashlib.sha256(data).hexdigest(),
            blake2_256=hashlib.blake2b(data, digest_size=32).hexdigest(),
        )
