"""What a blob's ciphertext and its wrapped data key are bound to: its domain and its sha256.

The same binding is spelled three ways, one for each place that authenticates it:

- ``blob_associated_data``: the associated data of the blob's segmented AEAD stream
  (``stream.py``; Tink's streaming AEAD feeds it to HKDF as *info*, RFC 5869 section 2.3), so a
  blob copied under another domain or sha256 derives another segment key and fails its first tag.
- ``key_associated_data``: the AES-GCM associated data with which the local keyring wraps a data
  key (NIST SP 800-38D), adding the KEK id and version it was wrapped with.
- ``kms_context`` / ``transit_context``: AWS KMS's ``EncryptionContext`` (a string map, "Encryption
  context" in the KMS Developer Guide) and Vault/OpenBao transit's derived-key ``context`` (base64).

Byte formats (all integers big-endian; strings UTF-8):

    blob AD = b"packyard/blob/v1" || u16 len(domain) || domain || sha256 (32 raw bytes)
    key AD  = b"packyard/data-key/v1" || u16 len(domain) || domain || sha256 (32 raw bytes)
              || u16 len(key_id) || key_id || u32 key_version

The length prefixes keep the encoding injective (no two bindings share bytes); the version tags
let a later format coexist with this one.
"""

from __future__ import annotations

import base64
import struct
from dataclasses import dataclass

_BLOB_TAG = b"packyard/blob/v1"
_KEY_TAG = b"packyard/data-key/v1"
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_HEX = frozenset("0123456789abcdef")


def _field(value: str) -> bytes:
    raw = value.encode("utf-8")
    return _U16.pack(len(raw)) + raw


@dataclass(frozen=True, slots=True)
class EncryptionContext:
    """One blob's binding: the blob store's domain key (``Domain.blob_key``, ``d<id>``, so a
    domain deleted and made again under the same name does not read the old one's blobs) and
    the lowercase hex sha256 of its plaintext."""

    domain: str
    sha256: str

    def __post_init__(self) -> None:
        if not self.domain or len(self.domain.encode("utf-8")) > 255 or "\x00" in self.domain:
            raise ValueError(f"bad domain key {self.domain!r} for an encryption context")
        if len(self.sha256) != 64 or not _HEX.issuperset(self.sha256):
            raise ValueError(f"bad sha256 {self.sha256!r} for an encryption context")

    def _binding(self) -> bytes:
        return _field(self.domain) + bytes.fromhex(self.sha256)

    def blob_associated_data(self) -> bytes:
        """The associated data of the blob's ciphertext stream."""
        return _BLOB_TAG + self._binding()

    def key_associated_data(self, key_id: str, key_version: int) -> bytes:
        """The associated data of a data key wrapped by ``key_id`` at ``key_version``."""
        return _KEY_TAG + self._binding() + _field(key_id) + _U32.pack(key_version)

    def kms_context(self) -> dict[str, str]:
        """AWS KMS ``EncryptionContext``: logged by CloudTrail in the clear, so it holds only
        names and hashes, never secrets."""
        return {"packyard:domain": self.domain, "packyard:sha256": self.sha256}

    def transit_context(self) -> str:
        """Vault/OpenBao transit ``context`` for a derived key: base64 of the key binding."""
        return base64.b64encode(_KEY_TAG + self._binding()).decode("ascii")
