"""Turning a new SQLite database into WAL while another connection holds its lock: SQLite
answers SQLITE_BUSY at once there, without its busy handler, so several processes starting on
an empty data directory made one fail ("database is locked"; the CI failure of
test_migrators_starting_at_once_migrate_an_empty_database_once[sqlite])."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

from packyard.metadata.engine import _enter_wal


def _hold_exclusive(path: Path, seconds: float, held: threading.Event) -> None:
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    other.execute("CREATE TABLE t (x)")
    held.set()
    time.sleep(seconds)
    other.execute("COMMIT")
    other.close()


def test_regression_wal_switch_on_a_new_database_waits_for_a_lock_instead_of_failing(
        tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    held = threading.Event()
    holder = threading.Thread(target=_hold_exclusive, args=(path, 0.3, held))
    holder.start()
    held.wait(5)
    # timeout=0: no busy handler at all, the harshest case of what SQLite does here.
    conn = sqlite3.connect(path, isolation_level=None, timeout=0)
    try:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            raised = False
        except sqlite3.OperationalError as error:
            raised = "locked" in str(error)
        assert raised, "the plain pragma should meet the held lock (the case being tested)"
        started = time.monotonic()
        _enter_wal(conn.cursor())
        waited = time.monotonic() - started
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert waited > 0.05  # it waited for the holder rather than succeeding by chance
    finally:
        holder.join()
        conn.close()


def test_a_lasting_error_other_than_a_lock_is_raised_at_once(tmp_path: Path) -> None:
    class Refusing:
        calls = 0

        def execute(self, _sql: str) -> None:
            Refusing.calls += 1
            raise sqlite3.OperationalError("disk I/O error")

    try:
        _enter_wal(Refusing())
    except sqlite3.OperationalError as error:
        assert str(error) == "disk I/O error"
    else:
        raise AssertionError("not raised")
    assert Refusing.calls == 1
