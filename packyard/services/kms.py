"""The KMS API subset on the local keyring: keys a user makes with ``aws kms create-key`` and
gives to ``create-domain --encryption-key``, as on AWS.

Every method asks the Authorizer for the ``kms:`` action first, as AWS names its resources
(``kms:CreateKey``, ``kms:ListKeys`` and ``kms:ListAliases`` on ``*``; the others on the key's
ARN; ``kms:CreateAlias`` on the alias's ARN and on the key's), so a caller without permission
learns nothing about which keys exist. With another key provider (Vault/OpenBao transit, AWS
KMS) keys are made with that provider's own tools, and every action answers
``UnsupportedOperationException`` saying so.
"""

from __future__ import annotations

import re
from typing import ClassVar

from packyard.auth.authorize import Authorizer
from packyard.auth.principal import Principal
from packyard.crypto.errors import UnknownKey
from packyard.crypto.keyring import LocalKeyring
from packyard.crypto.keys import KeyDescription, KeyProvider
from packyard.errors import Conflict, Invalid, NotFound

# AWS's managed keys are named alias/aws/...; a user may not make one.
_RESERVED_ALIAS = "alias/aws/"
_ALIAS = re.compile(r"alias/[a-zA-Z0-9/_-]+")
_KEY_ARN = re.compile(r"arn:aws:kms:[^:]+:\d{12}:(key|alias)/.+")
DEFAULT_ROTATION_DAYS = 365


class UnsupportedOperation(Invalid):
    kms_code: ClassVar[str] = "UnsupportedOperationException"


class InvalidAliasName(Invalid):
    kms_code: ClassVar[str] = "InvalidAliasNameException"


class AlreadyExists(Conflict):
    kms_code: ClassVar[str] = "AlreadyExistsException"


class KeyNotFound(NotFound):
    kms_code: ClassVar[str] = "NotFoundException"


class KmsService:
    """The service behind the KMS API; ``keyring`` is None when the provider is not local."""

    def __init__(self, keyring: LocalKeyring | None, authorizer: Authorizer, account_id: str,
                 region: str, unavailable_reason: str = "") -> None:
        self._keyring = keyring
        self._authz = authorizer
        self.account_id = account_id
        self._region = region
        self._unavailable = unavailable_reason

    @classmethod
    def on(cls, provider: KeyProvider | None, authorizer: Authorizer, account_id: str,
           region: str) -> KmsService:
        """The service over the server's key provider (None: encryption is off)."""
        if isinstance(provider, LocalKeyring):
            return cls(provider, authorizer, account_id, region)
        if provider is None:
            reason = ("PACKYARD_ENCRYPTION=off: this server keeps no keys (set it to on, the "
                      "default)")
        else:
            reason = (f"PACKYARD_KEY_PROVIDER={provider.name}: keys are made with that "
                      "provider's own tools, not Packyard's KMS API")
        return cls(None, authorizer, account_id, region, reason)

    def _ring(self) -> LocalKeyring:
        if self._keyring is None:
            raise UnsupportedOperation(self._unavailable)
        return self._keyring

    def alias_arn(self, alias: str) -> str:
        return f"arn:aws:kms:{self._region}:{self.account_id}:{alias}"

    def _key_arn(self, key_ref: str) -> str:
        if _KEY_ARN.fullmatch(key_ref):
            return key_ref
        if key_ref.startswith("alias/"):
            return self.alias_arn(key_ref)
        return f"arn:aws:kms:{self._region}:{self.account_id}:key/{key_ref}"

    def _authorized(self, principal: Principal, action: str, key_ref: str) -> KeyDescription:
        """The key ``key_ref`` names (an id, ARN or alias), once ``action`` on its ARN is
        allowed; for a key that does not exist, the check is on the ARN as given, so only a
        caller allowed to act on it learns that it is not there."""
        try:
            key = self._ring().describe_key(key_ref)
        except UnknownKey:
            self._authz.check(principal, action, self._key_arn(key_ref))
            if key_ref.startswith("alias/") or ":alias/" in key_ref:
                raise KeyNotFound(f"Alias {self._key_arn(key_ref)} is not found.",
                                  resource_id=key_ref, resource_type="alias") from None
            raise KeyNotFound(f"Key '{self._key_arn(key_ref)}' does not exist",
                              resource_id=key_ref, resource_type="key") from None
        self._authz.check(principal, action, key.arn or self._key_arn(key.key_id))
        return key

    def create_key(self, principal: Principal, description: str, key_spec: str | None,
                   key_usage: str | None) -> KeyDescription:
        ring = self._ring()
        self._authz.check(principal, "kms:CreateKey", "*")
        if key_spec not in (None, "SYMMETRIC_DEFAULT") or key_usage not in (None,
                                                                              "ENCRYPT_DECRYPT"):
            raise UnsupportedOperation(
                "Packyard's keyring makes symmetric encryption keys only (KeySpec "
                "SYMMETRIC_DEFAULT, KeyUsage ENCRYPT_DECRYPT)")
        return ring.create_key(description=description)

    def describe_key(self, principal: Principal, key_ref: str) -> KeyDescription:
        return self._authorized(principal, "kms:DescribeKey", key_ref)

    def list_keys(self, principal: Principal) -> list[KeyDescription]:
        ring = self._ring()
        self._authz.check(principal, "kms:ListKeys", "*")
        return ring.list_keys()

    def create_alias(self, principal: Principal, alias: str, key_ref: str) -> None:
        ring = self._ring()
        self._authz.check(principal, "kms:CreateAlias", self.alias_arn(alias))
        key = self._authorized(principal, "kms:CreateAlias", key_ref)
        if alias.startswith(_RESERVED_ALIAS):
            raise InvalidAliasName(f"Alias must not begin with '{_RESERVED_ALIAS}'. "
                                   "This alias name prefix is reserved for AWS managed keys.")
        if not _ALIAS.fullmatch(alias):
            raise InvalidAliasName(f"Alias {alias} must begin with 'alias/' and contain only "
                                   "letters, digits, '/', '_' and '-'")
        if alias in ring.list_aliases():
            raise AlreadyExists(f"An alias with the name {self.alias_arn(alias)} already "
                                "exists", resource_id=alias, resource_type="alias")
        ring.create_alias(alias, key.key_id)

    def list_aliases(self, principal: Principal, key_ref: str | None) -> dict[str, str]:
        """Alias → key id, of every key or of ``key_ref``'s."""
        ring = self._ring()
        self._authz.check(principal, "kms:ListAliases", "*")
        aliases = ring.list_aliases()
        if key_ref is None:
            return aliases
        key_id = self._authorized(principal, "kms:ListAliases", key_ref).key_id
        return {alias: target for alias, target in aliases.items() if target == key_id}

    def enable_key_rotation(self, principal: Principal, key_ref: str,
                            period_days: int | None) -> None:
        ring = self._ring()
        key = self._authorized(principal, "kms:EnableKeyRotation", key_ref)
        ring.set_rotation_period(key.key_id, period_days or DEFAULT_ROTATION_DAYS)

    def key_rotation_status(self, principal: Principal,
                            key_ref: str) -> tuple[KeyDescription, int | None]:
        ring = self._ring()
        key = self._authorized(principal, "kms:GetKeyRotationStatus", key_ref)
        return key, ring.rotation_period(key.key_id)

    def rotate_key_on_demand(self, principal: Principal, key_ref: str) -> KeyDescription:
        """A new version for new writes; data keys wrapped by older ones still unwrap, and
        ``packyard keys rotate --domain D --resume`` re-wraps them and retires the old."""
        ring = self._ring()
        key = self._authorized(principal, "kms:RotateKeyOnDemand", key_ref)
        return ring.rotate(key.key_id)
