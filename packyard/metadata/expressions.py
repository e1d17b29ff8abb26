"""SQL expressions that mean the same on every catalog backend."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, func


def starts_with(column: ColumnElement[Any], prefix: str) -> ColumnElement[bool]:
    """``column`` begins with ``prefix``, case-sensitively on every backend.

    Not ``LIKE 'prefix%'`` (SQLAlchemy's ``startswith``): SQLite's LIKE ignores ASCII case and
    PostgreSQL's does not, so the same filter would answer differently. ``substr`` counts
    characters on both, as ``len`` does.
    """
    return func.substr(column, 1, len(prefix)) == prefix
