"""bun against a real Packyard, as `aws codeartifact login --tool npm` leaves a machine: the
token in ~/.npmrc; bun publish, bun install with its lockfile, and what bun prints when the
registry refuses the token. The server's upstreams lead nowhere: only what the test
published can be installed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.integration.helpers import ServerProcess, codeartifact_client
from tests.integration.npm_clients import NpmHome, npm_client, package_json
from tests.integration.npm_registry import NpmRepo, create_npm_repo


@pytest.fixture
def npm_repo(request: pytest.FixtureRequest) -> NpmRepo:
    npm_client("bun")  # skips before the server starts when bun is not there
    offline_server: ServerProcess = request.getfixturevalue("offline_server")
    api: Any = codeartifact_client(offline_server.url)
    return create_npm_repo(api, offline_server.url, "bun")


def test_bun_publishes_a_scoped_package_and_installs_it_with_a_lockfile(
        npm_repo: NpmRepo, tmp_path: Path) -> None:
    bun = npm_client("bun")
    home = NpmHome(tmp_path / "home")
    home.write_npmrc(npm_repo.endpoint, npm_repo.token)
    lib = package_json(tmp_path / "lib", "@acme/bun-util", "1.0.0")
    published = home.run(bun, "publish", cwd=lib)
    assert "+ @acme/bun-util@1.0.0" in published.stdout, published.stdout
    document = npm_repo.packument("@acme/bun-util").json()
    assert document["dist-tags"] == {"latest": "1.0.0"}
    assert document["readme"] == "# @acme/bun-util\n"

    app = tmp_path / "app"
    app.mkdir()
    (app / "package.json").write_text(json.dumps(
        {"name": "bun-app", "private": True,
         "dependencies": {"@acme/bun-util": "^1.0.0"}}) + "\n")
    home.run(bun, "install", cwd=app)
    assert (app / "node_modules/@acme/bun-util/index.js").read_text() == (
        'module.exports = "@acme/bun-util"\n')
    lock = (app / "bun.lock").read_text()
    assert (f'["@acme/bun-util@1.0.0", "{npm_repo.endpoint}@acme/bun-util/-/bun-util-1.0.0.tgz"'
            in lock), lock
    assert npm_repo.token not in lock

    # Again from the lockfile alone, with an empty cache: the tarball it names is fetched.
    (app / "node_modules").rename(tmp_path / "old-modules")
    fresh = NpmHome(tmp_path / "home2")
    fresh.write_npmrc(npm_repo.endpoint, npm_repo.token)
    fresh.run(bun, "install", "--frozen-lockfile", cwd=app)
    assert (app / "node_modules/@acme/bun-util/package.json").is_file()


def test_bun_publish_with_a_refused_token_prints_the_401_and_its_reason(
        npm_repo: NpmRepo, tmp_path: Path) -> None:
    bun = npm_client("bun")
    home = NpmHome(tmp_path / "home")
    home.write_npmrc(npm_repo.endpoint, "not-a-token")
    lib = package_json(tmp_path / "lib", "@acme/bun-refused", "1.0.0")
    refused = home.run(bun, "publish", cwd=lib, check=False)
    assert refused.returncode != 0
    output = refused.stdout + refused.stderr
    assert "401 Unauthorized" in output, output
    assert " - Invalid authorization token" in output, output
    assert npm_repo.packument("@acme/bun-refused").status_code == 404
