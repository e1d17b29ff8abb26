"""What issue 18 keeps in the catalog's database, on every backend: package version events in
the outbox (written by the publishing transaction, batched or not) and the audit trail's rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from packyard.audit.database_log import DatabaseAuditLog
from packyard.metadata.catalog import Catalog, SqlCatalog
from packyard.metadata.outbox import EventOutbox
from tests.conformance.conftest import Databases
from tests.conformance.test_catalog import BATCH, NOW, _one_by_one, _repo


def _events(catalog: SqlCatalog) -> list[tuple[str, str, str, int, int]]:
    return [(e.document["detail"]["packageName"], e.document["detail"]["packageVersion"],
             e.document["detail"]["operationType"], e.document["detail"]["sequenceNumber"],
             e.document["detail"]["changes"]["assetsAdded"])
            for e in EventOutbox(*catalog.engines).after(0)]


def test_publishing_batched_or_one_by_one_writes_the_same_events(databases: Databases) -> None:
    found: dict[str, Any] = {}
    for label in ("batched", "single"):
        catalog = databases.catalog(databases.url(label))
        catalog.migrate()
        repo = _repo(catalog)
        if label == "batched":
            catalog.publish_many(repo, "pypi", "", BATCH, NOW)
        else:
            _one_by_one(catalog, repo, BATCH)
        found[label] = sorted(_events(catalog))
    # One event per version per call (the batch adds pkg 1.0's two files in one change);
    # sequence numbers count a package's events, as CodeArtifact's do.
    assert found["single"] == [("other", "0.1", "Created", 1, 1), ("pkg", "1.0", "Created", 1, 1),
                               ("pkg", "1.0", "Updated", 2, 1), ("pkg", "2.0", "Created", 3, 1)]
    assert found["batched"] == [("other", "0.1", "Created", 1, 1),
                                ("pkg", "1.0", "Created", 1, 2), ("pkg", "2.0", "Created", 2, 1)]


def test_a_status_change_is_an_event_and_sent_events_are_pruned(catalog: Catalog) -> None:
    assert isinstance(catalog, SqlCatalog)
    repo = _repo(catalog)
    _one_by_one(catalog, repo, BATCH[:1])
    package = catalog.find_package(repo.id, "pypi", "", "pkg")
    assert package is not None
    version = catalog.get_version(package.id, "1.0")
    assert version is not None
    catalog.update_version_status(version, "Archived")
    assert _events(catalog)[-1] == ("pkg", "1.0", "Updated", 2, 0)
    outbox = EventOutbox(*catalog.engines)
    assert outbox.prune(outbox.last_id(), datetime.now(UTC) + timedelta(hours=1)) == 2
    assert outbox.after(0) == []


def _event(name: str, when: datetime, error: str | None = None) -> dict[str, Any]:
    event: dict[str, Any] = {"eventTime": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
                             "eventSource": "codeartifact.amazonaws.com", "eventName": name,
                             "userIdentity": {"arn": "arn:aws:iam::000000000000:root"}}
    if error:
        event["errorCode"] = error
    return event


def test_the_audit_trail_in_the_database(catalog: Catalog) -> None:
    assert isinstance(catalog, SqlCatalog)
    reader, writer = catalog.engines
    log = DatabaseAuditLog(writer, reader)
    log.write_batch([_event("CreateDomain", NOW), _event("ListDomains", NOW + timedelta(hours=1)),
                     _event("CreateDomain", NOW + timedelta(hours=2), "ConflictException")])
    assert [e["eventName"] for e in log.read()] == ["CreateDomain", "ListDomains", "CreateDomain"]
    assert [e["eventTime"] for e in log.read(since=NOW + timedelta(minutes=30),
                                             until=NOW + timedelta(hours=2))] == [
        "2026-01-01T01:00:00Z"]
    assert [e.get("errorCode") for e in log.read(name="CreateDomain")] == [
        None, "ConflictException"]
    assert [e["eventName"] for e in log.read(errors_only=True)] == ["CreateDomain"]


def test_event_ids_are_never_reused_after_pruning(catalog: Catalog) -> None:
    # The webhooks' cursors are ids: a reused one would never be sent.
    assert isinstance(catalog, SqlCatalog)
    repo = _repo(catalog)
    outbox = EventOutbox(*catalog.engines)
    _one_by_one(catalog, repo, BATCH[:1])
    first = outbox.last_id()
    assert outbox.prune(first, datetime.now(UTC) + timedelta(hours=1)) == 1
    _one_by_one(catalog, repo, BATCH[2:3])
    assert [event.id for event in outbox.after(first)] == [outbox.last_id()]
    assert outbox.last_id() > first
