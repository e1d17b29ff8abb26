"""Encryption at rest, wired (issue 14): ``packyard/crypto``'s stream and key providers put to
work on the blob store and the catalog.

- ``providers``: the key provider the settings name (local keyring, Vault/OpenBao transit, AWS
  KMS) and ``DomainKeys``, which key a domain uses (``create-domain --encryption-key``, the
  default ``alias/aws/codeartifact``).
- ``blob_store``: ``EncryptingBlobStore``, a ``BlobStore`` over any other (local, memory, S3):
  each blob under its own data key, wrapped in the catalog; reads decrypt only the segments a
  range covers.
- ``migration`` (``packyard encrypt``), ``rotation`` (``packyard keys rotate``) and
  ``verification`` (``packyard verify``): the offline and background work.

The design and its decisions: ``docs/decisions/0001-encryption-at-rest.md``.
"""
