"""The benchmark corpus: valid, deterministic wheels and sdists built with zipfile and tarfile.

Every file has real metadata (METADATA / PKG-INFO, WHEEL, RECORD), so twine, pip and uv accept
them, and the same parameters always give the same bytes, so runs on different days compare.
Payloads are stored uncompressed pseudo-random bytes, which makes a file's size what was asked.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import random
import re
import tarfile
import zipfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import BinaryIO

# Zip timestamps cannot go before 1980; a fixed one keeps the bytes reproducible.
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
_CHUNK = 1 << 20
PAGE_PROJECT = "bench-page"
SMALL_PROJECT = "bench-small"
BIG_PROJECT = "bench-big"
HUGE_PROJECT = "bench-huge"


@dataclass(frozen=True)
class WheelSpec:
    """What one generated wheel holds: its name, version, payload size and dependencies."""

    name: str
    version: str
    payload_bytes: int = 0
    requires: tuple[str, ...] = ()

    @property
    def filename(self) -> str:
        # Wheel names escape runs of -_. to "_" (PEP 427, binary distribution format spec).
        return f"{_escape(self.name)}-{self.version}-py3-none-any.whl"


def normalize(name: str) -> str:
    """Return the PEP 503 normalized form of a project name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _escape(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def _metadata(name: str, version: str, requires: Sequence[str]) -> bytes:
    lines = [
        "Metadata-Version: 2.1",
        f"Name: {name}",
        f"Version: {version}",
        "Summary: Packyard benchmark corpus package",
        "License: Apache-2.0",
        "Requires-Python: >=3.8",
        *(f"Requires-Dist: {requirement}" for requirement in requires),
    ]
    return ("\n".join(lines) + "\n\n").encode()


def _record_hash(digest: bytes) -> str:
    # RECORD uses urlsafe base64 without padding (binary distribution format spec).
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _zipinfo(arcname: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(arcname, date_time=_ZIP_EPOCH)
    info.external_attr = 0o644 << 16
    info.compress_type = zipfile.ZIP_STORED
    return info


def write_wheel(spec: WheelSpec, out: BinaryIO) -> None:
    """Write a valid pure-Python wheel for `spec` to `out`, streaming the payload."""
    module = _escape(spec.name)
    dist_info = f"{module}-{spec.version}.dist-info"
    records: list[str] = []
    with zipfile.ZipFile(out, "w") as archive:

        def add(arcname: str, data: bytes) -> None:
            archive.writestr(_zipinfo(arcname), data)
            records.append(f"{arcname},{_record_hash(hashlib.sha256(data).digest())},{len(data)}")

        add(
            f"{module}/__init__.py",
            f'"""{spec.name} {spec.version}."""\nVERSION = "{spec.version}"\n'.encode(),
        )
        if spec.payload_bytes > 0:
            arcname = f"{module}/payload.bin"
            digest = hashlib.sha256()
            rng = random.Random(f"{spec.name}-{spec.version}")
            remaining = spec.payload_bytes
            with archive.open(
                _zipinfo(arcname), "w", force_zip64=spec.payload_bytes > (1 << 30)
            ) as sink:
                while remaining:
                    chunk = rng.randbytes(min(_CHUNK, remaining))
                    sink.write(chunk)
                    digest.update(chunk)
                    remaining -= len(chunk)
            records.append(f"{arcname},{_record_hash(digest.digest())},{spec.payload_bytes}")
        add(f"{dist_info}/METADATA", _metadata(spec.name, spec.version, spec.requires))
        add(
            f"{dist_info}/WHEEL",
            b"Wheel-Version: 1.0\nGenerator: packyard-bench\nRoot-Is-Purelib: true\nTag: py3-none-any\n\n",
        )
        record_name = f"{dist_info}/RECORD"
        records.append(f"{record_name},,")
        archive.writestr(_zipinfo(record_name), ("\n".join(records) + "\n").encode())


def wheel_bytes(spec: WheelSpec) -> bytes:
    """Return the bytes of a small wheel (kept in memory; for big ones use write_wheel)."""
    buffer = io.BytesIO()
    write_wheel(spec, buffer)
    return buffer.getvalue()


def sized_wheel_spec(name: str, version: str, total_bytes: int) -> WheelSpec:
    """Return a spec whose wheel file is `total_bytes` long (to the byte, for sizes past ~1 KiB)."""
    spec = WheelSpec(name, version, payload_bytes=max(1, total_bytes // 2))
    for _ in range(4):
        size = len(wheel_bytes(spec))
        if size == total_bytes:
            break
        spec = WheelSpec(
            name, version, payload_bytes=max(1, spec.payload_bytes + total_bytes - size)
        )
    return spec


def _wheel_overhead(name: str, version: str, payload_bytes: int) -> int:
    """Bytes a wheel holds besides its payload, for a payload of `payload_bytes`.

    Measured on a one-byte payload, then corrected for the payload size written in RECORD (the
    only place the size appears as text); the zip headers of a stored member have fixed sizes.
    """
    probe = len(wheel_bytes(WheelSpec(name, version, payload_bytes=1))) - 1
    return probe - len("1") + len(str(payload_bytes))


def _huge_wheel_spec(total_bytes: int) -> WheelSpec:
    payload = max(1, total_bytes - _wheel_overhead(HUGE_PROJECT, "1.0.0", total_bytes))
    payload = max(1, total_bytes - _wheel_overhead(HUGE_PROJECT, "1.0.0", payload))
    return WheelSpec(HUGE_PROJECT, "1.0.0", payload_bytes=payload)


def huge_wheel_path(root: Path, total_bytes: int) -> Path:
    """Where `build_huge_wheel` keeps the wheel of that size (it exists once fully written)."""
    return root / f"corpus-huge-{total_bytes}" / _huge_wheel_spec(total_bytes).filename


def build_huge_wheel(root: Path, total_bytes: int) -> Path:
    """Write (or reuse) the wheel of the huge-upload figure, `total_bytes` long, under `root`.

    Streamed to disk in 1 MiB chunks, never held in memory; written under a temporary name and
    renamed when complete, so an interrupted run never leaves a short file to be reused. Up to
    1 GiB of payload the size is exact; past it zip64 headers add a few dozen bytes.
    """
    spec = _huge_wheel_spec(total_bytes)
    path = huge_wheel_path(root, total_bytes)
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".part")
    try:
        with partial.open("wb") as out:
            write_wheel(spec, out)
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
    return path


def sdist_bytes(name: str, version: str) -> bytes:
    """Return a valid, reproducible sdist (.tar.gz with PKG-INFO and pyproject.toml)."""
    base = f"{_escape(name)}-{version}"
    members = {
        f"{base}/PKG-INFO": _metadata(name, version, ()),
        f"{base}/pyproject.toml": (
            '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n\n'
            f'[project]\nname = "{name}"\nversion = "{version}"\n'
        ).encode(),
        f"{base}/src/{_escape(name)}/__init__.py": f'VERSION = "{version}"\n'.encode(),
    }
    raw = io.BytesIO()
    # mtime=0 and an empty filename keep the gzip header identical across runs.
    with (
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as zipped,
        tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for arcname, data in members.items():
            info = tarfile.TarInfo(arcname)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))
    return raw.getvalue()


def sdist_filename(name: str, version: str) -> str:
    return f"{_escape(name)}-{version}.tar.gz"


@dataclass(frozen=True)
class CorpusSpec:
    """Counts and sizes of the corpus; every field is a command-line flag."""

    page_files: int = 10
    small_bytes: int = 2048
    big_bytes: int = 100 << 20
    upload_count: int = 100
    install_count: int = 50
    install_chain: int = 5

    def key(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:12]


@dataclass
class Corpus:
    """Paths of the generated files, grouped by the figure that uses them."""

    root: Path
    spec: CorpusSpec
    page: list[Path] = field(default_factory=list)
    small: Path = Path()
    big: Path = Path()
    uploads: list[Path] = field(default_factory=list)
    installs: list[Path] = field(default_factory=list)

    @property
    def install_names(self) -> list[str]:
        return [install_name(index) for index in range(self.spec.install_count)]

    def hosted_files(self) -> list[Path]:
        """Every file the read figures need, in the order they are uploaded."""
        return [*self.page, self.small, *self.installs]


def install_name(index: int) -> str:
    return f"bench-inst-{index:03d}"


def upload_name(index: int) -> str:
    return f"bench-up-{index:05d}"


def scale_wheel(prefix: str, index: int) -> tuple[str, bytes]:
    """Return (filename, bytes) of the tiny one-file project number `index` of a scale series."""
    spec = WheelSpec(f"{prefix}-{index:06d}", "1.0.0", payload_bytes=64)
    return spec.filename, wheel_bytes(spec)


def _page_specs(count: int) -> list[tuple[str, str]]:
    """(kind, version) pairs: a wheel and an sdist per version until `count` files."""
    pairs: list[tuple[str, str]] = []
    version = 0
    while len(pairs) < count:
        pairs.append(("wheel", f"1.0.{version}"))
        if len(pairs) < count:
            pairs.append(("sdist", f"1.0.{version}"))
        version += 1
    return pairs


def build_corpus(root: Path, spec: CorpusSpec) -> Corpus:
    """Build (or reuse, when the same spec was built before) the corpus under `root`."""
    base = root / f"corpus-{spec.key()}"
    manifest = base / "manifest.json"
    corpus = Corpus(root=base, spec=spec)
    if manifest.exists():
        stored = json.loads(manifest.read_text())
        corpus.page = [base / name for name in stored["page"]]
        corpus.small = base / stored["small"]
        corpus.big = base / stored["big"]
        corpus.uploads = [base / name for name in stored["uploads"]]
        corpus.installs = [base / name for name in stored["installs"]]
        if all(path.exists() for path in [*corpus.page, corpus.small, corpus.big]):
            return corpus
    for folder in ("page", "small", "big", "uploads", "installs"):
        (base / folder).mkdir(parents=True, exist_ok=True)

    def put(folder: str, filename: str, data: bytes) -> Path:
        path = base / folder / filename
        path.write_bytes(data)
        return path

    corpus.page = []
    for kind, version in _page_specs(spec.page_files):
        if kind == "wheel":
            page_spec = sized_wheel_spec(PAGE_PROJECT, version, 1536)
            corpus.page.append(put("page", page_spec.filename, wheel_bytes(page_spec)))
        else:
            corpus.page.append(
                put(
                    "page",
                    sdist_filename(PAGE_PROJECT, version),
                    sdist_bytes(PAGE_PROJECT, version),
                )
            )
    small_spec = sized_wheel_spec(SMALL_PROJECT, "1.0.0", spec.small_bytes)
    corpus.small = put("small", small_spec.filename, wheel_bytes(small_spec))
    big_spec = WheelSpec(BIG_PROJECT, "1.0.0", payload_bytes=max(1, spec.big_bytes - 1024))
    corpus.big = base / "big" / big_spec.filename
    with corpus.big.open("wb") as out:
        write_wheel(big_spec, out)
    corpus.uploads = [
        put("uploads", w.filename, wheel_bytes(w))
        for w in (
            WheelSpec(upload_name(i), "1.0.0", payload_bytes=256) for i in range(spec.upload_count)
        )
    ]
    corpus.installs = []
    for index in range(spec.install_count):
        # The first few packages form a chain (0 needs 1 needs 2 ...) so resolvers do real work.
        chained = index + 1 < min(spec.install_chain, spec.install_count)
        requires = (install_name(index + 1),) if chained else ()
        install_spec = WheelSpec(install_name(index), "1.0.0", payload_bytes=512, requires=requires)
        corpus.installs.append(put("installs", install_spec.filename, wheel_bytes(install_spec)))
    manifest.write_text(
        json.dumps(
            {
                "spec": asdict(spec),
                "page": [str(p.relative_to(base)) for p in corpus.page],
                "small": str(corpus.small.relative_to(base)),
                "big": str(corpus.big.relative_to(base)),
                "uploads": [str(p.relative_to(base)) for p in corpus.uploads],
                "installs": [str(p.relative_to(base)) for p in corpus.installs],
            },
            indent=1,
        )
    )
    return corpus


def parse_filename(filename: str) -> tuple[str, str]:
    """Return (normalized project name, version) of a wheel or sdist filename."""
    if filename.endswith(".whl"):
        name, version = filename.split("-")[:2]
    elif filename.endswith(".tar.gz"):
        name, version = filename[: -len(".tar.gz")].rsplit("-", 1)
    else:
        raise ValueError(f"not a wheel or sdist: {filename}")
    return normalize(name), version
