"""``packyard token``: list and revoke authorization tokens, on a server's data directory.

Register with the main command: ``main.add_command(token)`` in ``packyard/cli/main.py``. Works while
the server runs (it uses the same database); a revocation is announced to every server process,
which stops accepting the token at once (within 5 seconds should one miss the announcement).
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from packyard.audit.local import LocalAudit
from packyard.auth.token_ledger import TokenInfo, TokenLedger
from packyard.auth.tokens import hash_token
from packyard.cli.common import fail, need_database
from packyard.cli.storage_options import database_url_option
from packyard.cli.tables import print_table
from packyard.metadata.catalog import SqlCatalog
from packyard.settings import Settings, load_settings

_out = Console()
_err = Console(stderr=True)

_data_dir_option = click.option(
    "--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
    help="The server's data directory (default ./data, or PACKYARD_DATA_DIR).")


def _open(data_dir: Path | None, database_url: str | None) -> tuple[Settings, TokenLedger]:
    try:
        settings = load_settings(data_dir=data_dir, database_url=database_url)
    except ValueError as exc:
        fail(str(exc))
    need_database(settings)
    return settings, TokenLedger(SqlCatalog(settings.effective_database_url).engines)


def _ledger(data_dir: Path | None, database_url: str | None) -> TokenLedger:
    return _open(data_dir, database_url)[1]


class _Revocations:
    """Records each revocation in the server's audit trail, as the API records its calls."""

    def __init__(self, settings: Settings, ledger: TokenLedger) -> None:
        self._audit = LocalAudit(settings, ledger.engines)

    def record(self, parameters: dict[str, Any], response: dict[str, Any] | None,
               error: tuple[str, str] | None = None) -> None:
        self._audit.record("RevokeAuthorizationToken", parameters, response, error)

    def close(self) -> None:
        self._audit.close()


def _as_json(info: TokenInfo, now: datetime) -> dict[str, str | None]:
    return {"id": info.id, "principal": info.principal_arn, "accessKeyId": info.access_key_id,
            "domain": info.domain_name, "domainOwner": info.domain_owner,
            "created": info.created_at.isoformat(), "expires": info.expires_at.isoformat(),
            "revoked": info.revoked_at.isoformat() if info.revoked_at else None,
            "state": info.state(now)}


@click.group()
def token() -> None:
    """List and revoke the authorization tokens that get-authorization-token issued."""


@token.command("list")
@_data_dir_option
@database_url_option
@click.option("--principal", default=None, help="Only tokens minted by this ARN.")
@click.option("--domain", default=None, help="Only tokens for this domain.")
@click.option("--all", "include_inactive", is_flag=True,
              help="Include expired and revoked tokens.")
@click.option("--output", type=click.Choice(["table", "json"]), default="table",
              help="A table for people, JSON for scripts.")
def list_tokens(data_dir: Path | None, database_url: str | None, principal: str | None,
                domain: str | None, include_inactive: bool, output: str) -> None:
    """Show tokens (live ones by default); the token values themselves are never stored."""
    now = datetime.now(UTC)
    found = _ledger(data_dir, database_url).list(principal_arn=principal, domain=domain,
                                   include_inactive=include_inactive, now=now)
    if output == "json":
        click.echo(json.dumps([_as_json(t, now) for t in found], indent=2))
        return
    # Ids are never cut, whatever the terminal's width (they are what `revoke` takes): the
    # principal ARN, last, folds instead.
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("id", no_wrap=True, min_width=max((len(t.id) for t in found), default=2))
    table.add_column("domain", overflow="fold")
    table.add_column("expires", no_wrap=True)
    if include_inactive:
        table.add_column("state", no_wrap=True)
    table.add_column("principal", overflow="fold")
    for t in found:
        state = [t.state(now)] if include_inactive else []
        table.add_row(t.id, t.domain_name, t.expires_at.strftime("%Y-%m-%d %H:%MZ"), *state,
                      t.principal_arn)
    print_table(table, _out)


def _one_live_token(ledger: TokenLedger, prefix: str, now: datetime) -> str | None:
    """The id of the one unrevoked token whose id starts with ``prefix`` (as git takes a
    commit's abbreviation); else None, having said why."""
    if not prefix:
        _err.print("[red]error:[/] an empty TOKEN_ID names no token")
        return None
    found = [t for t in ledger.list(include_inactive=True, now=now)
             if t.id.startswith(prefix) and t.revoked_at is None]
    if len(found) == 1:
        return found[0].id
    if not found:
        _err.print(f"[red]error:[/] no live token whose id starts with {escape(prefix)}",
                   soft_wrap=True, highlight=False)
        return None
    _err.print(f"[red]error:[/] {escape(prefix)} is the start of {len(found)} live tokens' ids; give "
               "more of the one to revoke:", soft_wrap=True, highlight=False)
    for t in found:
        _err.print(f"  {t.id}  {t.domain_name}  expires "
                   f"{t.expires_at.strftime('%Y-%m-%d %H:%MZ')}  {t.principal_arn}",
                   soft_wrap=True, highlight=False)
    return None


@token.command("revoke")
@_data_dir_option
@database_url_option
@click.argument("token_ids", nargs=-1, metavar="[TOKEN_ID]...")
@click.option("--stdin", "from_stdin", is_flag=True,
              help="Read a token value (e.g. a leaked one) from standard input and revoke it.")
@click.option("--principal", default=None,
              help="Revoke every live token minted by this principal ARN.")
def revoke_tokens(data_dir: Path | None, database_url: str | None, token_ids: tuple[str, ...],
                  from_stdin: bool, principal: str | None) -> None:
    """Revoke tokens by id (see `packyard token list`), by value, or by principal.

    A TOKEN_ID may be any start of an id that names one live token only, e.g. its first 8
    characters.
    """
    if not token_ids and not from_stdin and principal is None:
        fail("name a TOKEN_ID, or pass --stdin or --principal")
    settings, ledger = _open(data_dir, database_url)
    audit = _Revocations(settings, ledger)
    now = datetime.now(UTC)
    failed = False
    try:
        for prefix in token_ids:
            token_id = _one_live_token(ledger, prefix, now)
            if token_id is None:
                failed = True
            elif ledger.revoke(token_id, now):
                audit.record({"tokenId": token_id}, {"revoked": [token_id]})
                click.echo(f"revoked {token_id}")
            else:  # revoked by someone else since it was found
                _err.print(f"[red]error:[/] no live token with id {token_id}")
                failed = True
        if from_stdin:
            value = sys.stdin.read().strip()
            revoked = ledger.revoke_by_digest(hash_token(value), now) if value else None
            # The value itself is a credential: never recorded, only the id it names.
            if revoked:
                audit.record({"tokenValue": "read from standard input"}, {"revoked": [revoked]})
                click.echo(f"revoked {revoked}")
            else:
                audit.record({"tokenValue": "read from standard input"}, None,
                             ("ResourceNotFoundException", "unknown token"))
                _err.print("[red]error:[/] the token read from standard input is unknown")
                failed = True
        if principal is not None:
            count = ledger.revoke_all_for(principal, now)
            audit.record({"principal": principal}, {"revokedCount": count})
            click.echo(f"revoked {count} token(s) of {principal}")
    finally:
        audit.close()
    if failed:
        sys.exit(1)


if __name__ == "__main__":  # pragma: no cover - `python -m packyard.cli.tokens`, as `packyard token`
    token()
