"""``packyard backup`` / ``restore`` of the embedded default: a copy taken while uploads go on
restores into a server that serves every file it lists, byte for byte, with its IAM secrets
readable; and each refusal says what to do instead."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import sqlite3
import stat
import threading
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from packyard.bootstrap import build_services
from packyard.cli.main import main
from packyard.errors import CannotStart, Invalid
from packyard.services import backups
from packyard.settings import Settings
from packyard.storage.backends import open_shared_files
from tests.inprocess.conftest import PackyardFactory
from tests.inprocess.harness import InProcessPackyard, InProcessRepo, settings_for
from tests.integration.helpers import DistFactory, DistSpec, upload

JSON_V1 = {"Accept": "application/vnd.pypi.simple.v1+json"}
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _listed(repo: InProcessRepo, project: str) -> dict[str, str]:
    response = repo.get(f"simple/{project}/", **JSON_V1)
    if response.status_code == 404:
        return {}
    return {f["filename"]: f["hashes"]["sha256"] for f in response.json()["files"]}


def _downloads_whole(repo: InProcessRepo, project: str) -> None:
    page_url = repo.endpoint + f"simple/{project}/"
    with repo.client() as http:
        page = http.get(page_url, headers=JSON_V1).json()
        for entry in page["files"]:
            got = http.get(str(httpx.URL(page_url).join(entry["url"])))
            assert got.status_code == 200, entry["filename"]
            assert hashlib.sha256(got.content).hexdigest() == entry["hashes"]["sha256"]


@pytest.mark.parametrize("encryption", ["on", "off"])
def test_a_backup_taken_during_uploads_restores_everything_it_lists(
        packyard_factory: PackyardFactory, dists: DistFactory, tmp_path: Path,
        encryption: str) -> None:
    packyard = packyard_factory(encryption=encryption)
    repo = packyard.pypi_repo()
    assert packyard.container.iam_store is not None
    packyard.container.iam_store.create_user("ci", "/", NOW)
    key, secret = packyard.container.iam_store.create_access_key("ci", NOW)
    for n in range(3):
        assert upload(repo, dists.wheel(DistSpec(name="pkg", version=f"0.{n}"))).status_code == 200
    stop = threading.Event()

    def keep_uploading() -> None:
        for n in range(200):
            if stop.is_set():
                return
            upload(repo, dists.wheel(DistSpec(name="pkg", version=f"1.{n}")))

    uploader = threading.Thread(target=keep_uploading)
    uploader.start()
    try:
        report = backups.backup(packyard.settings, tmp_path / "backup")
    finally:
        stop.set()
        uploader.join()
    assert report.missing == [] and report.blobs >= 3
    manifest = json.loads((tmp_path / "backup" / backups.MANIFEST).read_text())
    assert manifest["complete"] is True
    # The database is one file: no -wal or -shm left beside it by reading the copy.
    assert sorted(p.name for p in (tmp_path / "backup").glob("packyard.db*")) == ["packyard.db"]
    # With encryption on: the ciphertext as it is stored, and what opens it (the keyring, IAM's
    # wrapped key; the data keys are rows of the database copy).
    secrets = [name for name in ("iam-secrets.key", "iam-secrets.wrapped", "keyring.json")
               if (packyard.settings.data_dir / name).exists()]
    assert encryption == "off" or {"keyring.json", "iam-secrets.wrapped"} <= set(secrets)
    for name in secrets:
        assert (tmp_path / "backup" / name).stat().st_mode & 0o777 == 0o600
    stored = {p.relative_to(packyard.settings.blob_dir) for p in
              packyard.settings.blob_dir.rglob("*") if p.is_file()}
    copied = {p.relative_to(tmp_path / "backup" / "blobs") for p in
              (tmp_path / "backup" / "blobs").rglob("*") if p.is_file()}
    assert copied and copied <= stored
    assert all((part.endswith(".enc") if encryption == "on" else not part.endswith(".enc"))
               for part in {p.parts[0] for p in copied})

    restored_settings = settings_for(tmp_path / "restored", encryption=encryption)
    backups.restore(tmp_path / "backup", restored_settings)
    restored = InProcessPackyard(restored_settings, packyard.portal, packyard._clients)
    try:
        again = InProcessRepo(repo.server_url, repo.domain, repo.repository, repo.endpoint,
                              repo.token, transport=restored.transport)
        listed = _listed(again, "pkg")
        assert {f"pkg-0.{n}-py3-none-any.whl" for n in range(3)} <= set(listed)
        assert set(listed) <= set(_listed(repo, "pkg"))  # nothing the source never had
        _downloads_whole(again, "pkg")
        assert restored.container.iam_store is not None
        assert restored.container.iam_store.access_key_secret(key.id) == secret
    finally:
        restored.close()
    if encryption == "on":
        verified = CliRunner().invoke(main, ["verify", "--data-dir", str(tmp_path / "restored"),
                                             "--output", "json"])
        assert verified.exit_code == 0, verified.output


def test_a_damaged_ciphertext_is_not_backed_up_as_good(packyard: InProcessPackyard,
                                                       dists: DistFactory,
                                                       tmp_path: Path) -> None:
    repo = packyard.pypi_repo()
    dist = dists.wheel(DistSpec(name="pkg", version="1.0"))
    assert upload(repo, dist).status_code == 200
    [sealed] = packyard.settings.blob_dir.glob(f"*.enc/*/{dist.sha256}")
    sealed.write_bytes(sealed.read_bytes()[:-1])  # truncated
    with pytest.raises(Invalid, match=f"{sealed} is damaged: its bytes do not match the size "):
        backups.backup(packyard.settings, tmp_path / "backup")


def test_a_blob_deleted_during_the_backup_makes_it_incomplete_and_unrestorable(
        packyard: InProcessPackyard, dists: DistFactory, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    repo = packyard.pypi_repo()
    assert upload(repo, dists.wheel(DistSpec(name="pkg", version="1.0"))).status_code == 200
    snapshot = backups.snapshot_sqlite

    def snapshot_then_delete(database: Path, target: Path) -> None:
        snapshot(database, target)
        # A deletion right after the snapshot: its rows, then (the sweep) its files.
        packyard.codeartifact().delete_package_versions(
            domain=repo.domain, repository=repo.repository, format="pypi", package="pkg",
            versions=["1.0"])
        packyard.container.registry.sweeper.sweep()

    monkeypatch.setattr(backups, "snapshot_sqlite", snapshot_then_delete)
    report = backups.backup(packyard.settings, tmp_path / "backup")
    assert len(report.missing) >= 1
    with pytest.raises(Invalid, match="is an incomplete backup"):
        backups.restore(tmp_path / "backup", settings_for(tmp_path / "restored"))


def test_a_damaged_blob_is_not_backed_up_as_good(packyard_factory: PackyardFactory,
                                                 dists: DistFactory, tmp_path: Path) -> None:
    packyard = packyard_factory(encryption="off")
    repo = packyard.pypi_repo()
    dist = dists.wheel(DistSpec(name="pkg", version="1.0"))
    assert upload(repo, dist).status_code == 200
    damaged = next(p for p in packyard.settings.blob_dir.rglob(dist.sha256))
    damaged.write_bytes(b"rot")
    with pytest.raises(Invalid, match=f"is damaged: its bytes do not match sha256 {dist.sha256}"):
        backups.backup(packyard.settings, tmp_path / "backup")


def test_backup_of_postgresql_points_to_pg_dump(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, database_url="postgresql://u@h/db")
    with pytest.raises(Invalid, match="back PostgreSQL up with pg_dump"):
        backups.backup(settings, tmp_path / "b")


def test_backup_of_s3_points_to_bucket_versioning(packyard: InProcessPackyard,
                                                  tmp_path: Path) -> None:
    settings = settings_for(packyard.settings.data_dir, blob_store="s3://bucket/prefix")
    with pytest.raises(Invalid, match="use the object store's versioning"):
        backups.backup(settings, tmp_path / "b")


def test_backup_into_a_directory_with_files_is_refused(packyard: InProcessPackyard,
                                                        tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "x").write_text("x")
    with pytest.raises(Invalid, match="is not empty; back up into a new directory"):
        backups.backup(packyard.settings, tmp_path / "b")


def test_restore_over_a_database_is_refused(packyard: InProcessPackyard,
                                            tmp_path: Path) -> None:
    backups.backup(packyard.settings, tmp_path / "b")
    with pytest.raises(Invalid, match="exists; restore into a new --data-dir"):
        backups.restore(tmp_path / "b", packyard.settings)


def test_restore_of_a_directory_that_is_no_backup_is_refused(tmp_path: Path) -> None:
    with pytest.raises(Invalid, match="is not a Packyard backup"):
        backups.restore(tmp_path, settings_for(tmp_path / "data"))


def test_regression_a_refusal_piped_is_its_one_line_with_no_blank_line_before_it(
        packyard: InProcessPackyard, tmp_path: Path) -> None:
    # The progress bar, off a terminal, still ended with a newline on standard error, so a
    # refused restore (and verify, import, …) printed a blank line before its one line.
    runner = CliRunner()
    assert runner.invoke(main, ["backup", str(tmp_path / "b"), "--data-dir",
                                str(packyard.settings.data_dir)]).exit_code == 0
    refused = runner.invoke(main, ["restore", str(tmp_path / "b"), "--data-dir",
                                   str(packyard.settings.data_dir)])
    assert refused.exit_code == 2
    assert refused.stderr.startswith("error: "), repr(refused.stderr)
    assert refused.stderr.count("\n") == 1
    verified = runner.invoke(main, ["verify", "--data-dir", str(packyard.settings.data_dir)])
    assert verified.exit_code == 0 and verified.stderr == ""


def test_the_commands_print_one_line_and_fail_with_the_fix(packyard: InProcessPackyard,
                                                           tmp_path: Path) -> None:
    runner = CliRunner()
    done = runner.invoke(main, ["backup", str(tmp_path / "b"), "--data-dir",
                                str(packyard.settings.data_dir)])
    assert done.exit_code == 0, done.output
    assert done.output.strip().startswith("backed up 0 file(s), 0.0 MiB, to ")
    restored = runner.invoke(main, ["restore", str(tmp_path / "b"), "--data-dir",
                                    str(tmp_path / "r")])
    assert restored.exit_code == 0, restored.output
    assert "restored 0 file(s)" in restored.output
    refused = runner.invoke(main, ["restore", str(tmp_path / "b"), "--data-dir",
                                   str(tmp_path / "r")])
    assert refused.exit_code == 2
    assert "exists; restore into a new --data-dir" in refused.output


def _disk_full_on_the_blob_number(monkeypatch: pytest.MonkeyPatch, n: int) -> None:
    """Make every ``n``-th file copied fail as a full disk does."""
    copy = backups._copy_verified
    copies: list[Path] = []

    def copy_or_fill(source: Path, target: Path, sha256: str | None, size: int) -> str:
        copies.append(target)
        if len(copies) % n == 0:
            raise OSError(errno.ENOSPC, "No space left on device", str(target))
        return copy(source, target, sha256, size)

    monkeypatch.setattr(backups, "_copy_verified", copy_or_fill)


def test_regression_a_backup_onto_a_full_disk_says_so_in_one_line_and_leaves_nothing(
        packyard: InProcessPackyard, dists: DistFactory, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    repo = packyard.pypi_repo()
    for n in range(2):
        assert upload(repo, dists.wheel(DistSpec(name="pkg", version=f"1.{n}"))).status_code \
            == 200
    _disk_full_on_the_blob_number(monkeypatch, 2)
    (tmp_path / "empty").mkdir()
    for dest in (tmp_path / "new" / "backup", tmp_path / "empty"):
        result = CliRunner().invoke(main, ["backup", str(dest), "--data-dir",
                                           str(packyard.settings.data_dir)])
        assert result.exit_code == 2, result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)
        assert "error: the backup stopped: No space left on device (" in result.output
        assert f"nothing of it was kept in {dest}" in " ".join(result.output.split())
        # No half backup for a later restore (or a careless copy) to take for a whole one.
        assert not dest.exists() or list(dest.iterdir()) == []
    assert (tmp_path / "new").is_dir()  # only what the backup made is removed


def test_regression_restore_into_a_data_directory_holding_files_is_refused(
        packyard: InProcessPackyard, tmp_path: Path) -> None:
    backups.backup(packyard.settings, tmp_path / "b")
    other = tmp_path / "other"
    other.mkdir()
    # Another install's keyring, its database moved away (as the refusal over a database
    # suggests): restoring there would replace the only key to its files.
    (other / "keyring.json").write_text('{"another": "install"}')
    with pytest.raises(Invalid, match=f"{other} is not empty; restore into a new, empty "):
        backups.restore(tmp_path / "b", settings_for(other))
    assert (other / "keyring.json").read_text() == '{"another": "install"}'
    assert sorted(p.name for p in other.iterdir()) == ["keyring.json"]


def test_regression_a_restore_stopped_by_a_full_disk_says_so_and_carries_on_when_run_again(
        packyard: InProcessPackyard, dists: DistFactory, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    repo = packyard.pypi_repo()
    for n in range(3):
        assert upload(repo, dists.wheel(DistSpec(name="pkg", version=f"1.{n}"))).status_code \
            == 200
    backups.backup(packyard.settings, tmp_path / "b")
    restored = tmp_path / "restored"
    with monkeypatch.context() as patched:
        _disk_full_on_the_blob_number(patched, 2)
        result = CliRunner().invoke(main, ["restore", str(tmp_path / "b"), "--data-dir",
                                           str(restored)])
    assert result.exit_code == 2, result.output
    assert "error: the restore stopped: No space left on device (" in result.output
    assert not (restored / "packyard.db").exists()
    # A server started there now would make a new, empty registry in the restore's place.
    with pytest.raises(CannotStart, match="a packyard restore into .* has not finished"):
        build_services(settings_for(restored))
    assert not (restored / "packyard.db").exists()
    # Another backup is not restored over what this one left ...
    (tmp_path / "b2").mkdir()
    shutil.copytree(tmp_path / "b", tmp_path / "b2", dirs_exist_ok=True)
    manifest = json.loads((tmp_path / "b2" / backups.MANIFEST).read_text())
    (tmp_path / "b2" / backups.MANIFEST).write_text(json.dumps(
        {**manifest, "created": "2026-01-01T00:00:00+00:00"}))
    with pytest.raises(Invalid, match="holds an interrupted restore of another backup"):
        backups.restore(tmp_path / "b2", settings_for(restored))
    # ... and the same one, run again, finishes.
    again = backups.restore(tmp_path / "b", settings_for(restored))
    assert again.blobs >= 3 and (restored / "packyard.db").exists()
    assert not (restored / backups.RESTORING).exists()


def test_regression_a_backup_and_its_restore_are_owner_only_whatever_the_umask(
        packyard: InProcessPackyard, dists: DistFactory, tmp_path: Path) -> None:
    """Restored blobs were 0644 in 0755 folders under a usual umask of 022, where everything
    Packyard makes in a data directory is owner-only."""
    repo = packyard.pypi_repo()
    assert upload(repo, dists.wheel(DistSpec(name="pkg", version="1.0"))).status_code == 200
    previous = os.umask(0o022)
    try:
        runner = CliRunner()
        done = runner.invoke(main, ["backup", str(tmp_path / "b"), "--data-dir",
                                    str(packyard.settings.data_dir)])
        assert done.exit_code == 0, done.output
        done = runner.invoke(main, ["restore", str(tmp_path / "b"), "--data-dir",
                                    str(tmp_path / "r")])
        assert done.exit_code == 0, done.output
    finally:
        os.umask(previous)
    for root in (tmp_path / "b", tmp_path / "r"):
        made = [root, *root.rglob("*")]
        assert len(made) > 5
        loose = {str(p.relative_to(tmp_path)): oct(stat.S_IMODE(p.stat().st_mode))
                 for p in made if stat.S_IMODE(p.stat().st_mode) & 0o077}
        assert loose == {}


def test_regression_a_key_rotation_during_the_backup_fails_it_instead_of_an_unreadable_copy(
        packyard: InProcessPackyard, dists: DistFactory, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """``keys rotate`` between the database's snapshot and the keyring's copy retired the key
    version the copied data keys are wrapped by: the backup said it was done, and not one of
    its files could be read after a restore."""
    repo = packyard.pypi_repo()
    assert upload(repo, dists.wheel(DistSpec(name="pkg", version="1.0"))).status_code == 200
    snapshot = backups.snapshot_sqlite

    def snapshot_then_rotate(database: Path, target: Path) -> None:
        snapshot(database, target)
        rotated = CliRunner().invoke(main, ["keys", "rotate", "--domain", repo.domain,
                                            "--data-dir", str(packyard.settings.data_dir)])
        assert rotated.exit_code == 0, rotated.output

    monkeypatch.setattr(backups, "snapshot_sqlite", snapshot_then_rotate)
    with pytest.raises(Invalid, match=r"version 1, which the copied files' data keys are "
                                      r"wrapped by, was retired while the backup ran"):
        backups.backup(packyard.settings, tmp_path / "backup")
    assert not (tmp_path / "backup").exists()
    monkeypatch.undo()
    assert backups.backup(packyard.settings, tmp_path / "backup").blobs >= 1  # once it is done


def test_regression_the_webhooks_of_the_data_directory_are_backed_up_and_restored(
        packyard: InProcessPackyard, tmp_path: Path) -> None:
    """``DATA_DIR/webhooks.json`` was left out: a restored server sent no event, silently."""
    webhooks = json.dumps({"webhooks": [{"name": "ci", "url": "https://ci.example/hook",
                                         "domain": "acme", "secret": "s3cret"}]})
    (packyard.settings.data_dir / "webhooks.json").write_text(webhooks)
    backups.backup(packyard.settings, tmp_path / "b")
    backups.restore(tmp_path / "b", settings_for(tmp_path / "r"))
    for copy in (tmp_path / "b" / "webhooks.json", tmp_path / "r" / "webhooks.json"):
        assert copy.read_text() == webhooks
        assert stat.S_IMODE(copy.stat().st_mode) == 0o600  # it holds the webhooks' secrets


def test_regression_webhooks_named_by_packyard_webhooks_file_are_backed_up_too(
        packyard: InProcessPackyard, tmp_path: Path) -> None:
    """Only ``DATA_DIR/webhooks.json`` was copied: webhooks kept where
    ``PACKYARD_WEBHOOKS_FILE`` names were left out, and the restored server sent no event."""
    webhooks = json.dumps({"webhooks": [{"name": "ops", "url": "https://ops.example/hook",
                                         "domain": "acme", "secret": "t0ken"}]})
    elsewhere = tmp_path / "etc" / "packyard-webhooks.json"
    elsewhere.parent.mkdir()
    elsewhere.write_text(webhooks)
    settings = replace(packyard.settings, webhooks_file=str(elsewhere))
    backups.backup(settings, tmp_path / "b")
    backups.restore(tmp_path / "b", settings_for(tmp_path / "r"))
    for copy in (tmp_path / "b" / "webhooks.json", tmp_path / "r" / "webhooks.json"):
        assert copy.read_text() == webhooks
        assert stat.S_IMODE(copy.stat().st_mode) == 0o600


def test_regression_a_backup_looking_for_the_files_in_the_wrong_place_says_so(
        packyard_factory: PackyardFactory, dists: DistFactory, tmp_path: Path) -> None:
    """A server with PACKYARD_BLOB_STORE=/elsewhere, backed up without --blob-store: '2
    file(s) were deleted while the backup ran', exit 1, and an incomplete backup left."""
    packyard = packyard_factory(blob_store=str(tmp_path / "elsewhere"))
    repo = packyard.pypi_repo()
    assert upload(repo, dists.wheel(DistSpec(name="pkg", version="1.0"))).status_code == 200
    result = CliRunner().invoke(main, ["backup", str(tmp_path / "b"), "--data-dir",
                                       str(packyard.settings.data_dir)],
                                env={"PACKYARD_BLOB_STORE": None})
    assert result.exit_code == 2, result.output
    assert (f"2 file(s) the database lists are not in {packyard.settings.data_dir / 'blobs'} "
            "(the first: d1/") in " ".join(result.output.split())
    assert ("if the server keeps its files elsewhere, pass its --blob-store "
            "(PACKYARD_BLOB_STORE); else run packyard verify") in " ".join(result.output.split())
    assert not (tmp_path / "b").exists()
    done = CliRunner().invoke(main, ["backup", str(tmp_path / "b"), "--data-dir",
                                     str(packyard.settings.data_dir), "--blob-store",
                                     str(tmp_path / "elsewhere")])
    assert done.exit_code == 0, done.output
    # IAM's key, wherever that store keeps it (``storage/shared_files.py``), is in it too.
    held = open_shared_files(packyard.settings).read("iam-secrets.wrapped")
    assert held is not None and (tmp_path / "b" / "iam-secrets.wrapped").read_bytes() == held


def test_regression_restore_onto_postgresql_names_itself_in_the_refusal(tmp_path: Path) -> None:
    """It said 'packyard backup covers the embedded default' to a user running restore."""
    settings = Settings(data_dir=tmp_path / "r", database_url="postgresql://u@h/db")
    with pytest.raises(Invalid, match="^packyard restore covers the embedded default"):
        backups.restore(tmp_path, settings)


def test_regression_a_backup_whose_database_does_not_fit_says_so_in_one_line(
        packyard: InProcessPackyard, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A destination too small for the database copy (or read-only) ended in a traceback of
    sqlite3.OperationalError and exit 1, the status of a backup that is only incomplete."""
    snapshot = backups.snapshot_sqlite

    def snapshot_onto_a_full_disk(database: Path, target: Path) -> None:
        snapshot(database, target.with_name("partial"))  # what SQLite wrote before it stopped
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(backups, "snapshot_sqlite", snapshot_onto_a_full_disk)
    (tmp_path / "small").mkdir()
    result = CliRunner().invoke(main, ["backup", str(tmp_path / "small"), "--data-dir",
                                       str(packyard.settings.data_dir)])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert (f"error: the backup stopped: database or disk is full "
            f"({tmp_path / 'small' / 'packyard.db'}); nothing of it was kept in "
            f"{tmp_path / 'small'}") in " ".join(result.output.split())
    assert list((tmp_path / "small").iterdir()) == []


def _backed_up(packyard: InProcessPackyard, dists: DistFactory, dest: Path) -> Path:
    repo = packyard.pypi_repo()
    for n in range(2):
        assert upload(repo, dists.wheel(DistSpec(name="pkg", version=f"1.{n}"))).status_code \
            == 200
    backups.backup(packyard.settings, dest)
    return dest


def _refused_and_nothing_kept(backup: Path, restored: Path, says: str) -> None:
    result = CliRunner().invoke(main, ["restore", str(backup), "--data-dir", str(restored)])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    said = " ".join(result.output.split())
    assert says in said
    assert (f"the backup is damaged; nothing of it was kept in {restored}: restore another "
            "backup") in said
    # Nothing a server would start on, nor a restore under way that a later one would refuse.
    assert not restored.exists() or list(restored.iterdir()) == []


def test_regression_a_restore_of_a_backup_whose_ciphertext_changed_is_refused(
        packyard: InProcessPackyard, dists: DistFactory, tmp_path: Path) -> None:
    """An encrypted blob was checked by its size only: a byte changed in the backup was
    restored, 'restored 2 file(s)', and the server answered 500 for that file."""
    backup = _backed_up(packyard, dists, tmp_path / "b")
    [sealed, *_] = sorted((backup / "blobs").glob("*.enc/*/*"))
    damaged = bytearray(sealed.read_bytes())
    damaged[40] ^= 1
    sealed.write_bytes(bytes(damaged))
    _refused_and_nothing_kept(backup, tmp_path / "r", f"{sealed} is damaged: its bytes do not "
                                                      "match sha256 ")
    assert f"  blobs/{sealed.relative_to(backup / 'blobs').as_posix()}\n" in \
        (backup / backups.SUMS).read_text()  # ``sha256sum -c SHA256SUMS`` finds it too


@pytest.mark.parametrize("listed", [True, False], ids=["with-sums", "older-backup"])
def test_regression_a_restore_of_a_backup_with_a_truncated_database_is_refused(
        packyard: InProcessPackyard, dists: DistFactory, tmp_path: Path, listed: bool) -> None:
    """A traceback (sqlite3.DatabaseError: database disk image is malformed), leaving a
    half-restored data directory behind."""
    backup = _backed_up(packyard, dists, tmp_path / "b")
    if not listed:
        (backup / backups.SUMS).unlink()
    database = backup / "packyard.db"
    with database.open("r+b") as file:
        file.truncate(database.stat().st_size // 2)
    _refused_and_nothing_kept(
        backup, tmp_path / "r",
        f"{database} is not the file that was backed up (its sha256 is not the one in "
        if listed else f"{database} cannot be read (database disk image is malformed)")


@pytest.mark.parametrize("removed", ["blob", "keyring.json"])
def test_regression_a_restore_of_a_backup_missing_a_file_is_refused(
        packyard: InProcessPackyard, dists: DistFactory, tmp_path: Path, removed: str) -> None:
    """A blob removed from the backup: 'the restore stopped … run the restore again once this
    is mended, and it carries on', which it never could; the keyring removed: restored, with
    every file unreadable."""
    backup = _backed_up(packyard, dists, tmp_path / "b")
    gone = (sorted((backup / "blobs").glob("*.enc/*/*"))[0] if removed == "blob"
            else backup / removed)
    gone.unlink()
    (tmp_path / "r").mkdir()
    _refused_and_nothing_kept(backup, tmp_path / "r", f"{gone} is missing")


def _damage_secret(backup: Path, how: str) -> tuple[Path, str]:
    if how == "keyring-removed":
        (backup / "keyring.json").unlink()
        return backup / "keyring.json", "is missing"
    if how == "keyring-truncated":
        keyring = backup / "keyring.json"
        keyring.write_bytes(keyring.read_bytes()[:len(keyring.read_bytes()) // 2])
        return keyring, "is damaged (not the keyring it was)"
    if how == "keyring-emptied":
        keyring = backup / "keyring.json"
        keyring.write_text(json.dumps({**json.loads(keyring.read_text()), "keys": {}}))
        return keyring, "lacks key "
    (backup / "iam-secrets.wrapped").unlink()
    return backup / "iam-secrets.wrapped", "is missing (and so is iam-secrets.key)"


@pytest.mark.parametrize("how", ["keyring-removed", "keyring-truncated", "keyring-emptied",
                                 "iam-secret-key-removed"])
def test_regression_a_restore_of_an_older_backup_without_its_secrets_is_refused(
        packyard: InProcessPackyard, dists: DistFactory, tmp_path: Path, how: str) -> None:
    """A backup taken before SHA256SUMS (Packyard a546bee) whose keyring was lost or damaged
    was restored, 'restored 2 file(s)', into an install where no file could be read (verify:
    'The keyring … is damaged'); one without its IAM secret key, into one whose every access
    key was a 500 (the server made a new key)."""
    assert packyard.container.iam_store is not None
    packyard.container.iam_store.create_user("ci", "/", NOW)
    packyard.container.iam_store.create_access_key("ci", NOW)
    backup = _backed_up(packyard, dists, tmp_path / "b")
    (backup / backups.SUMS).unlink()  # as every backup before it
    damaged, says = _damage_secret(backup, how)
    _refused_and_nothing_kept(backup, tmp_path / "r", f"{damaged} {says}")


def test_regression_an_older_backup_with_its_secrets_is_still_restored(
        packyard: InProcessPackyard, dists: DistFactory, tmp_path: Path) -> None:
    """The check of an older backup's secrets refuses no whole one."""
    backup = _backed_up(packyard, dists, tmp_path / "b")
    (backup / backups.SUMS).unlink()
    report = backups.restore(backup, settings_for(tmp_path / "r"))
    assert report.blobs == json.loads((backup / backups.MANIFEST).read_text())["blobs"] > 0
    assert (tmp_path / "r" / "keyring.json").read_bytes() == \
        (backup / "keyring.json").read_bytes()


def test_regression_an_older_backup_whose_access_keys_were_given_up_needs_no_iam_secret_key(
        packyard: InProcessPackyard, dists: DistFactory, tmp_path: Path) -> None:
    """An older backup's restore asked for IAM's secret key whenever an access key was in the
    database, even one `packyard iam reset-secret-key` had given up (nothing opens it), which
    the check of a new backup already left out: such a backup could not be restored."""
    assert packyard.container.iam_store is not None
    packyard.container.iam_store.create_user("ci", "/", NOW)
    packyard.container.iam_store.create_access_key("ci", NOW)
    backup = _backed_up(packyard, dists, tmp_path / "b")
    (backup / backups.SUMS).unlink()  # as every backup before it
    conn = sqlite3.connect(backup / backups.DATABASE)
    with conn:
        conn.execute("UPDATE iam_access_keys SET secret_encrypted = 'lost:' || secret_encrypted")
    conn.close()
    for name in ("iam-secrets.wrapped", "iam-secrets.key"):
        (backup / name).unlink(missing_ok=True)
    report = backups.restore(backup, settings_for(tmp_path / "r"))
    assert report.blobs > 0


def test_regression_a_restore_of_an_older_backup_says_verify_authenticates_its_files(
        packyard: InProcessPackyard, dists: DistFactory, tmp_path: Path) -> None:
    """A backup from before SHA256SUMS whose ciphertext changed was 'restored 4 file(s)' and
    nothing else, so the damage was found only by the download that failed with a 500."""
    backup = _backed_up(packyard, dists, tmp_path / "b")
    (backup / backups.SUMS).unlink()
    [sealed, *_] = sorted((backup / "blobs").glob("*.enc/*/*"))
    damaged = bytearray(sealed.read_bytes())
    damaged[40] ^= 1
    sealed.write_bytes(bytes(damaged))
    restored = tmp_path / "r"
    result = CliRunner().invoke(main, ["restore", str(backup), "--data-dir", str(restored)])
    assert result.exit_code == 0, result.output
    encrypted = len(list((backup / "blobs").glob("*.enc/*/*")))
    assert (f"The backup predates SHA256SUMS: its {encrypted} encrypted file(s) were checked "
            f"by size only; `packyard verify --data-dir {restored}` authenticates them") in \
        " ".join(result.output.split())
    verified = CliRunner().invoke(main, ["verify", "--data-dir", str(restored)])
    assert verified.exit_code == 1 and f"tampered: blob {sealed.name}" in verified.output


def test_regression_an_unfinished_backup_is_named_so(packyard: InProcessPackyard,
                                                     dists: DistFactory,
                                                     tmp_path: Path) -> None:
    """A backup killed half-way: run again, 'is not empty; back up into a new directory';
    restored, 'is not a Packyard backup (no backup.json and packyard.db)', though it had one."""
    backup = _backed_up(packyard, dists, tmp_path / "b")
    (backup / backups.MANIFEST).unlink()  # what kill -9 before its last step leaves
    (backup / backups.SUMS).unlink()
    with pytest.raises(Invalid, match="holds an unfinished backup .*: remove it, or back up "
                                      "into a new directory"):
        backups.backup(packyard.settings, backup)
    with pytest.raises(Invalid, match="is an unfinished backup .*; use another"):
        backups.restore(backup, settings_for(tmp_path / "r"))
    assert not (tmp_path / "r").exists()


def test_regression_a_destination_named_like_markup_is_named_as_it_is(
        packyard: InProcessPackyard, tmp_path: Path) -> None:
    """``/backups/[/b]`` (rich's markup for 'end bold') in the one-line error ended in a
    MarkupError traceback instead."""
    dest = tmp_path / "[" / "b]"
    dest.mkdir(parents=True)
    (dest / "x").write_text("x")
    result = CliRunner().invoke(main, ["backup", str(dest), "--data-dir",
                                       str(packyard.settings.data_dir)])
    assert result.exit_code == 2, result.output
    assert f"error: {dest} is not empty; back up into a new directory" in \
        " ".join(result.output.split())


def test_regression_a_restore_stopped_after_its_database_was_in_place_finishes_when_run_again(
        packyard: InProcessPackyard, dists: DistFactory, tmp_path: Path) -> None:
    """Killed between putting the database in place and removing its marker, the restore
    could not be finished: the server said 'run the same restore again to finish it', and the
    restore said 'packyard.db exists; restore into a new --data-dir'."""
    backup = _backed_up(packyard, dists, tmp_path / "b")
    restored = tmp_path / "r"
    backups.restore(backup, settings_for(restored))
    marker = {"backup": json.loads((backup / backups.MANIFEST).read_text())["created"],
              "from": str(backup)}
    (restored / backups.RESTORING).write_text(json.dumps(marker))  # what the kill left
    with pytest.raises(CannotStart, match="run the same restore again to finish it"):
        build_services(settings_for(restored))
    assert backups.restore(backup, settings_for(restored)).blobs >= 2
    assert not (restored / backups.RESTORING).exists()
    build_services(settings_for(restored)).catalog.dispose()
    # Another install's database under such a marker is not taken for the backup's.
    (restored / backups.RESTORING).write_text(json.dumps(marker))
    (restored / "packyard.db").write_bytes(b"another")
    with pytest.raises(Invalid, match="exists; restore into a new --data-dir"):
        backups.restore(backup, settings_for(restored))


def test_regression_a_backup_without_the_iam_secret_key_its_database_needs_says_so(
        packyard_factory: PackyardFactory, data_dir: Path, tmp_path: Path) -> None:
    # Was "backed up 0 file(s), 0.0 MiB, to DEST", exit 0, for a data directory whose
    # iam-secrets.wrapped was gone while access keys were sealed with it: a backup that the
    # restore took as whole, and whose server then refused to start.
    packyard = packyard_factory()
    packyard.iam().create_user(UserName="alice")
    packyard.iam().create_access_key(UserName="alice")
    packyard.close()
    (data_dir / "iam-secrets.wrapped").unlink()
    dest = tmp_path / "backup"
    result = CliRunner().invoke(main, ["backup", "--data-dir", str(data_dir), str(dest)])
    assert result.exit_code == 1
    assert " ".join(result.stderr.split()) == (
        f"error: IAM's secret key (iam-secrets.wrapped, or iam-secrets.key) is missing from "
        f"{data_dir}, and the database holds 1 IAM access key(s) or role session(s) sealed "
        "with it: the backup cannot open them (nor can a server started on it). Put the file "
        "back from an earlier backup and back up again; or give those secrets up with "
        "`packyard iam reset-secret-key`")
    # Once given up, nothing needs the key: the backup is whole.
    reset = CliRunner().invoke(main, ["iam", "reset-secret-key", "--data-dir", str(data_dir)])
    assert reset.exit_code == 0, reset.output
    again = CliRunner().invoke(main, ["backup", "--data-dir", str(data_dir),
                                      str(tmp_path / "again")])
    assert again.exit_code == 0, again.output
