"""``packyard verify`` on a registry run with ``PACKYARD_ENCRYPTION=off``: its missing and corrupt
blobs named with their versions, its strays listed and deleted, its plain blobs no finding; and
beside a server with encryption off, as beside one with it on."""

from __future__ import annotations

import json
import os
import time

import pytest
from click.testing import CliRunner

from packyard.cli.main import main
from packyard.encryption.mode_locks import hold_encrypting_mode, hold_plain_mode
from tests.inprocess.conftest import PackyardFactory
from tests.inprocess.harness import InProcessPackyard
from tests.integration.helpers import Dist, DistFactory, DistSpec, upload

OFF = {"PACKYARD_ENCRYPTION": "off"}
TWO_HOURS_AGO = time.time() - 2 * 3600


def _verify(packyard: InProcessPackyard, *options: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["verify", "--data-dir", str(packyard.settings.data_dir),
                                       *options], env=OFF)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def plain(packyard_factory: PackyardFactory) -> InProcessPackyard:
    return packyard_factory(encryption="off")


def _publish(packyard: InProcessPackyard, dists: DistFactory, *names: str) -> list[Dist]:
    repo = packyard.pypi_repo()
    published = [dists.wheel(DistSpec(name=name, version="1.0")) for name in names]
    for dist in published:
        assert upload(repo, dist).status_code == 200
    return published


def test_regression_verify_runs_on_a_registry_with_encryption_off(
        plain: InProcessPackyard, dists: DistFactory) -> None:
    """It refused ('PACKYARD_ENCRYPTION=off: set it to on (the default) to use encryption'):
    a registry run without encryption could not check its files nor reclaim a stray's space."""
    _publish(plain, dists, "sound")
    code, text, err = _verify(plain)
    assert code == 0, text + err
    [summary] = text.splitlines()
    # Its wheel and the METADATA file kept beside it, both plain as they should be.
    assert summary == "2 blobs checked: 2 ok, 0 missing, 0 corrupt"
    code, report, err = _verify(plain, "--output", "json")
    assert code == 0, report + err
    assert json.loads(report) == {"ok": True, "counts": {"ok": 2}, "stray": [], "findings": []}


def test_a_corrupt_and_a_missing_blob_are_named_with_their_versions(
        plain: InProcessPackyard, dists: DistFactory) -> None:
    damaged, gone, kept = _publish(plain, dists, "damaged", "gone", "kept")
    blobs = plain.settings.blob_dir
    bad = blobs / "d1" / damaged.sha256[:2] / damaged.sha256
    data = bad.read_bytes()
    bad.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    (blobs / "d1" / gone.sha256[:2] / gone.sha256).unlink()

    code, text, _ = _verify(plain)
    assert code == 1, text
    lines = text.splitlines()
    assert lines[0] == "6 blobs checked: 4 ok, 1 missing, 1 corrupt"
    at = lines.index(next(line for line in lines if damaged.sha256 in line))
    assert lines[at].startswith(f"  corrupt: blob {damaged.sha256} of domain acme (d1): its bytes "
                                "hash to ")
    assert lines[at + 1] == f"    stored as d1/{damaged.sha256[:2]}/{damaged.sha256}"
    assert lines[at + 2] == f"    used by shelf pypi damaged 1.0 ({damaged.path.name})"
    at = lines.index(f"  missing: blob {gone.sha256} of domain acme (d1)")
    assert lines[at + 1] == f"    stored as d1/{gone.sha256[:2]}/{gone.sha256}"
    assert lines[at + 2] == f"    used by shelf pypi gone 1.0 ({gone.path.name})"
    assert kept.sha256 not in text
    assert lines[-1].startswith("To repair a blob: put its file back from a backup")

    code, report, _ = _verify(plain, "--output", "json")
    assert code == 1
    answer = json.loads(report)
    assert answer["ok"] is False and answer["counts"] == {"ok": 4, "missing": 1, "corrupt": 1}
    assert {f["sha256"]: f["status"] for f in answer["findings"]} == {
        damaged.sha256: "corrupt", gone.sha256: "missing"}
    found = {f["sha256"]: f for f in answer["findings"]}
    assert found[gone.sha256]["storedAs"] == f"d1/{gone.sha256[:2]}/{gone.sha256}"
    assert found[gone.sha256]["usedBy"] == [{
        "repository": "shelf", "format": "pypi", "namespace": None, "package": "gone",
        "version": "1.0", "asset": gone.path.name}]
    assert "delete-package-versions" in answer["repair"]


def test_a_stray_is_listed_then_deleted_and_nothing_else(
        plain: InProcessPackyard, dists: DistFactory) -> None:
    [kept] = _publish(plain, dists, "kept")
    store = plain.container.registry.blobs
    killed = store.put_bytes(b"an upload killed before its rows", "d1")
    stray = plain.settings.blob_dir / "d1" / killed.sha256[:2] / killed.sha256
    os.utime(stray, (TWO_HOURS_AGO, TWO_HOURS_AGO))
    in_flight = store.put_bytes(b"an upload being recorded", "d1")
    name = f"d1/{killed.sha256[:2]}/{killed.sha256}"

    code, text, _ = _verify(plain)
    assert code == 0, text
    lines = text.splitlines()
    assert f"1 stray file(s) under {plain.settings.blob_dir} that nothing serves:" in lines
    assert f"  stray: {name}" in lines
    assert stray.exists()

    code, report, err = _verify(plain, "--delete-strays", "--output", "json")
    assert code == 0, report + err
    assert json.loads(report)["stray"] == [name] == json.loads(report)["deleted"]
    assert not stray.exists()
    assert store.exists("d1", in_flight.sha256)  # younger than an hour: untouched
    assert plain.pypi_repo(create=False).get(f"simple/kept/{kept.filename}").content == \
        kept.path.read_bytes()
    code, text, _ = _verify(plain, "--delete-strays")
    assert code == 0 and "stray: " not in text and "0 stray file(s) deleted" in text, text


def test_it_runs_beside_a_server_with_encryption_off_and_not_beside_an_encrypting_process(
        plain: InProcessPackyard, dists: DistFactory) -> None:
    """It reads files as plain, like a server with encryption off: beside one it runs (their
    lock is shared); a process encrypting files meanwhile would make them look missing."""
    _publish(plain, dists, "sound")
    data_dir = plain.settings.data_dir
    with hold_plain_mode(data_dir):  # what a running server with encryption off holds
        code, text, err = _verify(plain)
        assert code == 0, text + err
    with hold_encrypting_mode(data_dir, "packyard encrypt"):
        code, text, err = _verify(plain)
    assert code == 2 and text == ""
    assert "packyard verify with PACKYARD_ENCRYPTION=off could not read what it writes" in \
        " ".join(err.split())


def test_encrypt_and_keys_rotate_still_refuse_with_encryption_off(
        plain: InProcessPackyard) -> None:
    plain.pypi_repo()
    data_dir = str(plain.settings.data_dir)
    for command in (["encrypt"], ["keys", "rotate", "--domain", "acme"]):
        result = CliRunner().invoke(main, [*command, "--data-dir", data_dir], env=OFF)
        assert result.exit_code == 2, result.output
        assert "PACKYARD_ENCRYPTION=off: set it to on (the default) to use encryption" in \
            result.stderr
