"""Format-specific data out of the core tables: per-format attributes, companion blobs, tags

Revision ID: 0005
Revises: 0004

- ``assets.blake2_256``, ``requires_python``, ``metadata_sha256`` and ``metadata_size`` were
  PyPI's: they move into ``assets.attributes``, a JSON object each format reads back (keys of
  the same names; a NULL column leaves its key out).
- ``asset_blobs`` records the other blobs an asset keeps alive, which only ``metadata_sha256``
  named before: every asset with one gets a row.
- ``package_versions.attributes`` (JSON, "{}" for the versions already there) and
  ``package_tags`` are new and start empty.

Existing rows are copied in chunks with plain SQL on any backend; SQLite rebuilds ``assets``
(batch mode) to drop the columns. ``downgrade`` puts the columns back from the JSON.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_MOVED = ("blake2_256", "requires_python", "metadata_sha256", "metadata_size")
_CHUNK = 1000


def _assets(*columns: str) -> sa.TableClause:
    return sa.table("assets", sa.column("id", sa.Integer), *(sa.column(c) for c in columns))


def upgrade() -> None:
    with op.batch_alter_table("package_versions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("attributes", sa.Text(), nullable=False,
                                      server_default="{}"))
    with op.batch_alter_table("assets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("attributes", sa.Text(), nullable=False,
                                      server_default="{}"))
    conn = op.get_bind()
    old = _assets(*_MOVED)
    new = _assets("attributes")
    for rows in _chunks(conn, old):
        updates = []
        for row in rows:
            values = {name: getattr(row, name) for name in _MOVED
                      if getattr(row, name) is not None}
            updates.append({"asset_id": row.id, "document": json.dumps(
                values, sort_keys=True, separators=(",", ":")) if values else "{}"})
        conn.execute(new.update().where(new.c.id == sa.bindparam("asset_id"))
                     .values(attributes=sa.bindparam("document")), updates)
    # Before anything refers to assets: SQLite rebuilds the table to drop columns.
    with op.batch_alter_table("assets", schema=None) as batch_op:
        for name in _MOVED:
            batch_op.drop_column(name)

    op.create_table(
        "asset_blobs",
        sa.Column("asset_id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["asset_id"], ["assets.id"],
                                name=op.f("fk_asset_blobs_asset_id_assets")),
        sa.PrimaryKeyConstraint("asset_id", "sha256", name=op.f("pk_asset_blobs")),
    )
    with op.batch_alter_table("asset_blobs", schema=None) as batch_op:
        batch_op.create_index("ix_asset_blobs_sha256", ["sha256"], unique=False)
    companions = sa.table("asset_blobs", sa.column("asset_id"), sa.column("sha256"))
    for rows in _chunks(conn, new):
        kept = [{"asset_id": row.id, "sha256": sha} for row in rows
                if (sha := json.loads(row.attributes).get("metadata_sha256"))]
        if kept:
            conn.execute(companions.insert(), kept)

    op.create_table(
        "package_tags",
        sa.Column("package_id", sa.Integer(), nullable=False),
        sa.Column("tag", sa.String(length=255), nullable=False),
        sa.Column("version_key", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(["package_id"], ["packages.id"],
                                name=op.f("fk_package_tags_package_id_packages")),
        sa.PrimaryKeyConstraint("package_id", "tag", name=op.f("pk_package_tags")),
    )


def downgrade() -> None:
    op.drop_table("package_tags")
    with op.batch_alter_table("asset_blobs", schema=None) as batch_op:
        batch_op.drop_index("ix_asset_blobs_sha256")
    op.drop_table("asset_blobs")
    with op.batch_alter_table("assets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("blake2_256", sa.String(length=64), nullable=False,
                                      server_default=""))
        batch_op.add_column(sa.Column("requires_python", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("metadata_sha256", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("metadata_size", sa.BigInteger(), nullable=True))
    conn = op.get_bind()
    restored = _assets(*_MOVED)
    for rows in _chunks(conn, _assets("attributes")):
        updates: list[dict[str, Any]] = []
        for row in rows:
            document = json.loads(row.attributes or "{}")
            values = {f"v_{name}": document.get(name) for name in _MOVED}
            values["v_blake2_256"] = values["v_blake2_256"] or ""
            updates.append({"asset_id": row.id, **values})
        conn.execute(restored.update().where(restored.c.id == sa.bindparam("asset_id"))
                     .values(**{name: sa.bindparam(f"v_{name}") for name in _MOVED}), updates)
    with op.batch_alter_table("assets", schema=None) as batch_op:
        batch_op.alter_column("blake2_256", server_default=None)
        batch_op.drop_column("attributes")
    with op.batch_alter_table("package_versions", schema=None) as batch_op:
        batch_op.drop_column("attributes")


def _chunks(conn: sa.Connection, table: sa.TableClause) -> Iterator[list[sa.Row[Any]]]:
    """Every row of ``table``, a chunk at a time, by id."""
    last = 0
    while True:
        rows = list(conn.execute(sa.select(table).where(table.c.id > last)
                                 .order_by(table.c.id).limit(_CHUNK)).all())
        if not rows:
            return
        last = rows[-1].id
        yield rows
