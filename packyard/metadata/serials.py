"""Each package's last serial: a number that grows whenever its versions or files change.

PyPI's JSON API and Simple pages give a project's ``last_serial`` (the id of the last event in
its journal) so mirrors and bots can tell that a project changed. Packyard keeps no journal: a
change stamps the package with the time of the transaction in microseconds, or one more than
its serial when the clock has not moved past it (writers take turns, so the serial only ever
grows, whatever the clock does).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import BindParameter, Connection, bindparam, case, update

from packyard.metadata.rendered_pages import note_changed
from packyard.metadata.rows import chunks
from packyard.metadata.schema import packages

# Built once, executed with each write's packages (``new_files``' module docstring says why).
_MICROS: BindParameter[int] = bindparam("micros")
_BUMP = update(packages).where(packages.c.id.in_(bindparam("ids", expanding=True))).values(
    last_serial=case((packages.c.last_serial >= _MICROS, packages.c.last_serial + 1),
                     else_=_MICROS))


def bump_serials(conn: Connection, package_ids: Iterable[int], now: datetime) -> None:
    """Stamp these packages as changed now, in the caller's write transaction (their pages
    are rendered again before it commits)."""
    ids = sorted(set(package_ids))
    note_changed(conn, ids)
    micros = int(now.timestamp() * 1_000_000)
    for chunk in chunks(ids):
        conn.execute(_BUMP, {"ids": list(chunk), "micros": micros})
