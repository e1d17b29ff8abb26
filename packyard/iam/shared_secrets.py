"""Secrets every process on one database must agree on, kept in the database, sealed.

The root credentials a server generates on its first start are the first such secret: on
PostgreSQL, replicas each have a data directory of their own, so a ``credentials.json``
generated in each would give each replica a different root key. They go in
``server_secrets`` instead, encrypted with the IAM ``SecretBox`` (whose key lives with the
blobs, never in the database), and the first replica's secret is every replica's.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.engine import Engine

from packyard.iam.schema import server_secrets
from packyard.iam.secrets import SecretBox
from packyard.metadata.engine import outages_as_unavailable

ROOT_SECRET = "root-credentials"
"""The generated root credentials' name (``auth/credentials.py``): on PostgreSQL, one pair
for every replica."""


class ServerSecrets:
    """Named secrets in ``server_secrets``, created once by whichever process comes first."""

    def __init__(self, engines: tuple[Engine, Engine], box: SecretBox) -> None:
        self._reader, self._writer = engines
        self._box = box

    def read(self, name: str) -> str | None:
        """The secret, or None when no process created it yet."""
        with outages_as_unavailable(), self._reader.connect() as conn, conn.begin():
            sealed = conn.execute(select(server_secrets.c.value)
                                  .where(server_secrets.c.name == name)).scalar_one_or_none()
        return None if sealed is None else self._box.decrypt(sealed)

    def get_or_create(self, name: str, make: Callable[[], str], now: datetime
                      ) -> tuple[str, bool]:
        """The secret and whether this call created it (with ``make()``). Writers are
        serialized (``metadata/engine.py``: BEGIN IMMEDIATE, an advisory lock), so the check
        and the insert see every other process's committed row."""
        found = self.read(name)
        if found is not None:
            return found, False
        with outages_as_unavailable(), self._writer.connect() as conn, conn.begin():
            sealed = conn.execute(select(server_secrets.c.value)
                                  .where(server_secrets.c.name == name)).scalar_one_or_none()
            if sealed is not None:
                return self._box.decrypt(sealed), False
            value = make()
            conn.execute(insert(server_secrets).values(
                name=name, value=self._box.encrypt(value), created_at=now))
        return value, True


ACCOUNT_CREATED = "account-created-at"
"""The moment this Packyard's account came to be (its root user's ``CreateDate``): the first
time any process was asked for it, kept here so that every replica and restart says the same.
Not a secret, but one moment every process must agree on, created once, as the root key is."""


def account_created_at(secrets: ServerSecrets, now: datetime) -> datetime:
    """When the account was created: ``now`` on the first ask of all, what was kept then after."""
    value, _ = secrets.get_or_create(ACCOUNT_CREATED, now.isoformat, now)
    return datetime.fromisoformat(value)
