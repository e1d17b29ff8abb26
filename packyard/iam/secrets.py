"""Encrypting secret access keys at rest, and the random identifiers and secrets IAM hands out.

SigV4 verification needs the plaintext secret to recompute the HMAC, so a secret access key
cannot be stored hashed the way authorization and session tokens are; it is encrypted instead,
with Fernet (AES-128-CBC + HMAC-SHA256, authenticated) under a key kept beside the blobs
(``storage/shared_files.py``: the data directory, owner-only, for the embedded default; the
bucket for an S3 store, so every replica on it finds the same key). A database copied without
that key holds no usable secret. With encryption at rest on, the key is a data key of the key
provider instead, kept wrapped in the same shared files (``iam/secret_key.py``), and this file
is migrated away.
"""

from __future__ import annotations

import secrets
import string
from pathlib import Path
from typing import NoReturn

from cryptography.fernet import Fernet, InvalidToken

from packyard.errors import CannotStart
from packyard.storage.shared_files import DirectoryFiles, SharedFiles

KEY_FILE = "iam-secrets.key"
# What a secret given up with its lost key holds instead (``packyard iam reset-secret-key``),
# followed by the moment it was given up; a Fernet token never starts so.
LOST_PREFIX = "lost:"


class LostSecret(Exception):
    """A stored secret given up when IAM's secret key was lost and reset."""

    def __init__(self, since: str) -> None:
        super().__init__(f"given up on {since}")
        self.since = since

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


def opaque_token(nbytes: int) -> str:
    """``nbytes`` random bytes as URL-safe text that never starts with ``-``: a token is pasted
    into command lines (``twine upload -p TOKEN``, ``aws configure set aws_session_token
    TOKEN``), which would take it for an option (one token in 64 did)."""
    while True:
        token = secrets.token_urlsafe(nbytes)
        if not token.startswith("-"):
            return token


def new_session_token() -> str:
    """An opaque session token for temporary credentials."""
    return opaque_token(96)


class SecretBox:
    """Encrypts and decrypts secrets with one key."""

    def __init__(self, key: bytes, source: str = KEY_FILE) -> None:
        self._fernet = Fernet(key)
        self._key = key
        self._source = source  # the key's file, for messages

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
        """A box with a fresh key (tests; servers use ``from_shared_files``)."""
        return cls(Fernet.generate_key())

    @classmethod
    def from_data_dir(cls, data_dir: Path) -> SecretBox:
        """The data directory's key, created (mode 0600) the first time."""
        return cls.from_shared_files(DirectoryFiles(data_dir))

    @classmethod
    def from_shared_files(cls, files: SharedFiles) -> SecretBox:
        """The key in ``files`` (``KEY_FILE``), created by whichever process comes first."""
        key = files.get_or_create(KEY_FILE, lambda: Fernet.generate_key() + b"\n").strip()
        try:
            return cls(key, source=f"{KEY_FILE} in {files.where}")
        except ValueError:
            raise ValueError(f"{KEY_FILE} in {files.where} is not a Fernet key (44 url-safe "
                             "base64 characters); restore it from a backup") from None

    def encrypt(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode("utf-8")).decode("ascii")

    def decrypt(self, sealed: str) -> str:
        """The secret; ``LostSecret`` for one given up with a lost key."""
        if sealed.startswith(LOST_PREFIX):
            raise LostSecret(sealed.removeprefix(LOST_PREFIX))
        try:
            return self._fernet.decrypt(sealed.encode("ascii")).decode("utf-8")
        except InvalidToken:
            raise ValueError(
                f"A stored secret cannot be decrypted: {self._source} is not the key it was "
                "encrypted with (replicas on one database need one blob store, where the key is)") from None

    def opens(self, sealed: str) -> bool:
        """Whether ``sealed`` was sealed with this key."""
        try:
            self._fernet.decrypt(sealed.encode("ascii"))
        except (InvalidToken, UnicodeEncodeError):
            return False
        return True

class UnopenedSecretBox(SecretBox):
    """The box of a command that reads no IAM secret (``packyard verify``) when the key
    provider would not open IAM's secret key: the provider's refusal is reported on the blobs
    it concerns (the domains' key is often the same one), not as a failure to start."""

    def __init__(self, reason: str) -> None:
        self._reason = reason

    def _refuse(self) -> NoReturn:
        raise CannotStart(self._reason)

    def derive_key(self, purpose: str) -> bytes:
        self._refuse()

    def encrypt(self, secret: str) -> str:
        self._refuse()

    def decrypt(self, sealed: str) -> str:
        self._refuse()

    def opens(self, sealed: str) -> bool:
        self._refuse()
