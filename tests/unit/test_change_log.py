"""The catalog's change stamps: every write moves ``stamp``; only writes that can change a
domain's structure (not a pulled file kept) move ``structure_stamp``."""

from __future__ import annotations

from pathlib import Path

import pytest

from packyard.metadata.changes import ChangeLog, SharedChangeLog


@pytest.fixture(params=["local", "shared"])
def changes(request: pytest.FixtureRequest, tmp_path: Path) -> ChangeLog:
    return ChangeLog() if request.param == "local" else SharedChangeLog(tmp_path / "changes")


def test_a_content_only_write_moves_the_stamp_but_not_the_structure(changes: ChangeLog) -> None:
    changes.touch()
    stamp, structure = changes.stamp(), changes.structure_stamp()
    changes.touch(content_only=True)
    assert changes.stamp() != stamp
    assert changes.structure_stamp() == structure


def test_any_other_write_moves_both(changes: ChangeLog) -> None:
    changes.touch(content_only=True)
    stamp, structure = changes.stamp(), changes.structure_stamp()
    changes.touch()
    assert (changes.stamp() != stamp, changes.structure_stamp() != structure) == (True, True)


def test_listeners_hear_content_only_writes_too(changes: ChangeLog) -> None:
    heard: list[int] = []
    changes.listeners.append(lambda: heard.append(1))
    changes.touch(content_only=True)
    changes.touch()
    assert heard == [1, 1]
