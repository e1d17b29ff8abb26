"""The ``packyard`` command."""

from __future__ import annotations

import errno
import gc
import logging
import os
import socket
import sys
from pathlib import Path
from typing import Any, NoReturn

import click
from rich.console import Console
from rich.markup import escape

from packyard import __version__
from packyard.auth.credentials import RootCredentials, stored_access_key_id
from packyard.cli.storage_options import serve_storage_options
from packyard.errors import CannotStart
from packyard.settings import LOG_FORMATS, LOG_LEVELS, MAX_WORKERS, MIN_WORKERS, load_settings

console = Console(stderr=True)
# ``serve``'s own lines (the banner, a refusal to start) with --log-format json.
_serve_log = logging.getLogger("packyard.serve")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="packyard")
def main() -> None:
    """Packyard: a self-hosted artifact registry with AWS CodeArtifact's API.

    Start a server with `packyard serve`, then use the AWS CLI, boto3, twine, pip and uv
    against it as you would against CodeArtifact.
    """


def _why_cannot_listen(host: str, port: int) -> str | None:
    """Why the server could not listen on host:port, or None. Asked before anything else
    (migrations, keys, the banner), so a busy port costs one line, not a screenful."""
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                       flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        return f"cannot listen on {host}: {exc.strerror}"
    for family, kind, proto, _, address in addresses:
        # Bound as uvicorn binds (asyncio's create_server): SO_REUSEADDR, IPv6 sockets v6-only.
        with socket.socket(family, kind, proto) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind(address)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    return (f"port {port} on {host} is in use by another program: stop it, or "
                            "choose another port with --port (or PACKYARD_PORT)")
                return f"cannot listen on {host} port {port}: {exc.strerror}"
    return None


def _unused_generated_key(root: RootCredentials, data_dir: Path) -> str | None:
    """The line saying that the key generated earlier stopped working, when it has: root keys
    from PACKYARD_ROOT_* replace the ones in credentials.json without a word otherwise."""
    stored = stored_access_key_id(data_dir)
    if root.source != "env" or stored is None or stored == root.access_key_id:
        return None
    return (f"The root key is {root.access_key_id}, from PACKYARD_ROOT_ACCESS_KEY_ID; the key "
            f"{stored} in {data_dir / 'credentials.json'} does not work while that is set "
            "(unset PACKYARD_ROOT_ACCESS_KEY_ID and PACKYARD_ROOT_SECRET_ACCESS_KEY to use it).")


def _usage_hint(endpoint: str, root: RootCredentials, region: str, data_dir: Path,
                markup: bool = True) -> str:
    """How to reach the server with the AWS CLI: rich markup for the terminal, or plain text
    (``markup`` false) for a log record."""
    creds_file = data_dir / "credentials.json"
    if root.source == "env":
        where = "from PACKYARD_ROOT_SECRET_ACCESS_KEY"
        secret_value = "$PACKYARD_ROOT_SECRET_ACCESS_KEY"
    else:
        where = f"in {creds_file} (readable only by you)"
        secret_value = (f"$(python3 -c 'import json; print(json.load(open(\"{creds_file}\"))"
                        f"[\"secret_access_key\"])')")
    key_id = f"[bold]{root.access_key_id}[/]" if markup else root.access_key_id
    lines = [f"Root access key id: {key_id}",
             f"Root secret access key: {where}"]
    if root.generated:
        # Never printed: server output often ends up in logs. The file is the one copy.
        lines.append("  (created now; the command below reads it from there)")
    lines += [
        "",
        "Set up an AWS CLI profile:",
        f"  aws configure set aws_access_key_id {root.access_key_id} --profile packyard",
        f"  aws configure set aws_secret_access_key \"{secret_value}\" --profile packyard",
        f"  aws configure set region {region} --profile packyard",
        f"  aws configure set endpoint_url {endpoint} --profile packyard",
        "Then: aws codeartifact create-domain --domain my-domain --profile packyard",
    ]
    return "\n".join(lines)


def _refuse(message: str, json_log: bool, *, highlight: bool = True) -> NoReturn:
    """Stop ``serve`` (exit status 2) saying why: ``error: …`` on the terminal, or an error
    record when the server log is JSON (so that every line of it is)."""
    if json_log:
        from packyard.server.log_context import configure_logging

        configure_logging("info", "json")
        _serve_log.error("%s", message)
    else:
        console.print(f"[red]error:[/] {escape(message)}", soft_wrap=True, highlight=highlight)
    sys.exit(2)


def _asks_for_json(flag: str | None) -> bool:
    """Whether the server log was to be JSON, when the settings as a whole were refused."""
    chosen = flag if flag is not None else os.environ.get("PACKYARD_LOG_FORMAT", "")
    return chosen.strip().lower() == "json"


def _announce(endpoint: str, root: RootCredentials, region: str, data_dir: Path,
              json_log: bool) -> None:
    """The start-up banner: where the server is and how to reach it with the AWS CLI, on the
    terminal, or as log records when the server log is JSON."""
    unused = _unused_generated_key(root, data_dir)
    if json_log:
        _serve_log.info("Packyard %s on %s", __version__, endpoint)
        _serve_log.info("%s", _usage_hint(endpoint, root, region, data_dir, markup=False))
        if unused:
            _serve_log.warning("%s", unused)
        return
    # Soft-wrapped, not boxed: the commands must stay copyable whatever the terminal width.
    console.rule(f"Packyard {__version__} on {endpoint}")
    console.print(_usage_hint(endpoint, root, region, data_dir), soft_wrap=True)
    if unused:
        console.print(f"[yellow]note:[/] {unused}", soft_wrap=True, highlight=False)
    console.rule()


@main.command()
@click.option("--host", default=None, help="Address to listen on (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port to listen on (default 8080).")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where the SQLite database, blobs and credentials live (default ./data).")
@click.option("--public-url", default=None,
              help="Base URL clients use, when behind a proxy (default: from the request).")
@click.option("--log-level", default=None,
              type=click.Choice(LOG_LEVELS, case_sensitive=False),
              help="Server log level, in any case (default info).")
@click.option("--log-format", default=None,
              type=click.Choice(LOG_FORMATS, case_sensitive=False),
              help="Server log format, in any case: text (default) or json (one JSON object a "
                   "line: time, level, logger, message, requestId, exception).")
@click.option("--workers", type=click.IntRange(MIN_WORKERS, MAX_WORKERS), default=None,
              help="Worker processes sharing the port (default 1; about one per core).")
@click.option("--allowed-regions", default=None, metavar="REGIONS",
              help="More regions signed requests may be scoped to besides PACKYARD_REGION, "
                   "comma-separated (\"*\": any).")
@click.option("--forwarded-allow-ips", default=None, metavar="ADDRESSES",
              help="Proxy addresses whose X-Forwarded-For/-Proto/-Host are believed, "
                   "comma-separated (default 127.0.0.1, or FORWARDED_ALLOW_IPS).")
@click.option("--access-log", default=None, metavar="FILE",
              help="Write one JSON line per request (request id, principal, status, bytes, "
                   "duration) to FILE, or to standard output with \"-\" (default: none).")
@serve_storage_options
def serve(host: str | None, port: int | None, data_dir: Path | None, public_url: str | None,
          log_level: str | None, log_format: str | None, workers: int | None,
          allowed_regions: str | None, forwarded_allow_ips: str | None, access_log: str | None,
          database_url: str | None, blob_store: str | None) -> None:
    """Start the server: by default on SQLite and local disk in DATA_DIR.

    Every option can also be set as the environment variable named after it (--log-level:
    PACKYARD_LOG_LEVEL, --workers: PACKYARD_WORKERS, ...); the flag wins. Settings without a
    flag are variables only: PACKYARD_ACCOUNT_ID, PACKYARD_REGION,
    PACKYARD_ROOT_ACCESS_KEY_ID, PACKYARD_ROOT_SECRET_ACCESS_KEY, PACKYARD_MAX_UPLOAD_BYTES,
    and the rest of README.md's Configuration table.
    Where data lives: --database-url / PACKYARD_DATABASE_URL (sqlite:///PATH or
    postgresql://…), --blob-store / PACKYARD_BLOB_STORE (a directory, memory:// or
    s3://BUCKET/PREFIX) with PACKYARD_S3_ENDPOINT_URL and the usual AWS_* variables; several
    replicas on one PostgreSQL and one bucket: see docs/deployment.md.
    The limits on uploads and connections (PACKYARD_MAX_CONCURRENT_UPLOADS,
    PACKYARD_MIN_FREE_DISK_BYTES, PACKYARD_HEADER_TIMEOUT_SECONDS,
    PACKYARD_BODY_TIMEOUT_SECONDS, PACKYARD_MAX_CONNECTIONS) are described in docs/security.md.
    """
    # Off while start-up loads and builds what lives as long as the server (see
    # packyard/launch.py); freeze_startup_objects collects once, freezes it and turns it back on.
    gc.disable()
    import uvicorn

    from packyard.bootstrap import build
    from packyard.data_dir import restrict_new_files
    from packyard.encryption.mode_locks import ModeConflict, hold_encrypting_mode, hold_plain_mode
    from packyard.server import coalesce as server_coalesce
    from packyard.server import reason as server_reason
    from packyard.server import worker_metrics
    from packyard.server.app import (
        SUPERVISOR_PID,
        behind_proxies,
        create_app,
        freeze_startup_objects,
    )
    from packyard.server.limits import allow_open_files
    from packyard.server.log_context import configure_logging
    from packyard.server.log_format import uvicorn_log_config
    from packyard.server.protocol import PROTOCOL_PATH, PackyardHttpProtocol
    from packyard.storage.backends import check_blob_store

    try:
        settings = load_settings(host=host, port=port, data_dir=data_dir,
                                 public_url=public_url, log_level=log_level,
                                 log_format=log_format, workers=workers,
                                 allowed_regions=allowed_regions,
                                 forwarded_allow_ips=forwarded_allow_ips,
                                 access_log=access_log, database_url=database_url,
                                 blob_store=blob_store)
        check_blob_store(settings)
    except ValueError as exc:
        _refuse(str(exc), _asks_for_json(log_format))
    json_log = settings.log_format == "json"
    problem = _why_cannot_listen(settings.host, settings.port)
    if problem:
        _refuse(problem, json_log, highlight=False)
    configure_logging(settings.log_level, settings.log_format)
    restrict_new_files()  # inherited by --workers processes
    allow_open_files(settings.max_connections)  # likewise
    try:
        # Held as long as the server runs: a plain server and encrypting writers keep apart.
        mode_lock = (hold_plain_mode(settings.data_dir) if settings.encryption == "off"  # noqa: F841
                     else hold_encrypting_mode(settings.data_dir, "this server",
                                               can_run_plain=True))
        container = build(settings)
    except (CannotStart, ModeConflict) as exc:
        _refuse(str(exc), json_log)
    endpoint = settings.public_url or f"http://{settings.host}:{settings.port}"
    _announce(endpoint, container.root, settings.region, settings.data_dir.resolve(), json_log)
    server_reason.install()
    server_coalesce.install()
    common: dict[str, Any] = {
        "host": settings.host, "port": settings.port,
        # info at least: the supervisor's line about a dead worker is logged at INFO and made
        # a warning by the server's log filters, which also drop what is below its level.
        "log_level": "debug" if settings.log_level == "debug" else "info",
        "access_log": settings.log_level == "debug", "server_header": False,
        "timeout_graceful_shutdown": 10,
        # The app brings its own proxy-headers middleware (server/proxy_headers.py).
        "proxy_headers": False}
    if json_log:
        common["log_config"] = uvicorn_log_config()
    if settings.workers == 1:
        app = behind_proxies(create_app(container=container), settings)
        freeze_startup_objects()
        uvicorn.run(app, http=PackyardHttpProtocol, **common)
        return
    # Each worker builds its own container from the same settings; this process already ran
    # the migrations and created the credentials, so workers only open what exists.
    container.catalog.dispose()
    worker_metrics.reset(settings.data_dir)  # a new server's counters start at zero
    freeze_startup_objects()
    for name, value in settings.as_environment().items():
        os.environ[name] = value
    os.environ[SUPERVISOR_PID] = str(os.getpid())  # its workers end when it does, even killed
    uvicorn.run("packyard.server.app:app_from_environment", factory=True, workers=settings.workers,
                http=PROTOCOL_PATH, **common)


def _register_subcommands() -> None:
    from packyard.cli.audit import audit
    from packyard.cli.backups import backup_data, restore_data
    from packyard.cli.encryption import encrypt, keys, verify
    from packyard.cli.exports import export_files
    from packyard.cli.iam import iam
    from packyard.cli.imports import import_files
    from packyard.cli.migrate_storage import migrate_storage_command
    from packyard.cli.tokens import token

    main.add_command(token)
    main.add_command(import_files)
    main.add_command(export_files)
    main.add_command(encrypt)
    main.add_command(verify)
    main.add_command(keys)
    main.add_command(iam)
    main.add_command(audit)
    main.add_command(backup_data)
    main.add_command(restore_data)
    main.add_command(migrate_storage_command)


_register_subcommands()


if __name__ == "__main__":  # pragma: no cover
    main()
