"""A server with encryption off and the processes that encrypt keep apart on one data
directory (``encryption/mode_locks.py``): ``flock`` conflicts between open files, so one process
stands for several here."""

from __future__ import annotations

from pathlib import Path

import pytest

from packyard.encryption.mode_locks import ModeConflict, hold_encrypting_mode, hold_plain_mode


def test_encrypting_processes_share_the_directory_and_keep_a_plain_server_out(
        tmp_path: Path) -> None:
    server = hold_encrypting_mode(tmp_path, "this server")
    importer = hold_encrypting_mode(tmp_path, "packyard import")  # side by side: fine
    with pytest.raises(ModeConflict, match="a process writing encrypted files"):
        hold_plain_mode(tmp_path)
    server.close()
    importer.close()
    hold_plain_mode(tmp_path).close()  # once they have ended


def test_a_plain_server_keeps_encrypting_processes_out_until_it_stops(tmp_path: Path) -> None:
    plain = hold_plain_mode(tmp_path)
    second_worker = hold_plain_mode(tmp_path)  # plain processes share it too
    with pytest.raises(ModeConflict, match=f"a server with PACKYARD_ENCRYPTION=off is running "
                                           f"on {tmp_path}, and it could not read the files "
                                           "packyard encrypt encrypts"):
        hold_encrypting_mode(tmp_path, "packyard encrypt")
    plain.close()
    second_worker.close()
    hold_encrypting_mode(tmp_path, "packyard encrypt").close()
