"""Package version events: written to the outbox in the change's own transaction, sent to the
webhooks signed, in order, once each, after the receiver was down for a while."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from packyard.bootstrap import Container
from packyard.errors import Conflict
from packyard.formats.pypi.publish import PypiPublisher
from packyard.metadata.outbox import EventOutbox
from packyard.model import Domain, Repository
from packyard.services.version_lifecycle import PackageRef, VersionLifecycle
from packyard.webhooks.config import WebhookConfig
from packyard.webhooks.dispatch import WebhookDispatcher
from tests.inprocess.harness import ROOT_PRINCIPAL
from tests.inprocess.service_support import upload_form
from tests.integration.helpers import (
    DEFAULT_ACCOUNT,
    DistFactory,
    DistSpec,
    build_wheel,
    upload_ok,
)

SECRET = "webhook-test-secret"
PKG = DistSpec(name="pkg", version="1.0")


@pytest.fixture
def shelf(container: Container) -> tuple[Domain, Repository]:
    registry = container.registry
    domain = registry.create_domain(ROOT_PRINCIPAL, "acme")
    registry.create_domain(ROOT_PRINCIPAL, "other")
    registry.create_repository(ROOT_PRINCIPAL, "other", "shelf", None)
    return domain, registry.create_repository(ROOT_PRINCIPAL, "acme", "shelf", None)


def _outbox(container: Container) -> EventOutbox:
    return EventOutbox(*container.catalog.engines)


def _details(container: Container) -> list[dict[str, Any]]:
    return [event.document["detail"] for event in _outbox(container).after(0)]


def test_publishes_and_status_changes_are_written_with_the_change(
        container: Container, publisher: PypiPublisher, shelf: tuple[Domain, Repository],
        dists: DistFactory) -> None:
    domain, repo = shelf
    blobs = container.registry.blobs
    wheel, sdist = dists.both(PKG)
    publisher.publish(ROOT_PRINCIPAL, domain, repo, upload_form(blobs, wheel))
    publisher.publish(ROOT_PRINCIPAL, domain, repo, upload_form(blobs, sdist))
    publisher.publish(ROOT_PRINCIPAL, domain, repo, upload_form(blobs, wheel))  # identical
    VersionLifecycle(container.registry, container.registry.sweeper).update_status(
        ROOT_PRINCIPAL, PackageRef("acme", "shelf", "pypi", None, "pkg"), ["1.0"], "Unlisted")
    details = _details(container)
    assert [(d["operationType"], d["sequenceNumber"], d["packageVersionState"],
             d["changes"]["assetsAdded"], d["changes"]["statusChanged"]) for d in details] == [
        ("Created", 1, "Published", 1, True),
        ("Updated", 2, "Published", 1, False),
        ("Updated", 3, "Unlisted", 0, True)]
    first = details[0]
    assert (first["domainName"], first["domainOwner"], first["repositoryName"],
            first["packageFormat"], first["packageName"], first["packageVersion"]) == (
        "acme", DEFAULT_ACCOUNT, "shelf", "pypi", "pkg", "1.0")
    assert first["packageNamespace"] is None and first["packageVersionRevision"]
    # Each event is unique; the deduplication id names the version and the sequence.
    assert len({d["eventDeduplicationId"] for d in details}) == 3


def test_a_refused_publish_writes_no_event(container: Container, publisher: PypiPublisher,
                                           shelf: tuple[Domain, Repository],
                                           dists: DistFactory, tmp_path: Path) -> None:
    domain, repo = shelf
    blobs = container.registry.blobs
    wheel = dists.wheel(PKG)
    publisher.publish(ROOT_PRINCIPAL, domain, repo, upload_form(blobs, wheel))
    changed = build_wheel(DistSpec(name="pkg", version="1.0", summary="other"), tmp_path)
    with pytest.raises(Conflict):
        publisher.publish(ROOT_PRINCIPAL, domain, repo, upload_form(blobs, changed))
    assert len(_details(container)) == 1


class Receiver:
    """A webhook endpoint (through httpx.MockTransport) that can be down."""

    def __init__(self) -> None:
        self.down = True
        self.attempts = 0
        self.received: list[tuple[dict[str, str], bytes]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.attempts += 1
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        self.received.append((dict(request.headers), request.content))
        return httpx.Response(204)

    def events(self) -> list[dict[str, Any]]:
        found = []
        for headers, body in self.received:
            timestamp = headers["x-packyard-timestamp"]
            expected = hmac.new(SECRET.encode(), timestamp.encode() + b"." + body,
                                hashlib.sha256).hexdigest()
            assert headers["x-packyard-signature"] == "sha256=" + expected
            found.append(json.loads(body))
        return found


class Clock:
    def __init__(self) -> None:
        self.moment = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.moment

    def advance(self, seconds: float) -> None:
        self.moment += timedelta(seconds=seconds)


def _dispatcher(container: Container, tmp_path: Path, receiver: Receiver,
                clock: Clock) -> WebhookDispatcher:
    path = tmp_path / "webhooks.json"
    path.write_text(json.dumps({"webhooks": [
        {"name": "ci", "url": "http://receiver.test/hook", "secret": SECRET,
         "domain": "acme"}]}))
    dispatcher = WebhookDispatcher(WebhookConfig(path), _outbox(container), None,
                                   transport=httpx.MockTransport(receiver), now=clock)
    dispatcher.initialize()
    return dispatcher


def test_each_event_arrives_once_signed_and_in_order_after_the_receiver_was_down(
        container: Container, publisher: PypiPublisher, shelf: tuple[Domain, Repository],
        dists: DistFactory, tmp_path: Path) -> None:
    domain, repo = shelf
    receiver, clock = Receiver(), Clock()
    dispatcher = _dispatcher(container, tmp_path, receiver, clock)
    blobs = container.registry.blobs
    wheel, sdist = dists.both(PKG)
    publisher.publish(ROOT_PRINCIPAL, domain, repo, upload_form(blobs, wheel))
    publisher.publish(ROOT_PRINCIPAL, domain, repo, upload_form(blobs, sdist))
    other, other_repo = container.registry.get_repository("other", "shelf")
    publisher.publish(ROOT_PRINCIPAL, other, other_repo, upload_form(blobs, wheel))

    dispatcher.run_once()
    assert receiver.attempts == 1 and receiver.received == []
    dispatcher.run_once()  # within the backoff: no new attempt
    assert receiver.attempts == 1
    clock.advance(1)
    dispatcher.run_once()
    assert receiver.attempts == 2
    receiver.down = False
    dispatcher.run_once()  # the backoff is 2 s now
    assert receiver.received == []
    clock.advance(2)
    dispatcher.run_once()
    dispatcher.run_once()
    events = receiver.events()
    assert [(e["detail"]["operationType"], e["detail"]["sequenceNumber"]) for e in events] == [
        ("Created", 1), ("Updated", 2)]  # the other domain's event is not for this webhook
    first = events[0]
    assert first["detail-type"] == "CodeArtifact Package Version State Change"
    assert (first["source"], first["account"], first["region"]) == (
        "aws.codeartifact", DEFAULT_ACCOUNT, "us-east-1")
    assert first["resources"] == [
        f"arn:aws:codeartifact:us-east-1:{DEFAULT_ACCOUNT}:package/acme/shelf/pypi//pkg"]
    assert receiver.received[0][0]["x-packyard-event-id"] == first["id"]
    assert dispatcher.deliveries == {("ci", "delivered"): 2, ("ci", "failed"): 2}
    dispatcher.close()


def test_a_webhook_starts_with_the_events_committed_after_it_was_configured(
        container: Container, publisher: PypiPublisher, shelf: tuple[Domain, Repository],
        dists: DistFactory, tmp_path: Path) -> None:
    domain, repo = shelf
    blobs = container.registry.blobs
    wheel, sdist = dists.both(PKG)
    publisher.publish(ROOT_PRINCIPAL, domain, repo, upload_form(blobs, wheel))
    receiver = Receiver()
    receiver.down = False
    dispatcher = _dispatcher(container, tmp_path, receiver, Clock())
    publisher.publish(ROOT_PRINCIPAL, domain, repo, upload_form(blobs, sdist))
    dispatcher.run_once()
    assert [e["detail"]["sequenceNumber"] for e in receiver.events()] == [2]
    dispatcher.close()


def test_a_second_process_waits_for_the_lease(
        container: Container, publisher: PypiPublisher, shelf: tuple[Domain, Repository],
        dists: DistFactory, tmp_path: Path) -> None:
    domain, repo = shelf
    receiver, clock = Receiver(), Clock()
    receiver.down = False
    first = _dispatcher(container, tmp_path, receiver, clock)
    second = _dispatcher(container, tmp_path, receiver, clock)
    publisher.publish(ROOT_PRINCIPAL, domain, repo,
                      upload_form(container.registry.blobs, dists.wheel(PKG)))
    first.run_once()
    second.run_once()
    assert len(receiver.received) == 1
    first.close()
    second.close()


def test_regression_a_clean_stop_hands_the_lease_to_the_next_process_at_once(
        container: Container, publisher: PypiPublisher, shelf: tuple[Domain, Repository],
        dists: DistFactory, tmp_path: Path) -> None:
    # A restart (SIGTERM, then a new process) used to leave the lease to run out: deliveries
    # waited up to 30 s. A process that dies without closing still holds it (test above).
    domain, repo = shelf
    receiver, clock = Receiver(), Clock()
    receiver.down = False
    blobs = container.registry.blobs
    wheel, sdist = dists.both(PKG)
    first = _dispatcher(container, tmp_path, receiver, clock)
    publisher.publish(ROOT_PRINCIPAL, domain, repo, upload_form(blobs, wheel))
    first.run_once()
    first.close()
    second = _dispatcher(container, tmp_path, receiver, clock)
    publisher.publish(ROOT_PRINCIPAL, domain, repo, upload_form(blobs, sdist))
    second.run_once()  # the same moment: the lease would have had 30 s to run
    assert [e["detail"]["sequenceNumber"] for e in receiver.events()] == [1, 2]
    second.close()


def test_an_event_refused_for_a_day_is_given_up_and_the_next_ones_go_on(
        container: Container, publisher: PypiPublisher, shelf: tuple[Domain, Repository],
        dists: DistFactory, tmp_path: Path) -> None:
    domain, repo = shelf
    receiver, clock = Receiver(), Clock()
    dispatcher = _dispatcher(container, tmp_path, receiver, clock)
    blobs = container.registry.blobs
    wheel, sdist = dists.both(PKG)
    publisher.publish(ROOT_PRINCIPAL, domain, repo, upload_form(blobs, wheel))
    dispatcher.run_once()
    clock.advance(25 * 3600)
    dispatcher.run_once()  # the first event is a day old: dropped
    receiver.down = False
    publisher.publish(ROOT_PRINCIPAL, domain, repo, upload_form(blobs, sdist))
    dispatcher.run_once()
    assert [e["detail"]["sequenceNumber"] for e in receiver.events()] == [2]
    assert dispatcher.deliveries[("ci", "dropped")] == 1
    dispatcher.close()


def test_without_webhooks_events_are_kept_an_hour_then_pruned(
        container: Container, publisher: PypiPublisher, shelf: tuple[Domain, Repository],
        dists: DistFactory, tmp_path: Path) -> None:
    domain, repo = shelf
    clock = Clock()
    dispatcher = WebhookDispatcher(WebhookConfig(tmp_path / "none.json"), _outbox(container),
                                   None, now=clock)
    publisher.publish(ROOT_PRINCIPAL, domain, repo,
                      upload_form(container.registry.blobs, dists.wheel(PKG)))
    dispatcher.run_once()
    assert len(_details(container)) == 1
    clock.advance(2 * 3600)
    dispatcher._pruned_at = float("-inf")  # checked at most once a minute
    dispatcher.run_once()
    assert _details(container) == []


def test_a_version_pulled_from_an_upstream_repository_is_an_event_there(
        packyard_factory: Any, dists: DistFactory) -> None:
    packyard = packyard_factory()
    lib = packyard.pypi_repo(repository="lib")
    wheel = dists.wheel(PKG)
    upload_ok(lib, wheel)
    packyard.codeartifact().create_repository(domain="acme", repository="team",
                                              upstreams=[{"repositoryName": "lib"}])
    team = packyard.pypi_repo(repository="team", create=False)
    assert team.get(f"simple/pkg/{wheel.filename}").status_code == 200
    details = [event.document["detail"] for event in _outbox(packyard.container).after(0)]
    assert [(d["repositoryName"], d["operationType"], d["packageVersion"]) for d in details] == [
        ("lib", "Created", "1.0"), ("team", "Created", "1.0")]


def test_workers_starting_together_share_one_cursor(
        container: Container, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    receiver, clock = Receiver(), Clock()
    first = _dispatcher(container, tmp_path, receiver, clock)
    second = WebhookDispatcher(WebhookConfig(tmp_path / "webhooks.json"), _outbox(container),
                               None, transport=httpx.MockTransport(receiver), now=clock)
    # The second worker read no cursor just before the first one wrote it.
    real_after = second._outbox.reader
    calls = {"n": 0}

    def first_read_misses(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            return _NoRow()
        return real_after.connect(*args, **kwargs)

    monkeypatch.setattr(second._outbox, "reader", _Reader(first_read_misses))
    second.initialize()  # no IntegrityError: it reads the cursor the first one made
    first.close()
    second.close()


class _NoRow:
    def __enter__(self) -> _NoRow:
        return self

    def __exit__(self, *args: Any) -> None:
        pass

    def begin(self) -> _NoRow:
        return self

    def execute(self, *args: Any) -> Any:
        class Result:
            def first(self) -> None:
                return None

            def scalar(self) -> int:
                return 0
        return Result()


class _Reader:
    def __init__(self, connect: Any) -> None:
        self.connect = connect


def test_the_sending_thread_wakes_on_a_committed_change(
        container: Container, publisher: PypiPublisher, shelf: tuple[Domain, Repository],
        dists: DistFactory, tmp_path: Path) -> None:
    import time

    domain, repo = shelf
    receiver = Receiver()
    receiver.down = False
    path = tmp_path / "webhooks.json"
    path.write_text(json.dumps({"webhooks": [
        {"name": "ci", "url": "http://receiver.test/hook", "secret": SECRET,
         "domain": "acme"}]}))
    # A long poll: only the change's wake-up can make the delivery prompt.
    dispatcher = WebhookDispatcher(WebhookConfig(path), _outbox(container),
                                   container.catalog.changes, poll_seconds=60,
                                   transport=httpx.MockTransport(receiver))
    dispatcher.initialize()
    dispatcher.start()
    try:
        publisher.publish(ROOT_PRINCIPAL, domain, repo,
                          upload_form(container.registry.blobs, dists.wheel(PKG)))
        deadline = time.monotonic() + 20
        while not receiver.received and time.monotonic() < deadline:
            time.sleep(0.01)  # polling the receiver
        assert [e["detail"]["sequenceNumber"] for e in receiver.events()] == [1]
    finally:
        dispatcher.close()


def _one_delivery_logged(container: Container, publisher: PypiPublisher,
                         shelf: tuple[Domain, Repository], dists: DistFactory, tmp_path: Path,
                         caplog: pytest.LogCaptureFixture, name: str, url: str) -> str:
    """What the log says of one event delivered to the webhook ``name`` at ``url``."""
    import logging

    domain, repo = shelf
    receiver = Receiver()
    receiver.down = False
    path = tmp_path / "webhooks.json"
    path.write_text(json.dumps({"webhooks": [
        {"name": name, "url": url, "secret": SECRET, "domain": "acme"}]}))
    dispatcher = WebhookDispatcher(WebhookConfig(path), _outbox(container), None,
                                   transport=httpx.MockTransport(receiver))
    dispatcher.initialize()
    caplog.set_level(logging.INFO, logger="httpx")
    publisher.publish(ROOT_PRINCIPAL, domain, repo,
                      upload_form(container.registry.blobs, dists.wheel(PKG)))
    dispatcher.run_once()
    dispatcher.close()
    assert len(receiver.received) == 1
    return caplog.text


def test_regression_a_webhooks_port_is_in_its_log_line(
        container: Container, publisher: PypiPublisher, shelf: tuple[Domain, Repository],
        dists: DistFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # Was "POST http://127.0.0.1/… (webhook ci)" for a receiver at 127.0.0.1:18410: the port
    # left out named another address than the one the server sends to.
    logged = _one_delivery_logged(container, publisher, shelf, dists, tmp_path, caplog, "ci",
                                  "http://127.0.0.1:18410/hook?token=s3cr3t")
    assert "http://127.0.0.1:18410/… (webhook ci)" in logged
    assert "s3cr3t" not in logged


def test_regression_a_webhooks_url_is_not_in_the_server_log(
        container: Container, publisher: PypiPublisher, shelf: tuple[Domain, Repository],
        dists: DistFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # httpx logged each delivery's URL whole at info: a receiver whose URL holds its token
    # (chat services' incoming webhooks) had it in every log line shipped.
    logged = _one_delivery_logged(
        container, publisher, shelf, dists, tmp_path, caplog, "chat",
        "https://hooks.receiver.test/services/T01/B02/s3cr3tPathToken")
    assert "s3cr3tPathToken" not in logged
    assert "https://hooks.receiver.test/… (webhook chat)" in logged
    # Other requests (an upstream's) keep their URL.
    with httpx.Client(transport=httpx.MockTransport(lambda _: httpx.Response(200))) as client:
        client.get("https://pypi.example/simple/pkg/")
    assert "https://pypi.example/simple/pkg/" in caplog.text
