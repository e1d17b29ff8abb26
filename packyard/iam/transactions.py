"""What every part of the IAM store shares: its engines, one transaction per method, a counter.

Each store method is one transaction on the reader or the writer engine (the catalog's pair,
``SqlCatalog.engines``). ``generation`` grows with every write made through the store, so caches in
the same process can drop what they hold at once; every write also announces itself to the
other processes on the database (``metadata/change_feed.py``), which bump their store's
generation when they hear of it (``note_change_elsewhere``), the caches' TTL remaining the
backstop.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Table, func, select
from sqlalchemy.engine import Engine

from packyard.iam.secrets import SecretBox
from packyard.metadata.change_feed import IAM, announce
from packyard.metadata.engine import may_wait, outages_as_unavailable, read_transaction
from packyard.metadata.point_reads import WouldWait


class StoreBase:
    """The state the store's parts (``UserStore``, ``RoleStore``, …) share through ``IamStore``."""

    def __init__(self, engines: tuple[Engine, Engine], account_id: str, box: SecretBox) -> None:
        self._reader, self._writer = engines
        self.account_id = account_id
        self._box = box
        self._generations = itertools.count(1)
        self._generation = 0

    @property
    def generation(self) -> int:
        """Changes whenever this store has written (or heard that another process did);
        caches compare it to drop stale entries."""
        return self._generation

    def note_change_elsewhere(self) -> None:
        """Another process wrote to the IAM tables: what this one cached is stale."""
        self._generation = next(self._generations)

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with read_transaction(self._reader) as conn:
            yield conn

    @contextmanager
    def _write(self, *, changes_decisions: bool = True) -> Iterator[Connection]:
        """A write transaction, announced and moving ``generation`` unless
        ``changes_decisions`` is False: a write no cached decision can rest on because it only
        makes something new that no decision has seen yet (a user, a role, an access key, an
        unattached managed policy, an STS session whose purge of expired sessions removes only
        what their expiry already refused), so that a fleet assuming roles or a script
        provisioning users does not drop every read grant of every caller each time."""
        if not may_wait():
            raise WouldWait
        try:
            with outages_as_unavailable(), self._writer.connect() as conn, conn.begin():
                yield conn
                if changes_decisions:
                    announce(conn, IAM)
        finally:
            if changes_decisions:
                self._generation = next(self._generations)


def exists(conn: Connection, table: Table, condition: Any) -> bool:
    """Whether any row of ``table`` meets ``condition`` (what IAM's DeleteConflict checks ask)."""
    return conn.execute(select(func.count()).select_from(table).where(condition)).scalar_one() > 0
