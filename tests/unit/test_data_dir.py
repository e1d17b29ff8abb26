"""The data directory is owner-only at every start, and so is what the process creates in it."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from packyard.data_dir import restrict_new_files, secure_data_dir


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def loose_umask() -> Iterator[None]:
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_a_new_data_directory_is_owner_only(tmp_path: Path, loose_umask: None) -> None:
    secure_data_dir(tmp_path / "a" / "data")
    assert _mode(tmp_path / "a" / "data") == 0o700


def test_a_world_readable_data_directory_is_made_owner_only(tmp_path: Path,
                                                            loose_umask: None) -> None:
    data = tmp_path / "data"
    data.mkdir()
    os.chmod(data, 0o755)
    secure_data_dir(data)
    assert _mode(data) == 0o700


def test_a_data_directory_that_cannot_be_tightened_is_warned_about(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
        loose_umask: None) -> None:
    data = tmp_path / "data"
    data.mkdir()
    os.chmod(data, 0o755)

    def refuse(path: object, mode: int) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "chmod", refuse)
    with caplog.at_level(logging.WARNING, logger="packyard"):
        secure_data_dir(data)
    assert _mode(data) == 0o755
    [record] = caplog.records
    assert "could not be made owner-only (0700)" in record.getMessage()
    assert "0755" in record.getMessage() and "Operation not permitted" in record.getMessage()


def test_files_created_after_restricting_are_owner_only(tmp_path: Path,
                                                        loose_umask: None) -> None:
    restrict_new_files()
    (tmp_path / "new.db").write_bytes(b"x")
    (tmp_path / "blobs").mkdir()
    assert _mode(tmp_path / "new.db") == 0o600
    assert _mode(tmp_path / "blobs") == 0o700
