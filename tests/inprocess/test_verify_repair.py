"""``packyard verify`` on a store with a damaged and a missing blob: each is named with the
package versions it belongs to and where it is stored, and the repairs it suggests work."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path

import httpx
from click.testing import CliRunner

from packyard.cli.main import main
from packyard.services import backups
from tests.inprocess.harness import InProcessPackyard
from tests.integration.helpers import DistFactory, DistSpec, upload

JSON_V1 = {"Accept": "application/vnd.pypi.simple.v1+json"}


def _verify(packyard: InProcessPackyard, *options: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["verify", "--data-dir", str(packyard.settings.data_dir),
                                       *options])
    return result.exit_code, result.stdout


def test_regression_verify_names_the_versions_of_a_bad_blob_and_its_repairs_work(
        packyard: InProcessPackyard, dists: DistFactory, tmp_path: Path) -> None:
    """It said 'tampered: blob 7a1d… of domain d1' and nothing else: no package, no version,
    no file, no way to mend it."""
    repo = packyard.pypi_repo()
    kept = dists.wheel(DistSpec(name="kept", version="1.0"))
    gone = dists.wheel(DistSpec(name="gone", version="2.0"))
    for dist in (kept, gone):
        assert upload(repo, dist).status_code == 200
    backups.backup(packyard.settings, tmp_path / "backup")
    blobs = packyard.settings.blob_dir
    [damaged] = blobs.glob(f"d1.enc/*/{kept.sha256}")
    damaged.write_bytes(damaged.read_bytes()[:-1] + b"\0")
    [missing] = blobs.glob(f"d1.enc/*/{gone.sha256}")
    missing.unlink()

    code, text = _verify(packyard)
    assert code == 1
    lines = text.splitlines()
    at = lines.index(next(line for line in lines if kept.sha256 in line))
    assert lines[at].startswith(f"  tampered: blob {kept.sha256} of domain acme (d1)")
    assert lines[at + 1] == f"    stored as d1.enc/{kept.sha256[:2]}/{kept.sha256}"
    assert lines[at + 2] == f"    used by shelf pypi kept 1.0 ({kept.path.name})"
    at = lines.index(f"  missing: blob {gone.sha256} of domain acme (d1)")
    assert lines[at + 2] == f"    used by shelf pypi gone 2.0 ({gone.path.name})"
    assert lines[-1].startswith("To repair a blob: put its file back from a backup")
    code, report = _verify(packyard, "--output", "json")
    assert code == 1
    found = {f["sha256"]: f for f in json.loads(report)["findings"]}
    assert found[gone.sha256]["usedBy"] == [{
        "repository": "shelf", "format": "pypi", "namespace": None, "package": "gone",
        "version": "2.0", "asset": gone.path.name}]
    assert "delete-package-versions" in json.loads(report)["repair"]
    assert "keyRepair" not in json.loads(report)

    # The first repair: the file put back from the backup, at the path verify named.
    shutil.copyfile(tmp_path / "backup" / "blobs" / f"d1.enc/{kept.sha256[:2]}/{kept.sha256}",
                    damaged)
    # The second: the version deleted, and published again.
    packyard.codeartifact().delete_package_versions(
        domain=repo.domain, repository=repo.repository, format="pypi", package="gone",
        versions=["2.0"])
    packyard.container.registry.sweeper.sweep()
    assert upload(repo, gone).status_code == 200
    code, report = _verify(packyard, "--output", "json")
    assert code == 0, report
    assert json.loads(report)["findings"] == [] and "repair" not in json.loads(report)
    with repo.client() as http:  # both served whole again
        for dist in (kept, gone):
            page = repo.endpoint + f"simple/{dist.spec.name}/"
            [entry] = http.get(page, headers=JSON_V1).json()["files"]
            got = http.get(str(httpx.URL(page).join(entry["url"])))
            assert hashlib.sha256(got.content).hexdigest() == dist.sha256


def test_regression_verify_separates_a_bad_blobs_domain_from_what_is_wrong(
        packyard: InProcessPackyard, dists: DistFactory) -> None:
    """It printed 'tampered: blob 7a1d… of domain d1 The stored file 7a1d… failed its
    integrity check', the domain run into the reason."""
    repo = packyard.pypi_repo()
    kept = dists.wheel(DistSpec(name="kept", version="1.0"))
    assert upload(repo, kept).status_code == 200
    [damaged] = packyard.settings.blob_dir.glob(f"d1.enc/*/{kept.sha256}")
    damaged.write_bytes(damaged.read_bytes()[:-1] + b"\0")

    code, text = _verify(packyard)
    assert code == 1
    assert f"  tampered: blob {kept.sha256} of domain acme (d1): The stored file {kept.sha256} " \
           "failed its integrity check" in text.splitlines()


def test_regression_verify_lists_stray_files_without_failing(
        packyard: InProcessPackyard, dists: DistFactory) -> None:
    """A file under the blob store that no row names (what a write killed before its row
    committed leaves) was not mentioned at all."""
    repo = packyard.pypi_repo()
    assert upload(repo, dists.wheel(DistSpec(name="kept", version="1.0"))).status_code == 200
    blobs = packyard.settings.blob_dir
    stray = blobs / "d1.enc" / "ab" / ("ab" * 32)
    stray.parent.mkdir(parents=True, exist_ok=True)
    stray.write_bytes(b"left by a killed import")
    an_hour_ago = time.time() - 2 * 3600
    os.utime(stray, (an_hour_ago, an_hour_ago))
    in_flight = blobs / "d1.enc" / "ab" / ("ab" * 31 + "cd")  # its row is being committed
    in_flight.write_bytes(b"an upload")

    code, text = _verify(packyard)
    assert code == 0, text  # nothing is lost: space only
    lines = text.splitlines()
    assert f"1 stray file(s) under {blobs} that nothing serves:" in lines
    assert f"  stray: d1.enc/ab/{'ab' * 32}" in lines
    assert "they may be deleted" in lines[-1]
    code, report = _verify(packyard, "--output", "json")
    assert json.loads(report)["stray"] == [f"d1.enc/ab/{'ab' * 32}"]
    stray.unlink()  # the removal it says is safe
    assert "stray" not in _verify(packyard)[1]
    assert repo.get("simple/kept/").status_code == 200


def test_regression_verify_lists_the_plain_copy_an_interrupted_encrypt_left(
        packyard: InProcessPackyard, dists: DistFactory) -> None:
    """A ``packyard encrypt`` (Packyard a546bee's too) stopped after writing a blob's
    ciphertext and before removing its plain file left the plaintext at rest, and verify said
    '1 blobs checked: 1 ok' and nothing else, so nobody knew to run encrypt again."""
    repo = packyard.pypi_repo()
    dist = dists.wheel(DistSpec(name="kept", version="1.0"))
    assert upload(repo, dist).status_code == 200
    blobs = packyard.settings.blob_dir
    [sealed] = [path for path in (blobs / "d1.enc").glob("*/*") if path.name == dist.sha256]
    plain = blobs / "d1" / dist.sha256[:2] / dist.sha256
    plain.parent.mkdir(parents=True, exist_ok=True)
    plain.write_bytes(dist.path.read_bytes())
    two_hours_ago = time.time() - 2 * 3600
    os.utime(plain, (two_hours_ago, two_hours_ago))

    code, text = _verify(packyard)
    assert code == 0, text
    assert f"  stray: d1/{dist.sha256[:2]}/{dist.sha256}" in text.splitlines()
    assert "plain copies a packyard encrypt stopped before removing" in " ".join(text.split())
    plain.unlink()  # as it says: the ciphertext is what is served
    assert "stray" not in _verify(packyard)[1]
    assert hashlib.sha256(repo.get(f"simple/kept/{dist.filename}").content).hexdigest() == \
        dist.sha256
    # A bad ciphertext's plain file may be the only good copy: not called a stray.
    plain.write_bytes(dist.path.read_bytes())
    os.utime(plain, (two_hours_ago, two_hours_ago))
    damaged = bytearray(sealed.read_bytes())
    damaged[40] ^= 1
    sealed.write_bytes(bytes(damaged))
    code, text = _verify(packyard)
    assert code == 1 and "stray" not in text, text
