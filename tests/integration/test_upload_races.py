"""Racing uploads of one file: identical bytes all succeed once stored; different bytes, one wins."""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from tests.integration.helpers import (
    DistFactory,
    DistSpec,
    PypiRepo,
    build_wheel,
    unique_name,
    upload,
)

JSON_V1 = "application/vnd.pypi.simple.v1+json"


def _listed(repo: PypiRepo, project: str) -> list[dict[str, Any]]:
    with repo.client() as client:
        page = client.get(repo.project_url(project), headers={"Accept": JSON_V1})
    assert page.status_code == 200, page.text
    files: list[dict[str, Any]] = page.json()["files"]
    return files


def test_racing_identical_uploads_store_one_file(pypi_repo: PypiRepo, dists: DistFactory) -> None:
    name = unique_name("race-same")
    wheel = dists.wheel(DistSpec(name, "1.0", padding=256 * 1024))
    with ThreadPoolExecutor(8) as pool:
        statuses = [r.status_code for r in pool.map(lambda _: upload(pypi_repo, wheel), range(8))]
    assert statuses == [200] * 8, statuses
    files = _listed(pypi_repo, name)
    assert [f["filename"] for f in files] == [wheel.filename]
    assert files[0]["hashes"]["sha256"] == hashlib.sha256(wheel.data).hexdigest()


def test_racing_different_bytes_one_wins_the_rest_conflict(pypi_repo: PypiRepo,
                                                          dists: DistFactory) -> None:
    name = unique_name("race-diff")
    # Same filename, different bytes: the summaries differ.
    wheels = [dists.wheel(DistSpec(name, "1.0", summary=f"variant {i}", padding=128 * 1024))
              for i in range(6)]
    assert len({w.filename for w in wheels}) == 1 and len({w.data for w in wheels}) == 6
    with ThreadPoolExecutor(6) as pool:
        responses = list(pool.map(lambda w: upload(pypi_repo, w), wheels))
    statuses = [r.status_code for r in responses]
    assert statuses.count(200) == 1, statuses
    assert statuses.count(409) == 5, statuses
    winner = wheels[statuses.index(200)]
    files = _listed(pypi_repo, name)
    assert [f["hashes"]["sha256"] for f in files] == [hashlib.sha256(winner.data).hexdigest()]
    with pypi_repo.client() as client:
        served = client.get(pypi_repo.project_url(name) + winner.filename)
    assert served.content == winner.data


def test_racing_spellings_of_one_wheel_one_wins_the_rest_conflict(
        pypi_repo: PypiRepo, tmp_path: Path) -> None:
    name = unique_name("race-spell")
    # Five names for one release's py3-none-any wheel, each with its own bytes.
    versions = ["1.0", "1.0.0", "1", "1.0.0.0", "1.00"]
    wheels = [build_wheel(DistSpec(name, version, padding=128 * 1024), tmp_path)
              for version in versions]
    assert len({w.filename for w in wheels}) == 5
    with ThreadPoolExecutor(5) as pool:
        responses = list(pool.map(lambda w: upload(pypi_repo, w), wheels))
    statuses = [r.status_code for r in responses]
    assert statuses.count(200) == 1, [(r.status_code, r.text) for r in responses]
    assert statuses.count(409) == 4, statuses
    winner = wheels[statuses.index(200)]
    assert all(f"'{winner.filename}'" in r.text for r in responses if r.status_code == 409)
    assert [f["filename"] for f in _listed(pypi_repo, name)] == [winner.filename]


def test_metadata_bomb_is_refused_quickly(pypi_repo: PypiRepo, dists: DistFactory) -> None:
    """A wheel whose METADATA inflates to 64 MiB (from ~64 KiB) is refused, not expanded."""
    import io
    import time
    import zipfile

    name = unique_name("bomb")
    honest = dists.wheel(DistSpec(name, "1.0"))
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(honest.data)) as src, \
            zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as out:
        for item in src.infolist():
            data = src.read(item)
            if item.filename.endswith(".dist-info/METADATA"):
                data += b"X-Padding: " + b"A" * (64 * 1024 * 1024) + b"\n"
            out.writestr(item, data, compress_type=zipfile.ZIP_DEFLATED)
    bomb = buffer.getvalue()
    assert len(bomb) < 1024 * 1024
    started = time.monotonic()
    response = upload(pypi_repo, honest, content=bomb,
                      fields={"md5_digest": None, "sha256_digest": None,
                              "blake2_256_digest": None})
    assert time.monotonic() - started < 10
    assert response.status_code == 400, response.text
    assert "not a valid wheel" in response.text and "METADATA" in response.text, response.text
