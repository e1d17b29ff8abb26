"""``packyard encrypt``'s pass over plain blobs (``encryption/migration.encrypt_existing``): a
blob's plain file outlives its key row by a grace period, for a server that chose it a moment
before the row was committed."""

from __future__ import annotations

import errno
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from packyard.bootstrap import Services, build_services
from packyard.cli.main import main
from packyard.encryption.blob_store import sealed_partition
from packyard.encryption.migration import PLAIN_GRACE_SECONDS, encrypt_existing
from packyard.metadata.catalog import NewAsset, NewVersion
from packyard.settings import load_settings

NOW = datetime(2026, 1, 1, tzinfo=UTC)
OWNER = "000000000000"


def _services(data_dir: Path, **env: str) -> Services:
    return build_services(load_settings(environ=env, data_dir=data_dir))


def _plain_blobs(data_dir: Path, count: int) -> tuple[str, list[str]]:
    """``count`` files stored while encryption was off: (the domain's blob key, sha256s)."""
    services = _services(data_dir, PACKYARD_ENCRYPTION="off")
    catalog = services.catalog
    key = f"arn:aws:kms:us-east-1:{OWNER}:key/packyard-acme"  # what earlier releases recorded
    domain = catalog.create_domain("acme", OWNER, key, NOW)
    repo = catalog.create_repository(domain, "shelf", "", OWNER, NOW)
    shas = []
    for i in range(count):
        digests = services.blobs.put_bytes(os.urandom(1000), domain.blob_key)
        version = NewVersion(version="1.0", version_key="1", summary="s", home_page=None,
                             source_code_repository=None, licenses=[], readme=None,
                             readme_content_type=None, dependencies=[])
        asset = NewAsset(name=f"p{i}-1.0-py3-none-any.whl", size=1000, sha256=digests.sha256,
                         sha512=digests.sha512, sha1=digests.sha1, md5=digests.md5)
        catalog.publish(repo, "pypi", "", f"p{i}", f"p{i}", version, asset,
                        {digests.sha256: 1000}, NOW)
        shas.append(digests.sha256)
    catalog.dispose()
    return domain.blob_key, shas


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_a_blob_just_encrypted_keeps_its_plain_file_for_a_reader_that_chose_it(
        data_dir: Path) -> None:
    blob_key, made = _plain_blobs(data_dir, 4)
    shas = sorted(made)  # the order the catalog lists them in
    services = _services(data_dir)
    assert services.encryption is not None
    store = services.encryption.blobs
    clock = _Clock()
    seen: list[tuple[bool, bool, bool]] = []
    first_plain: list[bool] = []

    def progress(_domain: str, outcome: str) -> None:
        sha = shas[len(seen)]
        # Right after its key row: reads decrypt, and the plain file is still there.
        seen.append((outcome == "encrypted", store.open_key(blob_key, sha) is not None,
                     store.inner.exists(blob_key, sha)))
        first_plain.append(store.inner.exists(blob_key, shas[0]))
        clock.now += PLAIN_GRACE_SECONDS / 2  # two blobs a grace period

    report = encrypt_existing(services.catalog, store, progress, clock=clock,
                              sleep=clock.sleep)
    assert seen == [(True, True, True)] * 4
    # The first blob's plain file went once its grace had passed, during the run.
    assert first_plain == [True, True, False, False]
    assert report.counts == {"encrypted": 4}
    # Every plain file is gone at the end, the last ones after waiting out their grace.
    assert not any(store.inner.exists(blob_key, sha) for sha in shas)
    assert clock.slept == [PLAIN_GRACE_SECONDS / 2]
    assert all(store.inner.exists(sealed_partition(blob_key), sha) for sha in shas)
    services.catalog.dispose()


def test_regression_a_run_stopped_by_a_full_disk_frees_the_plain_copies_it_encrypted(
        data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A full disk stopped ``packyard encrypt`` with a traceback and kept the plain copies of
    the files it had encrypted (their removal waits for the end of the pass), so every next
    run stopped at the same file for want of the space they held."""
    blob_key, made = _plain_blobs(data_dir, 4)
    shas = sorted(made)
    services = _services(data_dir)
    assert services.encryption is not None
    store = services.encryption.blobs
    write = type(store)._replace_ciphertext
    calls: list[str] = []

    def fills_on_the_third(self: Any, source: Path, opened: Any, domain_key: str,
                           sha256: str) -> bool:
        calls.append(sha256)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return write(self, source, opened, domain_key, sha256)

    monkeypatch.setattr(type(store), "_replace_ciphertext", fills_on_the_third)
    clock = _Clock()
    with pytest.raises(OSError):
        encrypt_existing(services.catalog, store, clock=clock, sleep=clock.sleep)
    # The two encrypted: ciphertext only. The rest: plain, as they were.
    assert [store.inner.exists(blob_key, sha) for sha in shas] == [False, False, True, True]
    monkeypatch.undo()
    report = encrypt_existing(services.catalog, store, clock=clock, sleep=clock.sleep)
    assert report.counts == {"encrypted": 2}
    assert not any(store.inner.exists(blob_key, sha) for sha in shas)
    services.catalog.dispose()


def test_regression_the_command_stopped_by_a_full_disk_says_so_in_one_line(
        data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _plain_blobs(data_dir, 1)

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("packyard.encryption.migration.encrypt_existing", full)
    result = CliRunner().invoke(main, ["encrypt", "--data-dir", str(data_dir)],
                                env={"PACKYARD_ENCRYPTION": None})
    assert result.exit_code == 2, result.output
    assert " ".join(result.output.split()).startswith(
        "error: the encryption stopped: No space left on device; nothing is lost")
