"""``packyard import``: files from disk published a batch at a time, with every upload check."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from packyard.bootstrap import Services
from packyard.cli.imports import import_files
from packyard.formats.bulk_import import BulkImporter, find_files
from packyard.formats.plugin import FileResult
from packyard.formats.pypi.attributes import metadata_sha256
from packyard.formats.pypi.plugin import DIST_SUFFIXES
from packyard.formats.pypi.publish import CheckedFile, PypiPublisher
from tests.unit.bulk_support import ROOT, with_repositories
from tests.unit.bulk_support import services_on as _services
from tests.unit.pypi_samples import (
    build_sdist,
    build_wheel,
    metadata_text,
    sdist_members,
    write_tar_gz,
)


@pytest.fixture()
def data_dir(tmp_path: Path) -> Path:
    """A server's data directory with the domain ``dom`` and the repository ``repo``."""
    return with_repositories(tmp_path / "data", "dom", "repo")


@pytest.fixture()
def services(data_dir: Path) -> Iterator[Services]:
    built = _services(data_dir)
    yield built
    built.catalog.dispose()


def _importer(services: Services, batch_size: int = 500) -> BulkImporter[CheckedFile]:
    domain, repository = services.registry.get_repository("dom", "repo")
    publisher = PypiPublisher(services.registry, services.settings.max_upload_bytes)
    return BulkImporter(publisher, services.blobs, ROOT, domain, repository,
                        batch_size)


def _run(importer: BulkImporter[CheckedFile], *paths: Path) -> list[FileResult]:
    return [result for batch in importer.run(find_files(paths, DIST_SUFFIXES))
            for result in batch]


def _statuses(results: list[FileResult]) -> list[tuple[str, str]]:
    return [(r.path.name, r.status) for r in results]


def _files_in(services: Services, project: str) -> list[str]:
    _, repository = services.registry.get_repository("dom", "repo")
    found = services.catalog.project_index(repository.id, "pypi", project)
    return [] if found is None else [entry.asset.name for entry in found[2]]


def _staging_files(data_dir: Path) -> list[Path]:
    return list((data_dir / "blobs" / ".staging").iterdir())


def _blob_files(data_dir: Path) -> set[Path]:
    return {p for p in (data_dir / "blobs").rglob("*")
            if p.is_file() and ".staging" not in p.parts}


@pytest.fixture()
def dists(tmp_path: Path) -> Path:
    """Two projects, wheel and sdist, one of them in a subfolder, and a stray text file."""
    folder = tmp_path / "dists"
    (folder / "sub").mkdir(parents=True)
    build_wheel(folder, name="alpha", version="1.0")
    build_sdist(folder / "sub", name="alpha", version="1.0")
    build_wheel(folder, name="beta", version="2.0")
    (folder / "notes.txt").write_text("not a distribution")
    return folder


def test_find_files_searches_folders_recursively_in_order(dists: Path,
                                                          tmp_path: Path) -> None:
    loose = tmp_path / "loose.txt"
    loose.write_text("named explicitly, so it is taken (and refused by the checks)")
    found = find_files([dists, loose], DIST_SUFFIXES)
    assert [p.relative_to(tmp_path).as_posix() for p in found] == [
        "dists/alpha-1.0-py3-none-any.whl", "dists/beta-2.0-py3-none-any.whl",
        "dists/sub/alpha-1.0.tar.gz", "loose.txt"]


def test_import_publishes_wheels_and_sdists_with_their_metadata(
        services: Services, dists: Path, data_dir: Path) -> None:
    results = _run(_importer(services), dists)
    assert _statuses(results) == [("alpha-1.0-py3-none-any.whl", "imported"),
                                  ("beta-2.0-py3-none-any.whl", "imported"),
                                  ("alpha-1.0.tar.gz", "imported")]
    assert _files_in(services, "alpha") == ["alpha-1.0-py3-none-any.whl", "alpha-1.0.tar.gz"]
    _, repository = services.registry.get_repository("dom", "repo")
    found = services.catalog.project_index(repository.id, "pypi", "beta")
    assert found is not None
    package, versions, entries = found
    assert package.origin_publish == "ALLOW" and versions[0].origin_type == "INTERNAL"
    asset = entries[0].asset
    blobs = services.blobs
    domain, _ = services.registry.get_repository("dom", "repo")
    assert metadata_sha256(asset.attributes) is not None
    assert blobs.exists(domain.blob_key, asset.sha256)
    assert blobs.exists(domain.blob_key, metadata_sha256(asset.attributes))
    # Three files and their metadata; alpha's wheel and sdist carry the same metadata bytes,
    # stored once although they came in one batch.
    assert len(_blob_files(data_dir)) == 5
    assert _staging_files(data_dir) == []


def test_regression_an_imported_sdist_serves_its_metadata_only_when_pep_643_makes_it_reliable(
        services: Services, tmp_path: Path, data_dir: Path) -> None:
    # Imports published every sdist's PKG-INFO as its .metadata; pip resolved from a 2.1 one
    # and installed the sdist without the dependencies its setup.py declares.
    folder = tmp_path / "sdists"
    folder.mkdir()
    for name, metadata_version in (("legacy", "2.1"), ("static", "2.2")):
        write_tar_gz(folder / f"{name}-1.0.tar.gz", sdist_members(
            name, "1.0", pkg_info=metadata_text(name, "1.0", metadata_version=metadata_version)))
    results = _run(_importer(services), folder)
    assert {r.status for r in results} == {"imported"}
    _, repository = services.registry.get_repository("dom", "repo")
    served = {}
    for name in ("legacy", "static"):
        found = services.catalog.project_index(repository.id, "pypi", name)
        assert found is not None
        served[name] = metadata_sha256(found[2][0].asset.attributes) is not None
    assert served == {"legacy": False, "static": True}
    assert len(_blob_files(data_dir)) == 3  # two sdists, one metadata file


def test_importing_again_is_a_no_op(services: Services, dists: Path, data_dir: Path) -> None:
    _run(_importer(services), dists)
    _, repository = services.registry.get_repository("dom", "repo")
    package = services.catalog.find_package(repository.id, "pypi", "", "alpha")
    assert package is not None
    revisions = [v.revision for v in services.catalog.list_versions(package.id)]
    blob_files = _blob_files(data_dir)

    again = _run(_importer(services), dists)

    assert {r.status for r in again} == {"present"}
    assert [v.revision for v in services.catalog.list_versions(package.id)] == revisions
    assert _blob_files(data_dir) == blob_files
    assert _staging_files(data_dir) == []


def test_files_are_stored_a_batch_at_a_time(services: Services, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "five"
    folder.mkdir()
    for index in range(5):
        build_wheel(folder, name=f"pkg{index}", version="1.0")
    transactions: list[int] = []
    flushes: list[int] = []
    publish_many, commit_many = services.catalog.publish_many, services.blobs.commit_many
    monkeypatch.setattr(services.catalog, "publish_many",
                        lambda repo, fmt, ns, files, now: transactions.append(len(files))
                        or publish_many(repo, fmt, ns, files, now))
    monkeypatch.setattr(services.blobs, "commit_many",
                        lambda staged, key: flushes.append(len(staged)) or commit_many(staged, key))

    batches = list(_importer(services, batch_size=2).run(
        find_files([folder], DIST_SUFFIXES)))

    assert [len(batch) for batch in batches] == [2, 2, 1]
    assert transactions == [2, 2, 1]
    assert flushes == [4, 4, 2]  # each file with its metadata file
    assert all(r.status == "imported" for batch in batches for r in batch)


def test_a_refused_file_is_reported_and_the_rest_imported(services: Services,
                                                          tmp_path: Path) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    build_wheel(folder, name="good", version="1.0")
    build_wheel(folder, name="odd", version="1.0",
                metadata=metadata_text("odd", "1.0", headers=[("Requires-Python", ">=3.x")]))
    build_wheel(folder, name="zed", version="1.0")
    (folder / "odd-1.0.txt").write_text("x")

    results = _run(_importer(services), folder, folder / "odd-1.0.txt")

    assert _statuses(results) == [("good-1.0-py3-none-any.whl", "imported"),
                                  ("odd-1.0-py3-none-any.whl", "refused"),
                                  ("zed-1.0-py3-none-any.whl", "imported"),
                                  ("odd-1.0.txt", "refused")]
    assert results[1].reason is not None and results[1].reason.startswith(
        "Invalid odd-1.0.dist-info/METADATA in odd-1.0-py3-none-any.whl: Requires-Python "
        "'>=3.x' is not a valid version specifier")
    assert results[3].reason is not None and "odd-1.0.txt" in results[3].reason
    assert _files_in(services, "odd") == []
    assert _files_in(services, "zed") == ["zed-1.0-py3-none-any.whl"]


def test_the_same_name_with_other_bytes_is_a_conflict(services: Services, tmp_path: Path,
                                                      data_dir: Path) -> None:
    first, second, third = (tmp_path / name for name in ("first", "second", "third"))
    for folder, summary in ((first, "one"), (second, "two"), (third, "three")):
        folder.mkdir()
        build_wheel(folder, name="pkg", version="1.0",
                    metadata=metadata_text("pkg", "1.0", headers=[("Summary", summary)]))
    _run(_importer(services), first)

    # Against the repository, and against an earlier file of the same batch.
    results = _run(_importer(services), second, third)

    assert [r.status for r in results] == ["refused", "refused"]
    assert results[0].reason == ("File already exists: pkg-1.0-py3-none-any.whl was uploaded "
                                 "before with other content; files are never replaced")
    assert results[1].reason == results[0].reason
    assert _staging_files(data_dir) == []


def test_the_same_file_twice_in_a_batch_is_imported_once(services: Services,
                                                         tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path, name="pkg", version="1.0")
    assert [r.status for r in _run(_importer(services), wheel, wheel)] == ["imported", "present"]


def test_origin_controls_refuse_a_blocked_package(services: Services, tmp_path: Path) -> None:
    domain, repository = services.registry.get_repository("dom", "repo")
    services.catalog.put_origin_configuration(repository, "pypi", "", "held", "held", "BLOCK",
                                              "ALLOW", services.clock.now())
    build_wheel(tmp_path, name="held", version="1.0")
    build_wheel(tmp_path, name="free", version="1.0")

    results = _run(_importer(services), tmp_path)

    assert _statuses(results) == [("free-1.0-py3-none-any.whl", "imported"),
                                  ("held-1.0-py3-none-any.whl", "refused")]
    assert results[1].reason is not None and "blocked by the package's origin configuration" in (
        results[1].reason)


def test_an_oversized_file_is_refused_without_being_copied(data_dir: Path,
                                                           tmp_path: Path) -> None:
    services = _services(data_dir, max_upload_bytes=100)
    wheel = build_wheel(tmp_path, name="big", version="1.0")
    [result] = _run(_importer(services), wheel)
    assert result.status == "refused"
    assert result.reason is not None and result.reason.startswith(
        "File too large: big-1.0-py3-none-any.whl is ")
    assert _staging_files(data_dir) == []


def test_a_failed_transaction_leaves_no_rows_and_no_staging_files(
        services: Services, dists: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def crash(*args: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(services.catalog, "publish_many", crash)
    with pytest.raises(RuntimeError):
        _run(_importer(services), dists)
    monkeypatch.undo()
    # The blobs were committed before the metadata: unreferenced now, which is harmless, and
    # reused by the next import of the same files.
    assert _files_in(services, "alpha") == [] and _staging_files(data_dir) == []
    assert {r.status for r in _run(_importer(services), dists)} == {"imported"}


# -- the command -------------------------------------------------------------------------------


def _cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(import_files, list(args), env={"PACKYARD_DATA_DIR": None})
    return result.exit_code, result.stdout, result.stderr


def test_command_imports_and_summarises(data_dir: Path, dists: Path) -> None:
    code, out, _ = _cli("--data-dir", str(data_dir), "--domain", "dom", "--repository", "repo",
                        str(dists))
    assert code == 0
    assert out.startswith("3 files into dom/repo in ")
    assert "3 imported, 0 already present, 0 refused (" in out and "files/s)" in out


def test_regression_one_file_is_summarised_as_one_file(data_dir: Path, dists: Path) -> None:
    # "1 files into dom/repo": the summary's noun did not follow the count.
    wheel = next(dists.glob("beta-*.whl"))
    code, out, _ = _cli("--data-dir", str(data_dir), "--domain", "dom", "--repository", "repo",
                        str(wheel))
    assert code == 0
    assert out.startswith("1 file into dom/repo in ")


def test_command_records_each_run_in_the_audit_trail(data_dir: Path, dists: Path) -> None:
    from packyard.audit.file_log import read_segments

    assert _cli("--data-dir", str(data_dir), "--domain", "dom", "--repository", "repo",
                str(dists))[0] == 0
    [event] = read_segments(data_dir / "audit")
    assert (event["eventName"], event["eventSource"], event["userIdentity"]["type"]) == (
        "ImportPackageFiles", "packyard.local", "LocalUser")
    assert event["requestParameters"] == {"domain": "dom", "domainOwner": "000000000000",
                                          "repository": "repo", "files": 3}
    assert event["responseElements"] == {"imported": 3, "present": 0, "refused": 0}


def test_command_lists_refusals_and_exits_1(data_dir: Path, tmp_path: Path) -> None:
    build_wheel(tmp_path, name="good", version="1.0")
    build_wheel(tmp_path, name="bad", version="1.0", metadata=metadata_text(
        "bad", "1.0", metadata_version="9.9"))
    code, out, err = _cli("--data-dir", str(data_dir), "--domain", "dom", "--repository", "repo",
                          str(tmp_path))
    assert code == 1
    assert "1 imported, 0 already present, 1 refused" in out
    assert f"refused {tmp_path / 'bad-1.0-py3-none-any.whl'}: Unsupported Metadata-Version " \
           "'9.9' in bad-1.0.dist-info/METADATA" in err.replace("\n", "")


def test_command_json_output(data_dir: Path, dists: Path) -> None:
    args = ["--data-dir", str(data_dir), "--domain", "dom", "--repository", "repo",
            "--output", "json", str(dists)]
    _cli(*args)
    code, out, _ = _cli(*args)
    report = json.loads(out)
    assert code == 0
    assert {k: report[k] for k in ("domain", "repository", "files", "imported", "present",
                                   "refused")} == {
        "domain": "dom", "repository": "repo", "files": 3, "imported": 0, "present": 3,
        "refused": []}
    assert report["filesPerSecond"] > 0


@pytest.mark.parametrize(("domain", "repository", "message"), [
    ("nope", "repo", "Domain nope not found (create it first: aws codeartifact create-domain "
                     "--domain nope)"),
    ("dom", "nope", "Repository nope not found in domain dom (create it first: aws codeartifact "
                    "create-repository --domain dom --repository nope)"),
])
def test_command_refuses_a_missing_domain_or_repository_with_the_command_that_creates_it(
        data_dir: Path, dists: Path, domain: str, repository: str, message: str) -> None:
    code, _, err = _cli("--data-dir", str(data_dir), "--domain", domain, "--repository",
                        repository, str(dists))
    assert code == 2
    assert err == f"error: {message}\n"
    assert _staging_files(data_dir) == []


def test_command_refuses_an_invalid_domain_name_without_suggesting_to_create_it(
        data_dir: Path, dists: Path) -> None:
    code, _, err = _cli("--data-dir", str(data_dir), "--domain", "Bad_Name", "--repository",
                        "repo", str(dists))
    assert code == 2
    assert err.startswith("error: ") and "create it first" not in err


def test_command_refuses_a_directory_without_a_database(tmp_path: Path, dists: Path) -> None:
    empty = tmp_path / "empty"
    code, _, err = _cli("--data-dir", str(empty), "--domain", "dom", "--repository", "repo",
                        str(dists))
    assert code == 2
    assert "error: no Packyard database in" in err and "pass the server's --data-dir" in err
    assert not empty.exists()


def test_command_refuses_paths_without_distributions(data_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "nothing"
    folder.mkdir()
    code, _, err = _cli("--data-dir", str(data_dir), "--domain", "dom", "--repository", "repo",
                        str(folder))
    assert code == 2
    assert "error: no distribution files (*.whl, *.tar.gz, *.zip, *.tgz) in" in err


def test_an_unreadable_file_is_refused_with_the_reason(services: Services,
                                                       tmp_path: Path) -> None:
    missing = tmp_path / "gone-1.0-py3-none-any.whl"
    [result] = _run(_importer(services), missing)
    assert result.status == "refused"
    assert result.reason == f"cannot read {missing}: No such file or directory"


def test_import_refuses_a_file_that_shadows_another_spelling_of_a_release_file(
        services: Services, tmp_path: Path, data_dir: Path) -> None:
    first, later = tmp_path / "first", tmp_path / "later"
    first.mkdir()
    later.mkdir()
    build_wheel(first, name="pkg", version="1.0")
    build_sdist(first, name="pkg", version="1.0")
    _run(_importer(services), first)

    # 1.0.0 is release 1.0: the same wheel under another name, and a second sdist.
    build_wheel(later, name="pkg", version="1.0.0")
    build_sdist(later, name="pkg", version="1.0.0")
    results = _run(_importer(services), later)

    assert [r.status for r in results] == ["refused", "refused"]
    assert results[0].reason is not None and results[0].reason.startswith(
        "File already exists ('pkg-1.0-py3-none-any.whl', with blake2_256 hash ")
    assert results[1].reason == ("Only one sdist may be uploaded per release: this release has "
                                 "pkg-1.0.tar.gz already; files are never replaced")
    assert _files_in(services, "pkg") == ["pkg-1.0-py3-none-any.whl", "pkg-1.0.tar.gz"]


def test_regression_a_fifo_among_the_files_neither_hangs_the_import_nor_is_taken(
        data_dir: Path, tmp_path: Path) -> None:
    """A FIFO named like a wheel: skipped in a folder, refused when named; the import used to
    wait for a writer for ever on opening it."""
    folder = tmp_path / "wheels"
    folder.mkdir()
    build_wheel(folder, name="good", version="1.0")
    os.mkfifo(folder / "pipe-1.0-py3-none-any.whl")
    assert [p.name for p in find_files([folder], DIST_SUFFIXES)] == ["good-1.0-py3-none-any.whl"]
    named = folder / "pipe-1.0-py3-none-any.whl"
    result: list[tuple[int, str, str]] = []
    worker = threading.Thread(target=lambda: result.append(_cli(
        "--data-dir", str(data_dir), "--domain", "dom", "--repository", "repo", str(folder),
        str(named))), daemon=True)
    worker.start()
    worker.join(60)
    if worker.is_alive():
        with open(named, "wb"):  # let the stuck import go, then fail
            pass
        worker.join(10)
        pytest.fail("packyard import waited on the FIFO")
    [(code, out, err)] = result
    assert code == 1
    assert "1 imported, 0 already present, 1 refused" in out
    assert f"refused {named}: cannot read {named}: not a regular file" in err.replace("\n", "")


def test_regression_a_full_disk_stops_the_import_in_one_line(
        data_dir: Path, dists: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The staging area's disk filling up was an OSError traceback."""
    import errno

    from packyard.storage.staging import StagedFile

    def full(self: StagedFile, chunk: bytes | memoryview) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(StagedFile, "write", full)
    code, _, err = _cli("--data-dir", str(data_dir), "--domain", "dom", "--repository", "repo",
                        str(dists))
    assert code == 2
    assert " ".join(err.split()) == (
        "error: the import stopped: No space left on device; 0 file(s) were imported before "
        "it (whole batches only): run it again once this is mended, and the files already "
        "imported are skipped")
    assert _staging_files(data_dir) == []
