"""Claims on upstream downloads: which process is pulling a file, shared by every process on
the database (``--workers`` on SQLite, replicas on PostgreSQL).

A claim is a row with a holder and an expiry. ``claim`` inserts it, or takes over one whose
expiry has passed (its holder died or stalled), in one statement: an ``INSERT … ON CONFLICT DO
UPDATE … WHERE expires_at <= now`` that writes a row only when the claim is free, so of any
number of processes claiming at once exactly one gets a row back. The holder renews the
expiry while it works and ``settle``\\s the row with an outcome (opaque text to this store) that
the others read; ``release`` gives the claim up with none.

These writes leave the catalog's caches alone (nothing cached shows a claim), take no writer
lock on PostgreSQL (each is one atomic statement, so they need no order with the catalog's
writes and do not queue behind publishes) and do not wait for the disk: a claim is about
processes that are running, so one lost with the machine is lost with them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from packyard.metadata.engine import UNSERIALIZED, outages_as_unavailable
from packyard.metadata.schema import upstream_claims
from packyard.metadata.transactions import write_unflushed


@dataclass(frozen=True)
class PullClaim:
    """A claim as it stands: who holds it until when, and how it ended (None while running)."""

    holder: str
    expires_at: datetime
    outcome: str | None


class PullClaimStore:
    """The ``upstream_claims`` table, on the catalog's (reader, writer) engines."""

    def __init__(self, engines: tuple[Engine, Engine]) -> None:
        self._reader = engines[0]
        self._writer = engines[1].execution_options(**{UNSERIALIZED: True})

    def claim(self, key: str, holder: str, now: datetime, expires_at: datetime) -> bool:
        """Hold ``key`` until ``expires_at`` if it is free (no row, or its expiry passed);
        True when this call took it."""
        dialect: Any = postgresql if self._writer.dialect.name == "postgresql" else sqlite
        statement = dialect.insert(upstream_claims).values(
            key=key, holder=holder, expires_at=expires_at, outcome=None)
        statement = statement.on_conflict_do_update(
            index_elements=[upstream_claims.c.key],
            set_={"holder": holder, "expires_at": expires_at, "outcome": None},
            where=upstream_claims.c.expires_at <= now).returning(upstream_claims.c.key)
        # RETURNING, not rowcount: psycopg reports no count for an INSERT … ON CONFLICT.
        with outages_as_unavailable(), write_unflushed(self._writer) as conn:
            return conn.execute(statement).first() is not None

    def renew(self, key: str, holder: str, expires_at: datetime) -> bool:
        """Move the expiry of ``holder``'s running claim; False when it is no longer held by
        ``holder`` (taken over after it ran out, or settled)."""
        with outages_as_unavailable(), write_unflushed(self._writer) as conn:
            return conn.execute(update(upstream_claims).where(
                upstream_claims.c.key == key, upstream_claims.c.holder == holder,
                upstream_claims.c.outcome.is_(None)).values(
                expires_at=expires_at)).rowcount == 1

    def settle(self, key: str, holder: str, outcome: str, now: datetime,
               keep_until: datetime) -> None:
        """Record how ``key`` ended, for the others to read until ``keep_until`` (written
        whoever holds the row now: the outcome is true whoever finished first); rows that have
        run out are removed on the way."""
        dialect: Any = postgresql if self._writer.dialect.name == "postgresql" else sqlite
        values = {"holder": holder, "expires_at": keep_until, "outcome": outcome}
        statement = dialect.insert(upstream_claims).values(key=key, **values)
        statement = statement.on_conflict_do_update(index_elements=[upstream_claims.c.key],
                                                    set_=values)
        with outages_as_unavailable(), write_unflushed(self._writer) as conn:
            conn.execute(statement)
            conn.execute(delete(upstream_claims).where(upstream_claims.c.expires_at < now))

    def release(self, key: str, holder: str) -> None:
        """Give up ``holder``'s running claim on ``key`` with no outcome: the next to ask
        claims it."""
        with outages_as_unavailable(), write_unflushed(self._writer) as conn:
            conn.execute(delete(upstream_claims).where(
                upstream_claims.c.key == key, upstream_claims.c.holder == holder,
                upstream_claims.c.outcome.is_(None)))

    def look(self, key: str) -> PullClaim | None:
        """The claim on ``key``, if there is a row (one that ran out included)."""
        with outages_as_unavailable(), self._reader.connect() as conn, conn.begin():
            row = conn.execute(select(upstream_claims).where(
                upstream_claims.c.key == key)).first()
        if row is None:
            return None
        return PullClaim(row.holder, row.expires_at, row.outcome)
