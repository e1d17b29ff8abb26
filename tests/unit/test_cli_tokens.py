"""``packyard token list`` and ``packyard token revoke`` on a data directory."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from packyard.auth.principal import root_principal
from packyard.auth.tokens import TokenService
from packyard.cli.tokens import token
from packyard.metadata.catalog import SqlCatalog

ACCT = "000000000000"


@pytest.fixture()
def data_dir(tmp_path: Path) -> Path:
    catalog = SqlCatalog(f"sqlite:///{(tmp_path / 'packyard.db').resolve()}")
    catalog.migrate()
    domain = catalog.create_domain("dom", ACCT, "k", datetime.now(UTC))
    service = TokenService(catalog)
    for _ in range(2):
        service.issue(root_principal(ACCT, "AKIAROOT"), domain, 3600, datetime.now(UTC))
    catalog.dispose()
    return tmp_path


def _run(*args: str, data_dir: Path, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(token, [*args, "--data-dir", str(data_dir)], input=stdin,
                                env={"PACKYARD_DATA_DIR": None})
    return result.exit_code, result.stdout, result.stderr


def _ids(data_dir: Path, *extra: str) -> list[str]:
    code, out, _ = _run("list", "--output", "json", *extra, data_dir=data_dir)
    assert code == 0
    return [t["id"] for t in json.loads(out)]


def test_list_shows_live_tokens(data_dir: Path) -> None:
    code, out, _ = _run("list", "--output", "json", data_dir=data_dir)
    tokens = json.loads(out)
    assert code == 0 and len(tokens) == 2
    assert tokens[0]["principal"] == f"arn:aws:iam::{ACCT}:root"
    assert tokens[0]["state"] == "active" and tokens[0]["domain"] == "dom"


def test_revoke_one_token(data_dir: Path) -> None:
    first, second = _ids(data_dir)
    code, out, _ = _run("revoke", first, data_dir=data_dir)
    assert code == 0 and out.strip() == f"revoked {first}"
    assert _ids(data_dir) == [second]
    _, out, _ = _run("list", "--all", "--output", "json", data_dir=data_dir)
    assert {t["id"]: t["state"] for t in json.loads(out)} == {first: "revoked",
                                                              second: "active"}


def test_revoking_an_unknown_id_fails_with_a_message(data_dir: Path) -> None:
    code, _, err = _run("revoke", "nope", data_dir=data_dir)
    assert code == 1 and "no live token with id nope" in err


def test_revoke_by_principal(data_dir: Path) -> None:
    code, out, _ = _run("revoke", "--principal", f"arn:aws:iam::{ACCT}:root", data_dir=data_dir)
    assert code == 0 and "revoked 2 token(s)" in out
    assert _ids(data_dir) == []


def test_revoke_by_value_from_stdin_with_an_unknown_value(data_dir: Path) -> None:
    code, _, err = _run("revoke", "--stdin", data_dir=data_dir, stdin="not-a-token\n")
    assert code == 1 and "the token read from standard input is unknown" in err


def test_revoke_needs_something_to_revoke(data_dir: Path) -> None:
    code, _, err = _run("revoke", data_dir=data_dir)
    assert code == 2 and "name a TOKEN_ID, or pass --stdin or --principal" in err


def test_missing_database_is_one_line_with_the_fix(tmp_path: Path) -> None:
    code, _, err = _run("list", data_dir=tmp_path / "elsewhere")
    assert code == 2 and "no Packyard database in" in err and "--data-dir" in err
