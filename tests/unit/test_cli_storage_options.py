"""``--database-url`` and ``--blob-store``: each command on a server's data takes them, and they
win over ``PACKYARD_DATABASE_URL`` / ``PACKYARD_BLOB_STORE``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from click.testing import CliRunner

from packyard.auth.principal import root_principal
from packyard.auth.tokens import TokenService
from packyard.cli.main import main
from packyard.metadata.catalog import SqlCatalog
from tests.integration.helpers import free_port

ACCT = "000000000000"


def _invoke(*args: str, env: dict[str, str | None] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), env={"PACKYARD_DATABASE_URL": None,
                                                       "PACKYARD_BLOB_STORE": None,
                                                       "PACKYARD_DATA_DIR": None, **(env or {})})
    return result.exit_code, result.stdout + result.stderr


def test_serve_refuses_a_blob_store_no_backend_serves(tmp_path: Path) -> None:
    code, output = _invoke("serve", "--data-dir", str(tmp_path), "--blob-store", "ftp://host/x")
    assert code == 2
    assert "no blob store backend for 'ftp://host/x'" in " ".join(output.split())


def test_serve_refuses_a_database_url_no_backend_serves(tmp_path: Path) -> None:
    code, output = _invoke("serve", "--data-dir", str(tmp_path), "--port", str(free_port()),
                           "--database-url", "mysql://user@host/db")
    assert code == 2
    assert "no catalog backend for 'mysql' URLs" in " ".join(output.split())


def test_the_flag_wins_over_the_variable(tmp_path: Path) -> None:
    code, output = _invoke("serve", "--data-dir", str(tmp_path), "--blob-store", "ftp://flag",
                           env={"PACKYARD_BLOB_STORE": "ftp://variable"})
    assert code == 2 and "'ftp://flag'" in output and "variable" not in output


def test_import_refuses_a_memory_blob_store_given_as_a_flag(tmp_path: Path) -> None:
    wheel = tmp_path / "a-1.0-py3-none-any.whl"
    wheel.write_bytes(b"")
    code, output = _invoke("import", "--data-dir", str(tmp_path), "--blob-store", "memory://",
                           "--domain", "d", "--repository", "r", str(wheel))
    assert code == 2
    assert "packyard import can only add files to a server whose blobs are on disk" in (
        " ".join(output.split()))


def test_token_list_reads_the_database_the_flag_names(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere.db"
    catalog = SqlCatalog(f"sqlite:///{elsewhere}")
    catalog.migrate()
    domain = catalog.create_domain("dom", ACCT, "k", datetime.now(UTC))
    TokenService(catalog).issue(root_principal(ACCT, "AKIAROOT"), domain, 3600,
                                datetime.now(UTC))
    catalog.dispose()
    code, output = _invoke("token", "list", "--data-dir", str(tmp_path / "empty"),
                           "--database-url", f"sqlite:///{elsewhere}", "--output", "json")
    assert code == 0, output
    assert [t["domain"] for t in json.loads(output)] == ["dom"]
