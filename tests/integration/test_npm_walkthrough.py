"""The README's npm walkthrough as written: its ``<!-- walkthrough: npm -->`` blocks run by bash
in a fresh home directory with the real AWS CLI, npm 11 and pnpm 10 (as ``npm`` and ``pnpm`` on
PATH), against a server where the main walkthrough's domain and repositories exist, with
``public:npmjs`` pointed at a small registry served here."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.helpers import BIN, ClientHome, codeartifact_client
from tests.integration.npm_clients import NODE, NpmHome, npm_client, package_json
from tests.integration.npm_registry import StaticRegistry
from tests.integration.test_first_hour import walkthrough


def _shim(bin_dir: Path, name: str, script: Path) -> None:
    assert NODE is not None
    shim = bin_dir / name
    shim.write_text(f'#!/bin/sh\nexec "{NODE}" "{script}" "$@"\n')
    shim.chmod(0o755)


def test_the_readme_npm_walkthrough(server_factory: Any, tmp_path: Path,
                                    request: pytest.FixtureRequest) -> None:
    npm, pnpm = npm_client("npm11"), npm_client("pnpm")
    upstream = StaticRegistry(tmp_path / "registry")
    request.addfinalizer(upstream.stop)
    upstream.add("left-pad", "1.3.0")
    server = server_factory(env={"PACKYARD_NPM_UPSTREAM_URL": upstream.url})
    # Where the main walkthrough leaves the user.
    api = codeartifact_client(server.url)
    api.create_domain(domain="my-domain")
    api.create_repository(domain="my-domain", repository="pypi-store")
    api.associate_external_connection(domain="my-domain", repository="pypi-store",
                                      externalConnection="public:pypi")
    api.create_repository(domain="my-domain", repository="my-repo",
                          upstreams=[{"repositoryName": "pypi-store"}])

    root = tmp_path / "home"
    home, npm_home = ClientHome(root), NpmHome(root)
    package_json(root / "my-lib", "@acme/my-lib", "1.0.0")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _shim(bin_dir, "npm", npm.script)
    _shim(bin_dir, "pnpm", pnpm.script)
    env = {**npm_home.env(pnpm), **npm_home.env(npm), **home.env()}
    env["PATH"] = ":".join([str(bin_dir), str(BIN), str(Path(str(NODE)).parent),
                            "/usr/local/bin", "/usr/bin", "/bin"])
    script = (f'set -euxo pipefail\nE="--endpoint-url {server.url}"\n'
              + walkthrough("npm"))
    done = subprocess.run(["bash", "-c", script], env=env, cwd=root, capture_output=True,
                          text=True, timeout=600, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"

    assert "\nroot\n" in f"\n{done.stdout}"  # npm whoami
    for app in ("my-app", "my-pnpm-app"):
        assert (root / app / "node_modules/@acme/my-lib/index.js").is_file(), app
    assert (root / "my-app/node_modules/left-pad/index.js").is_file()
    assert (root / "my-pnpm-app/pnpm-lock.yaml").is_file()
    lock = json.loads((root / "my-app/package-lock.json").read_text())
    endpoint = f"{server.url}/my-domain-000000000000/npm/my-repo/"
    assert lock["packages"]["node_modules/@acme/my-lib"]["resolved"] == (
        endpoint + "@acme/my-lib/-/my-lib-1.0.0.tgz")
    kept = api.list_package_versions(domain="my-domain", repository="npm-store", format="npm",
                                     package="left-pad")["versions"]
    assert [(v["version"], v["origin"]["originType"]) for v in kept] == [("1.3.0", "EXTERNAL")]
    # The unpublish, checked from the registry rather than from npm's exit code.
    token = api.get_authorization_token(domain="my-domain")["authorizationToken"]
    gone = httpx.get(endpoint + "@acme%2fmy-lib", headers={"Authorization": f"Bearer {token}"})
    assert gone.status_code == 404, gone.text
