"""A database that cannot be reached is ``DatabaseUnavailable`` (a 503 on every surface) on
both backends, for the catalog and the IAM store alike."""

from __future__ import annotations

from pathlib import Path

import pytest

from packyard.iam.secrets import SecretBox
from packyard.iam.store import IamStore
from packyard.metadata.catalog import SqlCatalog
from packyard.metadata.engine import DatabaseUnavailable


def _urls(tmp_path: Path) -> dict[str, str]:
    return {"sqlite": f"sqlite:///{tmp_path / 'no-such-folder' / 'packyard.db'}",
            # A socket folder with no server in it: the connection is refused.
            "postgresql": f"postgresql://postgres@/packyard?host={tmp_path}"}


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_an_unreachable_database_is_unavailable(tmp_path: Path, backend: str) -> None:
    catalog = SqlCatalog(_urls(tmp_path)[backend])
    try:
        with pytest.raises(DatabaseUnavailable, match="^The metadata database is unavailable "
                                                      "right now; try again shortly$"):
            catalog.list_domains()
        store = IamStore(catalog.engines, "000000000000", SecretBox.generate())
        with pytest.raises(DatabaseUnavailable):
            store.list_users()
    finally:
        catalog.dispose()
