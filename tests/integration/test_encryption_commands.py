"""The encryption commands as an operator runs them, in their own processes: ``packyard encrypt``
and ``packyard keys rotate`` killed with SIGKILL mid-run lose nothing and the next run finishes;
``packyard verify`` reports what it finds, as text and JSON; a server keeps serving every file
while ``packyard encrypt`` runs beside it."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import anyio
import pytest

from packyard.auth.principal import root_principal
from packyard.bootstrap import Services, build_services
from packyard.crypto.context import EncryptionContext
from packyard.metadata.catalog import NewAsset, NewVersion
from packyard.settings import load_settings
from tests.integration.helpers import (
    DistFactory,
    DistSpec,
    ServerProcess,
    codeartifact_client,
    free_port,
    run,
    server_env,
    start_packyard,
    tool,
)
from tests.integration.packyard_forks import ForkedProcess

NOW = datetime(2026, 1, 1, tzinfo=UTC)
OWNER = "000000000000"
ROOT = root_principal(OWNER)


def _services(data_dir: Path, **env: str) -> Services:
    return build_services(load_settings(environ=env, data_dir=data_dir))


def _plain_data_dir(data_dir: Path, count: int, size: int) -> dict[str, str]:
    """A data directory as an earlier release left it: ``count`` files stored plain, in a
    domain whose key is the made-up ARN earlier releases recorded. Returns sha256 → name."""
    data_dir.mkdir(parents=True)
    services = _services(data_dir, PACKYARD_ENCRYPTION="off")
    catalog = services.catalog
    domain = catalog.create_domain("acme", OWNER, f"arn:aws:kms:us-east-1:{OWNER}:key/"
                                   "packyard-acme", NOW)
    repo = catalog.create_repository(domain, "shelf", "", OWNER, NOW)
    names = {}
    for i in range(count):
        data = os.urandom(size)
        digests = services.blobs.put_bytes(data, domain.blob_key)
        name = f"p{i}-1.0-py3-none-any.whl"
        version = NewVersion(version="1.0", version_key="1", summary="s", home_page=None,
                             source_code_repository=None, licenses=[], readme=None,
                             readme_content_type=None, dependencies=[])
        asset = NewAsset(name=name, size=size, sha256=digests.sha256, sha512=digests.sha512,
                         sha1=digests.sha1, md5=digests.md5)
        catalog.publish(repo, "pypi", "", f"p{i}", f"p{i}", version, asset,
                        {digests.sha256: size}, NOW)
        names[digests.sha256] = name
    catalog.dispose()
    return names


def _packyard(*args: str) -> list[str]:
    return [str(tool("packyard")), *args]


def _kill_when(proc: subprocess.Popen[bytes] | ForkedProcess, ready: Callable[[], bool],
               timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the command finished before it could be killed mid-run"
        if ready():
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            return
        time.sleep(0.002)
    proc.kill()
    raise AssertionError("the command made no progress")


def _all_readable(data_dir: Path, names: dict[str, str]) -> None:
    services = _services(data_dir)
    try:
        key = "d1"

        async def digest(sha: str) -> str:
            hasher = hashlib.sha256()
            async for chunk in services.blobs.read(key, sha):
                hasher.update(chunk)
            return hasher.hexdigest()

        for sha in names:
            assert anyio.run(digest, sha) == sha
    finally:
        services.catalog.dispose()


def _data_key_count(data_dir: Path) -> int:
    services = _services(data_dir, PACKYARD_ENCRYPTION="on")
    try:
        return services.catalog.data_key_count()
    finally:
        services.catalog.dispose()


def test_encrypt_killed_mid_run_loses_nothing_and_the_next_run_finishes(
        tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    names = _plain_data_dir(data_dir, count=300, size=70_000)
    env = server_env({"PACKYARD_DATA_DIR": str(data_dir)})
    proc = start_packyard(_packyard("encrypt"), env)
    services = _services(data_dir)
    try:
        _kill_when(proc, lambda: services.catalog.data_key_count() >= 20)
        done = services.catalog.data_key_count()
    finally:
        services.catalog.dispose()
    assert 20 <= done < len(names)
    _all_readable(data_dir, names)  # half done: every file still reads right

    finished = run(_packyard("encrypt", "--output", "json"), env, check=False, timeout=300)
    assert finished.returncode == 0, finished.stderr
    counts = json.loads(finished.stdout)["counts"]
    # "done": a blob whose key row the killed run committed but whose plain file it had not
    # removed yet (those still in their grace period for readers, migration.py, and the one
    # it was on).
    assert counts.get("encrypted", 0) == len(names) - done and counts.get("done", 0) <= done
    assert _data_key_count(data_dir) == len(names)
    assert [p for p in (data_dir / "blobs" / "d1").rglob("*") if p.is_file()] == []
    _all_readable(data_dir, names)

    verified = run(_packyard("verify", "--output", "json"), env, check=False, timeout=300)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert json.loads(verified.stdout) == {"ok": True, "counts": {"ok": len(names)},
                                           "findings": [], "stray": []}


def test_a_plain_file_left_beside_its_ciphertext_is_removed_by_the_next_run(
        tmp_path: Path) -> None:
    # The window of a kill between a blob's key row and the removal of its plain file: the
    # next run no longer lists the blob as plain (it has a key), yet must remove the file.
    data_dir = tmp_path / "data"
    names = _plain_data_dir(data_dir, count=3, size=1000)
    env = server_env({"PACKYARD_DATA_DIR": str(data_dir)})
    first = run(_packyard("encrypt"), env, check=False, timeout=300)
    assert first.returncode == 0, first.stderr
    sha = sorted(names)[0]
    services = _services(data_dir)
    try:
        assert services.encryption is not None

        async def plain() -> bytes:
            return b"".join([chunk async for chunk in services.blobs.read("d1", sha)])

        data = anyio.run(plain)
        services.encryption.blobs.inner.put_bytes(data, "d1")  # the plain file, back
    finally:
        services.catalog.dispose()
    assert [p.name for p in (data_dir / "blobs" / "d1").rglob("*") if p.is_file()] == [sha]
    again = run(_packyard("encrypt", "--output", "json"), env, check=False, timeout=300)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["counts"] == {"done": 1}
    assert [p for p in (data_dir / "blobs" / "d1").rglob("*") if p.is_file()] == []
    _all_readable(data_dir, names)


def test_verify_reports_tampered_and_plain_blobs(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    names = _plain_data_dir(data_dir, count=3, size=1000)
    env = server_env({"PACKYARD_DATA_DIR": str(data_dir)})
    first, second, third = sorted(names)
    services = _services(data_dir)
    try:
        assert services.encryption is not None
        services.encryption.blobs.encrypt_plain("d1", first)
        services.encryption.blobs.encrypt_plain("d1", second)
    finally:
        services.catalog.dispose()
    sealed = data_dir / "blobs" / "d1.enc" / second[:2] / second
    sealed.write_bytes(sealed.read_bytes()[:-1] + b"\0")

    text = run(_packyard("verify", "--domain", "acme"), env, check=False, timeout=120)
    assert text.returncode == 1
    assert text.stdout.splitlines()[0] == (
        "3 blobs checked: 1 ok, 1 not encrypted yet, 1 tampered with, 0 missing, 0 corrupt, "
        "0 whose key the provider will not open")
    assert f"tampered: blob {second} of domain acme (d1)" in text.stdout

    report = json.loads(run(_packyard("verify", "--output", "json"), env, check=False,
                            timeout=120).stdout)
    assert report["ok"] is False
    assert report["counts"] == {"ok": 1, "plain": 1, "tampered": 1}
    assert {f["domainName"] for f in report["findings"]} == {"acme"}
    assert {(f["sha256"], f["status"]) for f in report["findings"]} == {
        (second, "tampered"), (third, "plain")}

    unknown = run(_packyard("verify", "--domain", "nope"), env, check=False, timeout=120)
    assert unknown.returncode == 2
    assert "no domain 'nope' on this server" in unknown.stderr


def test_rotation_killed_mid_run_loses_nothing_and_resume_finishes(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    names = _plain_data_dir(data_dir, count=2, size=1000)
    env = server_env({"PACKYARD_DATA_DIR": str(data_dir)})
    assert run(_packyard("encrypt"), env, check=False, timeout=120).returncode == 0
    services = _services(data_dir)
    try:
        assert services.encryption is not None
        provider = services.encryption.provider
        kek = services.encryption.keys.kek_of(1)
        key_id = provider.describe_key(kek).key_id
        # Many more data keys than blobs, so that the kill lands mid-way (in one transaction:
        # 3,000 durable commits took most of this test's time).
        stored = type(services.catalog.data_key(1, next(iter(names))))
        keys = []
        for i in range(3000):
            context = EncryptionContext("d1", f"{i:064x}")
            fresh = provider.generate_data_key(kek, context)
            keys.append(stored(1, context.sha256, "local", key_id, fresh.wrapped.key_version,
                               fresh.wrapped.ciphertext, 0))
        services.catalog.add_data_keys(keys, NOW)
        proc = start_packyard(_packyard("keys", "rotate", "--domain", "acme"), env)
        _kill_when(proc, lambda: services.catalog.data_key_versions(key_id).get(2, 0) >= 50)
        versions = services.catalog.data_key_versions(key_id)
        assert versions.get(1, 0) > 0 and versions.get(2, 0) >= 50
    finally:
        services.catalog.dispose()
    _all_readable(data_dir, names)

    resumed = run(_packyard("keys", "rotate", "--domain", "acme", "--resume", "--output",
                            "json"), env, check=False, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    report = json.loads(resumed.stdout)
    assert report["version"] == 2 and report["retired"] == [1]
    services = _services(data_dir)
    try:
        assert services.catalog.data_key_versions(key_id) == {2: 3002}
        assert services.encryption is not None
        assert services.encryption.provider.describe_key(kek).versions == (2,)
    finally:
        services.catalog.dispose()
    _all_readable(data_dir, names)


@pytest.mark.timeout(300)
def test_the_server_serves_every_file_while_encrypt_runs(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    names = _plain_data_dir(data_dir, count=200, size=70_000)
    server = ServerProcess(data_dir, tmp_path / "server.log", server_env()).start()
    try:
        api = codeartifact_client(server.url)
        env = server_env({"PACKYARD_DATA_DIR": str(data_dir)})
        proc = start_packyard(_packyard("encrypt"), env)
        rounds = 0
        while proc.poll() is None or rounds == 0:
            for sha, name in names.items():
                package = name.split("-")[0]
                body = api.get_package_version_asset(
                    domain="acme", repository="shelf", format="pypi", package=package,
                    packageVersion="1.0", asset=name)["asset"].read()
                assert hashlib.sha256(body).hexdigest() == sha
            rounds += 1
        assert proc.returncode == 0
    finally:
        server.stop()


_UPLOADER = """
import os, sys, time
from pathlib import Path
from packyard.bootstrap import build_services
from packyard.settings import load_settings
services = build_services(load_settings(environ={}, data_dir=Path(sys.argv[1])))
for i in range(1000):
    data = (b"kill-9 %d " % i) * 200
    digests = services.blobs.put_bytes(data, "d1")
    # The ciphertext is committed; the asset rows would come next, but never do.
    print(digests.sha256, flush=True)
time.sleep(60)
"""


def test_an_upload_killed_between_ciphertext_and_asset_rows_keeps_its_data_key(
        tmp_path: Path) -> None:
    """Data key rows of uploads are committed without their own flush (the asset rows' commit
    flushes them); a SIGKILL after the ciphertext and before the asset rows loses none: each
    blob stored still has its key and reads back, and uploading the same bytes again works."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    services = _services(data_dir)
    assert services.encryption is not None
    services.catalog.create_domain("acme", OWNER, services.encryption.keys.for_new_domain(None),
                                   NOW)
    services.catalog.dispose()
    proc = subprocess.Popen([str(tool("python")), "-c", _UPLOADER, str(data_dir)],
                            stdout=subprocess.PIPE)
    assert proc.stdout is not None
    committed = [proc.stdout.readline().decode().strip() for _ in range(25)]
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    assert all(len(sha) == 64 for sha in committed)
    _all_readable(data_dir, {sha: sha for sha in committed})
    services = _services(data_dir)
    try:
        assert services.catalog.data_key_count() >= len(committed)
        again = services.blobs.put_bytes(b"kill-9 0 " * 200, "d1")
        assert again.sha256 == committed[0]
    finally:
        services.catalog.dispose()
    _all_readable(data_dir, {committed[0]: ""})


def test_ciphertext_whose_key_row_a_power_loss_took_is_replaced_by_the_next_upload(
        tmp_path: Path) -> None:
    """What an unflushed key row risks (a power loss before the asset rows' commit): ciphertext
    stored, its row gone. The next upload of the same bytes writes a new key and replaces it."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    services = _services(data_dir)
    try:
        assert services.encryption is not None
        services.catalog.create_domain("acme", OWNER,
                                       services.encryption.keys.for_new_domain(None), NOW)
        data = b"lost key row " * 300
        sha = services.blobs.put_bytes(data, "d1").sha256
        services.catalog.delete_data_key(1, sha)  # as if the power went before the flush
    finally:
        services.catalog.dispose()
    services = _services(data_dir)  # a new process: no key in memory either
    try:
        assert services.blobs.put_bytes(data, "d1").sha256 == sha
        assert services.catalog.data_key(1, sha) is not None
    finally:
        services.catalog.dispose()
    _all_readable(data_dir, {sha: "x"})


def test_regression_commands_that_encrypt_are_refused_while_a_plain_server_runs(
        tmp_path: Path, dists: DistFactory) -> None:
    """``packyard encrypt`` (or ``import``, or a second server, with encryption on) beside a
    server started with ``PACKYARD_ENCRYPTION=off``: each file it encrypted was a 404 there
    until a restart. Refused now, in one line, and every file still served."""
    data_dir = tmp_path / "data"
    names = _plain_data_dir(data_dir, count=3, size=1000)
    server = ServerProcess(data_dir, tmp_path / "server.log",
                           server_env({"PACKYARD_ENCRYPTION": "off"})).start()
    env = server_env({"PACKYARD_DATA_DIR": str(data_dir)})
    try:
        wheel = dists.wheel(DistSpec(name="late", version="1.0"))
        for command in (["encrypt"], ["import", "--domain", "acme", "--repository", "shelf",
                                      str(wheel.path)]):
            refused = run(_packyard(*command), env, check=False)
            assert refused.returncode == 2, refused.stdout + refused.stderr
            message = " ".join(refused.stderr.split())
            assert (f"error: a server with PACKYARD_ENCRYPTION=off is running on {data_dir}, "
                    f"and it could not read the files packyard {command[0]} encrypts: restart "
                    "that server with encryption on (unset PACKYARD_ENCRYPTION) first") in message
        started = run(_packyard("serve", "--port", str(free_port()), "--data-dir",
                                str(data_dir)), server_env(), check=False, timeout=60)
        assert started.returncode == 2
        assert "the files this server encrypts" in " ".join((started.stdout + started.stderr)
                                                            .split())
        api = codeartifact_client(server.url)
        for sha, name in names.items():
            body = api.get_package_version_asset(
                domain="acme", repository="shelf", format="pypi", package=name.split("-")[0],
                packageVersion="1.0", asset=name)["asset"].read()
            assert hashlib.sha256(body).hexdigest() == sha
    finally:
        server.stop()
    assert _data_key_count(data_dir) == 0  # nothing was encrypted behind its back
    # Once it is stopped, the same command runs.
    done = run(_packyard("encrypt"), env)
    assert done.stdout.startswith("3 encrypted")
