"""``GET /ready``: what a load balancer polls. 200 while the database and the blob store answer
and the schema is this code's; 503 naming what is not, and ready again without a restart."""

from __future__ import annotations

import asyncio
import errno
import os
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from packyard.services import readiness as readiness_module
from packyard.storage.blobs import BlobStore
from packyard.storage.s3 import BlobStoreUnavailable
from tests.inprocess.harness import InProcessPackyard
from tests.inprocess.test_outages import STORE_DOWN, _database_down


def _stored(packyard: InProcessPackyard) -> BlobStore:
    """The store under encryption at rest: what /ready probes."""
    encryption = packyard.container.encryption
    return encryption.blobs.inner if encryption else packyard.container.registry.blobs


@pytest.fixture(autouse=True)
def _no_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    # Each check here must look afresh; remembering is tested on its own below.
    monkeypatch.setattr(readiness_module, "REMEMBER_SECONDS", 0.0)


def test_ready_needs_no_signature_and_names_each_check(packyard: InProcessPackyard) -> None:
    response = packyard.http.get("/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {
        "database": "ok", "blobStore": "ok", "dataDirectory": "ok"}}


def test_not_ready_while_the_database_is_down_and_ready_after(
        packyard: InProcessPackyard, monkeypatch: pytest.MonkeyPatch) -> None:
    with _database_down(monkeypatch):
        response = packyard.http.get("/ready")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert response.json() == {"status": "not ready", "checks": {
        "database": "the database is unavailable", "blobStore": "ok", "dataDirectory": "ok"}}
    assert packyard.http.get("/ready").status_code == 200


def test_not_ready_while_the_blob_store_is_down(packyard: InProcessPackyard,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    def down(*_args: Any, **_kwargs: Any) -> Any:
        raise BlobStoreUnavailable(STORE_DOWN)

    monkeypatch.setattr(_stored(packyard), "exists", down)
    response = packyard.http.get("/ready")
    assert response.status_code == 503
    assert response.json()["checks"] == {"database": "ok",
                                         "blobStore": "the blob store is unavailable",
                                         "dataDirectory": "ok"}


def test_with_encryption_on_ready_probes_the_store_under_it(
        packyard: InProcessPackyard, monkeypatch: pytest.MonkeyPatch) -> None:
    # The encrypting store would look a data key up for the probe's name, which is no domain's.
    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("the probe went through the encrypting store")

    assert packyard.container.encryption is not None
    monkeypatch.setattr(packyard.container.encryption.blobs, "exists", refuse)
    assert packyard.http.get("/ready").json()["checks"]["blobStore"] == "ok"


def test_not_ready_on_a_schema_another_version_migrated(packyard: InProcessPackyard) -> None:
    with packyard.container.catalog.engines[1].begin() as conn:  # type: ignore[attr-defined]
        conn.execute(text("UPDATE alembic_version SET version_num = '9999_newer'"))
    response = packyard.http.get("/ready")
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == (
        "the database schema is not at this Packyard's revision (another version migrated "
        "it): upgrade this replica")


def test_a_blob_store_that_fails_oddly_is_not_ready_and_logged(
        packyard: InProcessPackyard, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(_stored(packyard), "exists", broken)
    response = packyard.http.get("/ready")
    assert response.status_code == 503
    assert response.json()["checks"]["blobStore"] == (
        "checking the blob store failed; see the server log")
    assert "readiness: checking the blob store failed" in caplog.text


@pytest.mark.parametrize(("code", "said"), [
    (errno.ENOSPC, "the data directory's disk is full"),
    (errno.EROFS, "the data directory is read-only"),
    (errno.EIO, "the data directory cannot be written; see the server log")])
def test_regression_not_ready_while_the_data_directory_cannot_be_written(
        packyard: InProcessPackyard, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture, code: int, said: str) -> None:
    # With the data directory's disk full, /ready said ready while every change, upload and
    # audited request failed (SQLite's commit, the audit trail's append): a balancer kept
    # sending them. The path is told to the server log only: /ready answers anyone.
    def refused(path: Path) -> None:
        raise OSError(code, os.strerror(code), str(path))

    monkeypatch.setattr(readiness_module, "write_probe", refused)
    response = packyard.http.get("/ready")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert response.json() == {"status": "not ready", "checks": {
        "database": "ok", "blobStore": "ok", "dataDirectory": said}}
    assert str(packyard.settings.data_dir) not in response.text
    assert str(packyard.settings.data_dir) in caplog.text
    assert packyard.http.get("/ready").status_code == 503  # a balancer asks again: no new line
    assert caplog.text.count("cannot write to the data directory") == 1
    monkeypatch.undo()
    monkeypatch.setattr(readiness_module, "REMEMBER_SECONDS", 0.0)
    assert packyard.http.get("/ready").status_code == 200
    assert not list(packyard.settings.data_dir.glob(".ready-probe-*"))


def test_callers_asking_at_once_share_one_check_remembered_for_a_second(
        packyard: InProcessPackyard, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(readiness_module, "REMEMBER_SECONDS", 1.0)
    clock = [100.0]
    checks = []
    ready = readiness_module.Readiness(packyard.container.catalog, _stored(packyard),
                                       lambda: clock[0])
    original = ready._check

    def counted() -> readiness_module.ReadinessReport:
        checks.append(1)
        return original()

    monkeypatch.setattr(ready, "_check", counted)

    async def ask(times: int) -> None:
        reports = await asyncio.gather(*(ready.report() for _ in range(times)))
        assert all(report.ready for report in reports)

    asyncio.run(ask(20))
    assert len(checks) == 1
    clock[0] += 0.5
    asyncio.run(ask(5))
    assert len(checks) == 1
    clock[0] += 1.0
    asyncio.run(ask(1))
    assert len(checks) == 2
