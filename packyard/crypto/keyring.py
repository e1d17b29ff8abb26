"""The local keyring, the default key provider: versioned KEKs in one file of the data directory.

``keyring.json`` holds each key's versions of 256-bit key material, its aliases and its state. It
is created at first start with mode 0600 (through ``os.open``'s mode, so a stricter umask still
applies) and refused, with the command that fixes it, when group or others may read it. Losing it
loses every blob: back it up with the database.

A deployment that keeps secrets elsewhere gives a master key (``PACKYARD_MASTER_KEY``, base64 of
32 bytes, or a file through ``PACKYARD_MASTER_KEY_FILE``: see ``load_master_key``); the keyring
then holds its key material sealed with it (AES-GCM, bound to key id and version), so a copy of
the data directory alone opens nothing. A keyring is made sealed or plain and stays so.

Each change (new key, new version, alias, disable) is written crash-safely: a new file beside it
(``O_EXCL``, 0600), fsynced, renamed over the old one, and the directory fsynced, under an
``flock`` on ``keyring.lock`` so that worker processes do not lose each other's changes. Every
operation first checks whether the file changed (one ``stat``) and reloads it if so, so a key or
a version one worker makes is seen by the others at once.

A wrapped data key (``WrappedKey.ciphertext``, 65 bytes):

    u8 format (1) || u32be KEK version || nonce (12) || AES-256-GCM(KEK, nonce, data key, AD)

with ``AD = EncryptionContext.key_associated_data(key_id, version)`` (``context.py``).
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import json
import os
import re
import struct
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from packyard.crypto.context import EncryptionContext
from packyard.crypto.errors import KeyUnavailable, TamperedKey, UnknownKey
from packyard.crypto.keys import (
    DATA_KEY_SIZE,
    DataKey,
    KeyDescription,
    WrappedKey,
    check_data_key,
)
from packyard.errors import Conflict, Invalid
from packyard.settings import DEFAULT_ACCOUNT_ID, DEFAULT_REGION

KEYRING_FILE = "keyring.json"
_FORMAT = 1
_WRAP = struct.Struct(">BI")
_WRAP_FORMAT = 1
_NONCE_SIZE = 12
_WRAPPED_SIZE = _WRAP.size + _NONCE_SIZE + DATA_KEY_SIZE + 16
_SEAL_TAG = b"packyard/keyring/v1"
_CHECK = b"packyard keyring master key check"
# KMS's alias rule (CreateAlias: AliasName pattern ^alias/[a-zA-Z0-9/_-]+$, at most 256).
_ALIAS = re.compile(r"alias/[a-zA-Z0-9/_-]{1,250}")
_KEY_ARN = re.compile(r"arn:aws:kms:([^:]*):([^:]*):(key|alias)/(.+)")

T = TypeVar("T")


def _refuse_loose_mode(path: Path, what: str) -> None:
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise KeyUnavailable(
            f"{what} {path} may be read by group or others (mode {mode:04o}); Packyard will not "
            f"use a key others can read: run `chmod 600 {path}` and start again")


def load_master_key(value: str | None = None, path: Path | None = None) -> bytes | None:
    """The master key from ``PACKYARD_MASTER_KEY`` (``value``) or ``PACKYARD_MASTER_KEY_FILE``
    (``path``, which must be 0600), or None when neither is set."""
    if value and path:
        raise Invalid("Set PACKYARD_MASTER_KEY or PACKYARD_MASTER_KEY_FILE, not both")
    if path is not None:
        _refuse_loose_mode(path, "The master key file")
        value = path.read_text("ascii").strip()
        source = f"The master key file {path}"
    else:
        source = "PACKYARD_MASTER_KEY"
    if not value:
        return None
    try:
        key = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != 32:
        raise Invalid(f"{source} must be base64 of 32 random bytes "
                      "(make one with: head -c 32 /dev/urandom | base64)")
    return key


@dataclass
class _Key:
    key_id: str
    description: str
    created_at: datetime
    enabled: bool
    current: int
    versions: dict[int, bytes] = field(repr=False)
    # KMS's EnableKeyRotation: the period asked for (days), None while automatic rotation is off.
    rotation_period_days: int | None = None
    _ciphers: dict[int, AESGCM] = field(default_factory=dict, repr=False)

    def cipher(self, version: int) -> AESGCM:
        cipher = self._ciphers.get(version)
        if cipher is None:
            cipher = self._ciphers[version] = AESGCM(self.versions[version])
        return cipher


def key_versions(path: Path) -> dict[str, set[int]]:
    """The versions each key of the keyring file at ``path`` holds, read without opening any
    (so without a master key): which wrapped data keys a copy of it can still open."""
    document = json.loads(path.read_text())
    return {key_id: {int(version) for version in entry["versions"]}
            for key_id, entry in document["keys"].items()}


class LocalKeyring:
    """KEKs in a file; a ``KeyProvider``, plus what the KMS API subset needs (aliases, listing,
    enabling and disabling)."""

    name = "local"
    supports_aliases = True

    def __init__(self, path: Path, *, master_key: bytes | None = None,
                 account_id: str = DEFAULT_ACCOUNT_ID, region: str = DEFAULT_REGION) -> None:
        self.path = path
        self._lock_path = path.with_name(path.name + ".lock")
        self._master = AESGCM(master_key) if master_key is not None else None
        self._account_id = account_id
        self._region = region
        self._keys: dict[str, _Key] = {}
        self._aliases: dict[str, str] = {}
        self._stamp: tuple[int, int, int] | None = None
        self._mutex = threading.RLock()
        if not path.exists():
            with self._locked():
                if not path.exists():
                    self._write()
        with self._mutex:
            self._load()

    @classmethod
    def in_data_dir(cls, data_dir: Path, **options: Any) -> LocalKeyring:
        return cls(data_dir / KEYRING_FILE, **options)

    # -- the file -------------------------------------------------------------------------------

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with self._mutex:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)

    def _seal_ad(self, key_id: str, version: int) -> bytes:
        return _SEAL_TAG + key_id.encode() + b"\0" + str(version).encode()

    def _load(self) -> None:
        _refuse_loose_mode(self.path, "The keyring")
        with open(self.path, "rb") as f:
            st = os.fstat(f.fileno())
            raw = f.read()
        try:
            document = json.loads(raw)
            self._parse(document)
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise KeyUnavailable(f"The keyring {self.path} is damaged ({type(e).__name__}: {e}); "
                                 "restore it from a backup: without it no blob can be read"
                                 ) from None
        self._stamp = (st.st_ino, st.st_mtime_ns, st.st_size)

    def _parse(self, document: dict[str, Any]) -> None:
        if document.get("format") != _FORMAT:
            raise KeyUnavailable(f"The keyring {self.path} has format {document.get('format')!r}, "
                                 f"which this Packyard does not read")
        check = document.get("master_key_check")
        if check is None and self._master is not None:
            raise KeyUnavailable(
                f"The keyring {self.path} was made without a master key, but one is set "
                "(PACKYARD_MASTER_KEY or PACKYARD_MASTER_KEY_FILE): unset it to use this keyring")
        if check is not None:
            if self._master is None:
                raise KeyUnavailable(
                    f"The keyring {self.path} is sealed with a master key: set "
                    "PACKYARD_MASTER_KEY or PACKYARD_MASTER_KEY_FILE")
            try:
                self._unseal(check, _CHECK)
            except InvalidTag:
                raise KeyUnavailable(
                    f"The master key given does not open the keyring {self.path}") from None
        keys = {}
        for key_id, entry in document["keys"].items():
            keys[key_id] = _Key(
                key_id=key_id, description=entry["description"],
                created_at=datetime.fromisoformat(entry["created_at"]),
                enabled=entry["enabled"], current=entry["current"],
                rotation_period_days=entry.get("rotation_period_days"),
                versions={int(v): self._material(key_id, int(v), m)
                          for v, m in entry["versions"].items()})
        self._keys, self._aliases = keys, dict(document["aliases"])

    def _unseal(self, sealed: str, ad: bytes) -> bytes:
        assert self._master is not None
        raw = base64.b64decode(sealed)
        return self._master.decrypt(raw[:_NONCE_SIZE], raw[_NONCE_SIZE:], ad)

    def _seal(self, secret: bytes, ad: bytes) -> str:
        assert self._master is not None
        nonce = os.urandom(_NONCE_SIZE)
        return base64.b64encode(nonce + self._master.encrypt(nonce, secret, ad)).decode()

    def _material(self, key_id: str, version: int, stored: str) -> bytes:
        if self._master is None:
            return base64.b64decode(stored)
        try:
            return self._unseal(stored, self._seal_ad(key_id, version))
        except InvalidTag:
            raise KeyUnavailable(f"Version {version} of key {key_id} in the keyring {self.path} "
                                 "does not open with the master key") from None

    def _stored(self, key: _Key, version: int) -> str:
        material = key.versions[version]
        if self._master is None:
            return base64.b64encode(material).decode()
        return self._seal(material, self._seal_ad(key.key_id, version))

    def _write(self) -> None:
        document: dict[str, Any] = {"format": _FORMAT, "keys": {}, "aliases": self._aliases}
        if self._master is not None:
            document["master_key_check"] = self._seal(_CHECK, _CHECK)
        for key in self._keys.values():
            document["keys"][key.key_id] = {
                "description": key.description, "created_at": key.created_at.isoformat(),
                "enabled": key.enabled, "current": key.current,
                "rotation_period_days": key.rotation_period_days,
                "versions": {str(v): self._stored(key, v) for v in sorted(key.versions)}}
        data = json.dumps(document, indent=1, sort_keys=True).encode() + b"\n"
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        st = self.path.stat()
        self._stamp = (st.st_ino, st.st_mtime_ns, st.st_size)

    def _fresh(self) -> None:
        """Reload if another process (or another keyring object) changed the file."""
        st = self.path.stat()
        if (st.st_ino, st.st_mtime_ns, st.st_size) != self._stamp:
            self._load()

    def _update(self, change: Callable[[], T]) -> T:
        with self._locked():
            self._load()  # under the lock: the latest state, whoever wrote it
            result = change()
            self._write()
            return result

    # -- names ----------------------------------------------------------------------------------

    def arn(self, key_id: str) -> str:
        return f"arn:aws:kms:{self._region}:{self._account_id}:key/{key_id}"

    def _resolve(self, key_ref: str) -> _Key:
        ref = key_ref
        match = _KEY_ARN.fullmatch(key_ref)
        if match:
            region, account, kind, name = match.groups()
            ref = name if kind == "key" else f"alias/{name}"
            if (region, account) != (self._region, self._account_id):
                ref = ""
        key_id = self._aliases.get(ref) if ref.startswith("alias/") else ref
        key = self._keys.get(key_id or "")
        if key is None:
            raise UnknownKey(f"No key {key_ref!r} in the keyring", resource_id=key_ref,
                             resource_type="key")
        return key

    def _describe(self, key: _Key) -> KeyDescription:
        return KeyDescription(
            key_id=key.key_id, provider=self.name, enabled=key.enabled,
            current_version=key.current, versions=tuple(sorted(key.versions)),
            aliases=tuple(sorted(a for a, k in self._aliases.items() if k == key.key_id)),
            arn=self.arn(key.key_id), description=key.description, created_at=key.created_at)

    def _check_new_alias(self, alias: str) -> None:
        if not _ALIAS.fullmatch(alias):
            raise Invalid(f"Alias {alias!r} must start with alias/ and use only letters, digits, "
                          "/, _ and -")
        if alias in self._aliases:
            raise Conflict(f"Alias {alias} already names key {self._aliases[alias]}",
                           resource_id=alias, resource_type="alias")

    # -- KeyProvider ----------------------------------------------------------------------------

    def create_key(self, *, description: str = "", alias: str | None = None) -> KeyDescription:
        def create() -> KeyDescription:
            if alias is not None:
                self._check_new_alias(alias)
            key = _Key(key_id=str(uuid.uuid4()), description=description,
                       created_at=datetime.now(UTC).replace(microsecond=0), enabled=True,
                       current=1, versions={1: os.urandom(32)})
            self._keys[key.key_id] = key
            if alias is not None:
                self._aliases[alias] = key.key_id
            return self._describe(key)
        return self._update(create)

    def describe_key(self, key_ref: str) -> KeyDescription:
        with self._mutex:
            self._fresh()
            return self._describe(self._resolve(key_ref))

    def _usable(self, key_ref: str) -> _Key:
        self._fresh()
        key = self._resolve(key_ref)
        if not key.enabled:
            raise KeyUnavailable(f"Key {key.key_id} is disabled", resource_id=key.key_id,
                                 resource_type="key")
        return key

    def _wrap(self, key: _Key, data_key: bytes, context: EncryptionContext) -> WrappedKey:
        version = key.current
        nonce = os.urandom(_NONCE_SIZE)
        sealed = key.cipher(version).encrypt(
            nonce, data_key, context.key_associated_data(key.key_id, version))
        return WrappedKey(key.key_id, version, _WRAP.pack(_WRAP_FORMAT, version) + nonce + sealed)

    def generate_data_key(self, key_ref: str, context: EncryptionContext) -> DataKey:
        with self._mutex:
            key = self._usable(key_ref)
            data_key = os.urandom(DATA_KEY_SIZE)
            return DataKey(data_key, self._wrap(key, data_key, context))

    def wrap_data_key(self, key_ref: str, plaintext: bytes,
                      context: EncryptionContext) -> WrappedKey:
        with self._mutex:
            return self._wrap(self._usable(key_ref), check_data_key(plaintext, self.name),
                              context)

    def decrypt_data_key(self, wrapped: WrappedKey, context: EncryptionContext) -> bytes:
        with self._mutex:
            key, version, cipher = self._unwrapper(wrapped, self._usable(wrapped.key_id))
        return self._unwrap(wrapped, context, key, version, cipher)

    def decrypt_data_key_now(self, wrapped: WrappedKey, context: EncryptionContext
                             ) -> bytes | None:
        """``decrypt_data_key`` on the caller's thread (the event loop's), when the keys in
        memory are current (one ``stat``; a keyring changed since is read again by
        ``decrypt_data_key``) and no other thread holds them; None otherwise or on any
        failure, which ``decrypt_data_key`` then raises."""
        if not self._mutex.acquire(blocking=False):
            return None
        try:
            st = self.path.stat()
            if (st.st_ino, st.st_mtime_ns, st.st_size) != self._stamp:
                return None
            key, version, cipher = self._unwrapper(wrapped, self._resolve(wrapped.key_id))
            if not key.enabled:
                return None
        except (OSError, TamperedKey, UnknownKey):
            return None
        finally:
            self._mutex.release()
        try:
            return self._unwrap(wrapped, context, key, version, cipher)
        except TamperedKey:
            return None

    @staticmethod
    def _unwrapper(wrapped: WrappedKey, key: _Key) -> tuple[_Key, int, AESGCM]:
        """The KEK version and cipher that unwrap ``wrapped``; ``TamperedKey`` when its form
        or version says it was not wrapped by ``key``."""
        blob = wrapped.ciphertext
        if len(blob) != _WRAPPED_SIZE:
            raise TamperedKey(f"A wrapped key of key {key.key_id} is {len(blob)} bytes, "
                              f"not {_WRAPPED_SIZE}")
        form, version = _WRAP.unpack_from(blob)
        if (form != _WRAP_FORMAT or version not in key.versions
                or wrapped.key_version not in (None, version)):
            raise TamperedKey(f"A wrapped key names version {version} of key {key.key_id}, "
                              "which does not wrap it")
        return key, version, key.cipher(version)

    @staticmethod
    def _unwrap(wrapped: WrappedKey, context: EncryptionContext, key: _Key, version: int,
                cipher: AESGCM) -> bytes:
        blob = wrapped.ciphertext
        try:
            return cipher.decrypt(blob[_WRAP.size:_WRAP.size + _NONCE_SIZE],
                                  blob[_WRAP.size + _NONCE_SIZE:],
                                  context.key_associated_data(key.key_id, version))
        except InvalidTag:
            raise TamperedKey(f"A wrapped key of key {key.key_id} does not unwrap for domain "
                              f"{context.domain} and blob {context.sha256}") from None

    def rewrap(self, wrapped: WrappedKey, context: EncryptionContext) -> WrappedKey:
        data_key = self.decrypt_data_key(wrapped, context)
        with self._mutex:
            return self._wrap(self._usable(wrapped.key_id), data_key, context)

    def rotate(self, key_ref: str) -> KeyDescription:
        def rotate() -> KeyDescription:
            key = self._resolve(key_ref)
            key.current = max(key.versions) + 1
            key.versions[key.current] = os.urandom(32)
            return self._describe(key)
        return self._update(rotate)

    def retire_versions_below(self, key_ref: str, version: int) -> KeyDescription:
        """Drop the material of every version older than ``version`` (rotation's last step,
        once no wrapped key refers to them): what they wrapped no longer unwraps."""
        def retire() -> KeyDescription:
            key = self._resolve(key_ref)
            if version > key.current:
                raise Invalid(f"Version {key.current} of key {key.key_id} is its current one; "
                              f"versions below {version} cannot be retired")
            for old in [v for v in key.versions if v < version]:
                del key.versions[old]
                key._ciphers.pop(old, None)
            return self._describe(key)
        return self._update(retire)

    # -- what the KMS API subset needs ----------------------------------------------------------

    def list_keys(self) -> list[KeyDescription]:
        with self._mutex:
            self._fresh()
            return [self._describe(k) for k in sorted(self._keys.values(),
                                                        key=lambda k: k.created_at)]

    def list_aliases(self) -> dict[str, str]:
        """Every alias and the key id it names."""
        with self._mutex:
            self._fresh()
            return dict(sorted(self._aliases.items()))

    def create_alias(self, alias: str, key_ref: str) -> None:
        def create() -> None:
            key = self._resolve(key_ref)
            self._check_new_alias(alias)
            self._aliases[alias] = key.key_id
        self._update(create)

    def set_enabled(self, key_ref: str, enabled: bool) -> KeyDescription:
        """Enable or disable a key (``EnableKey``/``DisableKey``): a disabled key neither wraps
        nor unwraps, so its domains' blobs cannot be read until it is enabled again."""
        def change() -> KeyDescription:
            key = self._resolve(key_ref)
            key.enabled = enabled
            return self._describe(key)
        return self._update(change)

    def set_rotation_period(self, key_ref: str, days: int | None) -> KeyDescription:
        """Record KMS's automatic rotation setting (``EnableKeyRotation``: ``days``;
        ``DisableKeyRotation``: None). Rotation itself is ``rotate`` (``packyard keys
        rotate``)."""
        def change() -> KeyDescription:
            key = self._resolve(key_ref)
            key.rotation_period_days = days
            return self._describe(key)
        return self._update(change)

    def rotation_period(self, key_ref: str) -> int | None:
        """The period recorded by ``set_rotation_period``; None when rotation is off."""
        with self._mutex:
            self._fresh()
            return self._resolve(key_ref).rotation_period_days
