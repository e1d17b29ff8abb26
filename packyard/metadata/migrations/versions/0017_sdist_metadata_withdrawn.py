"""PyPI sdists' core metadata files withdrawn

Revision ID: 0017_sdist_metadata_withdrawn
Revises: 0016_packages_by_name

Uploads used to record every sdist's PKG-INFO as its PEP 658 ``.metadata`` file. pip resolves
from that file instead of building the sdist, and a PKG-INFO before Metadata-Version 2.2, or
one that lists Requires-Dist as Dynamic (PEP 643), does not say what the sdist depends on:
pip installed such sdists without their dependencies. Uploads now record it only when PEP 643
makes it reliable (``formats/pypi/archive.serves_core_metadata``); that needs the file, which
a migration does not read, so every PyPI sdist recorded before loses its metadata file (its
``metadata_sha256`` and ``metadata_size`` attributes; the blob stays the asset's companion
until the asset goes) — pip then builds it, as it does every sdist from PyPI, which serves no
metadata file for one. The rendered pages of those packages are deleted: the next read renders
them without it (``metadata/rendered_pages.py``). ``downgrade`` gives nothing back.
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0017_sdist_metadata_withdrawn"
down_revision = "0016_packages_by_name"
branch_labels = None
depends_on = None

_WITHDRAWN = ("metadata_sha256", "metadata_size")
_SDIST_SUFFIXES = (".tar.gz", ".zip")
_CHUNK = 1000

_packages = sa.table("packages", sa.column("id", sa.Integer), sa.column("format", sa.String))
_versions = sa.table("package_versions", sa.column("id", sa.Integer),
                     sa.column("package_id", sa.Integer))
_assets = sa.table("assets", sa.column("id", sa.Integer), sa.column("name", sa.String),
                   sa.column("package_version_id", sa.Integer), sa.column("attributes", sa.Text))
_pages = sa.table("rendered_pages", sa.column("package_id", sa.Integer))


def upgrade() -> None:
    conn = op.get_bind()
    query = (
        sa.select(_assets.c.id, _assets.c.attributes, _versions.c.package_id)
        .select_from(_assets.join(_versions, _assets.c.package_version_id == _versions.c.id)
                     .join(_packages, _versions.c.package_id == _packages.c.id))
        .where(_packages.c.format == "pypi",
               sa.or_(*(_assets.c.name.endswith(suffix, autoescape=True)
                        for suffix in _SDIST_SUFFIXES)),
               _assets.c.attributes.contains("metadata_sha256", autoescape=True)))
    updates: list[dict[str, object]] = []
    packages: set[int] = set()
    for row in conn.execute(query).all():
        document = json.loads(row.attributes)
        if not any(key in document for key in _WITHDRAWN):
            continue
        kept = {key: value for key, value in document.items() if key not in _WITHDRAWN}
        updates.append({"asset_id": row.id, "document": json.dumps(
            kept, sort_keys=True, separators=(",", ":")) if kept else "{}"})
        packages.add(row.package_id)
    for start in range(0, len(updates), _CHUNK):
        conn.execute(_assets.update().where(_assets.c.id == sa.bindparam("asset_id"))
                     .values(attributes=sa.bindparam("document")),
                     updates[start:start + _CHUNK])
    ordered = sorted(packages)
    for start in range(0, len(ordered), _CHUNK):
        conn.execute(_pages.delete().where(
            _pages.c.package_id.in_(ordered[start:start + _CHUNK])))


def downgrade() -> None:
    pass
