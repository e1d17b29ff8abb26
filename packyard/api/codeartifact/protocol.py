"""CodeArtifact's REST-JSON wire protocol, driven by botocore's own service model.

botocore's ``codeartifact`` model is the spec: it gives each operation's HTTP method and path,
where each input member travels (query string, header, JSON body), the validation rules, and the
output shapes. Routing, parsing and validation here follow it, so the AWS CLI and boto3 work
unchanged.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

import botocore.loaders
from botocore.model import OperationModel, ServiceModel, Shape, StructureShape

from packyard.errors import Invalid
from packyard.http.request import header_text

SERVICE = "codeartifact"


@lru_cache(maxsize=4)
def service_model(name: str = SERVICE) -> ServiceModel:
    loader = botocore.loaders.create_loader()
    return ServiceModel(loader.load_service_model(name, "service-2"), service_name=name)


@lru_cache(maxsize=1)
def _routes() -> dict[tuple[str, str], str]:
    model = service_model()
    table: dict[tuple[str, str], str] = {}
    for name in model.operation_names:
        http = model.operation_model(name).http
        table[(http["method"].upper(), http["requestUri"].split("?")[0])] = name
    return table


def find_operation(method: str, path: str) -> OperationModel | None:
    name = _routes().get((method.upper(), path.rstrip("/") or "/"))
    return service_model().operation_model(name) if name else None


def is_api_path(path: str) -> bool:
    return path.startswith("/v1/")


@dataclass(frozen=True)
class ApiRequest:
    """One parsed API call."""

    operation: str
    params: dict[str, Any]


def _pattern_ok(pattern: str, value: str) -> bool:
    # Python's re has no \p{..}; the model uses \P{C} ("no control/format characters").
    if "\\P{C}" in pattern:
        # `[\P{C}\s]+` (policy documents) also allows whitespace, newlines and tabs included.
        allow_space = "\\s" in pattern
        return not any(unicodedata.category(c).startswith("C")
                       and not (allow_space and c.isspace()) for c in value)
    try:
        return re.fullmatch(pattern, value) is not None
    except re.error:
        return True


def _convert_scalar(shape: Shape, raw: str, name: str) -> Any:
    if shape.type_name in ("integer", "long"):
        try:
            return int(raw)
        except ValueError:
            raise Invalid(f"{name} must be a number, got {raw!r}") from None
    if shape.type_name == "boolean":
        if raw.lower() not in ("true", "false"):
            raise Invalid(f"{name} must be true or false")
        return raw.lower() == "true"
    return raw


def _validate(shape: Shape, value: Any, name: str) -> None:
    meta = shape.metadata
    if shape.type_name == "string":
        if not isinstance(value, str):
            raise Invalid(f"{name} must be a string")
        if "enum" in meta and value not in meta["enum"]:
            raise Invalid(f"{name} must be one of {', '.join(meta['enum'])}, got {value!r}")
        if "min" in meta and len(value) < meta["min"]:
            raise Invalid(f"{name} must be at least {meta['min']} characters long")
        if "max" in meta and len(value) > meta["max"]:
            raise Invalid(f"{name} must be at most {meta['max']} characters long")
        if "pattern" in meta and not _pattern_ok(meta["pattern"], value):
            raise Invalid(f"{name} {value!r} does not match the pattern {meta['pattern']}")
    elif shape.type_name in ("integer", "long"):
        if not isinstance(value, int) or isinstance(value, bool):
            raise Invalid(f"{name} must be an integer")
        if "min" in meta and value < meta["min"]:
            raise Invalid(f"{name} must be at least {meta['min']}")
        if "max" in meta and value > meta["max"]:
            raise Invalid(f"{name} must be at most {meta['max']}")
    elif shape.type_name == "boolean":
        if not isinstance(value, bool):
            raise Invalid(f"{name} must be true or false")
    elif shape.type_name == "list":
        if not isinstance(value, list):
            raise Invalid(f"{name} must be a list")
        if "min" in meta and len(value) < meta["min"]:
            raise Invalid(f"{name} must have at least {meta['min']} entries")
        if "max" in meta and len(value) > meta["max"]:
            raise Invalid(f"{name} must have at most {meta['max']} entries")
        for i, item in enumerate(value):
            _validate(shape.member, item, f"{name}[{i}]")
    elif shape.type_name == "map":
        if not isinstance(value, dict):
            raise Invalid(f"{name} must be an object")
        for k, v in value.items():
            _validate(shape.key, k, f"{name} key")
            _validate(shape.value, v, f"{name}.{k}")
    elif isinstance(shape, StructureShape):
        if not isinstance(value, dict):
            raise Invalid(f"{name} must be an object")
        _validate_structure(shape, value, name)


def _validate_structure(shape: StructureShape, value: Mapping[str, Any], prefix: str,
                        streamed: str | None = None) -> None:
    for required in shape.required_members:
        if required != streamed and value.get(required) is None:
            raise Invalid(f"{_join(prefix, required)} is required")
    for key, item in value.items():
        member = shape.members.get(key)
        if member is None:
            continue  # unknown members are ignored, as AWS does for forward compatibility
        _validate(member, item, _join(prefix, key))


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def streaming_payload(op: OperationModel) -> str | None:
    """The input member that is the request body itself, streamed (PublishPackageVersion's
    ``assetContent``), or None for operations whose body is a JSON document."""
    if not op.has_streaming_input or op.input_shape is None:
        return None
    payload = op.input_shape.serialization.get("payload")
    return payload if isinstance(payload, str) else None


def parse_request(op: OperationModel, query: Mapping[str, list[str]],
                  headers: Mapping[str, str], body: bytes) -> ApiRequest:
    """Input members from query string, headers and JSON body, validated against the model.

    For an operation with a streaming payload (``streaming_payload``) the body is that
    member's bytes, read later by the operation: here only the other members are read and
    validated, and ``body`` is ignored.
    """
    shape = op.input_shape
    streamed = streaming_payload(op)
    params: dict[str, Any] = {}
    body_obj: dict[str, Any] = {}
    if streamed is None and body.strip():
        try:
            loaded = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise Invalid("The request body is not valid JSON") from None
        if not isinstance(loaded, dict):
            raise Invalid("The request body must be a JSON object")
        body_obj = loaded
    if shape is not None:
        for name, member in shape.members.items():
            location = member.serialization.get("location")
            wire = member.serialization.get("name", name)
            if location == "querystring":
                values = query.get(wire)
                if values:
                    if member.type_name == "list":
                        params[name] = [_convert_scalar(member.member, v, name)
                                        for v in values]
                    else:
                        params[name] = _convert_scalar(member, values[-1], name)
            elif location == "header":
                value = headers.get(wire.lower())
                if value is not None:
                    params[name] = _convert_scalar(member, value, name)
            elif location is None and name in body_obj:
                params[name] = body_obj[name]
        _validate_structure(shape, params, "", streamed)
    return ApiRequest(op.name, params)


def _to_wire(value: Any) -> Any:
    if isinstance(value, datetime):
        # rest-json's default timestamp format is epoch seconds.
        return round(value.timestamp(), 3)
    if isinstance(value, dict):
        return {k: _to_wire(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_to_wire(v) for v in value]
    return value


def serialize_output(op: OperationModel, result: Mapping[str, Any]
                     ) -> tuple[bytes, dict[str, str]]:
    """JSON body and headers for an operation's result, placed as the model says."""
    shape = op.output_shape
    headers: dict[str, str] = {}
    body: dict[str, Any] = {}
    for key, value in result.items():
        if value is None:
            continue
        member = shape.members.get(key) if shape is not None else None
        if member is not None and member.serialization.get("location") == "header":
            headers[member.serialization.get("name", key)] = header_text(str(value))
        else:
            body[key] = _to_wire(value)
    return json.dumps(body, separators=(",", ":")).encode(), headers
