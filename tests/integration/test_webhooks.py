"""Webhooks under a real server: a publish acknowledged just before kill -9, while the receiver
was down, still reaches the receiver once, signed, when both are back (the restarted server
takes the killed one's sending lease over when it runs out: up to 30 s)."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.helpers import (
    DistFactory,
    DistSpec,
    codeartifact_client,
    create_pypi_repo,
    free_port,
    upload_ok,
)

SECRET = "integration-webhook-secret"


class Receiver:
    """An HTTP endpoint that records what it is sent; not listening until ``start``."""

    def __init__(self) -> None:
        self.port = free_port()
        self.received: list[tuple[dict[str, str], bytes]] = []
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append(({k.lower(): v for k, v in self.headers.items()},
                                          body))
                self.send_response(204)
                self.end_headers()

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    made = Receiver()
    yield made
    made.stop()


def _delivered(server: Any) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(f"{server.url}/metrics", trust_env=False).text
    return sum(sample.value for family in text_string_to_metric_families(text)
               for sample in family.samples if sample.name == "packyard_event_deliveries_total"
               and sample.labels.get("result") == "delivered")


def test_a_publish_acknowledged_before_kill_9_is_delivered_once_after_restart(
        server_factory: Any, receiver: Receiver, dists: DistFactory, tmp_path: Path) -> None:
    webhooks = tmp_path / "webhooks.json"
    webhooks.write_text(json.dumps({"webhooks": [
        {"name": "ci", "url": receiver.url, "secretEnv": "TEST_WEBHOOK_SECRET",
         "domain": "hooked"}]}))
    env = {"PACKYARD_WEBHOOKS_FILE": str(webhooks), "TEST_WEBHOOK_SECRET": SECRET}
    first = server_factory(env=env)
    api = codeartifact_client(first.url)
    api.create_domain(domain="hooked")
    repo = create_pypi_repo(api, first.url, "hooked-repo", domain="hooked")
    upload_ok(repo, dists.wheel(DistSpec(name="hooked-pkg", version="1.0")))
    first.kill()  # the receiver was down: nothing can have been delivered

    receiver.start()
    # Restarted once the killed process's dispatch lease (30 s) has run out: the server's clock
    # moved on rather than the test waiting.
    second = server_factory(env={**env, "PACKYARD_CLOCK_OFFSET_SECONDS": "31"},
                            data_dir=first.data_dir)
    # Well under the lease: a dispatcher that did not read the server's clock would wait 30 s.
    deadline = time.monotonic() + 20
    while not receiver.received and time.monotonic() < deadline:
        time.sleep(0.1)  # polling the receiver, not waiting for a server
    assert len(receiver.received) == 1
    while _delivered(second) < 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    headers, body = receiver.received[0]
    expected = hmac.new(SECRET.encode(), headers["x-packyard-timestamp"].encode() + b"." + body,
                        hashlib.sha256).hexdigest()
    assert headers["x-packyard-signature"] == "sha256=" + expected
    event = json.loads(body)
    assert event["detail-type"] == "CodeArtifact Package Version State Change"
    assert (event["detail"]["packageName"], event["detail"]["operationType"]) == (
        "hooked-pkg", "Created")
    assert _delivered(second) == 1 and len(receiver.received) == 1


def test_regression_after_a_clean_restart_deliveries_resume_at_once(
        server_factory: Any, receiver: Receiver, dists: DistFactory, tmp_path: Path) -> None:
    # A server stopped with SIGTERM kept its sending lease until it ran out: the restarted one
    # waited 30 s before its first delivery.
    webhooks = tmp_path / "webhooks.json"
    webhooks.write_text(json.dumps({"webhooks": [
        {"name": "ci", "url": receiver.url, "secretEnv": "TEST_WEBHOOK_SECRET",
         "domain": "hooked"}]}))
    env = {"PACKYARD_WEBHOOKS_FILE": str(webhooks), "TEST_WEBHOOK_SECRET": SECRET}
    receiver.start()
    first = server_factory(env=env)
    api = codeartifact_client(first.url)
    api.create_domain(domain="hooked")
    repo = create_pypi_repo(api, first.url, "hooked-repo", domain="hooked")
    upload_ok(repo, dists.wheel(DistSpec(name="hooked-pkg", version="1.0")))
    deadline = time.monotonic() + 20
    while not receiver.received and time.monotonic() < deadline:
        time.sleep(0.1)  # polling the receiver, not waiting for a server
    assert len(receiver.received) == 1
    first.stop()

    second = server_factory(env=env, data_dir=first.data_dir)
    later = create_pypi_repo(codeartifact_client(second.url), second.url, "later",
                             domain="hooked")
    upload_ok(later, dists.wheel(DistSpec(name="hooked-pkg", version="1.1")))
    published = time.monotonic()
    while len(receiver.received) < 2 and time.monotonic() < published + 25:
        time.sleep(0.1)
    assert len(receiver.received) == 2
    # The dispatcher polls each second; the old lease would have held it back for 30 s.
    assert time.monotonic() - published < 10
    assert json.loads(receiver.received[1][1])["detail"]["packageVersion"] == "1.1"
