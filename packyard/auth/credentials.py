"""Root credentials: taken from settings, or generated on first start and kept owner-only on disk.

On a database replicas share, the generated pair lives in the database instead (sealed,
``iam/shared_secrets.py``), so every replica has the same root key; each replica mirrors it
into its own ``credentials.json``, where the start-up banner tells the operator to read it.
"""

from __future__ import annotations

import json
import os
import secrets
import string
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from packyard.iam.secrets import new_secret_access_key
from packyard.iam.shared_secrets import ROOT_SECRET, ServerSecrets
from packyard.settings import Settings

CREDENTIALS_FILE = "credentials.json"
_KEY_ALPHABET = string.ascii_uppercase + "234567"


@dataclass(frozen=True)
class RootCredentials:
    access_key_id: str
    secret_access_key: str = field(repr=False)
    generated: bool = False  # True the first time, so the CLI tells the user
    source: str = "file"  # "env" when taken from PACKYARD_ROOT_* variables


def _new_access_key_id() -> str:
    # AWS root/user long-term keys start with AKIA and are 20 characters.
    return "AKIA" + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(16))


def _new_secret() -> str:
    # AWS's length and alphabet: never a leading "-" a command line would take for an option.
    return new_secret_access_key()


def load_root_credentials(settings: Settings, shared: ServerSecrets | None = None
                          ) -> RootCredentials:
    """The root key pair: from settings if given, else (with ``shared``, the database replicas
    share) the database's, else the data directory's file, else new."""
    if settings.root_access_key_id and settings.root_secret_access_key:
        return RootCredentials(settings.root_access_key_id, settings.root_secret_access_key,
                               source="env")
    if settings.root_access_key_id or settings.root_secret_access_key:
        raise ValueError("Set both PACKYARD_ROOT_ACCESS_KEY_ID and "
                         "PACKYARD_ROOT_SECRET_ACCESS_KEY, or neither")
    path = settings.data_dir / CREDENTIALS_FILE
    if shared is not None:
        return _shared_root_credentials(path, shared)
    if not path.exists():
        creds = RootCredentials(_new_access_key_id(), _new_secret(), generated=True)
        if _create_private(path, json.dumps({"access_key_id": creds.access_key_id,
                                             "secret_access_key": creds.secret_access_key},
                                            indent=2)):
            return creds
        # Another process starting on the same new data directory wrote it first: its pair
        # is the root key (keeping ours would leave two processes accepting different keys).
    _check_private(path)
    data = json.loads(path.read_text())
    return RootCredentials(data["access_key_id"], data["secret_access_key"])


def _shared_root_credentials(path: Path, shared: ServerSecrets) -> RootCredentials:
    local = None
    if path.exists():
        _check_private(path)
        data = json.loads(path.read_text())
        local = (data["access_key_id"], data["secret_access_key"])

    def seed() -> str:
        # The first replica seeds the database from its own file when it has one (an install
        # moved onto PostgreSQL keeps its root key), else generates a pair.
        key, secret = local or (_new_access_key_id(), _new_secret())
        return json.dumps({"access_key_id": key, "secret_access_key": secret})

    value, created = shared.get_or_create(ROOT_SECRET, seed, datetime.now(UTC))
    data = json.loads(value)
    creds = RootCredentials(data["access_key_id"], data["secret_access_key"],
                            generated=created and local is None)
    if local != (creds.access_key_id, creds.secret_access_key):
        _write_private(path, json.dumps({"access_key_id": creds.access_key_id,
                                         "secret_access_key": creds.secret_access_key},
                                        indent=2))
    return creds


def stored_access_key_id(data_dir: Path) -> str | None:
    """The access key id kept in the data directory's credentials file, if there is one."""
    try:
        data = json.loads((data_dir / CREDENTIALS_FILE).read_text())
    except (OSError, ValueError):
        return None
    key = data.get("access_key_id") if isinstance(data, dict) else None
    return key if isinstance(key, str) else None


def _write_temporary(path: Path, text: str) -> Path:
    """``text`` in a new owner-only file beside ``path``, named for this writer alone:
    processes starting at once on one data directory each write their own (one shared
    ``credentials.tmp`` was renamed away under another process, which then failed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        f.write(text + "\n")
        f.flush()
        os.fsync(f.fileno())
    return Path(name)


def _write_private(path: Path, text: str) -> None:
    os.replace(_write_temporary(path, text), path)


def _create_private(path: Path, text: str) -> bool:
    """Write ``path`` whole unless it exists already: whether this call created it."""
    tmp = _write_temporary(path, text)
    try:
        os.link(tmp, path)  # atomic, and refused when path exists: first writer wins
    except FileExistsError:
        return False
    except OSError:  # a file system without hard links: create it exclusively instead
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w") as f:
            f.write(text + "\n")
    finally:
        tmp.unlink()
    return True


def _check_private(path: Path) -> None:
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        # Tighten rather than refuse: the file may have been copied with a loose umask.
        os.chmod(path, 0o600)
