"""``packyard import`` of npm tarballs (``npm pack`` output, laid out as Verdaccio's storage
keeps it) on a running server's data directory, then the real npm installing from it."""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from tests.integration.helpers import ClientHome, ServerProcess, run, tool
from tests.integration.npm_clients import NpmClient, NpmHome, npm_client, package_json
from tests.integration.npm_registry import NpmRepo, create_npm_repo

# What npm adds about the machine it runs on, which an import has not got (tarball_document).
_CLIENT_FIELDS = ("_npmVersion", "_nodeVersion", "_resolved", "_from", "_integrity")


def _pack(home: NpmHome, client: NpmClient, project: Path, destination: Path) -> Path:
    """``npm pack`` of ``project``, its tarball moved to ``destination`` (a storage folder)."""
    destination.mkdir(parents=True, exist_ok=True)
    packed = home.run(client, "pack", "--json", "--pack-destination", destination,
                      cwd=project)
    [made] = json.loads(packed.stdout)
    tarball = destination / made["filename"]
    # Verdaccio keeps <name>-<version>.tgz under the package's folder, its scope left out.
    kept = destination / f"{made['name'].rsplit('/', 1)[-1]}-{made['version']}.tgz"
    tarball.rename(kept)
    return kept


def _import(server: ServerProcess, repo: NpmRepo, home: ClientHome,
            *paths: Path) -> subprocess.CompletedProcess[str]:
    return run([tool("packyard"), "import", "--data-dir", server.data_dir, "--domain",
                repo.domain, "--repository", repo.repository, *paths], home.env(), check=False)


def _version(repo: NpmRepo, name: str, version: str) -> dict[str, Any]:
    """A version's manifest as the repository serves it, without what differs between any
    two publishes of the same tarball (npm's own fields, the tarball's URL)."""
    manifest: dict[str, Any] = repo.packument(name).json()["versions"][version]
    dist = {k: v for k, v in manifest["dist"].items() if k != "tarball"}
    return {**{k: v for k, v in manifest.items() if k not in _CLIENT_FIELDS}, "dist": dist}


def test_npm_installs_packages_imported_from_a_storage_folder(
        server: ServerProcess, api: Any, session_home: ClientHome, tmp_path: Path) -> None:
    client = npm_client("npm11")
    home = NpmHome(tmp_path / "home")
    repo = create_npm_repo(api, server.url, "imp")
    storage = tmp_path / "storage"
    util = _pack(home, client, package_json(tmp_path / "util", "@acme/imp-util", "1.0.0"),
                 storage / "@acme" / "imp-util")
    app = _pack(home, client, package_json(tmp_path / "app", "imp-app", "1.0.0",
                                           dependencies={"@acme/imp-util": "^1.0.0"}),
                storage / "imp-app")
    _pack(home, client, package_json(tmp_path / "app-old", "imp-app", "0.9.0"),
          storage / "imp-app")
    # No registry document (no name, versions and dist-tags): passed over.
    (storage / "imp-app" / "package.json").write_text("{}\n")

    imported = _import(server, repo, session_home, storage)

    assert imported.returncode == 0, imported.stdout + imported.stderr
    assert "3 files into" in imported.stdout
    assert "3 imported, 0 already present, 0 refused" in imported.stdout
    # 1.0.0 sorts after 0.9.0 here; whatever the order, latest is the highest release.
    document = repo.packument("imp-app").json()
    assert document["dist-tags"] == {"latest": "1.0.0"}
    assert document["readme"] == "# imp-app\n"
    assert document["versions"]["1.0.0"]["dependencies"] == {"@acme/imp-util": "^1.0.0"}

    home.write_npmrc(repo.endpoint, repo.token)
    consumer = tmp_path / "consumer"
    consumer.mkdir()
    (consumer / "package.json").write_text(json.dumps(
        {"name": "consumer", "version": "0.0.0", "private": True,
         "dependencies": {"imp-app": "^1.0.0"}}) + "\n")
    home.run(client, "install", cwd=consumer)
    assert (consumer / "node_modules/imp-app/index.js").is_file()
    assert (consumer / "node_modules/@acme/imp-util/index.js").is_file()
    lock = json.loads((consumer / "package-lock.json").read_text())
    assert lock["packages"]["node_modules/@acme/imp-util"]["resolved"] == (
        repo.endpoint + "@acme/imp-util/-/imp-util-1.0.0.tgz")

    again = _import(server, repo, session_home, storage)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "0 imported, 3 already present, 0 refused" in again.stdout

    # The real npm publishing the same tarballs to another repository records the same.
    published = create_npm_repo(api, server.url, "imp", domain=repo.domain)
    other = NpmHome(tmp_path / "other-home")
    other.write_npmrc(published.endpoint, published.token)
    for tarball in (util, app):
        other.run(client, "publish", tarball, cwd=tmp_path)
    for name in ("@acme/imp-util", "imp-app"):
        assert _version(repo, name, "1.0.0") == _version(published, name, "1.0.0"), name


def test_a_bad_tarball_is_refused_with_its_reason_and_the_rest_imported(
        server: ServerProcess, api: Any, session_home: ClientHome, tmp_path: Path) -> None:
    client = npm_client("npm11")
    home = NpmHome(tmp_path / "home")
    repo = create_npm_repo(api, server.url, "imp")
    drop = tmp_path / "drop"
    _pack(home, client, package_json(tmp_path / "good", "imp-good", "1.0.0"), drop)
    (drop / "truncated-1.0.0.tgz").write_bytes(
        (drop / "imp-good-1.0.0.tgz").read_bytes()[:40])

    imported = _import(server, repo, session_home, drop)

    assert imported.returncode == 1, imported.stdout + imported.stderr
    assert "1 imported, 0 already present, 1 refused" in imported.stdout
    refusal = " ".join(imported.stderr.split())
    assert (f"refused {drop / 'truncated-1.0.0.tgz'}: truncated-1.0.0.tgz is not a valid npm "
            "package tarball: it is not gzip-compressed") in refusal
    assert repo.packument("imp-good").json()["dist-tags"] == {"latest": "1.0.0"}



def test_regression_an_imported_tarball_records_what_npm_publish_of_it_records(
        server: ServerProcess, api: Any, session_home: ClientHome, tmp_path: Path) -> None:
    """package.json as real packages write it (mkdirp's bin as a string, ms's repository as
    "zeit/ms", uuid's "./bin/uuid", types beside main, an author string, no description but
    a README, ``directories.bin``, a GitHub shorthand dependency) was imported as written,
    where npm publish of the same tarball sends it rewritten (@npmcli/package-json's
    prepare), so `npm view` showed other bin, repository, bugs, homepage and types than for
    the published one."""
    from tests.unit.npm_samples import Member, manifest_bytes, tgz

    client = npm_client("npm11")
    storage = tmp_path / "storage"
    tarballs = {
        "imp-cli": [
            Member("package/package.json", manifest_bytes(
                "imp-cli", "1.0.0", bin="bin/cmd.js", repository="zeit/ms",
                author="Ann Author <ann@example.com> (https://ann.example)",
                dependencies={"imp-dep": "^1.0.0", "gh": "someone/gh#v1"},
                scripts={"test": "node_modules/.bin/tap"})),
            Member("package/index.js", b""), Member("package/index.d.ts", b""),
            Member("package/bin/cmd.js", b"#!/usr/bin/env node\n"),
            Member("package/README.md", b"# imp-cli\n\nMakes folders, as mkdir -p does.\n"),
            Member("package/AUTHORS", b"Bob <bob@example.com>\n")],
        "@acme/imp-tools": [
            Member("package/package.json", manifest_bytes(
                "@acme/imp-tools", "1.0.0", description="tools", bin={"./t": "./bin/t.js"},
                repository={"type": "git", "url": "git@gitlab.com:acme/tools.git"},
                man="./man/t.1", keywords="a, b")),
            Member("package/bin/t.js", b""), Member("package/man/t.1", b"")],
        "imp-dir": [
            Member("package/package.json", manifest_bytes(
                "imp-dir", "1.0.0", directories={"bin": "./bin"}, homepage="example.com",
                bugs="bugs@example.com", repository="https://git.sr.ht/~me/dir")),
            Member("package/bin/one", b""), Member("package/bin/.hidden", b""),
            Member("package/server.js", b"")],
    }
    paths = []
    for name, members in tarballs.items():
        path = storage / name / f"{name.rsplit('/', 1)[-1]}-1.0.0.tgz"
        path.parent.mkdir(parents=True)
        path.write_bytes(tgz(members))
        paths.append(path)
    repo = create_npm_repo(api, server.url, "imp")
    imported = _import(server, repo, session_home, storage)
    assert imported.returncode == 0, imported.stdout + imported.stderr

    published = create_npm_repo(api, server.url, "imp", domain=repo.domain)
    home = NpmHome(tmp_path / "home")
    home.write_npmrc(published.endpoint, published.token)
    for path in paths:
        home.run(client, "publish", path, cwd=tmp_path)

    for name in tarballs:
        assert _version(repo, name, "1.0.0") == _version(published, name, "1.0.0"), name
    cli = _version(repo, "imp-cli", "1.0.0")
    assert cli["bin"] == {"imp-cli": "bin/cmd.js"}
    assert cli["repository"] == {"type": "git", "url": "git+https://github.com/zeit/ms.git"}
    assert cli["types"] == "./index.d.ts"
    assert _version(repo, "imp-dir", "1.0.0")["bin"] == {"one": "bin/one"}


def _verdaccio_document(folder: Path, name: str, deprecated: dict[str, str],
                        dist_tags: dict[str, str]) -> None:
    """The registry document Verdaccio 6 keeps beside the tarballs, for the versions packed
    there (its shape: tests/unit/test_npm_bulk_import.py's ``_registry_document``)."""
    versions = sorted(p.name.removeprefix(f"{name}-").removesuffix(".tgz")
                      for p in folder.glob("*.tgz"))
    (folder / "package.json").write_text(json.dumps({
        "name": name,
        "versions": {v: {"name": name, "version": v, "_id": f"{name}@{v}",
                         "dist": {"tarball": f"http://localhost:4873/{name}/-/{name}-{v}.tgz"},
                         **({"deprecated": deprecated[v]} if v in deprecated else {})}
                     for v in versions},
        "time": {v: "2026-12-06T04:41:18.406Z" for v in versions}, "users": {},
        "dist-tags": dist_tags, "_uplinks": {}, "_distfiles": {},
        "_attachments": {f"{name}-{v}.tgz": {"shasum": "", "version": v} for v in versions},
        "_rev": "12-fd3e578c5e0abb3d", "_id": name, "readme": f"# {name}\n"}, indent=2))


def test_regression_npm_saw_no_dist_tags_or_deprecations_of_an_imported_storage_folder(
        server: ServerProcess, api: Any, session_home: ClientHome, tmp_path: Path) -> None:
    """Verdaccio's package.json beside the tarballs was skipped: npm dist-tag ls showed only
    latest, on the highest release, and npm install warned of no deprecation. Now its tags
    and deprecations are the source's, and survive packyard export and import again."""
    client = npm_client("npm11")
    home = NpmHome(tmp_path / "home")
    storage = tmp_path / "storage" / "imp-tags"
    for version in ("1.0.0", "1.1.0", "2.0.0-beta.1"):
        _pack(home, client, package_json(tmp_path / version, "imp-tags", version), storage)
    _verdaccio_document(storage, "imp-tags", {"1.0.0": "use 1.1.0, 1.0.0 leaks"},
                        {"latest": "1.0.0", "next": "2.0.0-beta.1", "stable": "1.1.0"})
    repo = create_npm_repo(api, server.url, "imp")

    imported = _import(server, repo, session_home, storage.parent)

    assert imported.returncode == 0, imported.stdout + imported.stderr
    assert ("1 package document read, 0 refused: dist-tags 3 set, 0 already set, 0 skipped; "
            "deprecations 1 set") in imported.stdout

    def seen_by_npm(target: NpmRepo) -> tuple[str, str, str]:
        home.write_npmrc(target.endpoint, target.token)
        tags = home.run(client, "dist-tag", "ls", "imp-tags", cwd=tmp_path).stdout
        deprecated = home.run(client, "view", "imp-tags@1.0.0", "deprecated",
                              cwd=tmp_path).stdout
        consumer = Path(tempfile.mkdtemp(prefix="consumer-", dir=tmp_path))
        (consumer / "package.json").write_text('{"name": "c", "version": "0.0.0"}\n')
        installed = home.run(client, "install", "imp-tags@1.0.0", cwd=consumer)
        warned = next(line for line in installed.stderr.splitlines() if "deprecated" in line)
        return tags, deprecated.strip(), warned

    assert seen_by_npm(repo) == (
        "latest: 1.0.0\nnext: 2.0.0-beta.1\nstable: 1.1.0\n", "use 1.1.0, 1.0.0 leaks",
        "npm warn deprecated imp-tags@1.0.0: use 1.1.0, 1.0.0 leaks")

    exported = run([tool("packyard"), "export", "--data-dir", server.data_dir, "--domain",
                    repo.domain, "--repository", repo.repository, tmp_path / "export"],
                   session_home.env(), check=False)
    assert exported.returncode == 0, exported.stdout + exported.stderr
    mirror = create_npm_repo(api, server.url, "imp", domain=repo.domain)
    again = _import(server, mirror, session_home, tmp_path / "export")
    assert again.returncode == 0, again.stdout + again.stderr
    assert seen_by_npm(mirror) == seen_by_npm(repo)
