"""npm, pnpm and yarn against a real Packyard: login, publish, install, lockfiles, dist-tags,
deprecate, unpublish, and public:npmjs from a registry that then goes away."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.integration.helpers import AwsCli, ClientHome, ServerProcess
from tests.integration.npm_clients import NpmClient, NpmHome, npm_client, package_json
from tests.integration.npm_registry import NpmRepo, create_npm_repo


def _publish(home: NpmHome, client: NpmClient, project: Path) -> None:
    home.run(client, "publish", cwd=project)


def _consumer(tmp_path: Path, dependencies: dict[str, str]) -> Path:
    project = tmp_path / "consumer"
    project.mkdir(parents=True, exist_ok=True)
    (project / "package.json").write_text(json.dumps(
        {"name": "consumer", "version": "0.0.0", "private": True,
         "dependencies": dependencies}, indent=2) + "\n")
    return project


@pytest.fixture
def npm_repo(api: Any, server: ServerProcess) -> NpmRepo:
    return create_npm_repo(api, server.url, "n")


@pytest.mark.parametrize("key", ["npm10", "npm11"])
def test_npm_publishes_installs_and_ci_from_the_lockfile(key: str, npm_repo: NpmRepo,
                                                          tmp_path: Path) -> None:
    client = npm_client(key)
    home = NpmHome(tmp_path / "home")
    home.write_npmrc(npm_repo.endpoint, npm_repo.token)
    lib = package_json(tmp_path / "lib", "@acme/util", "1.0.0")
    _publish(home, client, lib)
    app = package_json(tmp_path / "app", "demo-app", "1.0.0",
                       dependencies={"@acme/util": "^1.0.0"})
    _publish(home, client, app)
    document = npm_repo.packument("demo-app").json()
    assert document["readme"] == "# demo-app\n"
    assert document["versions"]["1.0.0"]["dependencies"] == {"@acme/util": "^1.0.0"}

    consumer = _consumer(tmp_path, {"demo-app": "^1.0.0"})
    home.run(client, "install", cwd=consumer)
    lock = json.loads((consumer / "package-lock.json").read_text())
    resolved = lock["packages"]["node_modules/@acme/util"]["resolved"]
    assert resolved == npm_repo.endpoint + "@acme/util/-/util-1.0.0.tgz"
    assert (consumer / "node_modules/@acme/util/index.js").is_file()

    # npm ci: a fresh cache, only the lockfile's tarballs.
    (consumer / "node_modules").rename(tmp_path / "old-modules")
    fresh = NpmHome(tmp_path / "home2")
    fresh.write_npmrc(npm_repo.endpoint, npm_repo.token)
    cold = fresh.run(client, "ci", "--loglevel", "http", cwd=consumer)
    assert (consumer / "node_modules/demo-app/index.js").is_file()
    fetched = [line for line in cold.stderr.splitlines() if "http fetch GET 200" in line]
    assert any(line.endswith("(cache miss)") and "/-/util-1.0.0.tgz" in line
               for line in fetched), cold.stderr
    # Again, with the cache that run filled: the lockfile's integrity is what the packument
    # and the tarball say, so npm takes every tarball from its cache and GETs nothing (its
    # audit's one POST aside; bench/README.md: why a warm `npm ci` times npm alone).
    (consumer / "node_modules").rename(tmp_path / "cold-modules")
    warm = fresh.run(client, "ci", "--loglevel", "http", cwd=consumer)
    assert (consumer / "node_modules/@acme/util/index.js").is_file()
    assert "http fetch GET" not in warm.stderr, warm.stderr
    assert sum("(cache hit)" in line for line in warm.stderr.splitlines()) == 2, warm.stderr


@pytest.mark.parametrize("key", ["npm10", "npm11"])
def test_npm_publish_workspaces_publishes_every_package_of_a_monorepo(
        key: str, npm_repo: NpmRepo, tmp_path: Path) -> None:
    # One npm process, one publish per workspace: how a monorepo releases (bench/README.md).
    client = npm_client(key)
    home = NpmHome(tmp_path / "home")
    home.write_npmrc(npm_repo.endpoint, npm_repo.token)
    root = tmp_path / "monorepo"
    root.mkdir()
    (root / "package.json").write_text(json.dumps(
        {"name": "monorepo", "version": "0.0.0", "private": True,
         "workspaces": ["packages/*"]}) + "\n")
    package_json(root / "packages/core", "@acme/ws-core", "1.2.0")
    package_json(root / "packages/cli", "ws-cli", "0.3.0",
                 dependencies={"@acme/ws-core": "^1.2.0"})
    package_json(root / "packages/web", "ws-web", "2.0.0")
    home.run(client, "publish", "--workspaces", cwd=root)
    for name, version in (("@acme/ws-core", "1.2.0"), ("ws-cli", "0.3.0"), ("ws-web", "2.0.0")):
        document = npm_repo.packument(name).json()
        assert document["dist-tags"] == {"latest": version}, name
        assert list(document["versions"]) == [version], name
    assert npm_repo.packument("ws-cli").json()["versions"]["0.3.0"]["dependencies"] == {
        "@acme/ws-core": "^1.2.0"}
    assert npm_repo.packument("monorepo").status_code == 404  # private: never sent

    consumer = _consumer(tmp_path, {"ws-cli": "^0.3.0"})
    home.run(client, "install", cwd=consumer)
    assert (consumer / "node_modules/@acme/ws-core/index.js").is_file()


def test_npm_dist_tags_deprecate_and_unpublish(npm_repo: NpmRepo, tmp_path: Path) -> None:
    client = npm_client("npm11")
    home = NpmHome(tmp_path / "home")
    home.write_npmrc(npm_repo.endpoint, npm_repo.token)
    for version in ("1.0.0", "1.1.0"):
        _publish(home, client, package_json(tmp_path / f"lib-{version}", "demo-lib", version))
    work = tmp_path
    home.run(client, "dist-tag", "add", "demo-lib@1.0.0", "stable", cwd=work)
    listed = home.run(client, "dist-tag", "ls", "demo-lib", cwd=work).stdout
    assert "stable: 1.0.0" in listed and "latest: 1.1.0" in listed
    assert npm_repo.packument("demo-lib").json()["dist-tags"] == {"latest": "1.1.0",
                                                                   "stable": "1.0.0"}
    home.run(client, "dist-tag", "rm", "demo-lib", "stable", cwd=work)
    assert npm_repo.packument("demo-lib").json()["dist-tags"] == {"latest": "1.1.0"}

    home.run(client, "deprecate", "demo-lib@1.0.0", "use 1.1", cwd=work)
    versions = npm_repo.packument("demo-lib").json()["versions"]
    assert versions["1.0.0"]["deprecated"] == "use 1.1"
    assert "deprecated" not in versions["1.1.0"]
    home.run(client, "deprecate", "demo-lib@1.0.0", "", cwd=work)
    assert "deprecated" not in npm_repo.packument("demo-lib").json()["versions"]["1.0.0"]

    home.run(client, "unpublish", "demo-lib@1.1.0", cwd=work)
    # The registry's state, not npm's exit code (npm treats a 404 as success).
    document = npm_repo.packument("demo-lib").json()
    assert list(document["versions"]) == ["1.0.0"]
    assert document["dist-tags"] == {"latest": "1.0.0"}
    home.run(client, "unpublish", "demo-lib", "--force", cwd=work)
    assert npm_repo.packument("demo-lib").status_code == 404


def test_regression_npm_star_and_stars_say_stars_are_not_supported(npm_repo: NpmRepo,
                                                                    tmp_path: Path) -> None:
    client = npm_client("npm11")
    home = NpmHome(tmp_path / "home")
    home.write_npmrc(npm_repo.endpoint, npm_repo.token)
    _publish(home, client, package_json(tmp_path / "lib", "star-lib", "1.0.0"))
    for args in (("star", "star-lib"), ("unstar", "star-lib"), ("stars",)):
        refused = home.run(client, *args, cwd=tmp_path, check=False)
        assert refused.returncode != 0, refused.stdout
        # npm's whole error: the status, the request and the registry's message, nothing else
        # (no "could not be found", no retries).
        assert "npm error code E405" in refused.stderr, refused.stderr
        assert ("npm error 405 Method Not Allowed - GET " + npm_repo.endpoint) in refused.stderr
        assert ("npm star, unstar and stars are not supported: this registry (like AWS "
                "CodeArtifact) keeps no stars.") in refused.stderr, refused.stderr
        assert "could not be found" not in refused.stderr
    assert npm_repo.packument("star-lib").json()["versions"]["1.0.0"]["version"] == "1.0.0"


def test_regression_npm_prints_why_a_token_is_refused_instead_of_npm_login(
        npm_repo: NpmRepo, tmp_path: Path) -> None:
    """A 401 named Bearer in WWW-Authenticate, and npm 11 printed "Unable to authenticate, your
    authentication token seems to be invalid … npm login" (which cannot log in here) in place
    of the registry's reason."""
    client = npm_client("npm11")
    home = NpmHome(tmp_path / "home")
    home.write_npmrc(npm_repo.endpoint, "not-a-token")
    lib = package_json(tmp_path / "lib", "auth-lib", "1.0.0")
    # The command names the repository npm asked, at the address it asked (the GET is
    # refused by the server's fast lane, the PUT by the routes).
    base, label, _, repository, _ = npm_repo.endpoint.rsplit("/", 4)
    domain, _, owner = label.rpartition("-")
    command = (f"aws codeartifact login --tool npm --domain {domain} --domain-owner {owner} "
               f"--repository {repository} --endpoint-url {base}")
    for args, method in ((("publish",), "PUT"), (("view", "auth-lib"), "GET")):
        refused = home.run(client, *args, cwd=lib, check=False)
        assert refused.returncode != 0, refused.stdout
        assert "npm error code E401" in refused.stderr, refused.stderr
        assert (f"npm error 401 Unauthorized - {method} {npm_repo.endpoint}auth-lib - "
                f"Invalid authorization token; log in again: run `{command}`"
                ) in refused.stderr, refused.stderr
        assert "npm login" not in refused.stderr
    assert npm_repo.packument("auth-lib").status_code == 404


def test_regression_npm_search_qualifiers_and_who_published(npm_repo: NpmRepo,
                                                              tmp_path: Path) -> None:
    client = npm_client("npm11")
    home = NpmHome(tmp_path / "home")
    home.write_npmrc(npm_repo.endpoint, npm_repo.token)
    kit = package_json(tmp_path / "kit", "pad-kit", "0.3.0")
    manifest = json.loads((kit / "package.json").read_text())
    manifest.update(keywords=["pad", "string"], author="Ann Lee <ann@example.com>")
    (kit / "package.json").write_text(json.dumps(manifest))
    _publish(home, client, kit)
    _publish(home, client, package_json(tmp_path / "other", "pad-other", "1.0.0"))

    found = home.run(client, "search", "author:ann", cwd=tmp_path).stdout
    assert "pad-kit" in found and "pad-other" not in found, found
    # npm's "published … by ???" when the registry names no publisher.
    assert "by root" in found and "Maintainers: root" in found, found
    keywords = home.run(client, "search", "pad", "keywords:pad+string", cwd=tmp_path).stdout
    assert "pad-kit" in keywords and "pad-other" not in keywords, keywords
    stable = json.loads(home.run(client, "search", "--json", "pad", "not:unstable",
                                 cwd=tmp_path).stdout)
    assert [p["name"] for p in stable] == ["pad-other"]
    assert stable[0]["publisher"] == {"username": "root"}


def test_regression_npm_view_names_the_publisher_without_undefined(npm_repo: NpmRepo,
                                                                    tmp_path: Path) -> None:
    # npm view prints "published … by NAME <EMAIL>"; with no email it printed "root <undefined>".
    client = npm_client("npm11")
    home = NpmHome(tmp_path / "home")
    home.write_npmrc(npm_repo.endpoint, npm_repo.token)
    _publish(home, client, package_json(tmp_path / "viewed", "viewed-lib", "1.0.0"))
    shown = home.run(client, "view", "viewed-lib", cwd=tmp_path).stdout
    assert "published just now by root\n" in shown + "\n", shown
    assert "undefined" not in shown, shown


def test_aws_codeartifact_login_tool_npm(npm_repo: NpmRepo, server: ServerProcess,
                                         tmp_path: Path) -> None:
    client = npm_client("npm11")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "npm"
    from tests.integration.npm_clients import NODE

    shim.write_text(f'#!/bin/sh\nexec "{NODE}" "{client.script}" "$@"\n')
    shim.chmod(0o755)
    home = ClientHome(tmp_path / "home")
    npm_home = NpmHome(tmp_path / "home")
    extra = {k: v for k, v in npm_home.env(client).items()
             if k.startswith("NPM_CONFIG_")}
    path = f"{bin_dir}:{home.env()['PATH']}"
    aws = AwsCli(server.url, home)
    aws.run("codeartifact", "login", "--tool", "npm", "--domain", npm_repo.domain,
            "--repository", npm_repo.repository, extra_env={**extra, "PATH": path})
    npmrc = npm_home.npmrc.read_text()
    assert f"registry={npm_repo.endpoint}" in npmrc
    assert ":_authToken=" in npmrc
    assert npm_home.run(client, "whoami", cwd=tmp_path).stdout.strip() == "root"
    assert npm_home.run(client, "ping", cwd=tmp_path).returncode == 0
    aws.run("codeartifact", "login", "--tool", "npm", "--domain", npm_repo.domain,
            "--repository", npm_repo.repository, "--namespace", "acme",
            extra_env={**extra, "PATH": path})
    assert f"@acme:registry={npm_repo.endpoint}" in npm_home.npmrc.read_text()


def test_pnpm_publishes_and_installs_with_a_lockfile(npm_repo: NpmRepo, tmp_path: Path) -> None:
    client = npm_client("pnpm")
    home = NpmHome(tmp_path / "home")
    home.write_npmrc(npm_repo.endpoint, npm_repo.token)
    lib = package_json(tmp_path / "lib", "@acme/pnpm-lib", "1.0.0")
    home.run(client, "publish", "--no-git-checks", cwd=lib)
    consumer = _consumer(tmp_path, {"@acme/pnpm-lib": "^1.0.0"})
    home.run(client, "install", cwd=consumer)
    assert (consumer / "pnpm-lock.yaml").is_file()
    assert (consumer / "node_modules/@acme/pnpm-lib/index.js").is_file()
    # Again from the lockfile alone, in a fresh store.
    fresh = NpmHome(tmp_path / "home2")
    fresh.write_npmrc(npm_repo.endpoint, npm_repo.token)
    (consumer / "node_modules").rename(tmp_path / "old-modules")
    fresh.run(client, "install", "--frozen-lockfile", cwd=consumer)
    assert (consumer / "node_modules/@acme/pnpm-lib/index.js").is_file()


def test_yarn1_installs_with_a_lockfile(npm_repo: NpmRepo, tmp_path: Path) -> None:
    npm = npm_client("npm11")
    client = npm_client("yarn1")
    home = NpmHome(tmp_path / "home")
    home.write_npmrc(npm_repo.endpoint, npm_repo.token, always_auth=True)
    _publish(home, npm, package_json(tmp_path / "lib", "@acme/y1", "1.0.0"))
    _publish(home, npm, package_json(tmp_path / "lib2", "y1-lib", "2.0.0",
                                     dependencies={"@acme/y1": "1.0.0"}))
    consumer = _consumer(tmp_path, {"y1-lib": "^2.0.0"})
    home.run(client, "install", "--non-interactive", cwd=consumer)
    lock = (consumer / "yarn.lock").read_text()
    assert npm_repo.endpoint + "y1-lib/-/y1-lib-2.0.0.tgz" in lock
    assert (consumer / "node_modules/@acme/y1/index.js").is_file()
    (consumer / "node_modules").rename(tmp_path / "old-modules")
    fresh = NpmHome(tmp_path / "home2")
    fresh.write_npmrc(npm_repo.endpoint, npm_repo.token, always_auth=True)
    fresh.run(client, "install", "--frozen-lockfile", "--non-interactive", cwd=consumer)
    assert (consumer / "node_modules/y1-lib/index.js").is_file()


def test_yarn4_publishes_and_installs(npm_repo: NpmRepo, tmp_path: Path) -> None:
    client = npm_client("yarn4")
    home = NpmHome(tmp_path / "home")
    lib = package_json(tmp_path / "lib", "@acme/berry", "1.0.0")
    home.write_yarnrc_yml(lib, npm_repo.endpoint, npm_repo.token)
    (lib / "yarn.lock").write_text("")
    home.run(client, "install", cwd=lib)  # berry publishes from a workspace in its lockfile
    home.run(client, "npm", "publish", cwd=lib)
    assert npm_repo.packument("@acme/berry").json()["versions"]["1.0.0"]["name"] == "@acme/berry"
    consumer = _consumer(tmp_path, {"@acme/berry": "^1.0.0"})
    home.write_yarnrc_yml(consumer, npm_repo.endpoint, npm_repo.token)
    (consumer / ".yarnrc.yml").write_text((consumer / ".yarnrc.yml").read_text()
                                          + 'npmMinimalAgeGate: "0"\nnodeLinker: node-modules\n')
    (consumer / "yarn.lock").write_text("")
    home.run(client, "install", cwd=consumer)
    assert (consumer / "node_modules/@acme/berry/index.js").is_file()
    assert "@acme/berry@npm:1.0.0" in (consumer / "yarn.lock").read_text()


def _monorepo(root: Path, core: str, cli: str) -> None:
    """A monorepo of two workspaces, ``cli`` depending on ``core`` through ``workspace:^``
    (pnpm's and yarn's own protocol, which they rewrite to a range when they publish)."""
    root.mkdir()
    (root / "package.json").write_text(json.dumps(
        {"name": "monorepo", "version": "0.0.0", "private": True,
         "workspaces": ["packages/*"]}) + "\n")
    (root / "pnpm-workspace.yaml").write_text("packages:\n  - 'packages/*'\n")
    package_json(root / "packages/core", core, "1.0.0")
    package_json(root / "packages/cli", cli, "1.0.0", dependencies={core: "workspace:^"})


def _published_monorepo(npm_repo: NpmRepo, core: str, cli: str) -> None:
    assert list(npm_repo.packument(core).json()["versions"]) == ["1.0.0"]
    manifest = npm_repo.packument(cli).json()["versions"]["1.0.0"]
    assert manifest["dependencies"] == {core: "^1.0.0"}


def test_pnpm_publishes_every_workspace_of_a_monorepo(npm_repo: NpmRepo,
                                                      tmp_path: Path) -> None:
    client = npm_client("pnpm")
    home = NpmHome(tmp_path / "home")
    home.write_npmrc(npm_repo.endpoint, npm_repo.token)
    root = tmp_path / "monorepo"
    _monorepo(root, "@acme/pnpm-core", "pnpm-cli")
    home.run(client, "install", cwd=root)  # links the workspaces the publish resolves
    home.run(client, "-r", "publish", "--no-git-checks", cwd=root)
    _published_monorepo(npm_repo, "@acme/pnpm-core", "pnpm-cli")


def test_yarn4_publishes_every_workspace_of_a_monorepo(npm_repo: NpmRepo,
                                                       tmp_path: Path) -> None:
    client = npm_client("yarn4")
    home = NpmHome(tmp_path / "home")
    root = tmp_path / "monorepo"
    _monorepo(root, "@acme/berry-core", "berry-cli")
    home.write_yarnrc_yml(root, npm_repo.endpoint, npm_repo.token)
    (root / "yarn.lock").write_text("")
    home.run(client, "install", cwd=root)
    home.run(client, "workspaces", "foreach", "-A", "--no-private", "npm", "publish", cwd=root)
    _published_monorepo(npm_repo, "@acme/berry-core", "berry-cli")


def test_install_through_public_npmjs_then_the_upstream_goes_away(
        server_factory: Any, tmp_path: Path) -> None:
    from tests.integration.helpers import codeartifact_client
    from tests.integration.npm_registry import StaticRegistry

    client = npm_client("npm11")
    upstream = StaticRegistry(tmp_path / "registry")
    upstream.add("left-pad", "1.3.0")
    upstream.add("@types/thing", "2.0.0", dependencies={"left-pad": "^1.3.0"})
    server = server_factory(env={"PACKYARD_NPM_UPSTREAM_URL": upstream.url})
    api = codeartifact_client(server.url)
    repo = create_npm_repo(api, server.url, "up")
    api.associate_external_connection(domain=repo.domain, repository=repo.repository,
                                      externalConnection="public:npmjs")
    home = NpmHome(tmp_path / "home")
    home.write_npmrc(repo.endpoint, repo.token)
    consumer = _consumer(tmp_path, {"@types/thing": "^2.0.0"})
    home.run(client, "install", cwd=consumer)
    assert (consumer / "node_modules/left-pad/index.js").is_file()
    lock = json.loads((consumer / "package-lock.json").read_text())
    assert lock["packages"]["node_modules/left-pad"]["resolved"] == (
        repo.endpoint + "left-pad/-/left-pad-1.3.0.tgz")
    versions = api.list_package_versions(domain=repo.domain, repository=repo.repository,
                                         format="npm", package="left-pad")["versions"]
    assert [(v["version"], v["origin"]["originType"]) for v in versions] == [
        ("1.3.0", "EXTERNAL")]

    upstream.stop()
    (consumer / "node_modules").rename(tmp_path / "old-modules")
    (consumer / "package-lock.json").unlink()
    fresh = NpmHome(tmp_path / "home2")
    fresh.write_npmrc(repo.endpoint, repo.token)
    fresh.run(client, "install", cwd=consumer)
    assert (consumer / "node_modules/@types/thing/index.js").is_file()


def _audit_report(name: str, version: str) -> dict[str, Any]:
    """An npm 6 audit report (what the quick and full audit endpoints answer) with one
    advisory against ``name@version``."""
    return {
        "actions": [],
        "advisories": {"1001": {
            "id": 1001, "module_name": name, "severity": "high",
            "title": f"Prototype pollution in {name}", "url": "https://example.test/1001",
            "vulnerable_versions": f"<={version}", "patched_versions": f">{version}",
            "recommendation": "Upgrade", "cwe": "CWE-1321", "cves": [], "overview": "",
            "created": "2024-01-01T00:00:00.000Z", "updated": "2024-01-01T00:00:00.000Z",
            "deleted": None, "access": "public", "found_by": {"name": "test"},
            "reported_by": {"name": "test"}, "references": "", "github_advisory_id": "",
            "metadata": {"module_type": "", "exploitability": 1, "affected_components": ""},
            "findings": [{"version": version, "paths": [name]}]}},
        "muted": [],
        "metadata": {"vulnerabilities": {"info": 0, "low": 0, "moderate": 0, "high": 1,
                                         "critical": 0},
                     "dependencies": 1, "devDependencies": 0, "optionalDependencies": 0,
                     "totalDependencies": 1},
    }


def test_regression_pnpm_audit_reaches_the_upstreams_advisories(server_factory: Any,
                                                                 tmp_path: Path) -> None:
    from tests.integration.helpers import codeartifact_client
    from tests.integration.npm_registry import StaticRegistry

    client = npm_client("pnpm")
    upstream = StaticRegistry(tmp_path / "registry")
    try:
        upstream.add("left-pad", "1.3.0")
        upstream.post_body = json.dumps(_audit_report("left-pad", "1.3.0")).encode()
        server = server_factory(env={"PACKYARD_NPM_UPSTREAM_URL": upstream.url})
        api = codeartifact_client(server.url)
        repo = create_npm_repo(api, server.url, "audit")
        api.associate_external_connection(domain=repo.domain, repository=repo.repository,
                                          externalConnection="public:npmjs")
        home = NpmHome(tmp_path / "home")
        home.write_npmrc(repo.endpoint, repo.token)
        consumer = _consumer(tmp_path, {"left-pad": "^1.3.0"})
        home.run(client, "install", cwd=consumer)

        found = home.run(client, "audit", cwd=consumer, check=False)
        assert found.returncode == 1, found.stdout + found.stderr  # vulnerabilities found
        assert "Prototype pollution in left-pad" in found.stdout, found.stdout
        assert "1 vulnerabilities found" in found.stdout and "1 high" in found.stdout
        # pnpm's first choice, the quick audit, answered: the full one was not needed.
        assert [path for path, _ in upstream.posted] == ["/-/npm/v1/security/audits/quick"]
        tree = json.loads(upstream.posted[0][1])  # pnpm's importers, then their dependencies
        assert tree["dependencies"]["."]["requires"] == {"left-pad": "1.3.0"}, tree

        # Without public:npmjs: pnpm's own "no audit endpoint" error, never "no
        # vulnerabilities".
        api.disassociate_external_connection(domain=repo.domain, repository=repo.repository,
                                             externalConnection="public:npmjs")
        alone = home.run(client, "audit", cwd=consumer, check=False)
        assert alone.returncode != 0
        assert "ERR_PNPM_AUDIT_ENDPOINT_NOT_EXISTS" in alone.stdout + alone.stderr
        assert len(upstream.posted) == 1
    finally:
        upstream.stop()


def test_regression_npm_dist_tag_and_deprecate_a_version_only_the_upstream_has(
        server_factory: Any, tmp_path: Path) -> None:
    from tests.integration.helpers import codeartifact_client
    from tests.integration.npm_registry import StaticRegistry

    client = npm_client("npm11")
    upstream = StaticRegistry(tmp_path / "registry")
    try:
        upstream.add("left-pad", "1.0.0")
        upstream.add("left-pad", "2.0.0")
        server = server_factory(env={"PACKYARD_NPM_UPSTREAM_URL": upstream.url})
        api = codeartifact_client(server.url)
        repo = create_npm_repo(api, server.url, "edit")
        api.associate_external_connection(domain=repo.domain, repository=repo.repository,
                                          externalConnection="public:npmjs")
        home = NpmHome(tmp_path / "home")
        home.write_npmrc(repo.endpoint, repo.token)

        # Neither version was ever installed: each command keeps the one it names, then
        # changes the repository's copy (it said "version not found" / "not in this
        # registry").
        home.run(client, "dist-tag", "add", "left-pad@1.0.0", "stable", cwd=tmp_path)
        listed = home.run(client, "dist-tag", "ls", "left-pad", cwd=tmp_path).stdout
        assert "latest: 2.0.0" in listed and "stable: 1.0.0" in listed, listed
        home.run(client, "deprecate", "left-pad@2.0.0", "use 3.x", cwd=tmp_path)
        document = repo.packument("left-pad").json()
        assert document["dist-tags"] == {"latest": "2.0.0", "stable": "1.0.0"}
        assert document["versions"]["2.0.0"]["deprecated"] == "use 3.x"
        assert "deprecated" not in document["versions"]["1.0.0"]
        versions = api.list_package_versions(domain=repo.domain, repository=repo.repository,
                                             format="npm", package="left-pad")["versions"]
        assert sorted((v["version"], v["origin"]["originType"]) for v in versions) == [
            ("1.0.0", "EXTERNAL"), ("2.0.0", "EXTERNAL")]
        # npm install sees both changes.
        consumer = _consumer(tmp_path, {"left-pad": "stable"})
        home.run(client, "install", cwd=consumer)
        lock = json.loads((consumer / "package-lock.json").read_text())
        assert lock["packages"]["node_modules/left-pad"]["version"] == "1.0.0"
        newer = home.run(client, "install", "left-pad@2.0.0", cwd=consumer)
        assert "npm warn deprecated left-pad@2.0.0: use 3.x" in newer.stderr, newer.stderr
    finally:
        upstream.stop()
