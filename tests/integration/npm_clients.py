"""The real npm, pnpm, yarn and bun the suite installs, each run in a home of its own.

``scripts/test`` installs pinned releases into ``.test-cache/npm-clients/`` and names each one's
script in a ``PACKYARD_*`` variable (``PACKYARD_NPM10``, ``PACKYARD_NPM11``, ``PACKYARD_PNPM``,
``PACKYARD_YARN1``, ``PACKYARD_YARN4``; ``PACKYARD_BUN`` names bun's binary); they are read when
this module is imported, because the suite's session fixture removes ``PACKYARD_*`` from the
environment. A test asks for a client
with :func:`npm_client`, which skips the test when the setup could not install it (offline).

Each run gets an environment built from scratch, like the Python clients in ``helpers``: its
own HOME, npm userconfig and globalconfig, caches, pnpm store, yarn folders and bun cache, so nothing from
the machine (``~/.npmrc``, a global yarnrc, a proxy, ``CI``) changes what the client does.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

NODE = shutil.which("node")


@dataclass(frozen=True)
class NpmClient:
    """One installed client: what to call it, and the script node runs (bun: its binary)."""

    key: str
    """``npm10``, ``npm11``, ``pnpm``, ``yarn1``, ``yarn4`` or ``bun``."""
    tool: str
    """``npm``, ``pnpm``, ``yarn`` or ``bun``: which configuration files it reads."""
    script: Path

    @property
    def argv(self) -> list[str]:
        """What runs the client: node and its script, or bun's own binary."""
        assert NODE is not None
        return [str(self.script)] if self.tool == "bun" else [NODE, str(self.script)]

    @property
    def is_berry(self) -> bool:
        """yarn 2+ reads .yarnrc.yml only, never .npmrc."""
        return self.key == "yarn4"


_VARIABLES = {"npm10": ("npm", "PACKYARD_NPM10"), "npm11": ("npm", "PACKYARD_NPM11"),
              "pnpm": ("pnpm", "PACKYARD_PNPM"), "yarn1": ("yarn", "PACKYARD_YARN1"),
              "yarn4": ("yarn", "PACKYARD_YARN4"), "bun": ("bun", "PACKYARD_BUN")}
# Read now: the session fixture clears PACKYARD_* before any test runs.
INSTALLED: dict[str, NpmClient] = {
    key: NpmClient(key, tool, Path(os.environ[variable]))
    for key, (tool, variable) in _VARIABLES.items()
    if os.environ.get(variable) and Path(os.environ[variable]).is_file()
}
ALL_CLIENTS = tuple(_VARIABLES)
PINNED = {"npm10": "10.9.9", "npm11": "11.21.2", "pnpm": "10.34.9", "yarn1": "1.22.22",
          "yarn4": "4.18.1", "bun": "1.4.5"}
"""What scripts/test installs (the reasons are there)."""


def npm_client(key: str) -> NpmClient:
    """The installed client ``key``; skips the test when it is not there."""
    if NODE is None:
        pytest.skip("node is not installed")
    client = INSTALLED.get(key)
    if client is None:
        pytest.skip(f"{key} was not installed by scripts/test (offline?); "
                    f"set {_VARIABLES[key][1]} to its {'binary' if key == 'bun' else 'script'}")
    return client


def nerf_dart(registry: str) -> str:
    """npm's key prefix for a registry's credentials: ``//host:port/path/``."""
    parts = urlsplit(registry)
    path = parts.path if parts.path.endswith("/") else parts.path + "/"
    return f"//{parts.netloc}{path}"


@dataclass
class NpmHome:
    """A throwaway home for the npm clients of one test."""

    root: Path

    def __post_init__(self) -> None:
        for sub in ("tmp", ".config", ".cache", ".local/share", ".local/state", "pnpm-home",
                    "npm-global/etc", ".yarn-berry", ".yarn-cache", ".bun-cache"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.npmrc.touch()
        self.global_npmrc.touch()

    @property
    def npmrc(self) -> Path:
        """The user config npm, pnpm, yarn 1 and bun read, and ``aws codeartifact login``
        writes (bun reads ``$HOME/.npmrc``, not npm's variables)."""
        return self.root / ".npmrc"

    @property
    def global_npmrc(self) -> Path:
        return self.root / "npm-global" / "etc" / "npmrc"

    def env(self, client: NpmClient, **extra: str) -> dict[str, str]:
        """A clean environment for ``client``: no variable from outside but the locale."""
        assert NODE is not None
        env = {k: v for k, v in os.environ.items() if k in {"LANG", "LC_ALL", "TZ", "TERM"}}
        env.update({
            "PATH": os.pathsep.join([str(Path(NODE).parent), "/usr/local/bin", "/usr/bin",
                                     "/bin"]),
            "HOME": str(self.root),
            "TMPDIR": str(self.root / "tmp"),
            "XDG_CONFIG_HOME": str(self.root / ".config"),
            "XDG_CACHE_HOME": str(self.root / ".cache"),
            "XDG_DATA_HOME": str(self.root / ".local/share"),
            "XDG_STATE_HOME": str(self.root / ".local/state"),
            "NO_PROXY": "*",
            "no_proxy": "*",
            "NO_UPDATE_NOTIFIER": "1",
            # npm (and pnpm, yarn 1, which read npm's configuration too)
            "NPM_CONFIG_USERCONFIG": str(self.npmrc),
            "NPM_CONFIG_GLOBALCONFIG": str(self.global_npmrc),
            "NPM_CONFIG_CACHE": str(self.root / ".npm-cache"),
            "NPM_CONFIG_UPDATE_NOTIFIER": "false",
            "NPM_CONFIG_FUND": "false",
        })
        if client.tool == "pnpm":
            env["PNPM_HOME"] = str(self.root / "pnpm-home")
            env["COREPACK_ENABLE_STRICT"] = "0"
        elif client.key == "yarn1":
            env["YARN_CACHE_FOLDER"] = str(self.root / ".yarn-cache")
            env["YARN_DISABLE_SELF_UPDATE_CHECK"] = "true"
        elif client.is_berry:
            # Only settings berry knows: it aborts on an unknown YARN_* variable.
            env["YARN_GLOBAL_FOLDER"] = str(self.root / ".yarn-berry")
            env["YARN_ENABLE_TELEMETRY"] = "0"
        elif client.tool == "bun":
            env["BUN_INSTALL_CACHE_DIR"] = str(self.root / ".bun-cache")
            env["DO_NOT_TRACK"] = "1"  # no telemetry, no crash report sent anywhere
        env.update(extra)
        return env

    def run(self, client: NpmClient, *args: str | Path, cwd: Path, check: bool = True,
            timeout: float = 180.0, env: Mapping[str, str] | None = None,
            ) -> subprocess.CompletedProcess[str]:
        """Run ``client`` with ``args`` in ``cwd``; on an unexpected exit, fail with its output."""
        argv = [*client.argv, *(str(a) for a in args)]
        proc = subprocess.run(argv, env=dict(env or self.env(client)), cwd=cwd, timeout=timeout,
                              capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if check and proc.returncode != 0:
            raise AssertionError(
                f"{client.key} failed with exit code {proc.returncode}: {' '.join(argv[1:])}\n"
                f"--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}")
        return proc

    def write_npmrc(self, registry: str, token: str, *, scope: str | None = None,
                    always_auth: bool = False) -> None:
        """What ``aws codeartifact login --tool npm`` leaves in the userconfig (plus yarn 1's
        ``always-auth``, without which it sends no token on GETs)."""
        dart = nerf_dart(registry)
        lines = [f"{dart}:_authToken={token}",
                 f"@{scope}:registry={registry}" if scope else f"registry={registry}"]
        if always_auth:
            lines.append(f"{dart}:always-auth=true")
        self.npmrc.write_text("\n".join(lines) + "\n")

    @staticmethod
    def write_yarnrc_yml(project: Path, registry: str, token: str) -> None:
        """yarn 4's project configuration for a plain-http registry that needs a token on every
        request (without npmAlwaysAuth unscoped GETs go anonymous: YN0041)."""
        host = urlsplit(registry).hostname or ""
        (project / ".yarnrc.yml").write_text(
            f'npmRegistryServer: "{registry}"\n'
            f'npmAuthToken: "{token}"\n'
            "npmAlwaysAuth: true\n"
            f'unsafeHttpWhitelist: ["{host}"]\n'
            "enableTelemetry: false\n"
            "enableGlobalCache: false\n")


def package_json(project: Path, name: str, version: str = "1.0.0",
                 dependencies: Mapping[str, str] | None = None,
                 extra_files: Sequence[tuple[str, str]] = ()) -> Path:
    """Write a small package into ``project`` (README and index.js included)."""
    project.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, object] = {"name": name, "version": version, "main": "index.js",
                                   "description": f"{name} for Packyard's tests"}
    if dependencies:
        manifest["dependencies"] = dict(dependencies)
    (project / "package.json").write_text(json.dumps(manifest, indent=2) + "\n")
    (project / "index.js").write_text(f"module.exports = {json.dumps(name)}\n")
    (project / "README.md").write_text(f"# {name}\n")
    for relative, text in extra_files:
        (project / relative).write_text(text)
    return project
