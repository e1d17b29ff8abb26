"""A database or object store that is down: every surface answers 503 with the reason and
``Retry-After`` (never a 500 with a traceback), and the next request after it is back works,
without restarting anything."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine

from packyard.storage.s3 import BlobStoreUnavailable
from tests.inprocess.harness import InProcessPackyard, assert_refused, aws_error, sign
from tests.integration.helpers import Credentials, DistFactory, DistSpec, upload

DATABASE_DOWN = "The metadata database is unavailable right now; try again shortly"
STORE_DOWN = "The blob store is unavailable right now; try again shortly"


@contextmanager
def _database_down(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every new database connection is refused, as while PostgreSQL restarts."""
    def refuse(self: Engine, *args: Any, **kwargs: Any) -> Any:
        raise sa_exc.OperationalError("SELECT 1", {}, Exception("connection refused"))

    with monkeypatch.context() as patched:
        patched.setattr(Engine, "connect", refuse)
        yield


def test_a_package_read_during_a_database_outage_is_503_and_works_after(
        packyard: InProcessPackyard, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = packyard.pypi_repo()
    with _database_down(monkeypatch):
        response = repo.get("simple/")
        assert_refused(response, 503, DATABASE_DOWN)
        assert response.headers["retry-after"] == "2"
    assert repo.get("simple/").status_code == 200


def test_the_api_during_a_database_outage_is_a_503_service_unavailable(
        packyard: InProcessPackyard, monkeypatch: pytest.MonkeyPatch) -> None:
    with _database_down(monkeypatch):
        response = packyard.signed("POST", "/v1/domains")
        assert aws_error(response) == (503, "ServiceUnavailableException",
                                       {"message": DATABASE_DOWN})
        assert response.headers["retry-after"] == "2"
    assert packyard.signed("POST", "/v1/domains").status_code == 200


def test_iam_during_a_database_outage_is_its_service_unavailable(
        packyard: InProcessPackyard, monkeypatch: pytest.MonkeyPatch) -> None:
    body = b"Action=ListUsers&Version=2010-05-08"
    headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
    with _database_down(monkeypatch):
        response = packyard.http.post("/", content=body, headers=sign(
            "POST", "http://packyard.test/", body=body, service="iam", headers=headers))
        assert response.status_code == 503
        assert "<Code>ServiceUnavailable</Code>" in response.text
        assert DATABASE_DOWN in response.text
        # Was without either: the other surfaces' 503s say when to retry, on a new connection.
        assert response.headers["retry-after"] == "2"
        assert response.headers["connection"] == "close"


def test_regression_kms_during_a_database_outage_is_a_503_to_retry_not_an_internal_error(
        packyard: InProcessPackyard, monkeypatch: pytest.MonkeyPatch) -> None:
    # Was KMSInternalException, a 500 ("internal error": botocore retried it as a fault) with
    # no Retry-After; KMS answers a dependency it waits for as DependencyTimeoutException, 503.
    iam = packyard.iam()
    iam.create_user(UserName="keeper")
    key = iam.create_access_key(UserName="keeper")["AccessKey"]
    keeper = Credentials(key["AccessKeyId"], key["SecretAccessKey"])
    body = b"{}"
    headers = {"X-Amz-Target": "TrentService.ListKeys",
               "Content-Type": "application/x-amz-json-1.1"}
    with _database_down(monkeypatch):  # the user's key is looked up in the database
        response = packyard.signed("POST", "/", body=body, service="kms", headers=headers,
                                   credentials=keeper)
        assert response.status_code == 503
        assert response.json() == {"__type": "DependencyTimeoutException",
                                   "message": DATABASE_DOWN}
        assert response.headers["retry-after"] == "2"
        assert response.headers["connection"] == "close"
    back = packyard.signed("POST", "/", body=body, service="kms", headers=headers,
                           credentials=keeper)
    assert back.status_code == 400  # answered again: this user is allowed no kms: action
    assert back.json()["__type"] == "AccessDeniedException"


def test_an_upload_while_the_blob_store_is_down_is_503_and_leaves_nothing(
        packyard: InProcessPackyard, dists: DistFactory,
        monkeypatch: pytest.MonkeyPatch) -> None:
    repo = packyard.pypi_repo()
    blobs = packyard.container.registry.blobs

    def down(*_args: Any, **_kwargs: Any) -> Any:
        raise BlobStoreUnavailable(STORE_DOWN)

    with monkeypatch.context() as patched:
        patched.setattr(blobs, "commit", down)
        response = upload(repo, dists.wheel(DistSpec(name="pkg", version="1.0")))
        assert_refused(response, 503, STORE_DOWN)
        assert response.headers["retry-after"] == "5"
    assert list((packyard.settings.blob_dir / ".staging").iterdir()) == []
    assert repo.get("simple/", Accept="application/vnd.pypi.simple.v1+json").json()[
        "projects"] == []
    assert upload(repo, dists.wheel(DistSpec(name="pkg", version="1.0"))).status_code == 200


@pytest.mark.parametrize("declared", [True, False], ids=["sha256-declared", "undeclared"])
def test_regression_an_encrypted_upload_the_store_refuses_leaves_no_ciphertext_in_staging(
        packyard: InProcessPackyard, dists: DistFactory, monkeypatch: pytest.MonkeyPatch,
        declared: bool) -> None:
    # Was: with SeaweedFS stopped in the middle of an 80 MiB twine upload, twine got the 503,
    # and the upload's ciphertext stayed in the replica's blobs/.staging (84 MB each time, until
    # the process restarted): the encrypting store discarded it only when it committed several
    # files at once, not one.
    encryption = packyard.container.encryption
    assert encryption is not None
    inner = encryption.blobs.inner

    def down(*_args: Any, **_kwargs: Any) -> Any:
        raise BlobStoreUnavailable(STORE_DOWN)

    repo = packyard.pypi_repo()
    dist = dists.wheel(DistSpec(name="pkg", version="1.0"))
    with monkeypatch.context() as patched:
        patched.setattr(inner, "commit", down)
        response = upload(repo, dist, fields=None if declared else {"sha256_digest": None})
        assert_refused(response, 503, STORE_DOWN)
    assert list((packyard.settings.blob_dir / ".staging").iterdir()) == []
    assert upload(repo, dist).status_code == 200
