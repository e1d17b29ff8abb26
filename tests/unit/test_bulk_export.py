"""``packyard export``: a repository's files written to a folder that ``packyard import`` takes
back, read through the blob store, each checked, never over other bytes."""

from __future__ import annotations

import contextlib
import hashlib
import json
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from packyard.bootstrap import Services
from packyard.cli.exports import export_files
from packyard.cli.imports import import_files
from packyard.metadata.catalog import EntryPoint, NewAsset, NewVersion
from packyard.model import Repository
from tests.unit.bulk_support import ACCT, ROOT, with_repositories
from tests.unit.bulk_support import services_on as _services
from tests.unit.npm_samples import Member, manifest_bytes, tgz
from tests.unit.pypi_samples import build_sdist, build_wheel


def _tarball(name: str, version: str) -> bytes:
    return tgz([Member("package/package.json", manifest_bytes(name, version)),
                Member("package/index.js", f"module.exports = {name!r}\n".encode())])


@dataclass
class Source:
    """A server's data directory with the domain ``dom`` and the repository ``repo``, filled
    by ``packyard import`` of ``files`` (a folder): two PyPI projects, an unscoped and a
    scoped npm package."""

    data_dir: Path
    files: Path

    def cli(self, *args: str, dest: Path, command: Any = None,
            **env: str | None) -> tuple[int, str, str]:
        command = command or export_files
        result = CliRunner().invoke(command, [
            "--data-dir", str(self.data_dir), "--domain", "dom", "--repository", "repo",
            *args, str(dest)], env={"PACKYARD_DATA_DIR": None, **env})
        return result.exit_code, result.stdout, result.stderr


def _make_source(tmp_path: Path, **settings: Any) -> Source:
    data = with_repositories(tmp_path / "data", "dom", "repo", **settings)
    files = tmp_path / "files"
    files.mkdir()
    build_wheel(files, name="Alpha_Lib", version="1.0")
    build_sdist(files, name="alpha_lib", version="1.0")
    build_wheel(files, name="alpha_lib", version="2.0")
    build_wheel(files, name="beta", version="0.1")
    for name, version in (("left-pad", "1.3.0"), ("left-pad", "1.2.0"),
                          ("@acme/util", "2.0.0")):
        (files / f"{name.replace('/', '-')}-{version}.tgz").write_bytes(
            _tarball(name, version))
    source = Source(data, files)
    code, out, err = source.cli(command=import_files, dest=files,
                                **{f"PACKYARD_{k.upper()}": str(v) for k, v in settings.items()})
    assert code == 0, out + err
    return source


@pytest.fixture()
def source(tmp_path: Path) -> Source:
    return _make_source(tmp_path)


@pytest.fixture()
def services(source: Source) -> Iterator[Services]:
    built = _services(source.data_dir)
    yield built
    built.catalog.dispose()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _tree(root: Path) -> dict[str, str]:
    """Every file under ``root`` by relative path, with its sha256; the package documents
    (npm's ``package.json``, PyPI's ``index.json``, made of the catalog's times) are the
    tests' of them below."""
    return {str(p.relative_to(root)): _sha256(p) for p in sorted(root.rglob("*"))
            if p.is_file() and not _is_document(root, p)}


def _is_document(root: Path, path: Path) -> bool:
    return (path.name, path.relative_to(root).parts[0]) in (("package.json", "npm"),
                                                            ("index.json", "pypi"))


def _documents(root: Path) -> dict[str, dict[str, Any]]:
    """The package documents under ``root``, by relative path."""
    return {str(p.relative_to(root)): json.loads(p.read_text()) for p in sorted(root.rglob("*"))
            if p.is_file() and _is_document(root, p)}


def _sums_without_documents(root: Path) -> list[str]:
    return [line for line in (root / "SHA256SUMS").read_text().splitlines()
            if not line.endswith(("/package.json", "/index.json"))]


DOCUMENTS = ("npm/@acme/util/package.json", "npm/left-pad/package.json",
             "pypi/alpha-lib/index.json", "pypi/beta/index.json")


def _expected(source: Source) -> dict[str, str]:
    """Where each source file goes in an export, with its sha256."""
    files = source.files
    return {
        "pypi/alpha-lib/Alpha_Lib-1.0-py3-none-any.whl":
            _sha256(files / "Alpha_Lib-1.0-py3-none-any.whl"),
        "pypi/alpha-lib/alpha_lib-1.0.tar.gz": _sha256(files / "alpha_lib-1.0.tar.gz"),
        "pypi/alpha-lib/alpha_lib-2.0-py3-none-any.whl":
            _sha256(files / "alpha_lib-2.0-py3-none-any.whl"),
        "pypi/beta/beta-0.1-py3-none-any.whl": _sha256(files / "beta-0.1-py3-none-any.whl"),
        "npm/left-pad/left-pad-1.2.0.tgz": _sha256(files / "left-pad-1.2.0.tgz"),
        "npm/left-pad/left-pad-1.3.0.tgz": _sha256(files / "left-pad-1.3.0.tgz"),
        "npm/@acme/util/util-2.0.0.tgz": _sha256(files / "@acme-util-2.0.0.tgz"),
    }


def _version(version: str, **fields: Any) -> NewVersion:
    return NewVersion(version=version, version_key=version, summary=None, home_page=None,
                      source_code_repository=None, licenses=[], readme=None,
                      readme_content_type=None, dependencies=[], **fields)


def _repository(services: Services) -> Repository:
    return services.registry.get_repository("dom", "repo")[1]


def _set_status(services: Services, fmt: str, name: str, version: str, status: str,
                namespace: str = "") -> None:
    package = services.catalog.find_package(_repository(services).id, fmt, namespace, name)
    assert package is not None
    found = services.catalog.get_version(package.id, version)
    assert found is not None
    services.catalog.update_version_status(found, status)


# -- the layout --------------------------------------------------------------------------------


def test_export_lays_out_pypi_and_npm_files_as_the_import_reads_them(
        source: Source, tmp_path: Path) -> None:
    dest = tmp_path / "export"

    code, out, err = source.cli(dest=dest)

    assert code == 0, out + err
    expected = _expected(source)
    assert _tree(dest) == {**expected, "SHA256SUMS": _sha256(dest / "SHA256SUMS")}
    assert out.startswith(f"7 files of dom/repo into {dest} in ")
    assert "7 written, 0 already present, 0 failed, 0 left out (" in out
    assert out.rstrip().endswith(
        "; package documents: 4 written, 0 already present, 0 failed")
    assert sorted(_documents(dest)) == list(DOCUMENTS)
    # sha256sum -c, run in the destination, checks every file, the documents too.
    listed = {**expected, **{path: _sha256(dest / path) for path in DOCUMENTS}}
    assert (dest / "SHA256SUMS").read_text() == "".join(
        f"{sha}  {path}\n" for path, sha in sorted(listed.items()))
    checked = subprocess.run(["sha256sum", "-c", "--strict", "SHA256SUMS"], cwd=dest,
                             capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.count(": OK") == 11
    # Nothing of the temporary files is left.
    assert not list(dest.rglob("*.partial"))


def test_an_export_imports_into_another_server_as_the_same_files(
        source: Source, tmp_path: Path) -> None:
    dest = tmp_path / "export"
    assert source.cli(dest=dest)[0] == 0
    other = with_repositories(tmp_path / "other", "elsewhere", "mirror")

    imported = CliRunner().invoke(import_files, [
        "--data-dir", str(other), "--domain", "elsewhere", "--repository", "mirror",
        "--output", "json", str(dest)], env={"PACKYARD_DATA_DIR": None})

    assert imported.exit_code == 0, imported.output
    report = json.loads(imported.stdout)
    assert (report["imported"], report["refused"]) == (7, [])
    assert {name: counts["imported"] for name, counts in report["formats"].items()} == {
        "pypi": 4, "npm": 3}
    # And exported from there, the same bytes again.
    again = tmp_path / "again"
    result = CliRunner().invoke(export_files, [
        "--data-dir", str(other), "--domain", "elsewhere", "--repository", "mirror",
        str(again)], env={"PACKYARD_DATA_DIR": None})
    assert result.exit_code == 0, result.output
    assert _tree(again) == _tree(dest) | {"SHA256SUMS": _sha256(again / "SHA256SUMS")}
    # The documents' times are the versions' publish times there, which the import does not
    # carry: each is the time it was imported.
    assert _sums_without_documents(again) == _sums_without_documents(dest)


def test_generic_packages_are_left_out_and_counted(source: Source, services: Services,
                                                   tmp_path: Path) -> None:
    repository = _repository(services)
    blob = services.blobs.stage()
    blob.write(b"a generic asset\n")
    digests = blob.digests()
    services.blobs.commit(blob, f"d{repository.domain_id}")
    services.catalog.publish(
        repository, "generic", "tools", "cli", "cli",
        _version("1.0"),
        NewAsset(name="cli-linux.tar.xz", size=digests.size, sha256=digests.sha256,
                 sha512=digests.sha512, sha1=digests.sha1, md5=digests.md5),
        {digests.sha256: digests.size}, datetime.now(UTC))
    dest = tmp_path / "export"

    code, out, _ = source.cli(dest=dest)
    assert code == 0
    assert "7 written, 0 already present, 0 failed, 1 left out" in out
    assert ("left out: 1 generic file (generic packages have no file layout packyard import "
            "reads back)") in out
    assert not (dest / "generic").exists()

    code, out, _ = source.cli("--output", "json", dest=tmp_path / "json")
    report = json.loads(out)
    assert report["leftOut"] == [{
        "file": "generic tools/cli 1.0 cli-linux.tar.xz", "format": "generic",
        "namespace": "tools", "package": "cli", "version": "1.0", "asset": "cli-linux.tar.xz",
        "reason": "generic packages have no file layout packyard import reads back"}]
    assert report["formats"]["generic"] == {"files": 1, "written": 0, "present": 0,
                                            "failed": 0, "leftOut": 1}


# -- which versions ----------------------------------------------------------------------------


def test_published_versions_only_unless_told(source: Source, services: Services,
                                             tmp_path: Path) -> None:
    _set_status(services, "pypi", "beta", "0.1", "Unlisted")
    _set_status(services, "npm", "left-pad", "1.2.0", "Archived")
    _set_status(services, "npm", "util", "2.0.0", "Unlisted", namespace="acme")
    expected = _expected(source)

    assert source.cli(dest=tmp_path / "published")[0] == 0
    assert set(_tree(tmp_path / "published")) == set(expected) - {
        "pypi/beta/beta-0.1-py3-none-any.whl", "npm/left-pad/left-pad-1.2.0.tgz",
        "npm/@acme/util/util-2.0.0.tgz"} | {"SHA256SUMS"}

    code, _, _ = source.cli("--status", "unlisted", "--status", "Archived",
                            dest=tmp_path / "others")
    assert code == 0
    assert set(_tree(tmp_path / "others")) == {
        "pypi/beta/beta-0.1-py3-none-any.whl", "npm/left-pad/left-pad-1.2.0.tgz",
        "npm/@acme/util/util-2.0.0.tgz", "SHA256SUMS"}


def test_regression_disposed_is_refused_saying_it_has_no_files(source: Source,
                                                               tmp_path: Path) -> None:
    code, _, err = source.cli("--status", "Disposed", dest=tmp_path / "export")
    assert code == 2
    assert ("error: Disposed versions have no files (disposing a version deletes them): "
            "choose --status Published, Unlisted or Archived") in " ".join(err.split())
    assert not (tmp_path / "export").exists()


@pytest.mark.parametrize(("args", "expected"), [
    (["--format", "npm"], {"npm/left-pad/left-pad-1.2.0.tgz", "npm/left-pad/left-pad-1.3.0.tgz",
                           "npm/@acme/util/util-2.0.0.tgz"}),
    # A prefix of the namespace, with or without npm's @, as ListPackages takes it.
    (["--namespace", "@ac"], {"npm/@acme/util/util-2.0.0.tgz"}),
    (["--namespace", "acme"], {"npm/@acme/util/util-2.0.0.tgz"}),
    # A prefix of the name, normalized as each format normalizes names (Alpha_L: alpha-l).
    (["--package", "Alpha_L"], {"pypi/alpha-lib/Alpha_Lib-1.0-py3-none-any.whl",
                                "pypi/alpha-lib/alpha_lib-1.0.tar.gz",
                                "pypi/alpha-lib/alpha_lib-2.0-py3-none-any.whl"}),
    (["--package", "le"], {"npm/left-pad/left-pad-1.2.0.tgz",
                           "npm/left-pad/left-pad-1.3.0.tgz"}),
    (["--format", "pypi", "--package", "left"], set()),
])
def test_filters_choose_packages_as_list_packages_does(source: Source, tmp_path: Path,
                                                       args: list[str],
                                                       expected: set[str]) -> None:
    dest = tmp_path / "export"
    code, out, err = source.cli(*args, dest=dest)
    assert code == 0, out + err
    assert set(_tree(dest)) - {"SHA256SUMS"} == expected


def test_regression_an_unknown_format_is_refused_naming_the_formats(source: Source,
                                                                    tmp_path: Path) -> None:
    code, _, err = source.cli("--format", "maven", dest=tmp_path / "export")
    assert code == 2
    assert "error: no format 'maven' here (formats: pypi, npm, generic)" in err


def test_regression_a_scoped_name_as_the_package_prefix_says_to_give_the_scope_apart(
        source: Source, tmp_path: Path) -> None:
    code, _, err = source.cli("--format", "npm", "--package", "@acme/ut",
                              dest=tmp_path / "export")
    assert code == 2
    assert ('Invalid npm package name "@acme/ut": give the scope as the namespace and the rest '
            "as the package name.") in " ".join(err.split())


def test_regression_a_bad_since_is_refused_with_an_example(source: Source,
                                                           tmp_path: Path) -> None:
    code, _, err = source.cli("--since", "last week", dest=tmp_path / "export")
    assert code == 2
    assert "'last week' is not an ISO 8601 date or time (2026-03-01, 2026-03-01T12:00:00Z)" in (
        " ".join(err.split()))


def _keep_from_upstream(services: Services, name: str, version: str, data: bytes,
                        upstream_time: datetime) -> None:
    """What a pull-through from public:npmjs keeps: the version and file with the upstream's
    publish time, entered from the external connection."""
    repository = _repository(services)
    blob = services.blobs.stage()
    blob.write(data)
    digests = blob.digests()
    services.blobs.commit(blob, f"d{repository.domain_id}")
    services.catalog.retain(
        [repository], "npm", "", name, name,
        _version(version, published_at=upstream_time, origin_type="EXTERNAL"),
        NewAsset(name="package.tgz", size=digests.size, sha256=digests.sha256,
                 sha512=digests.sha512, sha1=digests.sha1, md5=digests.md5,
                 created_at=upstream_time),
        EntryPoint("EXTERNAL", None, "public:npmjs"), {digests.sha256: digests.size},
        datetime.now(UTC))


def test_since_takes_what_changed_since_kept_files_by_when_they_were_kept(
        source: Source, services: Services, tmp_path: Path) -> None:
    before = datetime.now(UTC)
    kept = _tarball("is-odd", "3.0.1")
    # Published upstream years ago, kept now: an incremental export must carry it.
    _keep_from_upstream(services, "is-odd", "3.0.1", kept, datetime(2018, 4, 1, tzinfo=UTC))
    _set_status(services, "pypi", "beta", "0.1", "Unlisted")
    _set_status(services, "pypi", "beta", "0.1", "Published")  # status changed since
    dest = tmp_path / "since"

    code, out, err = source.cli("--since", before.isoformat(), dest=dest)

    assert code == 0, out + err
    tree = _tree(dest)
    assert set(tree) == {"npm/is-odd/is-odd-3.0.1.tgz", "pypi/beta/beta-0.1-py3-none-any.whl",
                         "SHA256SUMS"}
    assert tree["npm/is-odd/is-odd-3.0.1.tgz"] == hashlib.sha256(kept).hexdigest()
    # A date alone is midnight UTC; a later one takes nothing.
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    code, out, _ = source.cli("--since", tomorrow, dest=tmp_path / "none")
    assert code == 0 and out.startswith("0 files of dom/repo")


def test_regression_since_takes_versions_published_since_in_a_package_with_no_serial(
        source: Source, tmp_path: Path) -> None:
    # Packages from before serials (migration 0006) have 0 until their next change: their
    # versions published since were left out, as if nothing had changed.
    with contextlib.closing(sqlite3.connect(source.data_dir / "packyard.db")) as db, db:
        db.execute("UPDATE packages SET last_serial = 0")
        db.execute("UPDATE package_versions SET published_at = '2020-01-01 00:00:00.000000' "
                   "WHERE version != '2.0'")
    dest = tmp_path / "since"

    code, out, err = source.cli("--since", "2021-01-01", dest=dest)

    assert code == 0, out + err
    assert set(_tree(dest)) == {"pypi/alpha-lib/alpha_lib-2.0-py3-none-any.whl", "SHA256SUMS"}


def test_kept_upstream_files_are_exported_like_published_ones(source: Source,
                                                              services: Services,
                                                              tmp_path: Path) -> None:
    kept = _tarball("is-even", "1.0.0")
    _keep_from_upstream(services, "is-even", "1.0.0", kept, datetime(2019, 1, 1, tzinfo=UTC))
    dest = tmp_path / "export"
    assert source.cli("--package", "is-", dest=dest)[0] == 0
    assert _tree(dest)["npm/is-even/is-even-1.0.0.tgz"] == hashlib.sha256(kept).hexdigest()


# -- into a folder that holds files already ---------------------------------------------------


def test_a_rerun_writes_only_what_is_missing(source: Source, tmp_path: Path) -> None:
    dest = tmp_path / "export"
    assert source.cli(dest=dest)[0] == 0
    (dest / "npm/left-pad/left-pad-1.2.0.tgz").unlink()
    (dest / "pypi/beta/beta-0.1-py3-none-any.whl").unlink()
    untouched = dest / "pypi/alpha-lib/alpha_lib-2.0-py3-none-any.whl"
    stamp = untouched.stat().st_mtime_ns

    code, out, _ = source.cli(dest=dest)

    assert code == 0
    assert "2 written, 5 already present, 0 failed, 0 left out" in out
    assert untouched.stat().st_mtime_ns == stamp
    assert _tree(dest) == {**_expected(source), "SHA256SUMS": _sha256(dest / "SHA256SUMS")}


def test_regression_a_rerun_removes_the_partial_files_a_killed_run_left(
        source: Source, tmp_path: Path) -> None:
    # An export killed mid-file (kill -9) left its ".<name>.<random>.partial" beside the
    # file's place, and a rerun wrote the file but left that for ever (136 MB of a 157 MB
    # wheel on the stick, carried across the gap). A rerun now removes what dead runs left in
    # the folders it exports into; a file a run under way is writing (locked) is kept.
    import fcntl
    import os

    dest = tmp_path / "export"
    assert source.cli(dest=dest)[0] == 0
    (dest / "npm/left-pad/left-pad-1.2.0.tgz").unlink()
    dead = dest / "npm/left-pad/.left-pad-1.2.0.tgz.0acf0680.partial"
    dead.write_bytes(b"the first half of a tarball")
    dead_sums = dest / ".SHA256SUMS.1b2c3d4e.partial"
    dead_sums.write_text("half a list")
    writing = dest / "pypi/beta/.beta-0.2-py3-none-any.whl.5e6f7a8b.partial"
    writing.write_bytes(b"being written by another export")
    an_hour_ago = time.time() - 3600
    for path in (dead, dead_sums, writing):
        os.utime(path, (an_hour_ago, an_hour_ago))

    with open(writing, "rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # as a run under way holds its file
        code, out, _ = source.cli(dest=dest)

    assert code == 0, out
    assert "1 written, 6 already present, 0 failed, 0 left out" in out
    assert not dead.exists()
    assert not dead_sums.exists()
    assert writing.exists()
    writing.unlink()
    assert _tree(dest) == {**_expected(source), "SHA256SUMS": _sha256(dest / "SHA256SUMS")}


def test_an_incremental_export_into_the_same_folder_keeps_the_earlier_sums(
        source: Source, tmp_path: Path) -> None:
    dest = tmp_path / "export"
    assert source.cli("--format", "pypi", dest=dest)[0] == 0
    assert source.cli("--format", "npm", dest=dest)[0] == 0
    listed = (dest / "SHA256SUMS").read_text().splitlines()
    assert sorted(line.split("  ", 1)[1] for line in listed) == sorted(
        [*_expected(source), *DOCUMENTS])


def test_regression_a_file_with_other_bytes_in_the_folder_is_never_overwritten(
        source: Source, tmp_path: Path) -> None:
    dest = tmp_path / "export"
    theirs = dest / "npm/left-pad/left-pad-1.3.0.tgz"
    theirs.parent.mkdir(parents=True)
    theirs.write_bytes(b"someone else's tarball")

    code, out, err = source.cli(dest=dest)

    assert code == 1
    assert "6 written, 0 already present, 1 failed, 0 left out" in out
    assert ("failed npm/left-pad/left-pad-1.3.0.tgz: npm/left-pad/left-pad-1.3.0.tgz is in the "
            "destination already with other bytes; it is left as it is (move it away, or "
            "export into another folder)") in " ".join(err.split())
    assert theirs.read_bytes() == b"someone else's tarball"
    # The sums list what was exported, not the stranger.
    assert "left-pad-1.3.0.tgz" not in (dest / "SHA256SUMS").read_text()

    code, out, _ = source.cli("--output", "json", dest=dest)
    report = json.loads(out)
    assert code == 1 and report["present"] == 6
    assert [f["file"] for f in report["failed"]] == ["npm/left-pad/left-pad-1.3.0.tgz"]


def test_regression_a_link_at_a_files_place_is_named_as_a_link_not_as_other_bytes(
        source: Source, tmp_path: Path) -> None:
    # A link (here pointing out of the folder, at nothing) at a file's place was refused as
    # "in the destination already with other bytes", which sent the user looking for a file.
    dest = tmp_path / "export"
    (dest / "npm" / "left-pad").mkdir(parents=True)
    (dest / "npm" / "left-pad" / "left-pad-1.3.0.tgz").symlink_to(tmp_path / "nowhere.tgz")
    (dest / "pypi" / "beta" / "beta-0.1-py3-none-any.whl").mkdir(parents=True)

    code, out, err = source.cli(dest=dest)

    assert code == 1
    said = " ".join(err.split())
    assert ("failed npm/left-pad/left-pad-1.3.0.tgz: npm/left-pad/left-pad-1.3.0.tgz is in the "
            "destination already as a link; it is left as it is") in said
    assert ("failed pypi/beta/beta-0.1-py3-none-any.whl: pypi/beta/beta-0.1-py3-none-any.whl "
            "is in the destination already as something other than a file") in said
    assert not (tmp_path / "nowhere.tgz").exists()
    assert "5 written, 0 already present, 2 failed" in out


def test_regression_a_file_name_from_the_catalog_cannot_leave_the_folder(
        source: Source, services: Services, tmp_path: Path) -> None:
    # A row no upload check would let in (a database edited by hand, a future bug): the
    # export must still not write outside its folder.
    repository = _repository(services)
    blob = services.blobs.stage()
    blob.write(b"escape\n")
    digests = blob.digests()
    services.blobs.commit(blob, f"d{repository.domain_id}")
    services.catalog.publish(
        repository, "pypi", "", "beta", "beta", _version("0.2"),
        NewAsset(name="../../../../escaped.whl", size=digests.size, sha256=digests.sha256,
                 sha512=digests.sha512, sha1=digests.sha1, md5=digests.md5),
        {digests.sha256: digests.size}, datetime.now(UTC))
    dest = tmp_path / "a" / "b" / "export"

    code, out, err = source.cli(dest=dest)

    assert code == 1
    assert ("failed pypi/beta/../../../../escaped.whl: 'pypi/beta/../../../../escaped.whl' "
            "would not stay inside the destination folder") in " ".join(err.split())
    assert not list(tmp_path.rglob("escaped.whl"))
    assert "7 written, 0 already present, 1 failed" in out


def test_regression_a_link_in_the_folder_cannot_lead_the_export_out(source: Source,
                                                                   tmp_path: Path) -> None:
    dest = tmp_path / "export"
    outside = tmp_path / "outside"
    outside.mkdir()
    (dest / "npm").mkdir(parents=True)
    (dest / "npm" / "left-pad").symlink_to(outside)

    code, _, err = source.cli(dest=dest)

    assert code == 1
    assert "failed npm/left-pad/left-pad-1.2.0.tgz: 'npm/left-pad/left-pad-1.2.0.tgz' would " \
           "not stay inside the destination folder" in " ".join(err.split())
    assert list(outside.iterdir()) == []


# -- the bytes: read through the store, checked ----------------------------------------------


def test_files_are_decrypted_when_encryption_at_rest_is_on(source: Source,
                                                           services: Services,
                                                           tmp_path: Path) -> None:
    assert services.encryption is not None  # the default
    dest = tmp_path / "export"
    assert source.cli(dest=dest)[0] == 0
    wheel = dest / "pypi/beta/beta-0.1-py3-none-any.whl"
    assert wheel.read_bytes() == (source.files / "beta-0.1-py3-none-any.whl").read_bytes()
    # What the store holds is not those bytes: they were decrypted on the way.
    stored = [p for p in (source.data_dir / "blobs").rglob("*")
              if p.is_file() and p.name == _sha256(wheel)]
    assert stored and all(p.read_bytes() != wheel.read_bytes() for p in stored)


def test_a_store_without_encryption_is_read_as_plain_files(tmp_path: Path) -> None:
    source = _make_source(tmp_path, encryption="off")
    dest = tmp_path / "export"
    code, out, err = source.cli(dest=dest, PACKYARD_ENCRYPTION="off")
    assert code == 0, out + err
    assert _tree(dest) == {**_expected(source), "SHA256SUMS": _sha256(dest / "SHA256SUMS")}


def test_regression_without_encryption_it_keeps_out_of_the_way_of_a_process_encrypting(
        source: Source, tmp_path: Path) -> None:
    # Reading blobs as plain files beside a process that encrypts them (an import with
    # encryption on), it would find them missing one by one.
    from packyard.encryption.mode_locks import hold_encrypting_mode

    with hold_encrypting_mode(source.data_dir, "packyard import"):
        code, _, err = source.cli(dest=tmp_path / "export", PACKYARD_ENCRYPTION="off")
    assert code == 2
    assert ("a process writing encrypted files (packyard encrypt, packyard import or a server "
            "with encryption on) is running on") in " ".join(err.split())
    assert "and packyard export with PACKYARD_ENCRYPTION=off could not read what it writes" in (
        " ".join(err.split()))


def _stored_blob(source: Source, sha256: str) -> Path:
    [path] = [p for p in (source.data_dir / "blobs").rglob(sha256) if p.is_file()]
    return path


def test_regression_a_damaged_stored_file_fails_and_leaves_nothing(tmp_path: Path) -> None:
    source = _make_source(tmp_path, encryption="off")
    wheel = source.files / "beta-0.1-py3-none-any.whl"
    stored = _stored_blob(source, _sha256(wheel))
    stored.chmod(0o600)
    stored.write_bytes(b"X" + wheel.read_bytes()[1:])
    dest = tmp_path / "export"

    code, _, err = source.cli(dest=dest, PACKYARD_ENCRYPTION="off")

    assert code == 1
    shown = " ".join(err.split())
    assert "failed pypi/beta/beta-0.1-py3-none-any.whl: its stored bytes (" in shown
    assert f"are not the ones recorded ({wheel.stat().st_size:,} bytes, sha256 " \
           f"{_sha256(wheel)}): run packyard verify" in shown
    assert not (dest / "pypi/beta").exists() or not list((dest / "pypi/beta").iterdir())


def test_regression_a_missing_stored_file_fails_saying_so(tmp_path: Path) -> None:
    source = _make_source(tmp_path, encryption="off")
    _stored_blob(source, _sha256(source.files / "left-pad-1.3.0.tgz")).unlink()

    code, out, err = source.cli(dest=tmp_path / "export", PACKYARD_ENCRYPTION="off")

    assert code == 1
    assert ("failed npm/left-pad/left-pad-1.3.0.tgz: its stored file is missing (deleted "
            "while the export ran? if not, run packyard verify)") in " ".join(err.split())
    assert "6 written, 0 already present, 1 failed" in out


# -- the command -------------------------------------------------------------------------------


def test_command_json_output(source: Source, tmp_path: Path) -> None:
    code, out, _ = source.cli("--output", "json", dest=tmp_path / "export")
    assert code == 0
    report = json.loads(out)
    assert {k: report[k] for k in ("domain", "repository", "destination", "files", "written",
                                   "present", "failed", "leftOut")} == {
        "domain": "dom", "repository": "repo", "destination": str(tmp_path / "export"),
        "files": 7, "written": 7, "present": 0, "failed": [], "leftOut": []}
    assert report["formats"] == {
        "pypi": {"files": 4, "written": 4, "present": 0, "failed": 0, "leftOut": 0},
        "npm": {"files": 3, "written": 3, "present": 0, "failed": 0, "leftOut": 0}}


def test_command_records_each_run_in_the_audit_trail(source: Source, tmp_path: Path) -> None:
    from packyard.audit.file_log import read_segments

    dest = tmp_path / "export"
    assert source.cli("--format", "npm", "--status", "Published", dest=dest)[0] == 0
    events = [e for e in read_segments(source.data_dir / "audit")
              if e["eventName"] == "ExportPackageFiles"]
    [event] = events
    assert (event["eventSource"], event["userIdentity"]["type"]) == ("packyard.local",
                                                                     "LocalUser")
    assert event["requestParameters"] == {
        "domain": "dom", "domainOwner": ACCT, "repository": "repo", "destination": str(dest),
        "statuses": ["Published"], "files": 3, "format": "npm"}
    assert event["responseElements"] == {"written": 3, "present": 0, "leftOut": 0,
                                         "failed": 0, "documentsWritten": 2,
                                         "documentsFailed": 0}


def test_regression_a_missing_repository_is_an_error_and_no_folder_is_made(
        source: Source, tmp_path: Path) -> None:
    result = CliRunner().invoke(export_files, [
        "--data-dir", str(source.data_dir), "--domain", "dom", "--repository", "nope",
        str(tmp_path / "export")], env={"PACKYARD_DATA_DIR": None})
    assert result.exit_code == 2
    assert "error: Repository nope not found in domain dom" in " ".join(result.stderr.split())
    assert not (tmp_path / "export").exists()


def test_regression_a_file_as_the_destination_is_refused(source: Source,
                                                         tmp_path: Path) -> None:
    dest = tmp_path / "export"
    dest.write_text("not a folder")
    code, _, err = source.cli(dest=dest)
    assert code == 2
    assert f"Directory '{dest}' is a file" in err and dest.read_text() == "not a folder"


def test_regression_a_memory_blob_store_is_refused(source: Source, tmp_path: Path) -> None:
    code, _, err = source.cli("--blob-store", "memory://", dest=tmp_path / "export")
    assert code == 2
    assert "packyard export reads the files of a server whose blobs are on disk or in S3" in (
        " ".join(err.split()))


def test_help_names_the_layout_and_the_options() -> None:
    result = CliRunner().invoke(export_files, ["--help"])
    shown = " ".join(result.output.split())
    for text in ("DEST/pypi/<project>/<file>", "DEST/npm/@<scope>/<name>/<name>-<version>.tgz",
                 "--status", "--since", "--namespace", "--package", "--format",
                 "--database-url", "--blob-store", "Disposed versions have no files"):
        assert text in shown, text


# -- npm's registry documents (Verdaccio's package.json) ------------------------------------


def _edits(services: Services) -> Any:
    from packyard.formats.npm.package_edits import PackageEdits
    from packyard.formats.npm.publish import NpmLimits, NpmPublisher

    settings = services.settings
    return PackageEdits(services.registry, NpmPublisher(services.registry, NpmLimits.of(
        settings.npm_max_tarball_bytes, settings.npm_max_document_bytes)))


def _tag_and_deprecate(services: Services) -> None:
    """``npm dist-tag add left-pad@1.2.0 latest``, ``npm dist-tag add left-pad@1.3.0 beta``
    and ``npm deprecate left-pad@1.2.0 "use 1.3.0"``, as the endpoint applies them."""
    from packyard.formats.npm.names import parse_package_name

    domain, repo = services.registry.get_repository("dom", "repo")
    edits, name = _edits(services), parse_package_name("left-pad")
    edits.set_tag(ROOT, domain, repo, name, "latest", b'"1.2.0"')
    edits.set_tag(ROOT, domain, repo, name, "beta", b'"1.3.0"')
    edits.deprecate(ROOT, domain, repo, name, {"name": "left-pad", "versions": {
        "1.2.0": {"deprecated": "use 1.3.0"}}})


def _npm_state(data_dir: Path, domain: str, repository: str,
               name: str) -> tuple[dict[str, str], dict[str, str | None]]:
    """A package's dist-tags and deprecations, as its packument shows them."""
    from packyard.formats.npm.names import parse_package_name

    services = _services(data_dir)
    try:
        _, repo = services.registry.get_repository(domain, repository)
        edits = _edits(services)
        local = edits.local(repo, parse_package_name(name))
        return (edits.dist_tags(repo, parse_package_name(name)),
                {v.version: v.deprecated for v in local.document.versions})
    finally:
        services.catalog.dispose()


def test_regression_an_export_import_round_trip_lost_dist_tags_and_deprecations(
        source: Source, services: Services, tmp_path: Path) -> None:
    # The export wrote the tarballs only: across the air gap latest moved to 1.3.0, beta and
    # the deprecation were gone, and Verdaccio could not serve the folder.
    _tag_and_deprecate(services)
    dest = tmp_path / "export"

    assert source.cli(dest=dest)[0] == 0

    document = _documents(dest)["npm/left-pad/package.json"]
    assert list(document) == [
        "_id", "_rev", "name", "dist-tags", "versions", "time", "readme", "users", "_uplinks",
        "_distfiles", "_attachments"]
    assert document["dist-tags"] == {"latest": "1.2.0", "beta": "1.3.0"}
    assert {v: m.get("deprecated") for v, m in document["versions"].items()} == {
        "1.2.0": "use 1.3.0", "1.3.0": None}
    assert document["versions"]["1.2.0"]["dist"]["tarball"] == (
        "http://localhost:4873/left-pad/-/left-pad-1.2.0.tgz")
    assert document["_attachments"] == {
        f"left-pad-{v}.tgz": {"shasum": document["versions"][v]["dist"]["shasum"],
                              "version": v} for v in ("1.2.0", "1.3.0")}
    assert (document["_uplinks"], document["_distfiles"]) == ({}, {})
    assert document["_rev"].startswith("1-")
    assert set(document["time"]) == {"created", "modified", "1.2.0", "1.3.0"}
    util = _documents(dest)["npm/@acme/util/package.json"]
    assert (util["name"], util["dist-tags"], list(util["_attachments"])) == (
        "@acme/util", {"latest": "2.0.0"}, ["util-2.0.0.tgz"])
    # On the far side: the same tags and deprecations.
    other = with_repositories(tmp_path / "other", "dom", "mirror")
    imported = CliRunner().invoke(import_files, [
        "--data-dir", str(other), "--domain", "dom", "--repository", "mirror", str(dest)],
        env={"PACKYARD_DATA_DIR": None})
    assert imported.exit_code == 0, imported.output
    assert "4 package documents read, 0 refused: dist-tags 2 set" in imported.stdout
    for name in ("left-pad", "@acme/util"):
        assert _npm_state(other, "dom", "mirror", name) == _npm_state(
            source.data_dir, "dom", "repo", name), name


def test_a_rerun_leaves_the_documents_as_they_are(source: Source, tmp_path: Path) -> None:
    dest = tmp_path / "export"
    assert source.cli(dest=dest)[0] == 0
    before = {path: _sha256(dest / path) for path in DOCUMENTS}

    code, out, _ = source.cli(dest=dest)

    assert code == 0
    assert "; package documents: 0 written, 4 already present, 0 failed" in out
    assert {path: _sha256(dest / path) for path in DOCUMENTS} == before


def test_the_documents_dist_tags_name_only_exported_versions(
        source: Source, services: Services, tmp_path: Path) -> None:
    _tag_and_deprecate(services)
    _set_status(services, "npm", "left-pad", "1.2.0", "Unlisted")

    assert source.cli("--format", "npm", dest=tmp_path / "export")[0] == 0

    document = _documents(tmp_path / "export")["npm/left-pad/package.json"]
    assert list(document["versions"]) == ["1.3.0"]
    assert list(document["_attachments"]) == ["left-pad-1.3.0.tgz"]
    # latest was pinned on 1.2.0, which is not exported: it follows the highest exported.
    assert document["dist-tags"] == {"latest": "1.3.0", "beta": "1.3.0"}


def test_an_incremental_export_merges_the_document_an_earlier_one_left(
        source: Source, services: Services, tmp_path: Path) -> None:
    dest = tmp_path / "export"
    assert source.cli("--format", "npm", dest=dest)[0] == 0
    later = datetime.now(UTC)
    # Since then: 1.2.0 removed here (npm unpublish), a tag and a deprecation set.
    _tag_and_deprecate(services)
    repository = _repository(services)
    package = services.catalog.find_package(repository.id, "npm", "", "left-pad")
    assert package is not None
    services.catalog.delete_versions(package.id, ["1.2.0"])

    code, out, _ = source.cli("--format", "npm", "--since", later.isoformat(), dest=dest)

    assert code == 0, out
    assert "; package documents: 1 written, 0 already present, 0 failed" in out
    document = _documents(dest)["npm/left-pad/package.json"]
    # 1.2.0 stays (its tarball is still in the folder); this run's tags are written over.
    assert list(document["versions"]) == ["1.2.0", "1.3.0"]
    assert list(document["_attachments"]) == ["left-pad-1.2.0.tgz", "left-pad-1.3.0.tgz"]
    assert document["dist-tags"] == {"latest": "1.3.0", "beta": "1.3.0"}
    assert set(document["time"]) == {"created", "modified", "1.2.0", "1.3.0"}
    sums = (dest / "SHA256SUMS").read_text()
    assert f"{_sha256(dest / 'npm/left-pad/package.json')}  npm/left-pad/package.json" in sums


def test_regression_a_package_json_that_is_no_registry_document_is_never_overwritten(
        source: Source, tmp_path: Path) -> None:
    dest = tmp_path / "export"
    project = dest / "npm" / "left-pad" / "package.json"
    project.parent.mkdir(parents=True)
    project.write_text('{"name": "left-pad", "version": "9.9.9"}')
    other = dest / "npm" / "@acme" / "util" / "package.json"
    other.parent.mkdir(parents=True)
    other.write_text(json.dumps({"name": "@acme/other", "versions": {}, "dist-tags": {}}))

    code, out, err = source.cli("--format", "npm", dest=dest)

    assert code == 1
    shown = " ".join(err.split())
    assert ("failed npm/left-pad/package.json: the package.json of left-pad in the destination "
            "is no registry document; it is left as it is (move it away, or export into "
            "another folder)") in shown
    assert ('failed npm/@acme/util/package.json: the package.json of @acme/util in the '
            'destination is the document of "@acme/other"; it is left as it is') in shown
    assert "3 written, 0 already present, 0 failed, 0 left out" in out
    assert "; package documents: 0 written, 0 already present, 2 failed" in out
    assert project.read_text() == '{"name": "left-pad", "version": "9.9.9"}'
    assert "package.json" not in (dest / "SHA256SUMS").read_text()


def test_regression_a_link_at_a_documents_place_is_never_followed(source: Source,
                                                                  tmp_path: Path) -> None:
    dest = tmp_path / "export"
    outside = tmp_path / "outside.json"
    outside.write_text("{}")
    link = dest / "npm" / "left-pad" / "package.json"
    link.parent.mkdir(parents=True)
    link.symlink_to(outside)

    code, out, _ = source.cli("--format", "npm", "--output", "json", dest=dest)

    assert code == 1
    assert outside.read_text() == "{}" and link.is_symlink()
    assert json.loads(out)["documents"] == {"written": 1, "present": 0, "failed": [{
        "file": "npm/left-pad/package.json", "format": "npm", "namespace": None,
        "package": "left-pad", "reason": "npm/left-pad/package.json is in the destination "
                                         "already as a link; it is left as it is (move it "
                                         "away, or export into another folder)"}]}
