"""The folder ``packyard export`` writes into: places checked, files whole, never one replaced,
and its SHA256SUMS."""

from __future__ import annotations

import errno
import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from packyard.errors import Conflict, Invalid
from packyard.services.export_folder import ExportFolder, UnsafePath, check_parts


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(data), 3):
        yield data[start:start + 3]


def _write(folder: ExportFolder, parts: tuple[str, ...], data: bytes,
           sha256: str | None = None) -> str:
    return anyio.run(folder.write, parts, sha256 or _sha(data), len(data), _chunks(data))


@pytest.mark.parametrize(("parts", "shown"), [
    (("pypi", "a", "a-1.0.tar.gz"), "pypi/a/a-1.0.tar.gz"),
    (("npm", "@s", "n", "n-1.0.0+build.1.tgz"), "npm/@s/n/n-1.0.0+build.1.tgz"),
    (("npm", "..n", "..n-1.0.0.tgz"), "npm/..n/..n-1.0.0.tgz"),  # dots inside a name are names
])
def test_places_inside_the_folder_are_taken(parts: tuple[str, ...], shown: str) -> None:
    assert check_parts(parts) == shown


@pytest.mark.parametrize(("parts", "message"), [
    (("pypi", "..", "x.whl"), "'pypi/../x.whl' would not stay inside the destination folder"),
    (("pypi", "a", ".."), "'pypi/a/..' would not stay inside the destination folder"),
    (("pypi", "a", "../../x.whl"),
     "'pypi/a/../../x.whl' would not stay inside the destination folder"),
    (("pypi", "/etc", "x.whl"), "'pypi//etc/x.whl' would not stay inside the destination folder"),
    (("pypi", "", "x.whl"), "'pypi//x.whl' would not stay inside the destination folder"),
    (("pypi", ".", "x.whl"), "'pypi/./x.whl' would not stay inside the destination folder"),
    (("pypi", "a", "..\\x.whl"),
     "'pypi/a/..\\\\x.whl' would not stay inside the destination folder"),
    (("pypi", "a", "x\n.whl"), "'pypi/a/x\\n.whl' holds a control character"),
    ((), "no file name"),
])
def test_regression_places_that_could_leave_the_folder_are_refused(
        parts: tuple[str, ...], message: str) -> None:
    with pytest.raises(UnsafePath) as refused:
        check_parts(parts)
    assert refused.value.message == message


def test_a_file_is_written_whole_and_listed(tmp_path: Path) -> None:
    folder = ExportFolder(tmp_path / "dest")
    assert _write(folder, ("pypi", "a", "a-1.0.tar.gz"), b"sdist bytes") == "written"
    folder.finish()
    assert (tmp_path / "dest/pypi/a/a-1.0.tar.gz").read_bytes() == b"sdist bytes"
    assert (tmp_path / "dest/SHA256SUMS").read_text() == (
        f"{_sha(b'sdist bytes')}  pypi/a/a-1.0.tar.gz\n")
    assert sorted(p.name for p in (tmp_path / "dest/pypi/a").iterdir()) == ["a-1.0.tar.gz"]


def test_regression_bytes_not_the_recorded_ones_leave_nothing(tmp_path: Path) -> None:
    folder = ExportFolder(tmp_path)
    with pytest.raises(Invalid) as refused:
        _write(folder, ("pypi", "a", "a-1.0.tar.gz"), b"tampered", sha256=_sha(b"original"))
    assert refused.value.message.startswith("its stored bytes (8 bytes, sha256 ")
    assert list((tmp_path / "pypi/a").iterdir()) == []


def test_the_same_bytes_already_there_are_present_and_other_bytes_a_conflict(
        tmp_path: Path) -> None:
    folder = ExportFolder(tmp_path)
    _write(folder, ("npm", "n", "n-1.0.0.tgz"), b"tarball")
    assert folder.existing(("npm", "n", "n-1.0.0.tgz"), _sha(b"tarball"), 7) == "present"
    assert folder.existing(("npm", "n", "n-2.0.0.tgz"), _sha(b"tarball"), 7) is None
    with pytest.raises(Conflict):
        folder.existing(("npm", "n", "n-1.0.0.tgz"), _sha(b"tarbalL"), 7)
    with pytest.raises(Conflict):  # another size: told without reading it
        folder.existing(("npm", "n", "n-1.0.0.tgz"), _sha(b"other"), 5)


def test_regression_a_name_taken_while_the_file_was_written_is_not_replaced(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = ExportFolder(tmp_path)
    target = tmp_path / "npm/n/n-1.0.0.tgz"
    real_link = os.link

    def someone_else_first(source: Path, destination: Path, **kwargs: bool) -> None:
        Path(destination).write_bytes(b"theirs!")
        real_link(source, destination, **kwargs)

    monkeypatch.setattr(os, "link", someone_else_first)
    with pytest.raises(Conflict):
        _write(folder, ("npm", "n", "n-1.0.0.tgz"), b"ours...")
    assert target.read_bytes() == b"theirs!"
    assert [p.name for p in target.parent.iterdir()] == ["n-1.0.0.tgz"]


def test_a_file_system_without_hard_links_gets_a_rename(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_links(source: Path, destination: Path, **kwargs: bool) -> None:
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    folder = ExportFolder(tmp_path)
    assert _write(folder, ("pypi", "a", "a-1.0.tar.gz"), b"sdist") == "written"
    assert (tmp_path / "pypi/a/a-1.0.tar.gz").read_bytes() == b"sdist"
    assert [p.name for p in (tmp_path / "pypi/a").iterdir()] == ["a-1.0.tar.gz"]


def test_sums_keep_earlier_runs_files_and_lines_not_their_own(tmp_path: Path) -> None:
    first = ExportFolder(tmp_path)
    _write(first, ("pypi", "a", "a-1.0.tar.gz"), b"one")
    _write(first, ("pypi", "a", "a-2.0.tar.gz"), b"two")
    first.finish()
    (tmp_path / "pypi/a/a-2.0.tar.gz").unlink()  # gone since: no longer listed
    sums = tmp_path / "SHA256SUMS"
    sums.write_text("# made by packyard export\n" + sums.read_text())
    second = ExportFolder(tmp_path)
    _write(second, ("npm", "n", "n-1.0.0.tgz"), b"three")
    second.finish()
    assert sums.read_text() == (f"# made by packyard export\n"
                                f"{_sha(b'three')}  npm/n/n-1.0.0.tgz\n"
                                f"{_sha(b'one')}  pypi/a/a-1.0.tar.gz\n")
    assert not list(tmp_path.glob(".SHA256SUMS*"))


def test_a_folder_that_is_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "dest").write_text("")
    with pytest.raises(Invalid, match="is not a folder"):
        ExportFolder(tmp_path / "dest")
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "pypi").write_text("")
    folder = ExportFolder(tmp_path / "folder")
    with pytest.raises(Invalid) as refused:
        folder.existing(("pypi", "a", "a-1.0.tar.gz"), _sha(b""), 0)
    assert refused.value.message == f"{tmp_path / 'folder' / 'pypi'} is in the way: it is not a folder"


def test_an_export_of_nothing_writes_no_sums(tmp_path: Path) -> None:
    # sha256sum -c refuses a list without a line ("no properly formatted checksum lines").
    ExportFolder(tmp_path).finish()
    assert list(tmp_path.iterdir()) == []
