"""Encryption at rest (issue 14): each blob in a segmented AEAD stream under its own data key,
each data key wrapped by a per-domain key-encryption key that a key provider keeps.

- ``stream``: the segmented stream (Tink's AES-GCM-HKDF-Streaming layout), random-access reads.
- ``context``: what a ciphertext and a wrapped key are bound to (domain, sha256), in each
  spelling its checker needs.
- ``keys``: the ``KeyProvider`` protocol and its records; ``keyring`` (local, the default),
  ``transit`` (Vault / OpenBao), ``kms`` (AWS KMS) implement it.
- ``errors``: ``TamperedBlob``, ``TamperedKey``, ``KeyUnavailable``, ``UnknownKey``.

Unwrapped data keys are kept in memory by their one user, ``EncryptingBlobStore``
(``packyard/encryption/blob_store.py``), whichever provider wraps them.

How the blob store will use all this: ``docs/decisions/0001-encryption-at-rest.md``.
"""
