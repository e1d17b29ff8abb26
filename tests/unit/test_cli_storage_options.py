"""``--database-url`` and ``--blob-store``: each command on a server's data takes them, and they
win over ``PACKYARD_DATABASE_URL`` / ``PACKYARD_BLOB_STORE``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from packyard.auth.principal import root_principal
from packyard.auth.tokens import TokenService
from packyard.bootstrap import build_services
from packyard.cli.main import main
from packyard.metadata.catalog import NewAsset, NewVersion, SqlCatalog
from packyard.settings import load_settings
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
    assert "packyard import can only add files to a server whose blobs are on disk or in S3" in (
        " ".join(output.split()))


@pytest.mark.parametrize("command", [("import",), ("export",), ("verify",), ("encrypt",),
                                     ("keys", "rotate"), ("iam", "reset-secret-key")])
def test_regression_only_serve_offers_a_memory_blob_store_in_its_help(
        command: tuple[str, ...]) -> None:
    # `packyard import --help` (and export's, verify's…) offered "--blob-store … or memory://",
    # which each of them refuses; only a server can keep files in its own memory.
    code, output = _invoke(*command, "--help")
    assert code == 0
    assert "memory://" not in output
    assert "s3://BUCKET/PREFIX" in output
    code, output = _invoke("serve", "--help")
    assert code == 0 and "memory://" in output


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


def _install_storing_elsewhere(data_dir: Path, blob_store: Path) -> None:
    """A data directory whose server was given ``--blob-store blob_store``, with one file
    stored before encryption was on."""
    services = build_services(load_settings(environ={}, data_dir=data_dir,
                                            blob_store=str(blob_store), encryption="off"))
    catalog = services.catalog
    domain = catalog.create_domain("acme", ACCT, f"arn:aws:kms:us-east-1:{ACCT}:key/packyard-acme",
                                   datetime.now(UTC))
    repo = catalog.create_repository(domain, "shelf", "", ACCT, datetime.now(UTC))
    data = b"a wheel's bytes" * 1000
    digests = services.blobs.put_bytes(data, domain.blob_key)
    version = NewVersion(version="1.0", version_key="1", summary="s", home_page=None,
                         source_code_repository=None, licenses=[], readme=None,
                         readme_content_type=None, dependencies=[])
    asset = NewAsset(name="p-1.0-py3-none-any.whl", size=len(data), sha256=digests.sha256,
                     sha512=digests.sha512, sha1=digests.sha1, md5=digests.md5)
    catalog.publish(repo, "pypi", "", "p", "p", version, asset, {digests.sha256: len(data)},
                    datetime.now(UTC))
    catalog.dispose()


@pytest.mark.parametrize("command", [["verify"], ["encrypt"], ["keys", "rotate"]])
def test_regression_the_encryption_commands_take_the_blob_store_and_database_url(
        command: list[str]) -> None:
    """verify, encrypt and keys rotate had no --blob-store (nor --database-url): an install
    whose files are not in DATA_DIR/blobs could only be named through PACKYARD_BLOB_STORE."""
    code, output = _invoke(*command, "--help")
    assert code == 0
    assert "--blob-store WHERE" in output and "--database-url URL" in output


def test_regression_verify_reads_the_blob_store_the_flag_names(tmp_path: Path) -> None:
    """Run without it, verify looks in DATA_DIR/blobs and finds the file missing."""
    _install_storing_elsewhere(tmp_path / "data", tmp_path / "elsewhere")
    code, output = _invoke("verify", "--data-dir", str(tmp_path / "data"), "--output", "json")
    assert code == 1 and json.loads(output)["counts"]["missing"] == 1
    code, output = _invoke("verify", "--data-dir", str(tmp_path / "data"),
                           "--blob-store", str(tmp_path / "elsewhere"), "--output", "json")
    assert code == 0, output
    assert json.loads(output)["counts"] == {"plain": 1}


def test_regression_encrypt_encrypts_in_the_blob_store_the_flag_names(tmp_path: Path) -> None:
    _install_storing_elsewhere(tmp_path / "data", tmp_path / "elsewhere")
    code, output = _invoke("encrypt", "--data-dir", str(tmp_path / "data"),
                           "--blob-store", str(tmp_path / "elsewhere"), "--output", "json")
    assert code == 0, output
    assert json.loads(output)["counts"]["encrypted"] == 1
    assert len(list((tmp_path / "elsewhere").glob("d*.enc/*/*"))) == 1  # sealed where it was


def test_export_reads_the_blob_store_and_database_the_flags_name(tmp_path: Path) -> None:
    _install_storing_elsewhere(tmp_path / "data", tmp_path / "elsewhere")
    (tmp_path / "data" / "packyard.db").rename(tmp_path / "moved.db")
    export = ["export", "--data-dir", str(tmp_path / "data"), "--domain", "acme",
              "--repository", "shelf", "--output", "json"]
    # Without the flags: no database in the data directory, refused before anything is made.
    code, output = _invoke(*export, str(tmp_path / "none"))
    assert code == 2 and "no Packyard database in" in output
    assert not (tmp_path / "none").exists()
    code, output = _invoke(*export, "--database-url", f"sqlite:///{tmp_path / 'moved.db'}",
                           "--blob-store", str(tmp_path / "elsewhere"), str(tmp_path / "out"),
                           env={"PACKYARD_ENCRYPTION": "off"})
    assert code == 0, output
    assert json.loads(output)["written"] == 1
    assert (tmp_path / "out" / "pypi" / "p" / "p-1.0-py3-none-any.whl").read_bytes() == (
        b"a wheel's bytes" * 1000)


def test_regression_a_postgresql_url_without_psycopg_names_no_variable_the_user_did_not_set(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # migrate-storage --to-database-url postgresql://… without psycopg said "error:
    # PACKYARD_DATABASE_URL names PostgreSQL, which needs psycopg", a variable nobody had set.
    import importlib.util

    import packyard.metadata.engine as engine
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(engine.importlib.util, "find_spec",
                        lambda name, *rest: None if name == "psycopg"
                        else real_find_spec(name, *rest))
    (tmp_path / "data").mkdir()
    catalog = SqlCatalog(f"sqlite:///{tmp_path / 'data' / 'packyard.db'}")
    catalog.migrate()
    catalog.dispose()
    code, output = _invoke("migrate-storage", "--data-dir", str(tmp_path / "data"),
                           "--to-database-url", "postgresql://packyard:secret@db.internal/p",
                           "--to-blob-store", str(tmp_path / "to"))
    assert code == 2
    assert output == ("error: a postgresql:// database URL needs psycopg, which is not "
                      "installed here: pip install 'packyard[postgresql]'\n")
