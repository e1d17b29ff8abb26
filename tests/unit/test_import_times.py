"""``packyard import`` dates what it adds as the document beside the files says (npm's registry
document: ``time``; PyPI's ``index.json``: each file's ``upload-time``) and carries PyPI's
yanks; ``packyard export`` writes PyPI's ``index.json`` so that a round trip keeps both."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from packyard.cli.exports import export_files
from packyard.cli.imports import import_files
from packyard.errors import Conflict, Invalid
from packyard.formats.pypi.project_document import (
    merge_document,
    read_project_document,
)
from packyard.model import Asset, PackageVersion
from tests.unit.bulk_support import services_on as _services
from tests.unit.bulk_support import with_repositories
from tests.unit.npm_samples import Member, manifest_bytes, tgz
from tests.unit.pypi_samples import build_sdist, build_wheel

WHEEL_1 = "alpha_lib-1.0-py3-none-any.whl"
SDIST_1 = "alpha_lib-1.0.tar.gz"
WHEEL_2 = "alpha_lib-2.0-py3-none-any.whl"
TIMES = {WHEEL_1: "2020-01-02T03:04:05.000000Z", SDIST_1: "2020-01-01T00:00:00.000000Z",
         WHEEL_2: "2021-06-01T12:00:00.500000Z"}
NPM_TIMES = {"1.2.0": "2019-03-04T05:06:07.890Z", "1.3.0": "2019-05-06T07:08:09.012Z"}


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _server(path: Path) -> Path:
    return with_repositories(path, "dom", "repo")


def _cli(command: Any, data_dir: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(command, ["--data-dir", str(data_dir), "--domain", "dom",
                                          "--repository", "repo", *args],
                                env={"PACKYARD_DATA_DIR": None})
    return result.exit_code, result.stdout + result.stderr


def _index_json(files: dict[str, str], yanked: dict[str, bool | str] | None = None,
                name: str = "alpha-lib", hashes: dict[str, str] | None = None
                ) -> dict[str, Any]:
    return {"meta": {"api-version": "1.1"}, "name": name, "versions": [], "files": [
        {"filename": filename, "url": filename,
         "hashes": {"sha256": (hashes or {}).get(filename, "0" * 64)},
         "upload-time": moment, "yanked": (yanked or {}).get(filename, False)}
        for filename, moment in files.items()]}


def _tarball(name: str, version: str) -> bytes:
    return tgz([Member("package/package.json", manifest_bytes(name, version)),
                Member("package/index.js", b"module.exports = 1\n")])


def _registry_document(times: dict[str, str]) -> dict[str, Any]:
    return {"name": "left-pad", "dist-tags": {"latest": "1.3.0"},
            "versions": {v: {"name": "left-pad", "version": v} for v in times},
            "time": {"created": "2019-01-01T00:00:00.000Z", "modified": "2024-01-01T00:00:00.000Z",
                     **times}}


def _folder(root: Path, yanked: dict[str, bool | str] | None = None) -> Path:
    """A folder as an export lays one out: PyPI files with their index.json, npm tarballs
    with their registry document."""
    pypi = root / "pypi" / "alpha-lib"
    pypi.mkdir(parents=True)
    build_wheel(pypi, name="alpha_lib", version="1.0")
    build_sdist(pypi, name="alpha_lib", version="1.0")
    build_wheel(pypi, name="alpha_lib", version="2.0")
    (pypi / "index.json").write_text(json.dumps(_index_json(TIMES, yanked,
                                                            hashes=_hashes(pypi))))
    npm = root / "npm" / "left-pad"
    npm.mkdir(parents=True)
    for version in NPM_TIMES:
        (npm / f"left-pad-{version}.tgz").write_bytes(_tarball("left-pad", version))
    (npm / "package.json").write_text(json.dumps(_registry_document(NPM_TIMES)))
    return root


def _hashes(folder: Path) -> dict[str, str]:
    """The sha256 of each of the PyPI files in ``folder``."""
    return {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in TIMES}


def _versions(data_dir: Path, fmt: str, name: str) -> dict[str, PackageVersion]:
    services = _services(data_dir)
    try:
        repository = services.registry.get_repository("dom", "repo")[1]
        package = services.catalog.find_package(repository.id, fmt, "", name)
        assert package is not None
        return {v.version: v for v in services.catalog.list_versions(package.id)}
    finally:
        services.catalog.dispose()


def _assets(data_dir: Path, version: PackageVersion) -> dict[str, Asset]:
    services = _services(data_dir)
    try:
        return {a.name: a for a in services.catalog.list_assets(version.id)}
    finally:
        services.catalog.dispose()


def _dates(data_dir: Path) -> dict[str, Any]:
    """Every version's publish time and status and every PyPI file's upload time."""
    pypi = _versions(data_dir, "pypi", "alpha-lib")
    npm = _versions(data_dir, "npm", "left-pad")
    return {
        "pypi": {v: (found.published_at, found.status) for v, found in pypi.items()},
        "files": {name: asset.created_at for found in pypi.values()
                  for name, asset in _assets(data_dir, found).items()},
        "npm": {v: found.published_at for v, found in npm.items()},
    }


# -- import --------------------------------------------------------------------------------------


def test_regression_an_air_gapped_import_published_every_version_now(tmp_path: Path) -> None:
    data = _server(tmp_path / "data")
    folder = _folder(tmp_path / "export")

    code, out = _cli(import_files, data, str(folder))

    assert code == 0, out
    dates = _dates(data)
    # A version is published when its earliest file was uploaded; each file when it was.
    assert dates["pypi"] == {"1.0": (_at(TIMES[SDIST_1]), "Published"),
                             "2.0": (_at(TIMES[WHEEL_2]), "Published")}
    assert dates["files"] == {name: _at(moment) for name, moment in TIMES.items()}
    assert dates["npm"] == {v: _at(moment) for v, moment in NPM_TIMES.items()}


def test_regression_a_release_pypi_yanked_was_installable_after_export_and_import(
        tmp_path: Path) -> None:
    data = _server(tmp_path / "data")
    folder = _folder(tmp_path / "export", yanked={WHEEL_2: "broken build"})

    code, out = _cli(import_files, data, "--output", "json", str(folder))

    assert code == 0, out
    assert _dates(data)["pypi"]["2.0"] == (_at(TIMES[WHEEL_2]), "Unlisted")
    report = json.loads(out)
    assert report["documents"]["yanks"] == {
        "set": [{"package": "alpha-lib", "version": "2.0"}], "alreadySet": 0, "skipped": []}
    # A rerun changes nothing, and says so.
    code, out = _cli(import_files, data, str(folder))
    assert code == 0, out
    assert "yanks (versions made Unlisted) 0 set, 1 already set, 0 skipped" in out
    assert out.rstrip().endswith("(nothing changed)")


def test_a_version_only_some_of_whose_files_are_yanked_stays_published_saying_why(
        tmp_path: Path) -> None:
    data = _server(tmp_path / "data")
    folder = _folder(tmp_path / "export", yanked={WHEEL_1: True})

    code, out = _cli(import_files, data, "--output", "json", str(folder))

    assert code == 0, out
    assert _dates(data)["pypi"]["1.0"][1] == "Published"
    assert json.loads(out)["documents"]["yanks"]["skipped"] == [{
        "package": "alpha-lib", "version": "1.0",
        "reason": "only some of its files are yanked; Packyard yanks whole versions "
                  "(Unlisted), so it stays Published"}]


def test_a_version_already_in_the_repository_keeps_its_time(tmp_path: Path) -> None:
    data = _server(tmp_path / "data")
    plain = tmp_path / "plain"
    plain.mkdir()
    build_wheel(plain, name="alpha_lib", version="1.0")
    before = datetime.now(UTC)
    assert _cli(import_files, data, str(plain))[0] == 0
    kept = _versions(data, "pypi", "alpha-lib")["1.0"].published_at

    code, out = _cli(import_files, data, str(_folder(tmp_path / "export")))

    assert code == 0, out
    dates = _dates(data)
    assert kept >= before
    assert dates["pypi"]["1.0"] == (kept, "Published")  # the document does not move it
    assert dates["files"][SDIST_1] == _at(TIMES[SDIST_1])  # a file it adds is dated
    assert dates["pypi"]["2.0"][0] == _at(TIMES[WHEEL_2])


def test_a_time_after_the_import_is_the_import_s(tmp_path: Path) -> None:
    data = _server(tmp_path / "data")
    folder = _folder(tmp_path / "export")
    ahead = (datetime.now(UTC) + timedelta(days=365)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    project = folder / "pypi" / "alpha-lib"
    (project / "index.json").write_text(json.dumps(
        _index_json({**TIMES, WHEEL_2: ahead}, hashes=_hashes(project))))

    started = datetime.now(UTC)
    assert _cli(import_files, data, str(folder))[0] == 0

    published = _dates(data)["pypi"]["2.0"][0]
    assert started <= published <= datetime.now(UTC)


def test_regression_an_index_json_of_other_bytes_dated_a_file_it_does_not_describe(
        tmp_path: Path) -> None:
    # The document names the file, but with another sha256: an older export's, or a file
    # replaced since. Its times are not this file's.
    data = _server(tmp_path / "data")
    folder = _folder(tmp_path / "export")
    project = folder / "pypi" / "alpha-lib"
    hashes = {**_hashes(project), WHEEL_2: "f" * 64}
    (project / "index.json").write_text(json.dumps(_index_json(TIMES, hashes=hashes)))

    started = datetime.now(UTC)
    assert _cli(import_files, data, str(folder))[0] == 0

    dates = _dates(data)
    assert started <= dates["files"][WHEEL_2] <= datetime.now(UTC)
    assert started <= dates["pypi"]["2.0"][0]
    assert dates["files"][WHEEL_1] == _at(TIMES[WHEEL_1])  # the others are as it says


def test_without_a_document_versions_are_published_now(tmp_path: Path) -> None:
    data = _server(tmp_path / "data")
    folder = _folder(tmp_path / "export")
    (folder / "pypi" / "alpha-lib" / "index.json").unlink()
    (folder / "npm" / "left-pad" / "package.json").unlink()

    started = datetime.now(UTC)
    assert _cli(import_files, data, str(folder))[0] == 0

    dates = _dates(data)
    assert all(moment >= started for moment, _ in dates["pypi"].values())
    assert all(moment >= started for moment in dates["npm"].values())


def test_regression_a_bad_index_json_is_refused_for_its_project_alone(tmp_path: Path) -> None:
    data = _server(tmp_path / "data")
    folder = _folder(tmp_path / "export")
    document = _index_json(TIMES)
    document["files"][0]["upload-time"] = "yesterday"
    (folder / "pypi" / "alpha-lib" / "index.json").write_text(json.dumps(document))

    code, out = _cli(import_files, data, str(folder))

    assert code == 1
    assert ("index.json: files[0].upload-time must be an RFC 3339 time in UTC, as "
            "2024-01-31T12:00:00.000000Z (PEP 700)") in out
    # The files are imported all the same (dated now), and npm's times are kept.
    assert set(_dates(data)["files"]) == set(TIMES)
    assert _dates(data)["npm"] == {v: _at(moment) for v, moment in NPM_TIMES.items()}


def test_an_index_json_that_is_no_pep_691_page_is_passed_over_in_a_folder(
        tmp_path: Path) -> None:
    data = _server(tmp_path / "data")
    folder = _folder(tmp_path / "export")
    other = folder / "pypi" / "alpha-lib" / "index.json"
    other.write_text(json.dumps({"title": "a web site's index.json"}))

    code, out = _cli(import_files, data, str(folder))
    assert code == 0, out

    code, out = _cli(import_files, data, str(other))
    assert code == 1
    assert ("index.json is no package document packyard import reads (a PyPI project's "
            "index.json is a PEP 691 page: meta, name and files)") in out


def test_regression_a_bad_npm_time_refuses_the_registry_document(tmp_path: Path) -> None:
    data = _server(tmp_path / "data")
    folder = _folder(tmp_path / "export")
    (folder / "npm" / "left-pad" / "package.json").write_text(json.dumps(
        _registry_document({**NPM_TIMES, "1.3.0": "last tuesday"})))

    code, out = _cli(import_files, data, str(folder))

    assert code == 1
    assert ('time["1.3.0"] must be an ISO 8601 time with its zone, as '
            "2024-01-31T12:00:00.000Z") in out


# -- export, and the round trip ------------------------------------------------------------------


def test_an_export_writes_each_pypi_projects_index_json_and_a_round_trip_keeps_the_dates(
        tmp_path: Path) -> None:
    source = _server(tmp_path / "source")
    assert _cli(import_files, source, str(_folder(tmp_path / "in",
                                                  yanked={WHEEL_2: "broken"})))[0] == 0
    dest = tmp_path / "out"

    code, out = _cli(export_files, source, "--status", "Published", "--status", "Unlisted",
                     str(dest))

    assert code == 0, out
    document = json.loads((dest / "pypi" / "alpha-lib" / "index.json").read_text())
    assert document["meta"] == {"api-version": "1.1"}
    assert document["name"] == "alpha-lib"
    assert document["versions"] == ["1.0", "2.0"]
    files = {f["filename"]: f for f in document["files"]}
    assert {name: f["upload-time"] for name, f in files.items()} == TIMES
    # Unlisted here: yanked there, with the reason the pages show.
    assert {name: f["yanked"] for name, f in files.items()} == {
        WHEEL_1: False, SDIST_1: False, WHEEL_2: "Unlisted"}
    wheel = files[WHEEL_1]
    assert wheel["url"] == WHEEL_1
    assert wheel["size"] == (dest / "pypi" / "alpha-lib" / WHEEL_1).stat().st_size
    assert set(wheel) == {"filename", "url", "hashes", "requires-python", "size",
                          "upload-time", "yanked", "core-metadata"} - (
        set() if "requires-python" in wheel else {"requires-python"})
    assert "pypi/alpha-lib/index.json" in (dest / "SHA256SUMS").read_text()

    other = _server(tmp_path / "other")
    code, out = _cli(import_files, other, str(dest))
    assert code == 0, out
    assert _dates(other) == _dates(source)


def test_a_second_export_merges_the_index_json_the_first_left(tmp_path: Path) -> None:
    source = _server(tmp_path / "source")
    assert _cli(import_files, source, str(_folder(tmp_path / "in")))[0] == 0
    dest = tmp_path / "out"
    assert _cli(export_files, source, str(dest))[0] == 0
    index = dest / "pypi" / "alpha-lib" / "index.json"
    earlier = json.loads(index.read_text())
    kept = {**earlier, "files": [*earlier["files"], {
        **earlier["files"][0], "filename": "alpha_lib-0.9-py3-none-any.whl"}],
        "versions": ["0.9", *earlier["versions"]]}
    index.write_text(json.dumps(kept))

    code, out = _cli(export_files, source, str(dest))

    assert code == 0, out
    merged = json.loads(index.read_text())
    assert [f["filename"] for f in merged["files"]] == [
        "alpha_lib-0.9-py3-none-any.whl", WHEEL_1, SDIST_1, WHEEL_2]
    assert merged["versions"] == ["0.9", "1.0", "2.0"]


# -- the document itself -------------------------------------------------------------------------


@pytest.mark.parametrize(("change", "message"), [
    ({"meta": []}, 'its meta must be a JSON object with an "api-version"'),
    ({"meta": {"api-version": "2.0"}}, "its api-version 2.0 is not one PEP 691 defines (1.x)"),
    ({"name": "Alpha_Lib"}, "its name 'Alpha_Lib' must be normalized (PEP 503: 'alpha-lib')"),
    ({"files": {}}, "its files must be a JSON array"),
    ({"files": [{"url": "x"}]}, "files[0] must be a JSON object with a filename"),
    ({"files": [{"filename": WHEEL_1, "hashes": {"sha256": 1}}]},
     "files[0].hashes must be a JSON object of hash names and hex digests"),
    ({"files": [{"filename": WHEEL_1, "hashes": {}, "yanked": ""}]},
     "files[0].yanked must be false, true or the reason (PEP 592)"),
    ({"files": [{"filename": WHEEL_1, "hashes": {}, "upload-time": "2020-01-01T00:00:00"}]},
     "files[0].upload-time must be an RFC 3339 time in UTC, as 2024-01-31T12:00:00.000000Z "
     "(PEP 700)"),
])
def test_a_wrong_index_json_is_refused_saying_what_is_wrong(change: dict[str, Any],
                                                             message: str) -> None:
    with pytest.raises(Invalid) as refused:
        read_project_document(json.dumps({**_index_json(TIMES), **change}).encode())
    assert refused.value.message == message


def test_an_index_json_without_meta_name_and_files_is_none() -> None:
    assert read_project_document(b'{"name": "x", "files": []}') is None
    assert read_project_document(b"[1, 2]") is None
    with pytest.raises(Invalid):
        read_project_document(b"{not json")


def test_the_document_gives_each_file_and_version_its_time() -> None:
    document = read_project_document(json.dumps(_index_json(TIMES, {WHEEL_2: True})).encode())
    assert document is not None
    times = document.times()
    assert times is not None
    assert times.package == "alpha-lib"
    assert times.files == {name: _at(moment) for name, moment in TIMES.items()}
    assert times.versions == {"1": _at(TIMES[SDIST_1]), "2": _at(TIMES[WHEEL_2])}
    assert [f.yanked for f in document.files] == [False, False, True]


def test_regression_an_export_over_another_projects_index_json_is_refused() -> None:
    with pytest.raises(Conflict) as refused:
        merge_document(json.dumps(_index_json(TIMES, name="beta")).encode(),
                       _index_json(TIMES))
    assert refused.value.message == (
        'the index.json of alpha-lib in the destination is the page of "beta"; it is left as '
        "it is")
    with pytest.raises(Conflict):
        merge_document(b'{"title": "a web page"}', _index_json(TIMES))


def test_a_stored_upstream_page_yanks_the_bytes_it_lists_yanked() -> None:
    from packyard.formats.pypi.upstream import stored_yanks

    rows = [{"filename": WHEEL_1, "sha256": "a" * 64, "yanked": False},
            {"filename": WHEEL_2, "sha256": "b" * 64, "yanked": "broken build"},
            {"filename": SDIST_1, "sha256": "c" * 64, "yanked": True},
            {"filename": "odd.whl", "sha256": "d" * 64, "yanked": ""}, "not a row"]
    assert stored_yanks(json.dumps(rows)) == {(WHEEL_2, "b" * 64): "broken build",
                                              (SDIST_1, "c" * 64): True}
    assert stored_yanks("{not json") == {}
