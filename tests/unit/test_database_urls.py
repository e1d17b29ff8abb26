"""PACKYARD_DATABASE_URL: which backend a URL names, and the driver it runs on."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from packyard.cli import main
from packyard.errors import CannotStart
from packyard.metadata.engine import backend_name, normalize_url


@pytest.mark.parametrize(("url", "normalized"), [
    ("postgresql://packyard:secret@db.example:5432/packyard",
     "postgresql+psycopg://packyard:secret@db.example:5432/packyard"),
    ("postgres://packyard@db/packyard", "postgresql+psycopg://packyard@db/packyard"),
    ("postgresql://u:p%40ss%2Fword@db/packyard", "postgresql+psycopg://u:p%40ss%2Fword@db/packyard"),
    ("postgresql://postgres@/packyard?host=/tmp/socket",
     "postgresql+psycopg://postgres@/packyard?host=%2Ftmp%2Fsocket"),
    ("postgresql+psycopg://u@db/packyard", "postgresql+psycopg://u@db/packyard"),
    ("sqlite:////srv/packyard/packyard.db", "sqlite:////srv/packyard/packyard.db"),
])
def test_postgresql_urls_run_on_psycopg_3(url: str, normalized: str) -> None:
    assert normalize_url(url) == normalized


@pytest.mark.parametrize(("url", "backend"), [
    ("sqlite:///x.db", "sqlite"), ("postgresql://u@h/d", "postgresql"),
    ("postgres://u@h/d", "postgresql"), ("postgresql+psycopg://u@h/d", "postgresql"),
])
def test_the_backend_a_url_names(url: str, backend: str) -> None:
    assert backend_name(url) == backend


def test_another_database_is_refused_with_the_choices() -> None:
    with pytest.raises(CannotStart) as refused:
        backend_name("mysql://u@h/d")
    assert str(refused.value) == (
        "PACKYARD_DATABASE_URL: no catalog backend for 'mysql' URLs; use sqlite:///PATH or "
        "postgresql://USER:PASSWORD@HOST/DATABASE")


def test_serve_refuses_another_database_in_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["serve", "--data-dir", str(tmp_path)],
                                env={"PACKYARD_DATABASE_URL": "mysql://u@h/d"})
    assert result.exit_code == 2, result.output
    assert "error: PACKYARD_DATABASE_URL: no catalog backend for 'mysql' URLs" in (
        " ".join(result.output.split()))
