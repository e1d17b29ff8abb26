"""The generated root key pair on a new data directory, when several processes start at once."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

from packyard.auth.credentials import CREDENTIALS_FILE, load_root_credentials
from packyard.settings import load_settings


def _load(data_dir: str, start: multiprocessing.synchronize.Event,
          results: multiprocessing.queues.Queue[tuple[str, str]]) -> None:
    start.wait()
    try:
        creds = load_root_credentials(load_settings(environ={}, data_dir=Path(data_dir)))
        results.put(("ok", creds.access_key_id))
    except Exception as exc:  # the failure is what the test reports
        results.put(("error", repr(exc)))


def test_regression_processes_starting_at_once_agree_on_one_root_key(tmp_path: Path) -> None:
    # Four `packyard serve` on a new data directory: one failed renaming a shared
    # credentials.tmp that another had renamed already, and two printed and accepted
    # different root keys (the file kept only the last).
    context = multiprocessing.get_context("fork")
    start, results = context.Event(), context.Queue()
    for _round in range(5):
        data_dir = tmp_path / f"data-{_round}"
        processes = [context.Process(target=_load, args=(str(data_dir), start, results))
                     for _ in range(6)]
        for process in processes:
            process.start()
        start.set()
        outcomes = [results.get(timeout=30) for _ in processes]
        for process in processes:
            process.join(timeout=30)
        start.clear()
        stored = json.loads((data_dir / CREDENTIALS_FILE).read_text())["access_key_id"]
        assert outcomes == [("ok", stored)] * len(processes), outcomes
        assert sorted(p.name for p in data_dir.iterdir()) == [CREDENTIALS_FILE]  # no .tmp left
        assert (data_dir / CREDENTIALS_FILE).stat().st_mode & 0o777 == 0o600


def test_an_existing_credentials_file_is_kept(tmp_path: Path) -> None:
    first = load_root_credentials(load_settings(environ={}, data_dir=tmp_path))
    again = load_root_credentials(load_settings(environ={}, data_dir=tmp_path))
    assert first.generated and not again.generated
    assert (again.access_key_id, again.secret_access_key) == (first.access_key_id,
                                                              first.secret_access_key)
