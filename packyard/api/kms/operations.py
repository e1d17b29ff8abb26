"""The KMS operations Packyard serves: each calls one ``KmsService`` method and returns its
output shape (``protocol.serialize_output`` renders it)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from packyard.api.kms.protocol import ValidationException
from packyard.auth.principal import Principal
from packyard.crypto.keys import KeyDescription
from packyard.services.kms import KmsService

Handler = Callable[[KmsService, Principal, dict[str, Any]], dict[str, Any]]
HANDLERS: dict[str, Handler] = {}
_PAGE = 100  # ListKeys' and ListAliases' default and largest Limit, as AWS's


def operation(name: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        HANDLERS[name] = fn
        return fn
    return register


def supported() -> frozenset[str]:
    return frozenset(HANDLERS)


def call(name: str, service: KmsService, principal: Principal,
         params: dict[str, Any]) -> dict[str, Any]:
    return HANDLERS[name](service, principal, params)


def _metadata(service: KmsService, key: KeyDescription) -> dict[str, Any]:
    managed = any(alias.startswith("alias/aws/") for alias in key.aliases)
    return {"AWSAccountId": service.account_id, "KeyId": key.key_id, "Arn": key.arn,
            "CreationDate": key.created_at, "Enabled": key.enabled,
            "Description": key.description, "KeyUsage": "ENCRYPT_DECRYPT",
            "KeyState": "Enabled" if key.enabled else "Disabled", "Origin": "AWS_KMS",
            "KeyManager": "AWS" if managed else "CUSTOMER",
            "CustomerMasterKeySpec": "SYMMETRIC_DEFAULT", "KeySpec": "SYMMETRIC_DEFAULT",
            "EncryptionAlgorithms": ["SYMMETRIC_DEFAULT"], "MultiRegion": False}


def _page(items: list[Any], params: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
    """One page of ``items`` after ``Marker`` (an index, as our own markers are)."""
    limit = min(int(params.get("Limit") or _PAGE), 1000)
    marker = params.get("Marker")
    start = 0
    if marker is not None:
        if not marker.isdigit():
            raise ValidationException(f"Invalid marker {marker!r}")
        start = int(marker)
    page = items[start:start + limit]
    more = start + limit < len(items)
    return page, {"Truncated": more, **({"NextMarker": str(start + limit)} if more else {})}


@operation("CreateKey")
def create_key(service: KmsService, principal: Principal, p: dict[str, Any]) -> dict[str, Any]:
    key = service.create_key(principal, p.get("Description", ""), p.get("KeySpec")
                             or p.get("CustomerMasterKeySpec"), p.get("KeyUsage"))
    return {"KeyMetadata": _metadata(service, key)}


@operation("DescribeKey")
def describe_key(service: KmsService, principal: Principal,
                 p: dict[str, Any]) -> dict[str, Any]:
    return {"KeyMetadata": _metadata(service, service.describe_key(principal, p["KeyId"]))}


@operation("ListKeys")
def list_keys(service: KmsService, principal: Principal, p: dict[str, Any]) -> dict[str, Any]:
    keys, more = _page(service.list_keys(principal), p)
    return {"Keys": [{"KeyId": k.key_id, "KeyArn": k.arn} for k in keys], **more}


@operation("CreateAlias")
def create_alias(service: KmsService, principal: Principal,
                 p: dict[str, Any]) -> dict[str, Any]:
    service.create_alias(principal, p["AliasName"], p["TargetKeyId"])
    return {}


@operation("ListAliases")
def list_aliases(service: KmsService, principal: Principal,
                 p: dict[str, Any]) -> dict[str, Any]:
    aliases = sorted(service.list_aliases(principal, p.get("KeyId")).items())
    page, more = _page(aliases, p)
    return {"Aliases": [{"AliasName": alias, "AliasArn": service.alias_arn(alias),
                         "TargetKeyId": key_id} for alias, key_id in page], **more}


@operation("EnableKeyRotation")
def enable_key_rotation(service: KmsService, principal: Principal,
                        p: dict[str, Any]) -> dict[str, Any]:
    service.enable_key_rotation(principal, p["KeyId"], p.get("RotationPeriodInDays"))
    return {}


@operation("GetKeyRotationStatus")
def get_key_rotation_status(service: KmsService, principal: Principal,
                            p: dict[str, Any]) -> dict[str, Any]:
    key, period = service.key_rotation_status(principal, p["KeyId"])
    return {"KeyRotationEnabled": period is not None, "KeyId": key.arn,
            **({"RotationPeriodInDays": period} if period is not None else {})}


@operation("RotateKeyOnDemand")
def rotate_key_on_demand(service: KmsService, principal: Principal,
                         p: dict[str, Any]) -> dict[str, Any]:
    return {"KeyId": service.rotate_key_on_demand(principal, p["KeyId"]).arn}
