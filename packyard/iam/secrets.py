"""Encrypting secret access keys at rest, and the random identifiers and secrets IAM hands out.

SigV4 verification needs the plaintext secret to recompute the HMAC, so a secret access key
cannot be stored hashed the way authorization and session tokens are; it is encrypted instead,
with Fernet (AES-128-CBC + HMAC-SHA256, authenticated) under a key kept in the data directory,
readable only by its owner. A database copied without that file holds no usable secret. With
encryption at rest on, the key is a data key of the key provider instead, kept wrapped
(``iam/secret_key.py``), and this file is migrated away.

Replicas that share one database must share the key file too.
"""

from __future__ import annotations

import os
import secrets
import string
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

KEY_FILE = "iam-secrets.key"

# IAM ids are uppercase letters and digits after a four-letter prefix that says what they are
# ("Unique identifiers" in the IAM User Guide): AKIA access keys, ASIA temporary access keys,
# AIDA users, AROA roles, ANPA managed policies.
_ID_ALPHABET = string.ascii_uppercase + string.digits


def new_id(prefix: str, length: int = 21) -> str:
    """A random IAM identifier such as ``AIDA...`` (21 characters) or ``AKIA...`` (20)."""
    return prefix + "".join(secrets.choice(_ID_ALPHABET) for _ in range(length - len(prefix)))


_SECRET_ALPHABET = string.ascii_letters + string.digits + "+/"


def new_secret_access_key() -> str:
    """A 40-character secret access key, of the length and alphabet AWS issues."""
    return "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(40))


def new_session_token() -> str:
    """An opaque session token for temporary credentials."""
    return secrets.token_urlsafe(96)


class SecretBox:
    """Encrypts and decrypts secrets with one key."""

    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)
        self._key = key

    def derive_key(self, purpose: str) -> bytes:
        """A 32-byte key for another use (the console's session cookies), derived from this
        one with HKDF-SHA256: every process and replica sharing the key file derives the same,
        and knowing it reveals nothing of the key that encrypts secrets."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.kdf.hkdf import HKDF

        return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                    info=f"packyard:{purpose}".encode()).derive(self._key)

    @classmethod
    def generate(cls) -> SecretBox:
        """A box with a fresh key (tests; servers use ``from_data_dir``)."""
        return cls(Fernet.generate_key())

    @classmethod
    def from_data_dir(cls, data_dir: Path) -> SecretBox:
        """The data directory's key, created (mode 0600) the first time."""
        path = data_dir / KEY_FILE
        if path.exists():
            if path.stat().st_mode & 0o077:
                # Tighten rather than refuse: the file may have been copied with a loose umask.
                os.chmod(path, 0o600)
            return cls(path.read_bytes().strip())
        key = Fernet.generate_key()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(key + b"\n")
            f.flush()
            os.fsync(f.fileno())
        try:
            # Link, not replace: if another process created the key meanwhile, use theirs.
            os.link(tmp, path)
        except FileExistsError:
            os.unlink(tmp)
            return cls(path.read_bytes().strip())
        os.unlink(tmp)
        return cls(key)

    def encrypt(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode("utf-8")).decode("ascii")

    def decrypt(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode("ascii")).decode("utf-8")
        except InvalidToken:
            raise ValueError(
                f"A stored secret cannot be decrypted: the data directory's {KEY_FILE} is not "
                "the key it was encrypted with") from None
