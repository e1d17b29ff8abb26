"""A 503 with ``Retry-After`` as a real client meets it through uvicorn: pip's urllib3 waits
``Retry-After`` and sends the same request again, and is answered (not cut off)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
import urllib3

from tests.integration.helpers import (
    DistFactory,
    DistSpec,
    codeartifact_client,
    create_pypi_repo,
    upload_ok,
)
from tests.kms_fake import FakeKms
from tests.relay import Relay


@pytest.fixture()
def kms() -> Iterator[tuple[FakeKms, Relay]]:
    fake = FakeKms()
    relay = Relay(fake.url)
    yield fake, relay
    relay.stop()
    fake.close()


def test_regression_a_retry_after_wait_meets_an_answer_not_a_closed_connection(
        server_factory: Any, dists: DistFactory, kms: tuple[FakeKms, Relay],
        caplog: pytest.LogCaptureFixture) -> None:
    # Before: the 503 kept the connection alive, pip's urllib3 waited Retry-After (5 s) and sent
    # its retry on it just as uvicorn's keep-alive timeout (5 s) closed it, so the user read
    # "Retrying … after connection broken by 'ProtocolError('Connection aborted.',
    # ConnectionResetError(104, 'Connection reset by peer'))'" during a KMS outage, which
    # points at the network, and the retry was lost.
    fake, relay = kms
    server = server_factory(env={
        "PACKYARD_KEY_PROVIDER": "kms", "PACKYARD_KMS_ENDPOINT_URL": relay.url,
        "PACKYARD_KMS_REGION": "us-east-1", "PACKYARD_DEFAULT_ENCRYPTION_KEY": fake.create_key(),
        "PACKYARD_DATA_KEY_CACHE_SECONDS": "0",
        "AWS_ACCESS_KEY_ID": "AKIDPACKYARDTEST", "AWS_SECRET_ACCESS_KEY": "secret"})
    repo = create_pypi_repo(codeartifact_client(server.url), server.url, "retry-after")
    dist = dists.wheel(DistSpec("retry-after-demo", "1.0"))
    upload_ok(repo, dist)
    relay.stop()  # KMS down: the file's key does not open, 503 with Retry-After

    pool = urllib3.PoolManager(headers=urllib3.make_headers(basic_auth=f"aws:{repo.token}"))
    retries = urllib3.Retry(total=1, status_forcelist=[503], raise_on_status=False)
    with caplog.at_level(logging.WARNING, logger="urllib3"):
        answer = pool.request("GET", f"{repo.project_url('retry-after-demo')}{dist.filename}",
                              retries=retries, preload_content=True)
    assert answer.status == 503
    assert answer.headers["Retry-After"] == "5"
    assert answer.headers["Connection"] == "close"
    assert answer.data.decode().startswith("KMS did not answer")
    assert answer.retries is not None and len(answer.retries.history) == 1
    assert answer.retries.history[0].status == 503  # the first answer, then the retry's
    assert not [r for r in caplog.records if "connection broken" in r.getMessage()]
