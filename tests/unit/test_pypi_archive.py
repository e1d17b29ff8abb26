"""Reading core metadata from uploaded wheels and sdists, including hostile ones."""

from __future__ import annotations

import email.parser
import gzip
import importlib.util
import lzma
import os
import subprocess
import sys
import tarfile
import time
import tracemalloc
import warnings
import zipfile
from collections.abc import Callable
from email.message import Message
from pathlib import Path

import pytest
from packaging.metadata import Metadata

from packyard.errors import Invalid
from packyard.formats.pypi.archive import (
    DEFAULT_LIMITS,
    DistInspection,
    InspectionLimits,
    MetadataProblem,
    format_size,
    inspect_core_metadata,
    inspect_distribution,
    serves_core_metadata,
)
from packyard.formats.pypi.filenames import parse_distribution_filename, parse_listed_filename
from tests.unit.pypi_samples import (
    WHEEL_FILE,
    TarMember,
    build_sdist,
    build_wheel,
    metadata_text,
    sdist_members,
    wheel_members,
    write_tar_gz,
    write_zip,
)

MiB = 1024 * 1024
WHEEL = "sample-1.0-py3-none-any.whl"
SDIST = "sample-1.0.tar.gz"


def inspect(path: Path, limits: InspectionLimits = DEFAULT_LIMITS) -> DistInspection:
    return inspect_distribution(path, parse_distribution_filename(path.name), limits=limits)


def refusal(path: Path, limits: InspectionLimits = DEFAULT_LIMITS) -> str:
    with pytest.raises(Invalid) as caught:
        inspect(path, limits)
    return caught.value.message


RICH_METADATA = metadata_text(
    "Sample.Pkg",
    "1.0",
    metadata_version="2.4",
    headers=[
        ("Summary", "A sample package"),
        ("Author", "Ann Author"),
        ("Author-email", "Ann <ann@example.com>"),
        ("License-Expression", "MIT OR Apache-2.0"),
        ("Home-page", "https://example.com"),
        ("Project-URL", "Source Code, https://example.com/src"),
        ("Project-URL", "Docs, https://example.com/docs"),
        ("Keywords", "one,two"),
        ("Classifier", "Programming Language :: Python :: 3"),
        ("Classifier", "Topic :: Utilities"),
        ("Requires-Python", ">=3.9"),
        ("Requires-Dist", "packaging>=20"),
        ("Requires-Dist", "rich; extra == 'cli'"),
        ("Provides-Extra", "cli"),
        ("Description-Content-Type", "text/markdown"),
    ],
    body="# Sample\n\nLong description.\n",
)


# -- valid distributions -----------------------------------------------------------------------


def test_wheel_metadata_is_read_and_parsed(tmp_path: Path) -> None:
    path = build_wheel(tmp_path, "Sample.Pkg-1.0-py3-none-any.whl", name="Sample.Pkg",
                       metadata=RICH_METADATA)
    result = inspect(path)
    assert result.filename == "Sample.Pkg-1.0-py3-none-any.whl"
    assert result.kind == "bdist_wheel"
    assert result.metadata_path == "Sample.Pkg-1.0.dist-info/METADATA"
    assert result.metadata_bytes == RICH_METADATA.encode()
    assert result.problems == ()
    assert result.metadata is not None and result.metadata.name == "Sample.Pkg"
    assert (result.name, result.version, result.metadata_version) == ("Sample.Pkg", "1.0", "2.4")
    assert result.summary == "A sample package"
    assert result.description == "# Sample\n\nLong description.\n"
    assert result.description_content_type == "text/markdown"
    assert result.requires_python == ">=3.9"
    assert result.requires_dist == ("packaging>=20", "rich; extra == 'cli'")
    assert result.license == "MIT OR Apache-2.0"
    assert result.home_page == "https://example.com"
    assert dict(result.project_urls) == {
        "Source Code": "https://example.com/src",
        "Docs": "https://example.com/docs",
    }
    assert result.author == "Ann Author"
    assert result.author_email == "Ann <ann@example.com>"
    assert result.keywords == ("one", "two")
    assert result.classifiers == ("Programming Language :: Python :: 3", "Topic :: Utilities")


def test_sdist_metadata_is_read_from_top_level_pkg_info(tmp_path: Path) -> None:
    members = sdist_members(pkg_info=metadata_text(headers=[("Summary", "top")]))
    # A nested PKG-INFO (setuptools' egg-info) must not be taken for the real one.
    members.append(TarMember("sample-1.0/src/sample.egg-info/PKG-INFO", b"Name: wrong\n"))
    result = inspect(write_tar_gz(tmp_path / SDIST, members))
    assert result.kind == "sdist"
    assert result.metadata_path == "sample-1.0/PKG-INFO"
    assert result.summary == "top"
    assert result.name == "sample"


def test_legacy_zip_sdist_is_read(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "sample-1.0.zip", {
        "sample-1.0/PKG-INFO": metadata_text().encode(),
        "sample-1.0/setup.py": b"",
    })
    result = inspect(path)
    assert result.metadata_path == "sample-1.0/PKG-INFO"
    assert result.version == "1.0"


def test_license_field_is_used_without_license_expression(tmp_path: Path) -> None:
    path = build_wheel(tmp_path, metadata=metadata_text(headers=[("License", "BSD")]))
    assert inspect(path).license == "BSD"


def test_symlink_inside_the_sdist_is_accepted(tmp_path: Path) -> None:
    members = sdist_members()
    members.append(TarMember("sample-1.0/docs/README", kind=tarfile.SYMTYPE,
                             linkname="../pyproject.toml"))
    assert inspect(write_tar_gz(tmp_path / SDIST, members)).name == "sample"


def test_dot_slash_prefixed_sdist_members_are_understood(tmp_path: Path) -> None:
    members = [TarMember("./sample-1.0/PKG-INFO", metadata_text().encode())]
    assert inspect(write_tar_gz(tmp_path / SDIST, members)).metadata_path == "./sample-1.0/PKG-INFO"


def test_older_dist_info_spelling_matches_after_normalization(tmp_path: Path) -> None:
    path = build_wheel(tmp_path, "Foo.Bar-1.0.0-py3-none-any.whl", name="Foo.Bar",
                       version="1.0.0", dist_info="foo_bar-1.0.dist-info",
                       metadata=metadata_text("Foo.Bar", "1.0.0"))
    assert inspect(path).metadata_path == "foo_bar-1.0.dist-info/METADATA"


# -- real distributions ---------------------------------------------------------------------------


def _can_build_wheels() -> bool:
    try:
        import setuptools
    except ImportError:
        return False
    major, minor = (int(part) for part in setuptools.__version__.split(".")[:2])
    # setuptools builds wheels on its own from 70.1 on; before that it needs the wheel package.
    return (major, minor) >= (70, 1) or importlib.util.find_spec("wheel") is not None


@pytest.fixture(scope="module")
def built_dists(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny project built by `python -m build --no-isolation` (setuptools)."""
    if importlib.util.find_spec("build") is None or not _can_build_wheels():
        pytest.skip("needs build, setuptools and (for setuptools < 70.1) wheel")
    project = tmp_path_factory.mktemp("project")
    (project / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=61"]\n'
        'build-backend = "setuptools.build_meta"\n'
        '[project]\nname = "Tiny.Pkg"\nversion = "1.0.0"\ndescription = "tiny"\n'
        'requires-python = ">=3.8"\ndependencies = ["packaging>=20"]\n'
        '[project.urls]\nSource = "https://example.com/src"\n'
    )
    (project / "src" / "tiny_pkg").mkdir(parents=True)
    (project / "src" / "tiny_pkg" / "__init__.py").write_text("VALUE = 1\n")
    out = project / "dist"
    subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(project)],
        check=True, capture_output=True, timeout=300,
    )
    built = {path.suffix: path for path in out.iterdir()}
    return {"wheel": built[".whl"], "sdist": built[".gz"]}


def test_wheel_built_by_setuptools_is_inspected(built_dists: dict[str, Path]) -> None:
    result = inspect(built_dists["wheel"])
    assert result.name == "Tiny.Pkg"
    assert result.version == "1.0.0"
    assert result.requires_python == ">=3.8"
    assert result.requires_dist == ("packaging>=20",)
    assert dict(result.project_urls) == {"Source": "https://example.com/src"}
    assert result.problems == ()


def test_sdist_built_by_setuptools_is_inspected(built_dists: dict[str, Path]) -> None:
    result = inspect(built_dists["sdist"])
    assert result.name == "Tiny.Pkg"
    assert result.version == "1.0.0"
    assert result.metadata_path.endswith("/PKG-INFO")
    assert result.metadata_path.count("/") == 1
    assert result.summary == "tiny"


REAL_WHEELS = sorted(Path("/opt/wheels").glob("*.whl")) if Path("/opt/wheels").is_dir() else []


@pytest.mark.skipif(not REAL_WHEELS, reason="no wheels in /opt/wheels on this machine")
@pytest.mark.parametrize("path", REAL_WHEELS[:1], ids=lambda path: path.name)
def test_real_wheel_from_pypi_is_inspected(path: Path) -> None:
    dist = parse_distribution_filename(path.name)
    started = time.monotonic()
    result = inspect_distribution(path, dist)
    assert time.monotonic() - started < 10
    assert result.metadata_path.endswith(".dist-info/METADATA")
    assert result.metadata_bytes.startswith(b"Metadata-Version: ")
    assert result.name.lower() == dist.project.lower()
    assert result.version == dist.version_text


# -- not an archive -------------------------------------------------------------------------------


def test_wheel_that_is_not_a_zip_is_refused(tmp_path: Path) -> None:
    path = tmp_path / WHEEL
    path.write_bytes(b"this is not a zip file at all")
    assert refusal(path) == (
        "sample-1.0-py3-none-any.whl is not a valid wheel: not a zip archive "
        "(File is not a zip file)."
    )


def test_sdist_that_is_not_gzip_is_refused(tmp_path: Path) -> None:
    path = tmp_path / SDIST
    path.write_bytes(b"plain text, not gzip")
    assert refusal(path).startswith(
        "sample-1.0.tar.gz is not a valid source distribution: not a gzip-compressed tar archive"
    )


def test_gzip_that_is_not_a_tar_is_refused(tmp_path: Path) -> None:
    path = tmp_path / SDIST
    path.write_bytes(gzip.compress(b"hello world, no tar headers here" * 40))
    assert refusal(path).startswith(
        "sample-1.0.tar.gz is not a valid source distribution: not a gzip-compressed tar archive ("
    )


def test_truncated_sdist_is_refused(tmp_path: Path) -> None:
    good = build_sdist(tmp_path)
    path = tmp_path / "cut" / SDIST
    path.parent.mkdir()
    path.write_bytes(good.read_bytes()[:60])
    assert "not a gzip-compressed tar archive" in refusal(path)


def test_truncated_wheel_is_refused(tmp_path: Path) -> None:
    good = build_wheel(tmp_path)
    path = tmp_path / "cut" / WHEEL
    path.parent.mkdir()
    path.write_bytes(good.read_bytes()[:-30])
    assert refusal(path).startswith("sample-1.0-py3-none-any.whl is not a valid wheel: not a zip")


def test_empty_sdist_is_refused(tmp_path: Path) -> None:
    path = write_tar_gz(tmp_path / SDIST, [])
    assert refusal(path) == "sample-1.0.tar.gz is not a valid source distribution: it is empty."


# -- zip members ----------------------------------------------------------------------------------


def test_encrypted_zip_member_is_refused(tmp_path: Path) -> None:
    members = wheel_members()
    members["sample/secret.py"] = b"ciphertext"
    path = write_zip(tmp_path / WHEEL, members)
    # zipfile cannot write encrypted members; set the "encrypted" flag bit in both headers.
    data = bytearray(path.read_bytes())
    name = b"sample/secret.py"
    local, central = data.index(name) - 30, data.rindex(name) - 46
    assert data[local:local + 4] == b"PK\x03\x04" and data[central:central + 4] == b"PK\x01\x02"
    data[local + 6] |= 0x1
    data[central + 8] |= 0x1
    path.write_bytes(bytes(data))
    assert refusal(path) == (
        "sample-1.0-py3-none-any.whl is not a valid wheel: member 'sample/secret.py' is encrypted."
    )


def test_unsupported_zip_compression_is_refused(tmp_path: Path) -> None:
    path = write_zip(tmp_path / WHEEL, wheel_members(), compression=zipfile.ZIP_BZIP2)
    assert refusal(path) == (
        "sample-1.0-py3-none-any.whl is not a valid wheel: member 'sample/__init__.py' uses an "
        "unsupported compression method (only stored and deflate are accepted)."
    )


def test_duplicate_zip_members_are_refused(tmp_path: Path) -> None:
    members = list(wheel_members().items())
    members.append(("sample-1.0.dist-info/METADATA", metadata_text(version="6.6.6").encode()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # zipfile warns about the duplicate
        path = write_zip(tmp_path / WHEEL, members)
    assert refusal(path) == (
        "sample-1.0-py3-none-any.whl is not a valid wheel: it has more than one member named "
        "'sample-1.0.dist-info/METADATA'."
    )


@pytest.mark.parametrize(
    ("member", "reason"),
    [
        ("/etc/passwd", "member '/etc/passwd' has an absolute path"),
        ("C:/windows/evil.dll", "member 'C:/windows/evil.dll' has an absolute path"),
        ("sample/../../evil.py", "member 'sample/../../evil.py' has a '..' path component"),
        ("sample\\..\\..\\evil.py", "member 'sample\\\\..\\\\..\\\\evil.py' has a '..' path component"),
    ],
)
def test_zip_member_with_escaping_path_is_refused(tmp_path: Path, member: str, reason: str) -> None:
    members = wheel_members()
    members[member] = b"x"
    path = write_zip(tmp_path / WHEEL, members)
    assert refusal(path) == f"sample-1.0-py3-none-any.whl is not a valid wheel: {reason}."


def test_zip_with_too_many_members_is_refused(tmp_path: Path) -> None:
    members = wheel_members()
    members.update({f"sample/m{index}.py": b"" for index in range(20)})
    path = write_zip(tmp_path / WHEEL, members)
    limits = InspectionLimits(max_members=10)
    assert refusal(path, limits) == (
        "sample-1.0-py3-none-any.whl is not a valid wheel: it has more than 10 members."
    )
    assert inspect(path, InspectionLimits(max_members=len(members))).name == "sample"


def test_zip64_member_count_is_read_from_the_zip64_end_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    members = wheel_members()
    members.update({f"sample/m{index}.py": b"" for index in range(20)})
    # Make zipfile write ZIP64 end records, as it does for archives of over 65535 members.
    monkeypatch.setattr(zipfile, "ZIP_FILECOUNT_LIMIT", 5)
    path = write_zip(tmp_path / WHEEL, members)
    monkeypatch.undo()
    assert b"PK\x06\x06" in path.read_bytes()[-200:]
    assert "it has more than 10 members" in refusal(path, InspectionLimits(max_members=10))
    assert inspect(path).name == "sample"


# -- wheel layout ---------------------------------------------------------------------------------


@pytest.mark.parametrize("missing", ["METADATA", "WHEEL", "RECORD"])
def test_wheel_without_required_file_is_refused(tmp_path: Path, missing: str) -> None:
    path = write_zip(tmp_path / WHEEL, wheel_members(omit=[missing]))
    assert refusal(path) == (
        f"sample-1.0-py3-none-any.whl is not a valid wheel: {missing} not found at "
        f"sample-1.0.dist-info/{missing}."
    )


def test_wheel_without_dist_info_is_refused(tmp_path: Path) -> None:
    path = write_zip(tmp_path / WHEEL, {"sample/__init__.py": b""})
    assert refusal(path) == (
        "sample-1.0-py3-none-any.whl is not a valid wheel: it has no .dist-info directory."
    )


def test_wheel_with_two_dist_info_directories_is_refused(tmp_path: Path) -> None:
    members = wheel_members()
    members.update(wheel_members("other", "2.0"))
    path = write_zip(tmp_path / WHEEL, members)
    assert refusal(path) == (
        "sample-1.0-py3-none-any.whl is not a valid wheel: it has more than one .dist-info "
        "directory (other-2.0.dist-info, sample-1.0.dist-info)."
    )


def test_nested_dist_info_of_a_vendored_package_is_ignored(tmp_path: Path) -> None:
    members = wheel_members()
    members["sample/_vendor/dep-1.0.dist-info/METADATA"] = metadata_text("dep").encode()
    assert inspect(write_zip(tmp_path / WHEEL, members)).name == "sample"


@pytest.mark.parametrize("dist_info", ["other-1.0.dist-info", "sample-2.0.dist-info",
                                       "sample.dist-info"])
def test_wheel_whose_dist_info_does_not_match_filename_is_refused(
    tmp_path: Path, dist_info: str
) -> None:
    path = write_zip(tmp_path / WHEEL, wheel_members(dist_info=dist_info))
    assert refusal(path) == (
        f"sample-1.0-py3-none-any.whl is not a valid wheel: its .dist-info directory "
        f"{dist_info!r} does not match the filename (expected 'sample-1.0.dist-info')."
    )


def test_wheel_version_2_is_refused(tmp_path: Path) -> None:
    wheel_file = WHEEL_FILE.replace(b"Wheel-Version: 1.0", b"Wheel-Version: 2.0")
    path = write_zip(tmp_path / WHEEL, wheel_members(wheel_file=wheel_file))
    assert refusal(path) == (
        "sample-1.0-py3-none-any.whl is not a valid wheel: Wheel-Version '2.0' is not "
        "supported (use 1.x)."
    )


def test_wheel_file_without_wheel_version_is_refused(tmp_path: Path) -> None:
    path = write_zip(tmp_path / WHEEL, wheel_members(wheel_file=b"Generator: me\n"))
    assert refusal(path) == (
        "sample-1.0-py3-none-any.whl is not a valid wheel: "
        "sample-1.0.dist-info/WHEEL has no Wheel-Version."
    )


# -- metadata content -----------------------------------------------------------------------------


def test_non_utf8_metadata_is_refused(tmp_path: Path) -> None:
    metadata = metadata_text(headers=[("Author", "Jos\xe9")]).encode("latin-1")
    path = write_zip(tmp_path / WHEEL, wheel_members(metadata=metadata))
    offset = metadata.index(b"\xe9")
    assert refusal(path) == (
        "sample-1.0-py3-none-any.whl is not a valid wheel: sample-1.0.dist-info/METADATA is not "
        f"valid UTF-8 (byte 0xe9 at offset {offset})."
    )


def test_non_utf8_pkg_info_is_refused(tmp_path: Path) -> None:
    path = write_tar_gz(tmp_path / SDIST, sdist_members(pkg_info=b"Name: \xff\xfe\n"))
    assert refusal(path) == (
        "sample-1.0.tar.gz is not a valid source distribution: sample-1.0/PKG-INFO is not valid "
        "UTF-8 (byte 0xff at offset 6)."
    )


def test_invalid_metadata_is_reported_as_problems_not_refused(tmp_path: Path) -> None:
    metadata = metadata_text(
        "bad name!", "1.0", headers=[("Requires-Python", ">=3.x"), ("Frobnicate", "yes")]
    )
    result = inspect(write_zip(tmp_path / WHEEL, wheel_members(metadata=metadata)))
    assert result.metadata is None
    assert result.name == "bad name!"
    assert result.requires_python == ">=3.x"
    fields = [problem.field for problem in result.problems]
    # Name first (it makes other errors moot), then the rest sorted by field.
    assert fields == ["name", "frobnicate", "requires-python"]
    assert result.problems[0] == MetadataProblem("name", "'bad name!' is invalid for 'name'")


def test_duplicated_single_field_is_a_problem(tmp_path: Path) -> None:
    metadata = metadata_text(headers=[("Requires-Python", ">=3.8"), ("Requires-Python", ">=3.9")])
    result = inspect(write_zip(tmp_path / WHEEL, wheel_members(metadata=metadata)))
    assert result.requires_python is None
    assert MetadataProblem("requires-python", "'requires-python' has invalid data") in result.problems


# -- size caps: bombs -----------------------------------------------------------------------------


def _bounded(action: Callable[[], None]) -> tuple[float, int]:
    """Run ``action``; return (seconds, peak traced bytes)."""
    tracemalloc.start()
    started = time.monotonic()
    try:
        action()
    finally:
        elapsed = time.monotonic() - started
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return elapsed, peak


def _write_zeros_member(path: Path, members: dict[str, bytes], name: str, size: int) -> None:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for member, data in members.items():
            if member != name:
                archive.writestr(member, data)
        with archive.open(name, "w", force_zip64=True) as stream:
            chunk = bytes(MiB)
            for _ in range(size // MiB):
                stream.write(chunk)


def test_zip_bomb_metadata_is_refused_quickly_with_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / WHEEL
    _write_zeros_member(path, wheel_members(), "sample-1.0.dist-info/METADATA", 64 * MiB)
    assert path.stat().st_size < 1 * MiB  # 64 MiB of zeros deflates to about 64 KiB

    def attempt() -> None:
        assert refusal(path) == (
            "sample-1.0-py3-none-any.whl is not a valid wheel: "
            "sample-1.0.dist-info/METADATA is larger than 10 MiB."
        )

    elapsed, peak = _bounded(attempt)
    assert elapsed < 5
    assert peak < 3 * DEFAULT_LIMITS.max_metadata_bytes


def test_big_wheel_is_inspected_reading_only_its_metadata(tmp_path: Path) -> None:
    # Stored, not deflated, like the benchmark's 1 GiB wheel: the payload comes first, as
    # build backends write it, and inspecting must not read it.
    path = tmp_path / WHEEL
    with zipfile.ZipFile(path, "w") as archive:
        with archive.open("sample/payload.bin", "w") as stream:
            chunk = bytes(MiB)
            for _ in range(64):
                stream.write(chunk)
        for member, data in wheel_members().items():
            archive.writestr(member, data)

    inspection: list[DistInspection] = []
    elapsed, peak = _bounded(lambda: inspection.append(inspect(path)))

    assert inspection[0].name == "sample"
    assert elapsed < 5
    assert peak < 1 * MiB


def test_zip_member_that_lies_about_its_size_is_refused(tmp_path: Path) -> None:
    path = tmp_path / WHEEL
    _write_zeros_member(path, wheel_members(), "sample-1.0.dist-info/METADATA", 50 * MiB)
    data = bytearray(path.read_bytes())
    # Declare a tiny uncompressed size in the central directory entry of METADATA.
    name = b"sample-1.0.dist-info/METADATA"
    entry = data.rindex(name) - 46  # the central directory comes after the local header
    assert data[entry:entry + 4] == b"PK\x01\x02"
    data[entry + 24:entry + 28] = (100).to_bytes(4, "little")
    path.write_bytes(bytes(data))

    def attempt() -> None:
        assert refusal(path).startswith(
            "sample-1.0-py3-none-any.whl is not a valid wheel: member "
            "'sample-1.0.dist-info/METADATA' cannot be read (Bad CRC-32"
        )

    elapsed, peak = _bounded(attempt)
    assert elapsed < 5
    assert peak < 3 * DEFAULT_LIMITS.max_metadata_bytes


def test_pkg_info_larger_than_the_cap_is_refused(tmp_path: Path) -> None:
    members = sdist_members()
    members[1] = TarMember("sample-1.0/PKG-INFO", size=2 * MiB)
    path = write_tar_gz(tmp_path / SDIST, members)
    limits = InspectionLimits(max_metadata_bytes=1 * MiB)
    assert refusal(path, limits) == (
        "sample-1.0.tar.gz is not a valid source distribution: "
        "sample-1.0/PKG-INFO is larger than 1 MiB."
    )


def test_tar_bomb_is_refused_quickly_with_bounded_memory(tmp_path: Path) -> None:
    members = [TarMember("sample-1.0/huge.bin", size=64 * MiB), *sdist_members()]
    path = write_tar_gz(tmp_path / SDIST, members)
    assert path.stat().st_size < 1 * MiB
    limits = InspectionLimits(max_sdist_unpacked_bytes=16 * MiB)

    def attempt() -> None:
        assert refusal(path, limits) == (
            "sample-1.0.tar.gz is not a valid source distribution: it unpacks to more than 16 MiB."
        )

    elapsed, peak = _bounded(attempt)
    assert elapsed < 5
    assert peak < 8 * MiB


@pytest.mark.parametrize("extension", [".tar.bz2", ".tar.xz", ".tgz"])
def test_regression_an_upstreams_older_sdist_formats_are_read(tmp_path: Path,
                                                                extension: str) -> None:
    # Pulled through from an index that still serves them (PyPI: Twisted 8-12, WebOb 1.0.2);
    # their metadata was never read: such files were left off upstream pages altogether.
    path = write_tar_gz(tmp_path / f"sample-1.0{extension}", sdist_members())
    dist = parse_listed_filename(path.name, "sample")
    inspection = inspect_distribution(path, dist)
    assert (inspection.name, str(inspection.version)) == ("sample", "1.0")


@pytest.mark.parametrize("extension", [".tar.bz2", ".tar.xz"])
def test_a_bzip2_or_xz_tar_bomb_is_refused_quickly_with_bounded_memory(
        tmp_path: Path, extension: str) -> None:
    members = [TarMember("sample-1.0/huge.bin", size=64 * MiB), *sdist_members()]
    path = write_tar_gz(tmp_path / f"sample-1.0{extension}", members)
    assert path.stat().st_size < 1 * MiB
    limits = InspectionLimits(max_sdist_unpacked_bytes=16 * MiB)
    dist = parse_listed_filename(path.name, "sample")

    def attempt() -> None:
        with pytest.raises(Invalid) as caught:
            inspect_distribution(path, dist, limits=limits)
        assert caught.value.message == (
            f"sample-1.0{extension} is not a valid source distribution: it unpacks to more "
            "than 16 MiB.")

    elapsed, peak = _bounded(attempt)
    assert elapsed < 10
    assert peak < 16 * MiB


@pytest.mark.parametrize("extension", [".tar.bz2", ".tar.xz"])
def test_regression_a_compressed_tar_is_refused_once_past_its_ratio(tmp_path: Path,
                                                                  extension: str) -> None:
    # A .tar.bz2 of under a KiB unpacking to gigabytes was walked up to the 1 GiB unpack limit:
    # 3 s of a worker thread's CPU for each such file an upstream lists. Past 32 MiB, a tar
    # may unpack to at most 1000 times its compressed size (gzip itself cannot pass ~1030).
    members = [TarMember("sample-1.0/huge.bin", size=40 * MiB), *sdist_members()]
    path = write_tar_gz(tmp_path / f"sample-1.0{extension}", members)
    size = path.stat().st_size
    assert size * DEFAULT_LIMITS.max_sdist_ratio < 40 * MiB
    dist = parse_listed_filename(path.name, "sample")
    with pytest.raises(Invalid) as caught:
        inspect_distribution(path, dist)
    assert caught.value.message == (
        f"sample-1.0{extension} is not a valid source distribution: it unpacks to more than "
        f"32 MiB, over 1000 times its compressed size ({format_size(size)}).")
    # A tar that unpacks past the ratio-free size at an ordinary ratio is read.
    limits = InspectionLimits(sdist_ratio_free_bytes=1 * MiB, max_sdist_ratio=10)
    (tmp_path / "ordinary").mkdir()
    ordinary = write_tar_gz(tmp_path / "ordinary" / f"sample-1.0{extension}", [
        TarMember("sample-1.0/data.bin", os.urandom(2 * MiB)), *sdist_members()])
    inspection = inspect_distribution(ordinary, parse_listed_filename(ordinary.name, "sample"),
                                      limits=limits)
    assert (inspection.name, str(inspection.version)) == ("sample", "1.0")


def _xz_sdist(tmp_path: Path, *streams: list[dict[str, int]]) -> Path:
    """The sample sdist as a .tar.xz, its tar split over one xz stream per filter chain."""
    tar = gzip.decompress(write_tar_gz(tmp_path / SDIST, sdist_members()).read_bytes())
    cuts = [len(tar) * n // len(streams) for n in range(len(streams) + 1)]
    path = tmp_path / "sample-1.0.tar.xz"
    path.write_bytes(b"".join(
        lzma.compress(tar[start:end], format=lzma.FORMAT_XZ, filters=filters)
        for start, end, filters in zip(cuts[:-1], cuts[1:], streams, strict=True)))
    return path


def test_regression_an_xz_sdist_naming_a_huge_dictionary_is_refused(tmp_path: Path) -> None:
    # An .xz sets its decoder's dictionary (up to 1.5 GiB), which fills as it unpacks: a
    # 40 KiB file took the server a gigabyte within the unpack limit. Such a file is refused;
    # what xz -9e writes (a 64 MiB dictionary), and streams one after another, are read.
    huge = [{"id": lzma.FILTER_LZMA2, "preset": 0, "dict_size": 1536 * MiB}]
    path = _xz_sdist(tmp_path, huge)
    with pytest.raises(Invalid) as caught:
        inspect_distribution(path, parse_listed_filename(path.name, "sample"))
    assert caught.value.message.startswith(
        "sample-1.0.tar.xz is not a valid source distribution: not an xz-compressed tar "
        "archive (")
    extreme = [{"id": lzma.FILTER_LZMA2, "preset": 9 | lzma.PRESET_EXTREME}]
    plain = [{"id": lzma.FILTER_LZMA2, "preset": 1}]
    for streams in ([extreme], [plain, extreme, plain]):
        path = _xz_sdist(tmp_path, *streams)
        inspection = inspect_distribution(path, parse_listed_filename(path.name, "sample"))
        assert (inspection.name, str(inspection.version)) == ("sample", "1.0")


def test_an_sdist_named_bz2_that_is_not_bzip2_is_refused(tmp_path: Path) -> None:
    path = write_tar_gz(tmp_path / "sample-1.0.tar.gz", sdist_members())
    renamed = path.rename(tmp_path / "sample-1.0.tar.bz2")
    with pytest.raises(Invalid) as caught:
        inspect_distribution(renamed, parse_listed_filename(renamed.name, "sample"))
    assert caught.value.message.startswith(
        "sample-1.0.tar.bz2 is not a valid source distribution: not a bz2-compressed tar "
        "archive (")


def test_tar_with_too_many_members_is_refused(tmp_path: Path) -> None:
    members = sdist_members() + [TarMember(f"sample-1.0/m{index}.py") for index in range(20)]
    path = write_tar_gz(tmp_path / SDIST, members)
    assert refusal(path, InspectionLimits(max_members=10)) == (
        "sample-1.0.tar.gz is not a valid source distribution: it has more than 10 members."
    )


# -- tar members ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("member", "reason"),
    [
        (TarMember("/etc/cron.d/evil", b"x"), "member '/etc/cron.d/evil' has an absolute path"),
        (TarMember("sample-1.0/../../evil", b"x"),
         "member 'sample-1.0/../../evil' has a '..' path component"),
        (TarMember("sample-1.0/link", kind=tarfile.SYMTYPE, linkname="/etc/passwd"),
         "member 'sample-1.0/link' links outside the archive ('/etc/passwd')"),
        (TarMember("sample-1.0/link", kind=tarfile.SYMTYPE, linkname="../../etc/passwd"),
         "member 'sample-1.0/link' links outside the archive ('../../etc/passwd')"),
        (TarMember("sample-1.0/hard", kind=tarfile.LNKTYPE, linkname="../outside"),
         "member 'sample-1.0/hard' links outside the archive ('../outside')"),
        (TarMember("sample-1.0/dev", kind=tarfile.CHRTYPE), "member 'sample-1.0/dev' is a device or FIFO"),
        (TarMember("sample-1.0/disk", kind=tarfile.BLKTYPE),
         "member 'sample-1.0/disk' is a device or FIFO"),
        (TarMember("sample-1.0/pipe", kind=tarfile.FIFOTYPE),
         "member 'sample-1.0/pipe' is a device or FIFO"),
    ],
    ids=["absolute", "dotdot", "symlink-absolute", "symlink-escape", "hardlink-escape", "chardev",
         "blockdev", "fifo"],
)
def test_hostile_tar_member_is_refused(tmp_path: Path, member: TarMember, reason: str) -> None:
    path = write_tar_gz(tmp_path / SDIST, [*sdist_members(), member])
    assert refusal(path) == f"sample-1.0.tar.gz is not a valid source distribution: {reason}."


def test_pkg_info_that_is_a_symlink_is_refused(tmp_path: Path) -> None:
    members = [m for m in sdist_members() if not m.name.endswith("PKG-INFO")]
    members.append(TarMember("sample-1.0/PKG-INFO", kind=tarfile.SYMTYPE, linkname="pyproject.toml"))
    assert refusal(write_tar_gz(tmp_path / SDIST, members)) == (
        "sample-1.0.tar.gz is not a valid source distribution: "
        "sample-1.0/PKG-INFO is not a regular file."
    )


def test_sdist_with_two_pkg_info_members_is_refused(tmp_path: Path) -> None:
    members = [*sdist_members(), TarMember("sample-1.0/PKG-INFO", metadata_text(version="2.0").encode())]
    assert refusal(write_tar_gz(tmp_path / SDIST, members)) == (
        "sample-1.0.tar.gz is not a valid source distribution: "
        "it has more than one sample-1.0/PKG-INFO."
    )


def test_sdist_without_top_level_pkg_info_is_refused(tmp_path: Path) -> None:
    members = [m for m in sdist_members() if not m.name.endswith("PKG-INFO")]
    members.append(TarMember("sample-1.0/sample.egg-info/PKG-INFO", metadata_text().encode()))
    assert refusal(write_tar_gz(tmp_path / SDIST, members)) == (
        "sample-1.0.tar.gz is not a valid source distribution: "
        "PKG-INFO not found at sample-1.0/PKG-INFO."
    )


def test_sdist_with_two_top_level_directories_is_refused(tmp_path: Path) -> None:
    members = [*sdist_members(), TarMember("other-1.0/setup.py", b"")]
    assert refusal(write_tar_gz(tmp_path / SDIST, members)) == (
        "sample-1.0.tar.gz is not a valid source distribution: it has more than one top-level "
        "directory ('sample-1.0' and 'other-1.0')."
    )


def test_zip_sdist_with_two_top_level_directories_is_refused(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "sample-1.0.zip", {
        "sample-1.0/PKG-INFO": metadata_text().encode(),
        "extra/file": b"",
    })
    assert refusal(path) == (
        "sample-1.0.zip is not a valid source distribution: it has more than one top-level "
        "directory ('sample-1.0' and 'extra')."
    )


def test_zip_sdist_without_pkg_info_is_refused(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "sample-1.0.zip", {"sample-1.0/setup.py": b""})
    assert refusal(path) == (
        "sample-1.0.zip is not a valid source distribution: PKG-INFO not found at "
        "sample-1.0/PKG-INFO."
    )


# -- helpers ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "text"),
    [(0, "0 bytes"), (1023, "1023 bytes"), (1024, "1 KiB"), (1536, "1.5 KiB"),
     (10 * MiB, "10 MiB"), (100 * MiB + MiB // 2, "100.5 MiB"), (3 * 1024 * MiB, "3 GiB")],
)
def test_format_size(size: int, text: str) -> None:
    assert format_size(size) == text



# -- core metadata parsed once --------------------------------------------------------------------


def _from_email_problems(text: str) -> list[tuple[str, str]]:
    """The problems ``Metadata.from_email`` itself reports, as (field, message) pairs."""
    try:
        Metadata.from_email(text, validate=True)
    except ExceptionGroup as group:
        leaves: list[BaseException] = []
        pending: list[BaseException] = [group]
        while pending:
            exc = pending.pop()
            if isinstance(exc, BaseExceptionGroup):
                pending.extend(exc.exceptions)
            else:
                leaves.append(exc)
        return sorted((str(getattr(exc, "field", "")).lower(), str(exc)) for exc in leaves)
    return []


@pytest.mark.parametrize("text", [
    RICH_METADATA,
    metadata_text("bad name!", "1.0", headers=[("Requires-Python", ">=3.x")]),
    metadata_text("sample", "not a version", metadata_version="2.4",
                  headers=[("License-Expression", "MIT AND"), ("Dynamic", "Name")]),
    metadata_text("sample", "1.0", metadata_version="9.9"),
    "Metadata-Version: 2.1\nName: sample\n",
    metadata_text(headers=[("Requires-Python", ">=3.8"), ("Requires-Python", ">=3.9")]),
    metadata_text(headers=[("Frobnicate", "yes"), ("Requires-Dist", "foo (>=")]),
], ids=["valid", "bad-name", "bad-version-2.4", "unknown-version", "no-version",
        "duplicated-field", "unparsed-fields"])
def test_core_metadata_problems_are_from_emails_after_one_parse(text: str) -> None:
    # The email parser runs once per file now; the verdict must stay from_email's, word for
    # word (they are the messages an upload is refused with).
    result = inspect_core_metadata(text.encode(), parse_distribution_filename(WHEEL), "x")
    assert sorted((p.field, p.message) for p in result.problems) == _from_email_problems(text)
    assert (result.metadata is None) == bool(result.problems)
    if result.metadata is not None:
        assert result.metadata.name == Metadata.from_email(text).name


def test_core_metadata_with_every_field_parsed_is_parsed_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[str] = []
    parse = email.parser.Parser.parsestr

    def counted(self: email.parser.Parser, text: str, headersonly: bool = False) -> Message:
        calls.append(text)
        return parse(self, text, headersonly)

    monkeypatch.setattr(email.parser.Parser, "parsestr", counted)
    result = inspect_core_metadata(RICH_METADATA.encode(), parse_distribution_filename(WHEEL),
                                   "x")
    assert result.problems == () and result.metadata is not None
    assert len(calls) == 1


# -- which metadata files are served (PEP 658), by PEP 643 -------------------------------------

@pytest.mark.parametrize(("filename", "metadata_version", "dynamic", "served"), [
    # setuptools < 68 wrote 2.1 and no Requires-Dist, whatever install_requires said.
    (SDIST, "2.1", (), False),
    (SDIST, "1.0", (), False),
    (SDIST, "2.2", (), True),
    (SDIST, "2.4", (), True),
    (SDIST, "2.2", ("Requires-Dist",), False),
    (SDIST, "2.3", ("requires-python",), False),
    (SDIST, "2.2", ("Provides-Extra",), False),
    (SDIST, "2.2", ("Summary", "Classifier"), True),  # nothing pip resolves with
    ("sample-1.0.zip", "2.1", (), False),
    (WHEEL, "2.1", (), True),  # a built wheel's METADATA is what it installs
])
def test_regression_an_sdists_metadata_is_served_only_when_pep_643_makes_it_reliable(
        filename: str, metadata_version: str, dynamic: tuple[str, ...], served: bool) -> None:
    # pip resolved from an sdist's PKG-INFO 2.1 served as .metadata and installed it
    # without the dependencies its setup.py declares.
    text = metadata_text(metadata_version=metadata_version,
                         headers=[("Dynamic", field) for field in dynamic])
    inspection = inspect_core_metadata(text.encode(), parse_distribution_filename(filename),
                                       "PKG-INFO")
    assert inspection.dynamic == tuple(field.lower() for field in dynamic)
    assert serves_core_metadata(inspection) is served
