"""The npm clients the suite installs run, each isolated in a home of its own."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.npm_clients import ALL_CLIENTS, PINNED, NpmHome, nerf_dart, npm_client

REGISTRY = "http://127.0.0.1:4997/dom-000000000000/npm/repo/"


@pytest.mark.parametrize("key", ALL_CLIENTS)
def test_each_client_runs_at_its_pinned_version(key: str, tmp_path: Path) -> None:
    client = npm_client(key)
    home = NpmHome(tmp_path / "home")
    assert home.run(client, "--version", cwd=tmp_path).stdout.strip() == PINNED[key]


@pytest.mark.parametrize("key", ["npm10", "npm11", "pnpm"])
def test_npm_configuration_comes_from_the_home(key: str, tmp_path: Path) -> None:
    client = npm_client(key)
    home = NpmHome(tmp_path / "home")
    home.write_npmrc(REGISTRY, "TOKEN123")
    assert home.npmrc.read_text() == (
        "//127.0.0.1:4997/dom-000000000000/npm/repo/:_authToken=TOKEN123\n"
        f"registry={REGISTRY}\n")
    got = home.run(client, "config", "get", "registry", cwd=tmp_path).stdout.strip()
    assert got == REGISTRY
    if client.tool == "npm":
        userconfig = home.run(client, "config", "get", "userconfig", cwd=tmp_path).stdout
        assert userconfig.strip() == str(home.npmrc)


def test_yarn4_reads_its_project_configuration(tmp_path: Path) -> None:
    client = npm_client("yarn4")
    home = NpmHome(tmp_path / "home")
    project = tmp_path / "project"
    project.mkdir()
    (project / "package.json").write_text('{"name": "consumer", "private": true}\n')
    home.write_yarnrc_yml(project, REGISTRY, "TOKEN123")
    got = home.run(client, "config", "get", "npmRegistryServer", cwd=project).stdout.strip()
    assert got == REGISTRY


def test_nerf_dart() -> None:
    assert nerf_dart("http://h:1/a/b") == "//h:1/a/b/"
    assert nerf_dart(REGISTRY) == "//127.0.0.1:4997/dom-000000000000/npm/repo/"
