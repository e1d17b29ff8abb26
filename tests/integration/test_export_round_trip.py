"""``packyard export`` across an air gap: a running server's repository (PyPI files uploaded as
twine sends them, npm packages published by the real npm 11, scoped and unscoped) exported to a
folder, that folder imported into a second, fresh server, and the real pip, uv and npm
installing from the second server the same files, byte for byte."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.integration.conftest import ServerFactory
from tests.integration.helpers import (
    ClientHome,
    DistFactory,
    DistSpec,
    PypiRepo,
    ServerProcess,
    codeartifact_client,
    create_pypi_repo,
    make_venv,
    normalize,
    run,
    tool,
    upload_ok,
)
from tests.integration.npm_clients import NpmHome, npm_client, package_json
from tests.integration.npm_registry import StaticRegistry, create_npm_repo


def _tree(root: Path) -> dict[str, str]:
    """Every file under ``root`` but SHA256SUMS and the package documents (npm's registry
    documents, whose ``_rev`` is each server's, and PyPI's ``index.json``), by relative
    path, with its sha256."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*"))
            if p.is_file() and p.name not in ("SHA256SUMS", "package.json", "index.json")}


def _assets(api: Any, repo: PypiRepo, fmt: str, package: str, version: str,
            namespace: str | None = None) -> dict[str, str]:
    """A version's assets as the API lists them, with their SHA-256."""
    found = api.list_package_version_assets(
        domain=repo.domain, repository=repo.repository, format=fmt, package=package,
        packageVersion=version, **({"namespace": namespace} if namespace else {}))["assets"]
    return {asset["name"]: asset["hashes"]["SHA-256"] for asset in found}


def _packyard(home: ClientHome, *args: str | Path) -> Any:
    return run([tool("packyard"), *args], home.env(), check=False)


def _imported_air_gapped(server_factory: Any, home: ClientHome, dest: Path
                         ) -> tuple[Any, Any, str]:
    """``dest`` imported into a new server's new npm repository (the air-gapped side): its
    CodeArtifact client, the repository, and what the import printed."""
    airgapped = server_factory()
    api = codeartifact_client(airgapped.url)
    target = create_npm_repo(api, airgapped.url, "airgap")
    imported = _packyard(home, "import", "--data-dir", airgapped.data_dir, "--domain",
                         target.domain, "--repository", target.repository, dest)
    assert imported.returncode == 0, imported.stdout + imported.stderr
    return api, target, str(imported.stdout)


def test_an_exported_repository_installs_from_another_server_byte_for_byte(
        server: ServerProcess, api: Any, server_factory: ServerFactory, dists: DistFactory,
        session_home: ClientHome, tmp_path: Path) -> None:
    client = npm_client("npm11")
    suffix = secrets.token_hex(3)
    dep = DistSpec(name=f"gap_dep.{suffix}", version="0.3")
    main = DistSpec(name=f"Gap_Main.{suffix}", version="1.2.0",
                    requires_dist=(f"gap-dep.{suffix}>=0.3",))
    source = create_pypi_repo(api, server.url, "gap")
    upload_ok(source, *dists.both(main), *dists.both(dep))
    npm_endpoint = api.get_repository_endpoint(domain=source.domain,
                                               repository=source.repository,
                                               format="npm")["repositoryEndpoint"]
    publisher = NpmHome(tmp_path / "publisher")
    publisher.write_npmrc(npm_endpoint, source.token)
    publisher.run(client, "publish", cwd=package_json(tmp_path / "util", "@acme/gap-util",
                                                      "1.0.0"))
    publisher.run(client, "publish", cwd=package_json(tmp_path / "app-old", "gap-app",
                                                      "0.9.0"))
    publisher.run(client, "publish", cwd=package_json(
        tmp_path / "app", "gap-app", "1.0.0", dependencies={"@acme/gap-util": "^1.0.0"}))

    # On the connected side, while its server runs.
    dest = tmp_path / "usb" / "gap"
    exported = _packyard(session_home, "export", "--data-dir", server.data_dir, "--domain",
                         source.domain, "--repository", source.repository, "--output", "json",
                         dest)
    assert exported.returncode == 0, exported.stdout + exported.stderr
    report = json.loads(exported.stdout)
    assert (report["written"], report["failed"], report["leftOut"]) == (7, [], [])
    tree = _tree(dest)
    pypi_files = {f"pypi/{normalize(spec.name)}/{dist.filename}": dist.sha256
                  for spec in (main, dep) for dist in dists.both(spec)}
    npm_files = {
        "npm/@acme/gap-util/gap-util-1.0.0.tgz": _assets(
            api, source, "npm", "gap-util", "1.0.0", "acme")["package.tgz"],
        "npm/gap-app/gap-app-1.0.0.tgz": _assets(api, source, "npm", "gap-app",
                                                 "1.0.0")["package.tgz"],
        "npm/gap-app/gap-app-0.9.0.tgz": _assets(api, source, "npm", "gap-app",
                                                 "0.9.0")["package.tgz"]}
    assert tree == {**pypi_files, **npm_files}
    assert sorted(str(p.relative_to(dest)) for p in dest.rglob("package.json")) == [
        "npm/@acme/gap-util/package.json", "npm/gap-app/package.json"]
    checked = run(["sha256sum", "-c", "--strict", "SHA256SUMS"], session_home.env(),
                  cwd=dest)
    assert checked.stdout.count(": OK") == 11  # the files, two package.json, two index.json

    # On the air-gapped side: a fresh server, its own domain and repository.
    other = server_factory()
    other_api = codeartifact_client(other.url)
    target = create_pypi_repo(other_api, other.url, "airgap")
    imported = _packyard(session_home, "import", "--data-dir", other.data_dir, "--domain",
                         target.domain, "--repository", target.repository, dest)
    assert imported.returncode == 0, imported.stdout + imported.stderr
    assert "7 imported, 0 already present, 0 refused" in imported.stdout
    for spec in (main, dep):
        assert _assets(other_api, target, "pypi", normalize(spec.name), spec.version) == {
            name.rsplit("/", 1)[1]: sha for name, sha in pypi_files.items()
            if name.startswith(f"pypi/{normalize(spec.name)}/")}
    for path, sha in npm_files.items():
        parts = path.split("/")
        namespace = parts[1][1:] if parts[1].startswith("@") else None
        version = parts[-1].removesuffix(".tgz").rsplit("-", 1)[1]
        assert _assets(other_api, target, "npm", parts[-2], version, namespace) == {
            "package.tgz": sha}, path

    # pip and uv install the PyPI projects from the second server.
    for installer in ("pip", "uv"):
        python = make_venv(tmp_path / f"venv-{installer}", session_home)
        command: list[str | Path] = (
            [tool("pip"), "--python", python, "install", "--no-cache-dir"]
            if installer == "pip" else [tool("uv"), "pip", "install", "--python", python])
        run([*command, "--index-url", target.index_url_with_token, main.name],
            session_home.env())
        shown = run([python, "-c", f"import {main.module} as m, {dep.module} as d; "
                     "print(m.VALUE); print(d.VALUE)"], session_home.env()).stdout
        assert shown.split("\n")[:2] == [f"{main.name} 1.2.0", f"{dep.name} 0.3"], installer

    # npm installs the packages from the second server: the tarballs' integrity is the
    # source's, and latest is the highest release whatever order the import found them in.
    other_npm = other_api.get_repository_endpoint(domain=target.domain,
                                                  repository=target.repository,
                                                  format="npm")["repositoryEndpoint"]
    installer_home = NpmHome(tmp_path / "installer")
    installer_home.write_npmrc(other_npm, target.token)
    consumer = tmp_path / "consumer"
    consumer.mkdir()
    (consumer / "package.json").write_text(json.dumps(
        {"name": "consumer", "version": "0.0.0", "private": True,
         "dependencies": {"gap-app": "*"}}) + "\n")
    installer_home.run(client, "install", cwd=consumer)
    lock = json.loads((consumer / "package-lock.json").read_text())["packages"]
    assert lock["node_modules/gap-app"]["version"] == "1.0.0"
    assert lock["node_modules/@acme/gap-util"]["resolved"] == (
        other_npm + "@acme/gap-util/-/gap-util-1.0.0.tgz")
    source_tarball = (dest / "npm/@acme/gap-util/gap-util-1.0.0.tgz").read_bytes()
    assert lock["node_modules/@acme/gap-util"]["integrity"] == "sha512-" + (
        base64.b64encode(hashlib.sha512(source_tarball).digest()).decode())
    assert (consumer / "node_modules/@acme/gap-util/index.js").is_file()

    # Exported again from the second server: the same files, byte for byte; and a second
    # export into the first folder writes nothing.
    again = tmp_path / "again"
    assert _packyard(session_home, "export", "--data-dir", other.data_dir, "--domain",
                     target.domain, "--repository", target.repository,
                     again).returncode == 0
    assert _tree(again) == tree
    rerun = _packyard(session_home, "export", "--data-dir", server.data_dir, "--domain",
                      source.domain, "--repository", source.repository, dest)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "0 written, 7 already present, 0 failed, 0 left out" in rerun.stdout
    assert "package documents: 0 written, 4 already present, 0 failed" in rerun.stdout


def test_packages_kept_through_public_npmjs_cross_the_gap_and_install_offline(
        server_factory: ServerFactory, session_home: ClientHome, tmp_path: Path) -> None:
    """The air-gap workflow: a repository filled by installing through its external
    connection, exported (incrementally: the kept versions carry the upstream's 2024 publish
    time, and are taken because they were kept since), imported on the other side, where npm
    installs without any upstream."""
    client = npm_client("npm11")
    upstream = StaticRegistry(tmp_path / "registry")
    upstream.add("gap-left-pad", "1.3.0")
    upstream.add("@types/gap-thing", "2.0.0", dependencies={"gap-left-pad": "^1.3.0"})
    connected = server_factory(env={"PACKYARD_NPM_UPSTREAM_URL": upstream.url})
    api = codeartifact_client(connected.url)
    repo = create_npm_repo(api, connected.url, "up")
    api.associate_external_connection(domain=repo.domain, repository=repo.repository,
                                      externalConnection="public:npmjs")
    before = datetime.now(UTC)
    home = NpmHome(tmp_path / "home")
    home.write_npmrc(repo.endpoint, repo.token)
    consumer = tmp_path / "consumer"
    consumer.mkdir()
    (consumer / "package.json").write_text(json.dumps(
        {"name": "consumer", "version": "0.0.0", "private": True,
         "dependencies": {"@types/gap-thing": "^2.0.0"}}) + "\n")
    home.run(client, "install", cwd=consumer)
    upstream.stop()

    dest = tmp_path / "usb"
    exported = _packyard(session_home, "export", "--data-dir", connected.data_dir, "--domain",
                         repo.domain, "--repository", repo.repository, "--since",
                         before.isoformat(), dest)
    assert exported.returncode == 0, exported.stdout + exported.stderr
    assert "2 written, 0 already present, 0 failed, 0 left out" in exported.stdout
    assert _tree(dest) == {
        "npm/gap-left-pad/gap-left-pad-1.3.0.tgz": hashlib.sha256(
            upstream.tarballs["gap-left-pad/-/gap-left-pad-1.3.0.tgz"]).hexdigest(),
        "npm/@types/gap-thing/gap-thing-2.0.0.tgz": hashlib.sha256(
            upstream.tarballs["@types/gap-thing/-/gap-thing-2.0.0.tgz"]).hexdigest()}

    other_api, target, imported = _imported_air_gapped(server_factory, session_home, dest)
    assert "2 imported, 0 already present, 0 refused" in imported
    (consumer / "node_modules").rename(tmp_path / "connected-modules")
    (consumer / "package-lock.json").unlink()
    offline = NpmHome(tmp_path / "offline-home")
    offline.write_npmrc(target.endpoint, target.token)
    offline.run(client, "install", cwd=consumer)
    assert (consumer / "node_modules/gap-left-pad/index.js").is_file()
    lock = json.loads((consumer / "package-lock.json").read_text())["packages"]
    tarball = upstream.tarballs["gap-left-pad/-/gap-left-pad-1.3.0.tgz"]
    assert lock["node_modules/gap-left-pad"]["integrity"] == "sha512-" + (
        base64.b64encode(hashlib.sha512(tarball).digest()).decode())
    assert lock["node_modules/gap-left-pad"]["resolved"] == (
        target.endpoint + "gap-left-pad/-/gap-left-pad-1.3.0.tgz")


def test_regression_an_air_gapped_import_published_every_version_now(
        server_factory: ServerFactory, session_home: ClientHome, tmp_path: Path) -> None:
    """Versions kept through public:npmjs carry the registry's publish times; exported and
    imported, they were published at the import, so ``npm view NAME time``, ``npm install
    --before`` and release-age rules saw every release as new on the air-gapped side. The
    import now dates each version by its registry document's ``time``."""
    client = npm_client("npm11")
    upstream = StaticRegistry(tmp_path / "registry")
    times = {"1.0.0": "2019-02-03T04:05:06.789Z", "1.1.0": "2022-07-08T09:10:11.123Z"}
    for version, moment in times.items():
        upstream.add("gap-dated", version)
        upstream.packages["gap-dated"]["time"][version] = moment
    connected = server_factory(env={"PACKYARD_NPM_UPSTREAM_URL": upstream.url})
    api = codeartifact_client(connected.url)
    repo = create_npm_repo(api, connected.url, "dated")
    api.associate_external_connection(domain=repo.domain, repository=repo.repository,
                                      externalConnection="public:npmjs")
    home = NpmHome(tmp_path / "home")
    home.write_npmrc(repo.endpoint, repo.token)
    for version in times:
        consumer = tmp_path / f"consumer-{version}"
        consumer.mkdir()
        (consumer / "package.json").write_text(json.dumps(
            {"name": "consumer", "version": "0.0.0", "private": True,
             "dependencies": {"gap-dated": version}}) + "\n")
        home.run(client, "install", cwd=consumer)

    def view_times(npm_home: NpmHome, cwd: Path) -> dict[str, str]:
        shown = json.loads(npm_home.run(client, "view", "gap-dated", "time", "--json",
                                        cwd=cwd).stdout)
        return {v: shown[v] for v in times}

    assert view_times(home, tmp_path) == times
    upstream.stop()
    dest = tmp_path / "usb"
    exported = _packyard(session_home, "export", "--data-dir", connected.data_dir, "--domain",
                         repo.domain, "--repository", repo.repository, dest)
    assert exported.returncode == 0, exported.stdout + exported.stderr
    other_api, target, imported = _imported_air_gapped(server_factory, session_home, dest)
    assert "2 imported" in imported

    offline = NpmHome(tmp_path / "offline-home")
    offline.write_npmrc(target.endpoint, target.token)
    assert view_times(offline, tmp_path) == times
    described = other_api.describe_package_version(
        domain=target.domain, repository=target.repository, format="npm",
        package="gap-dated", packageVersion="1.0.0")["packageVersion"]
    assert described["publishedTime"] == datetime(2019, 2, 3, 4, 5, 6, 789000, tzinfo=UTC)
    # npm install --before a date between the two releases takes the older one.
    consumer = tmp_path / "consumer-before"
    consumer.mkdir()
    (consumer / "package.json").write_text(json.dumps(
        {"name": "consumer", "version": "0.0.0", "private": True,
         "dependencies": {"gap-dated": "^1.0.0"}}) + "\n")
    offline.run(client, "install", "--before", "2020-01-01", cwd=consumer)
    lock = json.loads((consumer / "package-lock.json").read_text())["packages"]
    assert lock["node_modules/gap-dated"]["version"] == "1.0.0"
