"""The events outbox: package version changes, written in the transaction that makes them.

CodeArtifact sends a "CodeArtifact Package Version State Change" event to EventBridge when a
package version is created, changed or deleted; Packyard sends the same events to webhooks
(``packyard/webhooks/``). So that a crash neither loses nor invents one, each event is a row of
``event_outbox`` inserted by the very transaction that changes the version: committed together,
or not at all. The dispatcher reads the rows in id order later; catalog writers are serialized
(``engine.py``), so ids commit in increasing order and a reader never passes a row still to
come.

**The hook for every catalog write that changes versions** (publishing, status changes,
pull-through copies, and the lifecycle operations: DeletePackageVersions, DisposePackageVersions,
DeletePackage, CopyPackageVersions): inside the method's ``with self._write() as conn:``, call

    write_version_events(conn, version_changes(conn, version_ids, operation, ...), now)

``version_changes`` reads what an event says of each version (its package, repository, domain,
status and revision) from the rows as they are at that point of the transaction: call it after
the change for created and updated versions, and *before* deleting the rows for deleted ones
(with ``status="Deleted"``), or build ``VersionChange`` records yourself. One event per version
changed (DeletePackage: one per version of the package, as CodeArtifact does).

A row holds the event's id, time and ``detail``; the envelope that names the region
(``version``, ``detail-type``, ``source``, ``account``, ``region``, ``resources``) is added when
it is sent (``envelope``), from the server's settings.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, bindparam, delete, func, insert, select, update
from sqlalchemy.engine import Engine

from packyard.metadata.schema import (
    domains,
    event_outbox,
    package_event_sequences,
    package_versions,
    packages,
    repositories,
)

DETAIL_TYPE = "CodeArtifact Package Version State Change"
CREATED, UPDATED, DELETED = "Created", "Updated", "Deleted"


@dataclass(frozen=True)
class VersionChange:
    """One package version changed, as its event describes it."""

    domain_name: str
    domain_owner: str
    repository_id: int
    repository_name: str
    package_format: str
    package_namespace: str  # "" for none
    package_name: str
    package_version: str
    state: str  # the version's status after the change (Published, …, Disposed, Deleted)
    revision: str
    operation: str  # Created, Updated or Deleted
    assets_added: int = 0
    assets_removed: int = 0
    assets_updated: int = 0
    metadata_updated: bool = False
    status_changed: bool = False


_VERSION_CHANGES = (
    select(package_versions.c.id, package_versions.c.version, package_versions.c.status,
           package_versions.c.revision, packages.c.format, packages.c.namespace,
           packages.c.name, repositories.c.id.label("repository_id"),
           repositories.c.name.label("repository_name"),
           domains.c.name.label("domain_name"), domains.c.owner.label("domain_owner"))
    .join(packages, packages.c.id == package_versions.c.package_id)
    .join(repositories, repositories.c.id == packages.c.repository_id)
    .join(domains, domains.c.id == repositories.c.domain_id)
    .where(package_versions.c.id.in_(bindparam("ids", expanding=True)))
    .order_by(package_versions.c.id))


def version_changes(conn: Connection, version_ids: Iterable[int], operation: str, *,
                    assets_added: dict[int, int] | None = None, assets_removed: int = 0,
                    metadata_updated: bool = False, status_changed: bool = False,
                    status: str | None = None) -> list[VersionChange]:
    """What the events of these versions say, read in the current transaction (in id order).
    ``status`` overrides each version's status (``Deleted`` for rows about to go)."""
    ids = sorted(set(version_ids))
    if not ids:
        return []
    rows = conn.execute(_VERSION_CHANGES, {"ids": ids}).all()
    return [VersionChange(
        domain_name=row.domain_name, domain_owner=row.domain_owner,
        repository_id=row.repository_id, repository_name=row.repository_name,
        package_format=row.format, package_namespace=row.namespace, package_name=row.name,
        package_version=row.version, state=status or row.status, revision=row.revision,
        operation=operation, assets_added=(assets_added or {}).get(row.id, 0),
        assets_removed=assets_removed, metadata_updated=metadata_updated,
        status_changed=status_changed) for row in rows]


# Built once, executed with each package's values (``new_files``' module docstring says why).
_LAST_SEQUENCES = select(package_event_sequences.c.repository_id,
                         package_event_sequences.c.last_sequence).where(
    package_event_sequences.c.repository_id.in_(bindparam("repository_ids", expanding=True)),
    package_event_sequences.c.format == bindparam("format_"),
    package_event_sequences.c.namespace == bindparam("namespace_"),
    package_event_sequences.c.name == bindparam("name_"))
_FIRST_SEQUENCE = insert(package_event_sequences)
_INSERT_EVENTS = insert(event_outbox)
_NEXT_SEQUENCE = update(package_event_sequences).where(
    package_event_sequences.c.repository_id == bindparam("repository_id_"),
    package_event_sequences.c.format == bindparam("format_"),
    package_event_sequences.c.namespace == bindparam("namespace_"),
    package_event_sequences.c.name == bindparam("name_")).values(
    last_sequence=bindparam("next_sequence"))

_SequenceKey = tuple[int, str, str, str]  # repository id, format, namespace, name


def _next_sequences(conn: Connection, changes: Sequence[VersionChange]) -> list[int]:
    """Each change's event number in its package (CodeArtifact's ``sequenceNumber``: one more
    than the package's last, in the order of ``changes``). A package's numbers in all the
    repositories that changed are read in one query and written in one statement each for
    the new and the known (a kept copy in two repositories: two statements, not four)."""
    repositories: dict[tuple[str, str, str], set[int]] = {}
    for change in changes:
        repositories.setdefault((change.package_format, change.package_namespace,
                                 change.package_name), set()).add(change.repository_id)
    known: dict[_SequenceKey, int] = {}
    for (fmt, namespace, name), ids in repositories.items():
        for row in conn.execute(_LAST_SEQUENCES, {"repository_ids": sorted(ids),
                                                  "format_": fmt, "namespace_": namespace,
                                                  "name_": name}):
            known[(int(row.repository_id), fmt, namespace, name)] = int(row.last_sequence)
    last = dict(known)
    numbers = []
    for change in changes:
        key = (change.repository_id, change.package_format, change.package_namespace,
               change.package_name)
        last[key] = last.get(key, 0) + 1
        numbers.append(last[key])
    firsts = [{"repository_id": key[0], "format": key[1], "namespace": key[2], "name": key[3],
               "last_sequence": number} for key, number in last.items() if key not in known]
    nexts = [{"repository_id_": key[0], "format_": key[1], "namespace_": key[2],
              "name_": key[3], "next_sequence": number}
             for key, number in last.items() if key in known]
    if firsts:
        conn.execute(_FIRST_SEQUENCE, firsts)
    if nexts:
        conn.execute(_NEXT_SEQUENCE, nexts)
    return numbers


def write_version_events(conn: Connection, changes: Sequence[VersionChange],
                         now: datetime) -> None:
    """Queue one event per change, in the caller's transaction (see the module's docstring)."""
    rows = []
    for change, sequence in zip(changes, _next_sequences(conn, changes), strict=True):
        dedupe = base64.b64encode(hashlib.sha256(
            f"{change.repository_id}/{change.package_format}/{change.package_namespace}/"
            f"{change.package_name}/{change.package_version}".encode()).digest()).decode()
        detail = {
            "domainName": change.domain_name, "domainOwner": change.domain_owner,
            "repositoryName": change.repository_name,
            "packageFormat": change.package_format,
            "packageNamespace": change.package_namespace or None,
            "packageName": change.package_name, "packageVersion": change.package_version,
            "packageVersionState": change.state, "packageVersionRevision": change.revision,
            "changes": {"assetsAdded": change.assets_added,
                        "assetsRemoved": change.assets_removed,
                        "assetsUpdated": change.assets_updated,
                        "metadataUpdated": change.metadata_updated,
                        "statusChanged": change.status_changed},
            "operationType": change.operation, "sequenceNumber": sequence,
            "eventDeduplicationId": f"{dedupe}:{sequence:08x}"}
        document = {"id": str(uuid.uuid4()),
                    "time": now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "detail": detail}
        rows.append({"created_at": now, "domain_name": change.domain_name,
                     "domain_owner": change.domain_owner,
                     "repository_name": change.repository_name,
                     "document": json.dumps(document, separators=(",", ":"))})
    if rows:
        conn.execute(_INSERT_EVENTS, rows)


def envelope(document: dict[str, Any], region: str) -> dict[str, Any]:
    """The EventBridge event of an outbox row: its id, time and detail in CodeArtifact's
    envelope."""
    detail = document["detail"]
    namespace = detail.get("packageNamespace") or ""
    arn = (f"arn:aws:codeartifact:{region}:{detail['domainOwner']}:package/"
           f"{detail['domainName']}/{detail['repositoryName']}/{detail['packageFormat']}/"
           f"{namespace}/{detail['packageName']}")
    return {"version": "0", "id": document["id"], "detail-type": DETAIL_TYPE,
            "source": "aws.codeartifact", "account": detail["domainOwner"],
            "time": document["time"], "region": region, "resources": [arn], "detail": detail}


@dataclass(frozen=True)
class OutboxEvent:
    id: int
    domain_name: str
    repository_name: str
    document: dict[str, Any]


class EventOutbox:
    """The dispatcher's side of the outbox: read in order, prune what every webhook has."""

    def __init__(self, reader: Engine, writer: Engine) -> None:
        self.reader = reader
        self.writer = writer

    def after(self, event_id: int, limit: int = 100) -> list[OutboxEvent]:
        """Events with ids greater than ``event_id``, in order."""
        with self.reader.connect() as conn, conn.begin():
            rows = conn.execute(select(event_outbox).where(event_outbox.c.id > event_id)
                                .order_by(event_outbox.c.id).limit(limit)).all()
        return [OutboxEvent(row.id, row.domain_name, row.repository_name,
                            json.loads(row.document)) for row in rows]

    def last_id(self) -> int:
        with self.reader.connect() as conn, conn.begin():
            return int(conn.execute(select(func.max(event_outbox.c.id))).scalar() or 0)

    def prune(self, up_to: int, older_than: datetime) -> int:
        """Drop events with ids up to ``up_to`` (sent to every webhook) created before
        ``older_than``; returns how many."""
        with self.writer.connect() as conn, conn.begin():
            result = conn.execute(delete(event_outbox).where(
                event_outbox.c.id <= up_to, event_outbox.c.created_at < older_than))
            return int(result.rowcount or 0)
