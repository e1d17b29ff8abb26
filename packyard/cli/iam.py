"""``packyard iam reset-secret-key``: give up the IAM secrets a lost secret key sealed.

A server refuses to start when IAM's secret key file (``iam-secrets.wrapped``, or
``iam-secrets.key`` with encryption off) is gone while the catalog holds secrets sealed with
it (``iam/secret_key.py``). Restoring the file from a backup keeps every access key working;
this command is the other way out, taken knowingly: run with the servers stopped, on the same
``--data-dir`` / ``--database-url`` / ``--blob-store`` as ``packyard serve``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console

from packyard.cli.common import fail, need_database
from packyard.cli.storage_options import storage_options
from packyard.errors import CannotStart
from packyard.settings import Settings, load_settings

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

_out = Console()


def _not_the_servers_blob_store(settings: Settings) -> str | None:
    """Why the blob store these settings name cannot be the server's, if it plainly cannot.

    IAM's secret key lives with the blobs (a directory store's ``.packyard/``, the bucket):
    looked for in the data directory instead, it is not found there, and every access key
    would be given up while the key is whole where the server keeps it."""
    where = settings.blob_store
    if not where:
        if not settings.blob_dir.is_dir():  # every server without --blob-store makes it
            return (f"{settings.blob_dir} does not exist: the server keeps its files, and "
                    "IAM's secret key with them, in another blob store; pass the server's "
                    "--blob-store (and --database-url), as `packyard serve` is given them")
    elif where != "memory://" and "://" not in where and not Path(where).is_dir():
        return (f"the blob store {where} does not exist: pass the server's --blob-store, as "
                "`packyard serve` is given it")
    return None


def _holds_none_of_the_catalogs_files(settings: Settings, engine: Engine) -> str | None:
    """Why a directory blob store is not the server's: it holds none of the first files the
    catalog lists (a failed start without the server's --blob-store makes an empty
    ``blobs/`` in the data directory, so its being there proves nothing)."""
    from packyard.iam.secret_key import directory_blob_root, holds_none_of_the_blobs

    root = directory_blob_root(settings)
    if root is None or not holds_none_of_the_blobs(engine, root):
        return None
    return (f"{root} holds none of this catalog's files: it is not the server's blob store, "
            "where IAM's secret key is kept with them; pass the server's --blob-store (and "
            "--database-url), as `packyard serve` is given them")


@click.group("iam")
def iam() -> None:
    """IAM's secret key (the key that seals IAM users' secret access keys)."""


@iam.command("reset-secret-key")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="The server's data directory (default ./data, or PACKYARD_DATA_DIR).")
@storage_options
@click.option("--output", type=click.Choice(["text", "json"]), default="text",
              help="A summary for people, or JSON for scripts.")
def reset_secret_key(data_dir: Path | None, database_url: str | None, blob_store: str | None,
                     output: str) -> None:
    """Give up the IAM secrets sealed with a lost IAM secret key, so the server starts again.

    Only when the key file is gone (restore it from a backup instead if you can: every access
    key then keeps working). IAM users' access keys stop working: a request signed with one is
    refused saying its secret was lost; an administrator creates new keys (the root key, which
    does not depend on this key, keeps working) and deletes the old ones. Role sessions end.
    The next `packyard serve` makes a new key. Stop the servers first.
    """
    from packyard.encryption.mode_locks import held_by_a_process
    from packyard.iam.secret_key import forget_lost_secrets, secret_key_file
    from packyard.metadata.catalog import SqlCatalog
    from packyard.storage.backends import check_blob_store, open_shared_files

    try:
        settings = load_settings(data_dir=data_dir, database_url=database_url,
                                 blob_store=blob_store)
        check_blob_store(settings)
        need_database(settings)
        files = open_shared_files(settings)
        # With the key there, nothing is lost: forget_lost_secrets says so, whatever runs.
        lost = secret_key_file(files) is None
        wrong_store = _not_the_servers_blob_store(settings) if lost else None
        if wrong_store:
            fail(wrong_store)
        if lost and held_by_a_process(settings.data_dir):
            # A running server keeps the lost key in memory and seals the new access keys an
            # administrator makes with it: the next start would find them sealed with a key
            # that is gone, and refuse again.
            fail(f"a Packyard server (or packyard import or encrypt) is running on "
                 f"{settings.data_dir}: stop it first, then run this again (a server running "
                 "meanwhile keeps sealing secrets with the lost key)")
        catalog = SqlCatalog(settings.effective_database_url)
        try:
            catalog.migrate()
            strange = lost and _holds_none_of_the_catalogs_files(settings, catalog.engines[1])
            if strange:
                fail(strange)
            done = forget_lost_secrets(catalog.engines[1], files, datetime.now(UTC))
        finally:
            catalog.dispose()
    except (ValueError, CannotStart) as exc:
        fail(str(exc))
    if output == "json":
        _out.print_json(json.dumps({"accessKeysLost": done.access_keys,
                                    "sessionsEnded": done.sessions,
                                    "sharedSecretsRemoved": done.server_secrets}))
        return
    _out.print(f"{done.access_keys} IAM access key(s) marked lost: their users need new ones "
               "(aws iam create-access-key, then delete-access-key of the old one); "
               f"{done.sessions} role session(s) ended. The next `packyard serve` makes a new "
               "IAM secret key.", soft_wrap=True, highlight=False)
    if done.server_secrets and settings.root_access_key_id is None:
        _out.print(f"The shared root key is seeded again from {settings.data_dir.resolve()}"
                   "/credentials.json at the next start (start there first; without that file "
                   "a new root key is made).", soft_wrap=True, highlight=False)
