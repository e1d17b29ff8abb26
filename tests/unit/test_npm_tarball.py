"""Reading uploaded npm tarballs, real ones from npm pack and hostile ones."""

from __future__ import annotations

import gzip
import io
import json
import os
import tarfile
import tracemalloc
import zlib

import pytest

from packyard.errors import Invalid
from packyard.formats.npm.tarball import (
    TarballInspection,
    TarballLimits,
    check_tarball_matches,
    inspect_tarball,
)
from tests.unit.npm_samples import (
    ACME_UTIL_TGZ,
    DEMO_LIB_MANIFEST,
    DEMO_LIB_TGZ,
    Member,
    manifest_bytes,
    package_members,
    tar_bytes,
    tgz,
)

MiB = 1024 * 1024
NAME = "demo-1.0.0.tgz"


def inspect(data: bytes, limits: TarballLimits | None = None) -> TarballInspection:
    if limits is None:
        return inspect_tarball(io.BytesIO(data), NAME)
    return inspect_tarball(io.BytesIO(data), NAME, limits=limits)


def refusal(data: bytes, limits: TarballLimits | None = None) -> str:
    with pytest.raises(Invalid) as caught:
        inspect(data, limits)
    return caught.value.message


def test_npm_pack_output() -> None:
    found = inspect(DEMO_LIB_TGZ.read_bytes())
    assert found.manifest == DEMO_LIB_MANIFEST
    assert found.manifest_path == "package/package.json"
    assert found.readme == "# demo-lib\n\nA tiny library used by Packyard tests. Café ☕\n"
    assert found.readme_filename == "README.md"
    assert (found.file_count, found.unpacked_size, found.has_shrinkwrap) == (4, 775, False)


def test_npm_pack_output_scoped_with_shrinkwrap() -> None:
    found = inspect(ACME_UTIL_TGZ.read_bytes())
    assert found.manifest["name"] == "@acme/util"
    assert found.readme_filename == "README"  # @npmcli/package-json takes one without extension
    assert found.readme == "acme util\n=========\nPlain README without an extension.\n"
    assert found.has_shrinkwrap is True


def test_any_top_level_folder_counts() -> None:
    # pacote unpacks with strip: 1; old packages were packed under their own name.
    found = inspect(tgz([Member("node-demo/package.json", manifest_bytes()),
                         Member("node-demo/lib/x.js", b"x")]))
    assert found.manifest_path == "node-demo/package.json"


@pytest.mark.parametrize(("files", "chosen"), [
    (["README.txt", "README", "README.md"], "README.md"),
    (["readme.markdown", "README"], "readme.markdown"),
    (["README.txt", "Readme"], "Readme"),
    (["README.rst"], "README.rst"),
    (["docs/README.md", "lib/README"], None),  # only the package root counts
    (["READMEFIRST"], None),
])
def test_readme_choice(files: list[str], chosen: str | None) -> None:
    members = package_members(extra=[Member(f"package/{f}", f"text of {f}".encode())
                                     for f in files])
    found = inspect(tgz(members))
    assert found.readme_filename == chosen
    assert found.readme == (f"text of {chosen}" if chosen else None)


def test_a_long_readme_is_kept_truncated() -> None:
    members = package_members(extra=[Member("package/README.md", b"x" * 5000)])
    found = inspect(tgz(members), TarballLimits(max_readme_bytes=1000))
    assert found.readme == "x" * 1000


@pytest.mark.parametrize("fmt", [tarfile.PAX_FORMAT, tarfile.GNU_FORMAT, tarfile.USTAR_FORMAT])
def test_long_names_in_every_tar_dialect(fmt: int) -> None:
    deep = "package/" + "/".join(["directory-name"] * 9) + "/file.js"  # > 100 characters
    found = inspect(tgz(package_members(extra=[Member(deep, b"x")]), fmt=fmt))
    assert found.file_count == 2


def test_links_directories_and_symlinks_are_not_files() -> None:
    members = package_members(extra=[
        Member("package/lib", kind=tarfile.DIRTYPE),
        Member("package/link", kind=tarfile.SYMTYPE, linkname="../../etc/passwd"),
    ])
    found = inspect(tgz(members))
    assert found.file_count == 1  # pacote skips links; their targets never reach the disk


# -- refused, with the message npm prints ------------------------------------------------------


@pytest.mark.parametrize(("entry", "reason"), [
    ("package/../../evil.js", "entry 'package/../../evil.js' has a '..' path component"),
    ("../evil.js", "entry '../evil.js' has a '..' path component"),
    ("package\\..\\..\\evil.js",
     "entry 'package\\\\..\\\\..\\\\evil.js' has a '..' path component"),
    ("/etc/passwd", "entry '/etc/passwd' has an absolute path"),
    ("C:/Windows/evil.dll", "entry 'C:/Windows/evil.dll' has an absolute path"),
])
def test_path_traversal_entries(entry: str, reason: str) -> None:
    data = tgz(package_members(extra=[Member(entry, b"x")]))
    assert refusal(data) == f"{NAME} is not a valid npm package tarball: {reason}."


def test_tarball_bomb_by_ratio() -> None:
    # 64 MiB of zeros gzip to ~64 KiB: a thousandfold, refused past the 16 MiB floor.
    tar_head = tar_bytes(package_members(extra=[Member("package/zeros", b"")]))[:-1024]
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    info = tarfile.TarInfo("package/zeros")
    info.size = 64 * MiB
    parts = [compressor.compress(tar_head[:-512]), compressor.compress(info.tobuf())]
    parts += [compressor.compress(bytes(MiB)) for _ in range(64)]
    data = b"".join(parts) + compressor.flush()
    message = refusal(data)
    assert message.startswith(f"{NAME} is not a valid npm package tarball: it is a decompression "
                              "bomb (")
    assert message.endswith("over 200 times as many).")


def test_unpacked_size_cap() -> None:
    data = tgz(package_members(extra=[Member("package/big", os.urandom(3 * MiB))]))
    assert refusal(data, TarballLimits(max_unpacked_bytes=2 * MiB)) == (
        f"{NAME} is not a valid npm package tarball: it unpacks to more than 2 MiB.")


def test_entry_count_cap() -> None:
    data = tgz(package_members(extra=[Member(f"package/f{i}.js") for i in range(20)]))
    assert refusal(data, TarballLimits(max_entries=10)) == (
        f"{NAME} is not a valid npm package tarball: it has more than 10 entries.")


def test_huge_pax_header() -> None:
    data = tgz(package_members(extra=[Member("package/" + "x" * 2000, b"")]))
    assert refusal(data, TarballLimits(max_header_bytes=1024)).startswith(
        f"{NAME} is not a valid npm package tarball: it has a ")


@pytest.mark.parametrize(("members", "reason"), [
    ([], "it is empty"),
    ([Member("package/index.js", b"x")], "package.json not found at package/package.json"),
    ([Member("package/package.json", b"{nope")],
     "package/package.json is not valid JSON (Expecting property name enclosed in double quotes "
     "at line 1)"),
    ([Member("package/package.json", b"[1]")], "package/package.json is not a JSON object"),
    ([Member("package/package.json", b"\xff{}")], "package/package.json is not valid UTF-8"),
    ([Member("package/package.json", manifest_bytes()),
      Member("other/package.json", manifest_bytes("evil"))],
     "it has more than one package.json at its root (package/package.json and "
     "other/package.json)"),
])
def test_malformed_packages(members: list[Member], reason: str) -> None:
    assert refusal(tgz(members)) == f"{NAME} is not a valid npm package tarball: {reason}."


def test_package_json_size_cap() -> None:
    data = tgz([Member("package/package.json", manifest_bytes(padding="x" * 3000))])
    assert refusal(data, TarballLimits(max_manifest_bytes=1000)) == (
        f"{NAME} is not a valid npm package tarball: package/package.json is larger than "
        "1000 bytes.")


def test_not_gzip() -> None:
    assert refusal(b"PK\x03\x04 a zip") == (
        f"{NAME} is not a valid npm package tarball: it is not gzip-compressed (Not a gzipped "
        "file (b'PK')).")


def test_gzip_but_not_tar() -> None:
    assert refusal(gzip.compress(b"x" * 2000)) == (
        f"{NAME} is not a valid npm package tarball: it is not a tar archive (bad number in a "
        "header).")
    assert refusal(gzip.compress(b"1" * 2000)) == (
        f"{NAME} is not a valid npm package tarball: it is not a tar archive (header checksum "
        "mismatch).")


def test_truncated() -> None:
    whole = tar_bytes(package_members(extra=[Member("package/a.js", b"x" * 5000)]))
    assert refusal(gzip.compress(whole[:3000])) == (
        f"{NAME} is not a valid npm package tarball: the tar archive is truncated.")


def test_memory_stays_bounded() -> None:
    data = tgz(package_members(extra=[Member("package/blob.bin", os.urandom(6 * MiB))]))
    tracemalloc.start()
    try:
        inspect(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2 * MiB


# -- does the tarball say what the publish says? -----------------------------------------------


def test_matching_tarball() -> None:
    check_tarball_matches(inspect(DEMO_LIB_TGZ.read_bytes()), "demo-lib", "1.0.0", NAME)


def test_version_is_compared_as_npm_cleans_it() -> None:
    found = inspect(tgz([Member("package/package.json", manifest_bytes("demo", "v1.0.0"))]))
    check_tarball_matches(found, "demo", "1.0.0", NAME)


@pytest.mark.parametrize(("manifest", "message"), [
    ({"name": "other-lib", "version": "1.0.0"},
     f'The package.json in {NAME} names the package "other-lib", not "demo".'),
    ({"version": "1.0.0"}, f'The package.json in {NAME} names the package null, not "demo".'),
    ({"name": "demo", "version": "2.0.0"},
     f'The package.json in {NAME} has the version "2.0.0", not "1.0.0".'),
    ({"name": "demo", "version": "1.0"},
     f'The package.json in {NAME} has the version "1.0", not "1.0.0".'),
    ({"name": "demo"}, f'The package.json in {NAME} has the version null, not "1.0.0".'),
])
def test_package_json_naming_another_package_or_version(manifest: dict[str, str],
                                                        message: str) -> None:
    found = inspect(tgz([Member("package/package.json", json.dumps(manifest).encode())]))
    with pytest.raises(Invalid) as caught:
        check_tarball_matches(found, "demo", "1.0.0", NAME)
    assert caught.value.message == message
