"""The key provider the settings name, and which key-encryption key each domain uses.

``open_key_provider`` is the one place ``PACKYARD_KEY_PROVIDER`` is read: ``local`` (the
default: ``keyring.json`` in the data directory, sealed with ``PACKYARD_MASTER_KEY`` or
``PACKYARD_MASTER_KEY_FILE`` when given), ``transit`` (Vault / OpenBao, ``PACKYARD_TRANSIT_URL``,
``_TOKEN``, ``_MOUNT``) or ``kms`` (AWS KMS with botocore's own credential chain,
``PACKYARD_KMS_REGION``, ``PACKYARD_KMS_ENDPOINT_URL``).

``DomainKeys`` answers CodeArtifact's side: ``create-domain --encryption-key`` takes a key's
ARN, alias or id and the domain records the key's canonical name (its ARN where the provider has
ARNs); a domain created without one gets the default key (``alias/aws/codeartifact``, which the
local keyring makes on first use, as AWS makes its managed key).
"""

from __future__ import annotations

import re
from pathlib import Path

from packyard.crypto.errors import KeyRefused, KeyUnavailable, UnknownKey, UnusableKey
from packyard.crypto.keyring import LocalKeyring, load_master_key
from packyard.crypto.keys import KeyDescription, KeyProvider
from packyard.crypto.kms import KmsKeyProvider, kms_client
from packyard.crypto.transit import TransitKeyProvider
from packyard.errors import CannotStart, Invalid
from packyard.metadata.catalog import Catalog
from packyard.metadata.new_files import domain_gone
from packyard.model import Domain
from packyard.settings import Settings
from packyard.ttl_cache import TtlCache

# What earlier releases recorded for a domain created without a key: an ARN no provider has.
_MADE_UP_KEY = re.compile(r"arn:aws:kms:[^:]*:\d{12}:key/packyard-[^/]+")
_KEY_TTL_SECONDS = 60.0


def open_key_provider(settings: Settings) -> KeyProvider:
    """The provider ``settings.key_provider`` names; ``CannotStart`` with the fix when its
    settings are unusable."""
    if settings.key_provider == "transit":
        assert settings.transit_url  # load_settings checks, and for a token
        try:
            return TransitKeyProvider(
                settings.transit_url, settings.transit_token or "", mount=settings.transit_mount,
                token_file=Path(settings.transit_token_file) if settings.transit_token_file
                else None)
        except OSError as e:
            raise CannotStart(f"PACKYARD_TRANSIT_TOKEN_FILE cannot be read: {e}") from None
    if settings.key_provider == "kms":
        return KmsKeyProvider(kms_client(settings.kms_region or settings.region,
                                         settings.kms_endpoint_url))
    try:
        master = load_master_key(settings.master_key,
                                 Path(settings.master_key_file) if settings.master_key_file
                                 else None)
        return LocalKeyring.in_data_dir(settings.data_dir, master_key=master,
                                        account_id=settings.account_id, region=settings.region)
    except (Invalid, OSError) as e:
        raise CannotStart(str(getattr(e, "message", e))) from None


def key_name(description: KeyDescription) -> str:
    """What a domain records and ``describe-domain`` shows: the ARN where there is one."""
    return description.arn or description.key_id


class DomainKeys:
    """Which KEK each domain's data keys are wrapped with."""

    def __init__(self, provider: KeyProvider, catalog: Catalog, default_key: str) -> None:
        self.provider = provider
        self._catalog = catalog
        self.default_key = default_key
        # Bound to the catalog's access stamp, which a domain's deletion moves: SQLite may give
        # the next domain the deleted one's id, and that domain has a key of its own.
        self._by_domain: TtlCache[int, str] = TtlCache(ttl_seconds=_KEY_TTL_SECONDS,
                                                       max_entries=10_000,
                                                       version=catalog.access_changes.stamp)

    def default(self) -> KeyDescription:
        """The default key, made on first use where the provider can name it (the keyring's
        alias); elsewhere it must exist (``PACKYARD_DEFAULT_ENCRYPTION_KEY``)."""
        try:
            return self.provider.describe_key(self.default_key)
        except UnusableKey as e:
            # The server's setting, not the caller's choice: no ValidationException for a
            # create-domain that named no key.
            raise KeyUnavailable(f"PACKYARD_DEFAULT_ENCRYPTION_KEY: {e.message}",
                                 resource_id=self.default_key, resource_type="key") from None
        except UnknownKey:
            if not (self.provider.supports_aliases and self.provider.name == "local"
                    and self.default_key.startswith("alias/")):
                raise
        try:
            return self.provider.create_key(description="Default key for CodeArtifact domains",
                                            alias=self.default_key)
        except Exception:  # noqa: BLE001 - another process made it first
            return self.provider.describe_key(self.default_key)

    def for_new_domain(self, requested: str | None) -> str:
        """The key a new domain records: ``requested`` (an ARN, alias or id the provider
        knows; ``UnknownKey``, a ``NotFound``, otherwise; ``Invalid`` when the provider will not
        let Packyard use it) or the default key."""
        if not requested:
            return key_name(self.default())
        try:
            key = self.provider.describe_key(requested)
        except KeyRefused as e:
            # A key the caller chose and the server's credentials may not use: the caller's to
            # change, not a server fault for the AWS CLI to retry.
            raise Invalid(f"encryptionKey {requested!r} cannot be used: {e.message}") from None
        if not key.enabled:
            # Else the domain is made, and every upload to it fails.
            why = ("is pending deletion: cancel its deletion and enable it first"
                   if key.state == "PendingDeletion" else "is disabled: enable it first")
            raise Invalid(f"encryptionKey {requested!r} cannot be used: key {key_name(key)} "
                          f"{why}")
        return key_name(key)

    def kek_of(self, domain_id: int) -> str:
        """The key ``domain_id``'s new data keys are wrapped with (cached for a minute: a
        domain's key does not change, except once for a domain of an earlier release)."""
        key = self._by_domain.get(domain_id)
        if key is None:
            version = self._by_domain.version()
            domain = self._catalog.domain_by_id(domain_id)
            if domain is None:
                # Deleted after the write that asks was let in (an upload racing
                # delete-domain): not said by its internal id.
                raise domain_gone()
            key = self._kek(domain)
            self._by_domain.put(domain_id, key, version=version)
        return key

    def _kek(self, domain: Domain) -> str:
        if _MADE_UP_KEY.fullmatch(domain.encryption_key):
            try:
                self.provider.describe_key(domain.encryption_key)
            except UnknownKey:
                key = key_name(self.default())
                self._catalog.set_domain_encryption_key(domain.id, key)
                return key
        return domain.encryption_key
