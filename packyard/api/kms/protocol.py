"""KMS's JSON 1.1 protocol, driven by botocore's own ``kms`` model.

A request is ``POST /`` with ``X-Amz-Target: TrentService.<Operation>`` and a JSON body of the
operation's input shape; the answer is the output shape as JSON, timestamps as epoch seconds.
Errors are ``{"__type": "<Code>", "message": "..."}`` with status 400 (500 for KMS's internal
errors), which botocore's JSON parser reads.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from functools import lru_cache
from typing import Any, ClassVar

import botocore.loaders
from botocore.model import OperationModel, ServiceModel, Shape, StructureShape

from packyard.api.model_constraints import broken_constraint
from packyard.errors import Invalid

SERVICE = "kms"
TARGET_PREFIX = "TrentService."
CONTENT_TYPE = "application/x-amz-json-1.1"


class UnknownOperation(Invalid):
    kms_code: ClassVar[str] = "UnknownOperationException"


class ValidationException(Invalid):
    kms_code: ClassVar[str] = "ValidationException"


class SerializationException(Invalid):
    kms_code: ClassVar[str] = "SerializationException"


@lru_cache(maxsize=1)
def service_model() -> ServiceModel:
    loader = botocore.loaders.create_loader()
    return ServiceModel(loader.load_service_model(SERVICE, "service-2"), service_name=SERVICE)


def is_kms_target(target: bytes | str | None) -> bool:
    if target is None:
        return False
    text = target.decode("latin-1") if isinstance(target, bytes) else target
    return text.startswith(TARGET_PREFIX)


def find_operation(target: str, supported: frozenset[str]) -> OperationModel:
    """The operation ``X-Amz-Target`` names; ``UnknownOperationException`` otherwise."""
    name = target.removeprefix(TARGET_PREFIX)
    model = service_model()
    if name not in model.operation_names or name not in supported:
        raise UnknownOperation(f"The operation {name} is not supported by Packyard's KMS")
    return model.operation_model(name)


def parse_request(op: OperationModel, body: bytes) -> dict[str, Any]:
    """The operation's input, validated against its shape."""
    try:
        params = json.loads(body) if body.strip() else {}
    except ValueError:
        raise SerializationException("The request body is not valid JSON") from None
    if not isinstance(params, dict):
        raise SerializationException("The request body must be a JSON object")
    shape = op.input_shape
    if shape is not None:
        _validate_structure(shape, params)
    return params


def _violation(value: Any, name: str, constraint: str) -> ValidationException:
    shown = "null" if value is None else f"'{value}'"
    camel = name[:1].lower() + name[1:]
    return ValidationException(f"1 validation error detected: Value {shown} at '{camel}' "
                               f"failed to satisfy constraint: {constraint}")


_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "integer": (int,), "long": (int,), "boolean": (bool,),
    "list": (list,), "map": (dict,), "structure": (dict,), "timestamp": (int, float),
    "blob": (str,),
}


def _type_ok(shape: Shape, value: object) -> bool:
    expected = _TYPES.get(shape.type_name, (object,))
    return isinstance(value, expected) and not (shape.type_name in ("integer", "long")
                                                and isinstance(value, bool))


def _validate_structure(shape: StructureShape, value: Mapping[str, Any]) -> None:
    for required in shape.required_members:
        if value.get(required) is None:
            raise _violation(None, required, "Member must not be null")
    for name, item in value.items():
        member = shape.members.get(name)
        if member is None:
            raise SerializationException(f"Unknown member {name!r} of {shape.name}")
        if item is not None:
            _validate(member, item, name)


def _validate(shape: Shape, value: Any, name: str) -> None:
    if not _type_ok(shape, value):
        raise SerializationException(f"{name} must be a {shape.type_name}")
    broken = broken_constraint(shape, value)
    if broken is not None:
        raise _violation(value, name, broken)
    if shape.type_name == "list":
        for item in value:
            _validate(shape.member, item, name)
    elif isinstance(shape, StructureShape):
        _validate_structure(shape, value)



def serialize_output(op: OperationModel, result: Mapping[str, Any]) -> bytes:
    """The output shape's members of ``result`` as JSON (unknown keys are a bug: refused)."""
    shape = op.output_shape
    if shape is None:
        return b"{}"
    return json.dumps(_structure(shape, result), separators=(",", ":")).encode()


def _structure(shape: StructureShape, value: Mapping[str, Any]) -> dict[str, Any]:
    unknown = set(value) - set(shape.members)
    assert not unknown, f"{shape.name} has no members {sorted(unknown)}"
    return {name: _wire(shape.members[name], item) for name, item in value.items()
            if item is not None}


def _wire(shape: Shape, value: Any) -> Any:
    if isinstance(shape, StructureShape):
        return _structure(shape, value)
    if shape.type_name == "list":
        return [_wire(shape.member, item) for item in value]
    if isinstance(value, datetime):
        return value.timestamp()
    return value


def render_error(code: str, message: str) -> bytes:
    return json.dumps({"__type": code, "message": message}).encode()
