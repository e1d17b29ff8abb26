"""``packyard import`` of npm tarballs: each published as ``npm publish <tarball>`` would be,
a batch at a time, beside PyPI's files in the same run."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from packyard.bootstrap import Services
from packyard.cli.imports import import_files
from packyard.formats.bulk_import import BulkImporter, find_files
from packyard.formats.npm import attributes
from packyard.formats.npm.dist_tags import effective_dist_tags, named_tags
from packyard.formats.npm.names import parse_package_name
from packyard.formats.npm.packument import LISTED_STATUSES
from packyard.formats.npm.publish import CheckedTarball, NpmLimits, NpmPublisher, receive
from packyard.formats.plugin import FileResult
from packyard.metadata.outbox import EventOutbox
from packyard.model import PackageVersion
from tests.unit.bulk_support import ROOT, with_repositories
from tests.unit.bulk_support import services_on as _services
from tests.unit.npm_samples import (
    ACME_UTIL_TGZ,
    DEMO_LIB_TGZ,
    NPM11_ACME_UTIL_BODY,
    NPM11_DEMO_LIB_BODY,
    Member,
    manifest_bytes,
    tgz,
)
from tests.unit.pypi_samples import build_wheel

SUFFIXES = (".tgz",)


@pytest.fixture()
def data_dir(tmp_path: Path) -> Path:
    """A server's data directory with the domain ``dom`` and the repositories ``repo`` and
    ``http`` (where the real npm's publishes go, to compare)."""
    return with_repositories(tmp_path / "data", "dom", "repo", "http")


@pytest.fixture()
def services(data_dir: Path) -> Iterator[Services]:
    built = _services(data_dir)
    yield built
    built.catalog.dispose()


def _publisher(services: Services) -> NpmPublisher:
    settings = services.settings
    return NpmPublisher(services.registry, NpmLimits.of(settings.npm_max_tarball_bytes,
                                                        settings.npm_max_document_bytes))


def _importer(services: Services, batch_size: int = 500,
              repository: str = "repo") -> BulkImporter[CheckedTarball]:
    domain, repo = services.registry.get_repository("dom", repository)
    return BulkImporter(_publisher(services), services.blobs, ROOT, domain, repo, batch_size)


def _run(importer: BulkImporter[CheckedTarball], *paths: Path) -> list[FileResult]:
    return [result for batch in importer.run(find_files(paths, SUFFIXES)) for result in batch]


def _statuses(results: list[FileResult]) -> list[tuple[str, str]]:
    return [(r.path.name, r.status) for r in results]


def _write(folder: Path, name: str, version: str, filename: str | None = None,
           **manifest: Any) -> Path:
    """A tarball as ``npm pack`` lays one out, written where a registry's storage keeps it
    (``<name>/<bare name>-<version>.tgz``, ``@scope/<name>/…``)."""
    bare = name.rsplit("/", 1)[-1]
    path = folder / name / (filename or f"{bare}-{version}.tgz")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(tgz([Member("package/package.json",
                                 manifest_bytes(name, version, **manifest)),
                          Member("package/README.md", f"# {name} {version}\n".encode())]))
    return path


def _versions(services: Services, name: str, repository: str = "repo"
              ) -> dict[str, PackageVersion]:
    _, repo = services.registry.get_repository("dom", repository)
    parsed = parse_package_name(name)
    package = services.catalog.find_package(repo.id, "npm", parsed.namespace, parsed.bare)
    if package is None:
        return {}
    return {v.version: v for v in services.catalog.list_versions(package.id)}


def _dist_tags(services: Services, name: str) -> dict[str, str]:
    """The dist-tags a packument of the package shows."""
    _, repo = services.registry.get_repository("dom", "repo")
    parsed = parse_package_name(name)
    package = services.catalog.find_package(repo.id, "npm", parsed.namespace, parsed.bare)
    assert package is not None
    versions = services.catalog.list_versions(package.id)
    return effective_dist_tags(named_tags(services.catalog.package_tags(package.id), versions),
                               [v.version for v in versions if v.status in LISTED_STATUSES])


def _npm_publish(services: Services, body_path: Path, repository: str = "http") -> None:
    """What the server does with the body the real npm 11 sent for ``npm publish``."""
    body = body_path.read_bytes()
    domain, repo = services.registry.get_repository("dom", repository)
    limits = _publisher(services).limits

    async def stream() -> AsyncIterator[bytes]:
        yield body

    received = asyncio.run(receive(stream(), services.blobs, limits.publish))
    name = parse_package_name(json.loads(body)["name"])
    outcome = _publisher(services).publish(ROOT, domain, repo, name, received)
    assert outcome.created


def _without_client_fields(version: PackageVersion) -> dict[str, Any]:
    """What a published version records, without what npm adds about its own machine."""
    manifest = {k: v for k, v in attributes.manifest(version.attributes).items()
                if k not in ("_npmVersion", "_nodeVersion")}
    return {"version": version.version, "summary": version.summary,
            "home_page": version.home_page,
            "source_code_repository": version.source_code_repository,
            "licenses": version.licenses, "readme": version.readme,
            "readme_content_type": version.readme_content_type,
            "dependencies": version.dependencies, "status": version.status,
            "attributes": {**version.attributes, "manifest": manifest}}


@pytest.fixture()
def packed(tmp_path: Path) -> Path:
    """The real ``npm pack`` output of an unscoped and a scoped package, laid out as
    Verdaccio's storage keeps them, beside the packument file it keeps for each."""
    storage = tmp_path / "storage"
    (storage / "@acme" / "util").mkdir(parents=True)
    (storage / "demo-lib").mkdir()
    shutil.copy(DEMO_LIB_TGZ, storage / "demo-lib" / "demo-lib-1.0.0.tgz")
    shutil.copy(ACME_UTIL_TGZ, storage / "@acme" / "util" / "util-1.0.0.tgz")
    for folder in (storage / "demo-lib", storage / "@acme" / "util"):
        (folder / "package.json").write_text("{}")
    return storage


def test_import_publishes_each_tarball_as_npm_publish_of_it_does(
        services: Services, packed: Path) -> None:
    results = _run(_importer(services), packed)

    assert _statuses(results) == [("util-1.0.0.tgz", "imported"),
                                  ("demo-lib-1.0.0.tgz", "imported")]
    _npm_publish(services, NPM11_DEMO_LIB_BODY)
    _npm_publish(services, NPM11_ACME_UTIL_BODY)
    for name in ("demo-lib", "@acme/util"):
        [imported] = _versions(services, name).values()
        [published] = _versions(services, name, "http").values()
        assert _without_client_fields(imported) == _without_client_fields(published), name
    _, repo = services.registry.get_repository("dom", "repo")
    util = services.catalog.find_package(repo.id, "npm", "acme", "util")
    assert util is not None and util.display_name == "@acme/util"
    manifest = attributes.manifest(_versions(services, "demo-lib")["1.0.0"].attributes)
    assert manifest["_id"] == "demo-lib@1.0.0"
    assert manifest["_npmUser"] == {"name": "root", "email": ""}
    assert manifest["dist"]["shasum"] == "37cfcefffad63727e89dae63c7a30243ad09e257"
    assert not any(key in manifest for key in ("_resolved", "_from", "_nodeVersion"))
    assert _dist_tags(services, "demo-lib") == {"latest": "1.0.0"}


def test_import_records_version_events_as_a_publish_does(services: Services,
                                                         packed: Path) -> None:
    _run(_importer(services), packed)
    events = [e.document["detail"] for e in EventOutbox(*services.catalog.engines).after(0)]
    assert sorted((e["packageFormat"], e.get("packageNamespace") or "", e["packageName"],
                   e["packageVersion"], e["operationType"], e["sequenceNumber"])
                  for e in events) == [("npm", "", "demo-lib", "1.0.0", "Created", 1),
                                       ("npm", "acme", "util", "1.0.0", "Created", 1)]


def test_importing_again_is_a_no_op(services: Services, packed: Path, data_dir: Path) -> None:
    _run(_importer(services), packed)
    revisions = {name: [v.revision for v in _versions(services, name).values()]
                 for name in ("demo-lib", "@acme/util")}
    blobs = {p for p in (data_dir / "blobs").rglob("*") if p.is_file()}

    again = _run(_importer(services), packed)

    assert {r.status for r in again} == {"present"}
    assert {name: [v.revision for v in _versions(services, name).values()]
            for name in revisions} == revisions
    assert {p for p in (data_dir / "blobs").rglob("*") if p.is_file()} == blobs
    assert list((data_dir / "blobs" / ".staging").iterdir()) == []


def test_a_version_published_with_other_bytes_is_refused(services: Services, tmp_path: Path,
                                                         data_dir: Path) -> None:
    first, second, third = (tmp_path / name for name in ("first", "second", "third"))
    _write(first, "pkg", "1.0.0", description="one")
    _write(second, "pkg", "1.0.0", description="two")
    _write(third, "pkg", "1.0.0", description="three")
    _run(_importer(services), first)

    # Against the repository, and against an earlier tarball of the same batch.
    results = _run(_importer(services), second, third)

    assert [r.status for r in results] == ["refused", "refused"]
    assert results[0].reason == ("You cannot publish over the previously published versions: "
                                 "1.0.0.")
    assert results[1].reason == results[0].reason
    assert _versions(services, "pkg")["1.0.0"].summary == "one"
    assert list((data_dir / "blobs" / ".staging").iterdir()) == []


def test_the_same_tarball_twice_in_a_batch_is_published_once(services: Services,
                                                             tmp_path: Path) -> None:
    tarball = _write(tmp_path, "pkg", "1.0.0")
    results = _run(_importer(services), tarball, tarball)
    assert [r.status for r in results] == ["imported", "present"]


def test_refused_tarballs_are_reported_and_the_rest_imported(services: Services,
                                                             tmp_path: Path) -> None:
    folder = tmp_path / "mixed"
    _write(folder, "aaa-good", "1.0.0")
    (folder / "broken-1.0.0.tgz").write_bytes(b"not a tarball at all")
    _write(folder, "caps", "1.0.0", filename="caps-1.0.0.tgz")
    (folder / "caps" / "caps-1.0.0.tgz").write_bytes(tgz([Member(
        "package/package.json", manifest_bytes("Bad Name", "1.0.0"))]))
    _write(folder, "mine", "1.0.0", private=True)
    _write(folder, "notsemver", "1.0", filename="notsemver-1.0.tgz")
    _write(folder, "zzz-good", "2.0.0")

    results = _run(_importer(services), folder)

    assert _statuses(results) == [
        ("broken-1.0.0.tgz", "refused"), ("aaa-good-1.0.0.tgz", "imported"),
        ("caps-1.0.0.tgz", "refused"), ("mine-1.0.0.tgz", "refused"),
        ("notsemver-1.0.tgz", "refused"), ("zzz-good-2.0.0.tgz", "imported")]
    assert [r.reason for r in results if r.status == "refused"] == [
        "broken-1.0.0.tgz is not a valid npm package tarball: it is not gzip-compressed "
        "(Not a gzipped file (b'no')).",
        'Invalid package name "Bad Name": name can only contain URL-friendly characters.',
        "mine@1.0.0 has been marked as private: remove the 'private' field from its "
        "package.json to publish it.",
        'Invalid version "1.0": it is not a semantic version (MAJOR.MINOR.PATCH[-PRERELEASE]'
        "[+BUILD], e.g. 1.0.0).",
    ]
    _, repo = services.registry.get_repository("dom", "repo")
    assert sorted(p.name for p in services.catalog.list_packages(repo.id, "npm")) == [
        "aaa-good", "zzz-good"]


def test_names_only_old_packages_may_have_are_refused_as_npm_publish_refuses_them(
        services: Services, tmp_path: Path) -> None:
    _write(tmp_path, "JSONStream", "1.0.0")
    _write(tmp_path, "fs", "1.0.0")
    results = _run(_importer(services), tmp_path)
    assert [r.reason for r in results] == [
        'Invalid package name "JSONStream": name can no longer contain capital letters.',
        'Invalid package name "fs": fs is a core module name.']


def test_a_package_json_version_is_cleaned_as_npm_cleans_it(services: Services,
                                                           tmp_path: Path) -> None:
    _write(tmp_path, "pkg", "v1.2.3+build.5")
    assert [r.status for r in _run(_importer(services), tmp_path)] == ["imported"]
    assert list(_versions(services, "pkg")) == ["1.2.3"]


@pytest.mark.parametrize("batch_size", [1, 500])
def test_latest_ends_on_the_highest_release_whatever_the_import_order(
        services: Services, tmp_path: Path, batch_size: int) -> None:
    # Sorted by name, 1.10.0 comes before 1.9.0 and the prerelease before both: npm publish
    # one after the other in this order would leave latest on 1.9.0 at another registry.
    for version in ("1.10.0", "1.9.0", "2.0.0-beta.1", "1.2.0"):
        _write(tmp_path, "pkg", version)
    _write(tmp_path, "pkg", "3.0.0-rc.1", publishConfig={"tag": "next"})

    results = _run(_importer(services, batch_size), tmp_path)

    assert [r.status for r in results] == ["imported"] * 5
    assert _dist_tags(services, "pkg") == {"latest": "1.10.0", "next": "3.0.0-rc.1"}


def test_a_later_import_moves_latest_and_releases_a_pin_as_npm_publish_does(
        services: Services, tmp_path: Path) -> None:
    _write(tmp_path / "one", "pkg", "1.0.0")
    _write(tmp_path / "one", "pkg", "1.1.0")
    _run(_importer(services), tmp_path / "one")
    _, repo = services.registry.get_repository("dom", "repo")
    package = services.catalog.find_package(repo.id, "npm", "", "pkg")
    assert package is not None
    services.catalog.put_package_tag(package.id, "latest", "1.0.0")  # npm dist-tag add
    assert _dist_tags(services, "pkg") == {"latest": "1.0.0"}

    _write(tmp_path / "two", "pkg", "1.2.0")
    _write(tmp_path / "two", "pkg", "2.0.0-beta.1", tag="beta")
    _run(_importer(services), tmp_path / "two")

    assert _dist_tags(services, "pkg") == {"latest": "1.2.0", "beta": "2.0.0-beta.1"}


def test_origin_controls_refuse_a_blocked_package(services: Services, tmp_path: Path) -> None:
    _, repository = services.registry.get_repository("dom", "repo")
    services.catalog.put_origin_configuration(repository, "npm", "acme", "held", "@acme/held",
                                              "BLOCK", "ALLOW", services.clock.now())
    _write(tmp_path, "@acme/held", "1.0.0")
    _write(tmp_path, "@acme/free", "1.0.0")

    results = _run(_importer(services), tmp_path)

    assert _statuses(results) == [("free-1.0.0.tgz", "imported"),
                                  ("held-1.0.0.tgz", "refused")]
    assert results[1].reason == (
        "Publishing @acme/held to repository repo is blocked by the package's origin "
        "configuration (publish: BLOCK); an administrator can allow it with "
        "put-package-origin-configuration")


def test_an_oversized_tarball_is_refused_without_being_copied(data_dir: Path,
                                                             tmp_path: Path) -> None:
    services = _services(data_dir, npm_max_tarball_bytes=100)
    tarball = _write(tmp_path, "big", "1.0.0", description="x" * 500)
    [result] = _run(_importer(services), tarball)
    assert (result.status, result.reason) == ("refused", "The tarball is larger than 100 bytes.")
    assert list((data_dir / "blobs" / ".staging").iterdir()) == []
    services.catalog.dispose()


# -- the command, with both formats ----------------------------------------------------------


def _cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(import_files, list(args), env={"PACKYARD_DATA_DIR": None})
    return result.exit_code, result.stdout, result.stderr


def test_command_imports_pypi_files_and_npm_tarballs_in_one_run(
        data_dir: Path, packed: Path, tmp_path: Path) -> None:
    from packyard.audit.file_log import read_segments

    build_wheel(packed, name="alpha", version="1.0")
    stray = tmp_path / "notes.txt"
    stray.write_text("named, and no format takes it")

    code, out, err = _cli("--data-dir", str(data_dir), "--domain", "dom", "--repository",
                          "repo", "--output", "json", str(packed), str(stray))

    assert code == 1
    report = json.loads(out)
    assert {k: report[k] for k in ("files", "imported", "present", "formats")} == {
        "files": 4, "imported": 3, "present": 0,
        "formats": {"pypi": {"files": 1, "imported": 1, "present": 0, "refused": 0},
                    "npm": {"files": 2, "imported": 2, "present": 0, "refused": 0}}}
    assert report["refused"] == [{"path": str(stray), "reason": (
        "notes.txt is not a file packyard import takes (*.whl, *.tar.gz, *.zip, *.tgz)")}]
    [event] = read_segments(data_dir / "audit")
    assert event["requestParameters"]["files"] == 4
    assert event["responseElements"] == {"imported": 3, "present": 0, "refused": 1}

    code, out, _ = _cli("--data-dir", str(data_dir), "--domain", "dom", "--repository", "repo",
                        str(packed))
    assert code == 0
    assert out.startswith("3 files into dom/repo in ")
    assert "0 imported, 3 already present, 0 refused" in out


def test_command_batches_npm_tarballs(data_dir: Path, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    for index in range(5):
        _write(tmp_path, f"pkg{index}", "1.0.0")
    transactions: list[int] = []
    from packyard.metadata.publishing import PublishingStore

    publish_many = PublishingStore.publish_many
    monkeypatch.setattr(PublishingStore, "publish_many",
                        lambda self, repo, fmt, ns, files, now: transactions.append(len(files))
                        or publish_many(self, repo, fmt, ns, files, now))

    code, out, _ = _cli("--data-dir", str(data_dir), "--domain", "dom", "--repository", "repo",
                        "--batch-size", "2", str(tmp_path))

    assert code == 0, out
    assert transactions == [2, 2, 1]
    assert "5 imported, 0 already present, 0 refused" in out


def test_regression_an_import_beside_a_plain_server_is_told_it_can_run_plain_too(
        data_dir: Path, packed: Path) -> None:
    # Beside a server kept at PACKYARD_ENCRYPTION=off (the far side of an air gap, say), the
    # refusal only said to restart that server with encryption on; the import run with the
    # server's own setting is what such a team wants, and it works.
    from packyard.encryption.mode_locks import hold_plain_mode

    args = ("--data-dir", str(data_dir), "--domain", "dom", "--repository", "repo", str(packed))
    with hold_plain_mode(data_dir):  # what a plain server holds while it runs
        code, _, err = _cli(*args)
        assert code == 2
        assert (f"error: a server with PACKYARD_ENCRYPTION=off is running on {data_dir}, and it "
                "could not read the files packyard import encrypts: restart that server with "
                "encryption on (unset PACKYARD_ENCRYPTION) first, or run packyard import with "
                "PACKYARD_ENCRYPTION=off, as that server runs") in " ".join(err.split())

        result = CliRunner().invoke(import_files, list(args), env={
            "PACKYARD_DATA_DIR": None, "PACKYARD_ENCRYPTION": "off"})
    assert result.exit_code == 0, result.output
    assert "2 imported, 0 already present, 0 refused" in result.stdout


def test_regression_an_imported_manifest_is_rewritten_as_npm_publish_rewrites_it(
        services: Services, tmp_path: Path) -> None:
    # The import kept package.json as written, where npm publish of the same tarball sends it
    # through @npmcli/package-json's prepare: `npm view mkdirp bin` showed "bin/cmd.js" (npm:
    # {"mkdirp": "bin/cmd.js"}), `npm view ms repository` "zeit/ms" with no bugs nor
    # homepage, ansi-styles no types. What npm 11 sent for these (checked against its prepare
    # on 116 real tarballs and 15 made to be awkward) is what the import now records.
    mkdirp = tmp_path / "mkdirp" / "mkdirp-0.5.6.tgz"
    mkdirp.parent.mkdir()
    mkdirp.write_bytes(tgz([
        Member("package/package.json", manifest_bytes(
            "mkdirp", "0.5.6", bin="bin/cmd.js", main="index.js", repository="zeit/ms",
            author="James Halliday <mail@substack.net> (http://substack.net)",
            dependencies={"minimist": "^1.2.6", "gh": "substack/gh#v1"},
            scripts={"test": "node_modules/.bin/tap test/*.js"})),
        Member("package/index.js", b""), Member("package/index.d.ts", b""),
        Member("package/bin/cmd.js", b""),
        Member("package/readme.markdown", b"# mkdirp\n\nLike `mkdir -p`, but in node.js!\n"),
        Member("package/AUTHORS", b"# who\nAnn <ann@example.com>\n")]))
    tool = tmp_path / "@acme" / "tool" / "tool-1.0.0.tgz"
    tool.parent.mkdir(parents=True)
    tool.write_bytes(tgz([
        Member("package/package.json", manifest_bytes(
            "@acme/tool", "1.0.0", directories={"bin": "./bin"},
            repository={"type": "git", "url": "git@gitlab.com:acme/tool.git"})),
        Member("package/bin/acme-tool", b""), Member("package/bin/.keep", b""),
        Member("package/binding.gyp", b"{}")]))

    results = _run(_importer(services), tmp_path)

    assert sorted(_statuses(results)) == [("mkdirp-0.5.6.tgz", "imported"),
                                          ("tool-1.0.0.tgz", "imported")]
    made = attributes.manifest(_versions(services, "mkdirp")["0.5.6"].attributes)
    assert made["bin"] == {"mkdirp": "bin/cmd.js"}
    assert made["repository"] == {"type": "git", "url": "git+https://github.com/zeit/ms.git"}
    assert made["bugs"] == {"url": "https://github.com/zeit/ms/issues"}
    assert made["homepage"] == "https://github.com/zeit/ms#readme"
    assert made["types"] == "./index.d.ts"
    assert made["description"] == "Like `mkdir -p`, but in node.js!"
    assert made["author"] == {"name": "James Halliday", "email": "mail@substack.net",
                              "url": "http://substack.net"}
    assert made["contributors"] == [{"name": "Ann", "email": "ann@example.com"}]
    assert made["dependencies"] == {"minimist": "^1.2.6", "gh": "github:substack/gh#v1"}
    assert made["scripts"] == {"test": "tap test/*.js"}
    tool_made = attributes.manifest(_versions(services, "@acme/tool")["1.0.0"].attributes)
    assert tool_made["bin"] == {"acme-tool": "bin/acme-tool"}
    assert tool_made["repository"]["url"] == "git+ssh://git@gitlab.com/acme/tool.git"
    assert tool_made["scripts"] == {"install": "node-gyp rebuild"}
    assert tool_made["gypfile"] is True


def test_regression_a_bin_list_npm_cannot_publish_is_refused(services: Services,
                                                            tmp_path: Path) -> None:
    # npm publish of it fails (path.basename of a number), so the import refuses it too.
    _write(tmp_path, "odd-bins", "1.0.0", bin=["bin/a.js", 3])

    [result] = _run(_importer(services), tmp_path)

    assert (result.status, result.reason) == ("refused", (
        "Every entry of the package.json's bin list must be a path (a string), as npm "
        "requires to publish it."))


# -- the registry documents beside the tarballs (Verdaccio's package.json) ------------------


def _registry_document(folder: Path, name: str, versions: dict[str, str | None],
                       dist_tags: dict[str, str], **more: Any) -> Path:
    """The ``package.json`` Verdaccio 6 keeps in ``storage/<name>/`` (its shape copied from
    one it wrote after npm 11's ``publish``, ``publish --tag next``, ``dist-tag add`` and
    ``deprecate``): each version's manifest (``deprecated`` when deprecated), the dist-tags,
    the times, the tarballs as attachments; ``versions`` maps each version to its
    deprecation message, or None."""
    bare = name.rsplit("/", 1)[-1]
    manifests: dict[str, Any] = {}
    for version, message in versions.items():
        manifests[version] = {
            "name": name, "version": version, "description": f"{name} for tests",
            "license": "MIT", "readmeFilename": "README.md", "_id": f"{name}@{version}",
            "_nodeVersion": "20.20.2", "_npmVersion": "11.21.2",
            "dist": {"integrity": "sha512-CZrL9KVej22N0SfhSYzvJkktwvQCw19yGnSJSV8HwC2g2XZlb"
                                  "ZB2/9G92eYjr+zeb5p1nwjhtoJxY7dwFQryuQ==",
                     "shasum": "9c49130851bdcf59ae6920d308a36f7e343eeac5",
                     "tarball": f"http://127.0.0.1:4873/{name}/-/{bare}-{version}.tgz"},
            "contributors": [], **({"deprecated": message} if message is not None else {})}
    document = {
        "name": name, "versions": manifests,
        "time": {"modified": "2026-12-06T04:41:21.604Z", "created": "2026-12-06T04:41:18.406Z",
                 **{version: "2026-12-06T04:41:18.406Z" for version in versions}},
        "users": {}, "dist-tags": dist_tags, "_uplinks": {}, "_distfiles": {},
        "_attachments": {f"{bare}-{version}.tgz": {
            "shasum": "9c49130851bdcf59ae6920d308a36f7e343eeac5", "version": version}
            for version in versions},
        "_rev": "12-fd3e578c5e0abb3d", "_id": name, "readme": f"# {name}\n", **more}
    path = folder / name / "package.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2))
    return path


@pytest.fixture()
def verdaccio(tmp_path: Path) -> Path:
    """A Verdaccio storage folder after npm 11 published ``alpha`` 1.0.0, 1.1.0 and (``--tag
    next``) 2.0.0-beta.1, pinned ``latest`` on 1.0.0 (``npm dist-tag add alpha@1.0.0
    latest``), tagged 1.1.0 ``stable``, deprecated 1.0.0, and published ``@acme/beta``
    1.0.0 and 1.0.1 and deprecated 1.0.0."""
    storage = tmp_path / "storage"
    for version in ("1.0.0", "1.1.0", "2.0.0-beta.1"):
        _write(storage, "alpha", version)
    _registry_document(storage, "alpha",
                       {"1.0.0": "use 1.1.0, 1.0.0 leaks", "1.1.0": None, "2.0.0-beta.1": None},
                       {"latest": "1.0.0", "next": "2.0.0-beta.1", "stable": "1.1.0"})
    for version in ("1.0.0", "1.0.1"):
        _write(storage, "@acme/beta", version)
    _registry_document(storage, "@acme/beta", {"1.0.0": "broken build", "1.0.1": None},
                       {"latest": "1.0.1"})
    return storage


def _deprecated(services: Services, name: str) -> dict[str, str | None]:
    return {version: attributes.deprecated(v.attributes)
            for version, v in _versions(services, name).items()}


def _import(data_dir: Path, *paths: Path, output: str = "json") -> tuple[int, str, str]:
    return _cli("--data-dir", str(data_dir), "--domain", "dom", "--repository", "repo",
                "--output", output, *(str(p) for p in paths))


def test_regression_an_import_of_verdaccio_storage_lost_dist_tags_and_deprecations(
        data_dir: Path, verdaccio: Path) -> None:
    # The tarballs alone gave alpha latest 1.1.0 (its highest), no next, no stable, and no
    # deprecation anywhere: the registry document beside them was never read.
    code, out, _ = _import(data_dir, verdaccio)

    assert code == 0, out
    report = json.loads(out)
    assert report["imported"] == 5
    assert report["documents"] == {
        "read": 2, "refused": [],
        "distTags": {"set": [{"package": "alpha", "tag": "latest", "version": "1.0.0"},
                             {"package": "alpha", "tag": "next", "version": "2.0.0-beta.1"},
                             {"package": "alpha", "tag": "stable", "version": "1.1.0"}],
                     "alreadySet": 1, "skipped": []},
        "deprecations": {"set": [
            {"package": "@acme/beta", "version": "1.0.0", "message": "broken build"},
            {"package": "alpha", "version": "1.0.0", "message": "use 1.1.0, 1.0.0 leaks"}],
            "alreadySet": 0, "skipped": []}}
    services = _services(data_dir)
    try:
        assert _dist_tags(services, "alpha") == {"latest": "1.0.0", "next": "2.0.0-beta.1",
                                                 "stable": "1.1.0"}
        assert _dist_tags(services, "@acme/beta") == {"latest": "1.0.1"}
        assert _deprecated(services, "alpha") == {"1.0.0": "use 1.1.0, 1.0.0 leaks",
                                                  "1.1.0": None, "2.0.0-beta.1": None}
        assert _deprecated(services, "@acme/beta") == {"1.0.0": "broken build", "1.0.1": None}
        # latest 1.0.1 of @acme/beta was its highest already: left to follow it, not pinned.
        _, repo = services.registry.get_repository("dom", "repo")
        beta = services.catalog.find_package(repo.id, "npm", "acme", "beta")
        assert beta is not None and services.catalog.package_tags(beta.id) == {}
        # Each deprecation is an update of its version, as npm deprecate's is (webhooks).
        updated = [(e["packageName"], e["packageVersion"]) for e in (
            e.document["detail"] for e in EventOutbox(*services.catalog.engines).after(0))
            if e["operationType"] == "Updated"]
        assert sorted(updated) == [("alpha", "1.0.0"), ("beta", "1.0.0")]
    finally:
        services.catalog.dispose()


def test_a_rerun_of_the_import_changes_nothing_and_says_so(data_dir: Path,
                                                           verdaccio: Path) -> None:
    from packyard.audit.file_log import read_segments

    assert _import(data_dir, verdaccio)[0] == 0
    services = _services(data_dir)
    revisions = {v.version: v.revision for v in _versions(services, "alpha").values()}
    services.catalog.dispose()

    code, out, _ = _import(data_dir, verdaccio, output="text")

    assert code == 0, out
    assert out.startswith("5 files into dom/repo in ")
    assert ("0 imported, 5 already present, 0 refused" in out)
    assert out.rstrip().endswith(
        "2 package documents read, 0 refused: dist-tags 0 set, 4 already set, 0 skipped; "
        "deprecations 0 set, 2 already set, 0 skipped (nothing changed)")
    services = _services(data_dir)
    try:
        assert {v.version: v.revision
                for v in _versions(services, "alpha").values()} == revisions
    finally:
        services.catalog.dispose()
    first, second = sorted(read_segments(data_dir / "audit"),
                           key=lambda event: event["responseElements"]["present"])
    assert first["responseElements"] == {"imported": 5, "present": 0, "refused": 0,
                                         "documents": 2, "documentsRefused": 0,
                                         "distTagsSet": 3, "deprecationsSet": 2}
    assert second["responseElements"]["distTagsSet"] == 0


def test_tags_and_deprecations_naming_versions_not_in_the_repository_are_skipped_and_reported(
        data_dir: Path, tmp_path: Path) -> None:
    # A proxying Verdaccio keeps the upstream's whole document, and only the tarballs it
    # was asked for.
    _write(tmp_path, "cached", "1.0.0")
    _registry_document(tmp_path, "cached", {"1.0.0": None, "2.0.0": "old", "3.0.0-rc.1": None},
                       {"latest": "2.0.0", "next": "3.0.0-rc.1", "legacy": "1.0.0"},
                       _uplinks={"npmjs": {"etag": "W/\"1\"", "fetched": 1765000000000}})
    _registry_document(tmp_path, "absent", {"1.0.0": "gone"}, {"latest": "1.0.0"})

    code, out, _ = _import(data_dir, tmp_path)

    assert code == 0, out
    documents = json.loads(out)["documents"]
    assert documents["distTags"] == {
        "set": [{"package": "cached", "tag": "legacy", "version": "1.0.0"}], "alreadySet": 0,
        "skipped": [
            {"package": "absent", "tag": "latest", "version": "1.0.0",
             "reason": "absent is not in the repository"},
            {"package": "cached", "tag": "latest", "version": "2.0.0",
             "reason": "cached@2.0.0 is not in the repository"},
            {"package": "cached", "tag": "next", "version": "3.0.0-rc.1",
             "reason": "cached@3.0.0-rc.1 is not in the repository"}]}
    assert documents["deprecations"]["skipped"] == [
        {"package": "absent", "version": "1.0.0", "message": "gone",
         "reason": "absent is not in the repository"},
        {"package": "cached", "version": "2.0.0", "message": "old",
         "reason": "cached@2.0.0 is not in the repository"}]
    services = _services(data_dir)
    try:
        assert _dist_tags(services, "cached") == {"latest": "1.0.0", "legacy": "1.0.0"}
    finally:
        services.catalog.dispose()

    code, out, _ = _import(data_dir, tmp_path, output="text")
    assert "dist-tags 1 set" not in out
    assert "dist-tags 0 set, 1 already set, 3 skipped" in out


def test_a_projects_own_package_json_is_passed_over(data_dir: Path, packed: Path) -> None:
    (packed / "demo-lib" / "package.json").write_text(json.dumps({
        "name": "demo-lib", "version": "1.0.0", "dependencies": {"left-pad": "^1.0.0"}}))
    (packed / "notes").mkdir()
    (packed / "notes" / "package.json").write_text("[1, 2]")

    code, out, _ = _import(data_dir, packed)

    assert code == 0, out
    report = json.loads(out)
    assert report["imported"] == 2 and "documents" not in report


def test_a_folder_with_only_a_projects_package_json_is_still_no_import(
        data_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "package.json").write_text('{"name": "app", "version": "1.0.0"}')

    code, _, err = _import(data_dir, tmp_path, output="text")

    assert code == 2
    assert f"error: no distribution files (*.whl, *.tar.gz, *.zip, *.tgz) in {tmp_path}" in (
        " ".join(err.split()))


def test_a_package_json_named_that_is_no_registry_document_is_refused_saying_so(
        data_dir: Path, verdaccio: Path, tmp_path: Path) -> None:
    project = tmp_path / "app" / "package.json"
    project.parent.mkdir()
    project.write_text('{"name": "app", "version": "1.0.0"}')

    code, out, _ = _import(data_dir, project, verdaccio / "alpha" / "package.json")

    assert code == 1
    report = json.loads(out)
    assert report["files"] == 1
    assert report["refused"] == [{"path": str(project), "reason": (
        "package.json is no package document packyard import reads (an npm registry document "
        "has name, versions and dist-tags)")}]
    assert report["formats"] == {"npm": {"files": 1, "imported": 0, "present": 0,
                                         "refused": 1}}
    # The registry document named alone: its tags name versions not imported yet.
    assert report["documents"]["distTags"]["skipped"][0]["reason"] == (
        "alpha is not in the repository")


def test_a_malformed_document_is_refused_whole_and_the_rest_carries_on(
        data_dir: Path, verdaccio: Path) -> None:
    # Its dist-tags are fine; one deprecation is no string: nothing of it is applied.
    broken = _registry_document(verdaccio, "alpha", {"1.0.0": None, "1.1.0": None},
                                {"latest": "1.0.0", "stable": "1.1.0"})
    document = json.loads(broken.read_text())
    document["versions"]["1.1.0"]["deprecated"] = 7
    broken.write_text(json.dumps(document))
    truncated = verdaccio / "cut" / "package.json"
    truncated.parent.mkdir()
    truncated.write_text('{"name": "cut", "versions": {')

    code, out, err = _import(data_dir, verdaccio, output="text")

    assert code == 1
    shown = " ".join(err.split())
    assert f"refused {broken}: versions[\"1.1.0\"].deprecated must be a string." in shown
    assert f"refused {truncated}: not a JSON document (" in shown
    assert "1 package document read, 2 refused: dist-tags 0 set, 1 already set" in out
    services = _services(data_dir)
    try:
        # The tarballs alone: latest on the highest release, no stable, no deprecation.
        assert _dist_tags(services, "alpha") == {"latest": "1.1.0"}
        assert _deprecated(services, "alpha")["1.0.0"] is None
        assert _deprecated(services, "@acme/beta")["1.0.0"] == "broken build"
    finally:
        services.catalog.dispose()


def test_an_oversized_document_is_refused_before_it_is_read(
        data_dir: Path, verdaccio: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PACKYARD_NPM_MAX_DOCUMENT_BYTES", "1000")

    code, out, _ = _import(data_dir, verdaccio)

    assert code == 1
    refused = json.loads(out)["documents"]["refused"]
    assert refused == [{"path": str(verdaccio / "@acme" / "beta" / "package.json"),
                        "package": None,
                        "reason": "package.json is larger than the 1,000 bytes a package "
                                  "document may have (PACKYARD_NPM_MAX_DOCUMENT_BYTES)"},
                       {"path": str(verdaccio / "alpha" / "package.json"), "package": None,
                        "reason": "package.json is larger than the 1,000 bytes a package "
                                  "document may have (PACKYARD_NPM_MAX_DOCUMENT_BYTES)"}]


def test_a_tag_name_npm_would_not_send_is_skipped(data_dir: Path, tmp_path: Path) -> None:
    _write(tmp_path, "pkg", "1.0.0")
    _write(tmp_path, "pkg", "2.0.0")
    _registry_document(tmp_path, "pkg", {"1.0.0": None, "2.0.0": None},
                       {"latest": "2.0.0", "1.x": "1.0.0", "v1": "1.0.0"})

    code, out, _ = _import(data_dir, tmp_path)

    assert code == 0, out
    tags = json.loads(out)["documents"]["distTags"]
    assert tags["skipped"] == [{"package": "pkg", "tag": "1.x", "version": "1.0.0",
                                "reason": "Tag name must not be a valid SemVer range: 1.x"},
                               {"package": "pkg", "tag": "v1", "version": "1.0.0",
                                "reason": "Tag name must not be a valid SemVer range: v1"}]
    assert tags["alreadySet"] == 1


def test_a_document_is_applied_as_the_principal_may_tag(data_dir: Path, verdaccio: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from packyard.errors import Denied
    from packyard.formats.npm.publish import NpmPublisher

    _import(data_dir, verdaccio)

    def refuse(*_: Any, **__: Any) -> None:
        raise Denied("not allowed to PublishPackageVersion")

    monkeypatch.setattr(NpmPublisher, "authorize", refuse)
    services = _services(data_dir)
    try:
        from packyard.formats.npm.package_edits import PackageEdits
        from packyard.formats.npm.registry_document import RegistryDocuments

        domain, repo = services.registry.get_repository("dom", "repo")
        documents = RegistryDocuments(PackageEdits(services.registry, _publisher(services)),
                                      1_000_000)
        result = documents.apply(ROOT, domain, repo, verdaccio / "alpha" / "package.json")
    finally:
        services.catalog.dispose()
    assert result is not None
    assert (result.status, result.package, result.reason) == (
        "refused", "alpha", "not allowed to PublishPackageVersion")
