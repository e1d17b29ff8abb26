"""``packyard audit``: the audit trail, filtered, as a table or JSON lines.

Reads where the server writes (``PACKYARD_AUDIT_LOG``: the data directory's ``audit/`` segments,
or the catalog's database in the scaled setup); works while the server runs.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from packyard.audit import query
from packyard.audit.query import AuditFilter
from packyard.audit.trail import DATABASE, OFF, open_trail, sink_kind
from packyard.cli.common import fail
from packyard.cli.storage_options import database_url_option
from packyard.cli.tables import print_table
from packyard.metadata.catalog import SqlCatalog
from packyard.settings import load_settings

_out = Console(soft_wrap=True)
_err = Console(stderr=True)

def parse_moment(text: str, now: datetime) -> datetime:
    """``audit.query.parse_moment``, its refusal as click's."""
    try:
        return query.parse_moment(text, now)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _who(event: dict[str, Any]) -> str:
    identity = event.get("userIdentity") or {}
    return str(identity.get("arn") or identity.get("userName") or identity.get("type", "?"))


def _what(event: dict[str, Any]) -> str:
    params = event.get("requestParameters") or {}
    parts = [str(params[key]) for key in ("domain", "domainName", "repository",
                                           "repositoryName", "package", "packageName",
                                           "assetName", "UserName", "RoleName",
                                           "resourceArn")
             if isinstance(params.get(key), str)]
    return "/".join(dict.fromkeys(parts))


@click.command("audit")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="The server's data directory (default ./data, or PACKYARD_DATA_DIR).")
@click.option("--since", default=None, metavar="TIME",
              help="Events at or after TIME: 2026-05-01, 2026-05-01T12:00:00Z, or an age "
                   "such as 15m, 2h, 7d.")
@click.option("--until", default=None, metavar="TIME", help="Events before TIME (same forms).")
@click.option("--principal", default=None,
              help="Events of one caller: an ARN, an access key id, a user name, or the end "
                   "of an ARN such as user/alice.")
@click.option("--event", "event_name", default=None, metavar="NAME",
              help="Events of one name: CreateDomain, PublishPackageVersion, "
                   "RevokeAuthorizationToken, ...")
@click.option("--resource", default=None,
              help="Events about a resource: an ARN, or a domain, repository or package name.")
@click.option("--errors", "errors_only", is_flag=True,
              help="Only refused and failed requests.")
@click.option("--output", type=click.Choice(["table", "json"]), default="table",
              help="A table for people, or JSON lines (one CloudTrail-shaped event per line) "
                   "for scripts.")
@database_url_option
def audit(data_dir: Path | None, since: str | None, until: str | None, principal: str | None,
          event_name: str | None, resource: str | None, errors_only: bool,
          output: str, database_url: str | None) -> None:
    """Show the audit trail: every API call, publish and refusal, oldest first.

    Replicas on PostgreSQL keep it in the database: pass its --database-url (or
    PACKYARD_DATABASE_URL) as they are given it.
    """
    try:
        settings = load_settings(data_dir=data_dir, database_url=database_url)
    except ValueError as exc:
        fail(str(exc))
    now = datetime.now(UTC)
    wanted = AuditFilter(since=parse_moment(since, now) if since else None,
                         until=parse_moment(until, now) if until else None,
                         principal=principal, name=event_name, resource=resource,
                         errors_only=errors_only)
    kind = sink_kind(settings)
    if kind == OFF:
        fail("the audit trail is off (PACKYARD_AUDIT_LOG=off)")
    engines = None
    if kind == DATABASE:
        engines = SqlCatalog(settings.effective_database_url).engines
    elif not (settings.data_dir / "audit").is_dir():
        fail(f"no audit trail in {settings.data_dir.resolve()}; pass the server's --data-dir "
             "(replicas on PostgreSQL: its --database-url)")
    trail = open_trail(settings, engines)
    try:
        events = trail.events(wanted)
    finally:
        trail.close()
    if output == "json":
        for event in events:
            click.echo(json.dumps(event, separators=(",", ":"), ensure_ascii=False))
        return
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("time (UTC)", no_wrap=True)
    table.add_column("event", no_wrap=True)
    table.add_column("result", no_wrap=True)
    table.add_column("resource", overflow="fold")
    table.add_column("principal", overflow="fold")
    table.add_column("source", no_wrap=True)
    for event in events:
        result = event.get("errorCode") or "ok"
        table.add_row(str(event.get("eventTime", "")).replace("T", " ").rstrip("Z"),
                      escape(str(event.get("eventName", ""))),
                      f"[red]{escape(result)}[/]" if result != "ok" else "ok",
                      escape(_what(event)), escape(_who(event)),
                      escape(str(event.get("sourceIPAddress", ""))))
    print_table(table, _out)
    _err.print(f"{len(events)} event(s)")
