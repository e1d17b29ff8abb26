"""``packyard token list`` and ``packyard token revoke`` on a data directory."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.console import Console

import packyard.cli.tokens as tokens_cli
from packyard.auth.principal import root_principal
from packyard.auth.tokens import TokenService, hash_token
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


@pytest.mark.parametrize("given", ["nope", "[bold]x"])
def test_revoking_an_unknown_id_fails_with_a_message(data_dir: Path, given: str) -> None:
    code, _, err = _run("revoke", given, data_dir=data_dir)
    assert code == 1 and err == f"error: no live token whose id starts with {given}\n"


def test_revoke_takes_the_start_of_an_id(data_dir: Path) -> None:
    first, second = _ids(data_dir)
    code, out, _ = _run("revoke", first[:8], data_dir=data_dir)
    assert code == 0 and out == f"revoked {first}\n"
    assert _ids(data_dir) == [second]
    # A revoked token's id no longer names a live one.
    code, _, err = _run("revoke", first[:8], data_dir=data_dir)
    assert code == 1 and err == f"error: no live token whose id starts with {first[:8]}\n"


def _add_token(data_dir: Path, token_id: str, principal_arn: str) -> None:
    catalog = SqlCatalog(f"sqlite:///{(data_dir / 'packyard.db').resolve()}")
    now = datetime.now(UTC)
    domain = catalog.get_domain(ACCT, "dom")
    catalog.insert_token(token_id, hash_token(token_id), principal_arn, None, domain, now,
                         now + timedelta(hours=1))
    catalog.dispose()


def test_an_ambiguous_start_of_an_id_lists_the_candidates_and_revokes_nothing(
        data_dir: Path) -> None:
    role = f"arn:aws:sts::{ACCT}:assumed-role/ci-publisher/build-4711"
    _add_token(data_dir, "abcd" + "1" * 28, role)
    _add_token(data_dir, "abcd" + "2" * 28, role)
    code, out, err = _run("revoke", "abcd", data_dir=data_dir)
    assert code == 1 and out == ""
    lines = err.splitlines()
    assert lines[0] == ("error: abcd is the start of 2 live tokens' ids; give more of the one "
                        "to revoke:")
    assert [line.split()[0] for line in lines[1:]] == ["abcd" + "1" * 28, "abcd" + "2" * 28]
    assert all(role in line and " dom " in line for line in lines[1:])
    assert len(_ids(data_dir)) == 4
    code, out, _ = _run("revoke", "abcd2", data_dir=data_dir)
    assert code == 0 and out == f"revoked abcd{'2' * 28}\n"


def test_an_empty_id_names_no_token(data_dir: Path) -> None:
    code, _, err = _run("revoke", "", data_dir=data_dir)
    assert code == 1 and err == "error: an empty TOKEN_ID names no token\n"
    assert len(_ids(data_dir)) == 2


@pytest.mark.parametrize("width", [80, 60])
def test_the_table_never_cuts_an_id(data_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                    width: int) -> None:
    # A terminal that wide (piped, the table is not fitted: the test below).
    monkeypatch.setattr(tokens_cli, "_out", Console(width=width, force_terminal=True,
                                                    color_system=None))
    _add_token(data_dir, "f" * 32,
               f"arn:aws:sts::{ACCT}:assumed-role/a-rather-long-role-name/a-long-session-name")
    ids = _ids(data_dir)
    for extra in ((), ("--all",)):
        code, out, _ = _run("list", *extra, data_dir=data_dir)
        assert code == 0
        assert max(len(line) for line in out.splitlines()) <= width
        shown = {line.split()[0] for line in out.splitlines() if line.strip()}
        assert set(ids) <= shown, out


def test_regression_piped_each_token_is_one_line_that_grep_finds(data_dir: Path) -> None:
    """Piped (``packyard token list | grep ROLE``), the table was fitted to 80 columns: a long
    principal ARN folded onto the next lines, so grep found a piece of the row, not the id."""
    principal = (f"arn:aws:sts::{ACCT}:assumed-role/a-rather-long-role-name-for-ci/"
                 "a-long-session-name-from-the-pipeline-that-ran")
    _add_token(data_dir, "f" * 32, principal)
    for extra in ((), ("--all",)):
        code, out, _ = _run("list", *extra, data_dir=data_dir)  # CliRunner: no terminal
        assert code == 0
        [row] = [line for line in out.splitlines() if principal in line]
        assert row.split()[0] == "f" * 32 and "dom" in row.split()


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


def test_revocations_are_recorded_in_the_audit_trail_without_the_token(data_dir: Path) -> None:
    from packyard.audit.file_log import read_segments

    first = _ids(data_dir)[0]
    assert _run("revoke", first, data_dir=data_dir)[0] == 0
    assert _run("revoke", "--stdin", data_dir=data_dir, stdin="no-such-token\n")[0] == 1
    # Two runs, two segments: within one second their order is not defined.
    events = sorted(read_segments(data_dir / "audit"), key=lambda e: "errorCode" in e)
    assert [(e["eventName"], e["eventSource"], e.get("errorCode")) for e in events] == [
        ("RevokeAuthorizationToken", "packyard.local", None),
        ("RevokeAuthorizationToken", "packyard.local", "ResourceNotFoundException")]
    assert events[0]["responseElements"] == {"revoked": [first]}
    assert events[0]["userIdentity"]["type"] == "LocalUser"
    assert not any("no-such-token" in path.read_text()
                   for path in (data_dir / "audit").iterdir())
