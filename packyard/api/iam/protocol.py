"""The AWS Query protocol of IAM and STS, driven by botocore's own service models.

Requests are form-encoded ``Action=...&Version=...`` with members flattened the way botocore's
``QuerySerializer`` writes them (``Tags.member.1.Key``, ``Map.entry.1.key``); responses are XML,
``<{Action}Response><{Action}Result>...</{Action}Result><ResponseMetadata>...``, with lists as
``<member>`` elements, timestamps in ISO 8601 and booleans as ``true``/``false``, which is what
botocore's ``QueryParser`` reads. Errors are ``<ErrorResponse><Error><Type/><Code/><Message/>
</Error><RequestId/></ErrorResponse>``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, ClassVar

import botocore.loaders
from botocore.model import OperationModel, ServiceModel, Shape, StructureShape

from packyard.api.model_constraints import broken_constraint
from packyard.errors import Invalid

SERVICES = ("iam", "sts")


class InvalidAction(Invalid):
    """An Action this service does not have (or Packyard does not serve)."""

    iam_code: ClassVar[str] = "InvalidAction"


class ValidationError(Invalid):
    """A parameter that breaks the model's constraints, with AWS's "validation error" wording."""

    iam_code: ClassVar[str] = "ValidationError"


@lru_cache(maxsize=4)
def service_model(name: str) -> ServiceModel:
    loader = botocore.loaders.create_loader()
    return ServiceModel(loader.load_service_model(name, "service-2"), service_name=name)


def namespace(service: str) -> str:
    return str(service_model(service).metadata["xmlNamespace"])


def find_operation(service: str, params: Mapping[str, str],
                   supported: frozenset[str]) -> OperationModel:
    """The operation named by ``Action``; InvalidAction if absent or not served."""
    model = service_model(service)
    action = params.get("Action")
    if not action:
        raise InvalidAction("The request must contain the parameter Action.")
    if action not in model.operation_names or action not in supported:
        raise InvalidAction(f"Could not find operation {action} for version "
                            f"{model.api_version}")
    return model.operation_model(action)


# -- input ---------------------------------------------------------------------------------------

def parse_params(op: OperationModel, flat: Mapping[str, str]) -> dict[str, Any]:
    """The operation's input members from flattened form parameters, validated."""
    shape = op.input_shape
    if shape is None:
        return {}
    params = _structure(shape, flat, "")
    _validate_structure(shape, params)
    return params


def _structure(shape: StructureShape, flat: Mapping[str, str], prefix: str) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, member in shape.members.items():
        key = prefix + member.serialization.get("name", name)
        value = _value(member, flat, key)
        if value is not None:
            result[name] = value
    return result


def _value(shape: Shape, flat: Mapping[str, str], key: str) -> Any:
    if isinstance(shape, StructureShape):
        if not any(k.startswith(key + ".") for k in flat):
            return None
        return _structure(shape, flat, key + ".")
    if shape.type_name == "list":
        item = shape.member
        if shape.serialization.get("flattened"):
            base = key
        else:
            base = f"{key}.{item.serialization.get('name', 'member')}"
        items = []
        for index in range(1, 1001):
            value = _value(item, flat, f"{base}.{index}")
            if value is None:
                break
            items.append(value)
        # An empty list is sent as the bare key with an empty value.
        return items if items or key in flat else None
    if shape.type_name == "map":
        entries: dict[str, Any] = {}
        for index in range(1, 1001):
            entry = f"{key}.entry.{index}"
            if f"{entry}.key" not in flat:
                break
            entries[flat[f"{entry}.key"]] = _value(shape.value,
                                                   flat, f"{entry}.value")
        return entries or None
    raw = flat.get(key)
    if raw is None:
        return None
    return _scalar(shape, raw, key)


def _scalar(shape: Shape, raw: str, key: str) -> Any:
    if shape.type_name in ("integer", "long"):
        try:
            return int(raw)
        except ValueError:
            raise ValidationError(f"Invalid value for parameter {key}: {raw!r} is not a "
                                  "number") from None
    if shape.type_name == "boolean":
        if raw.lower() not in ("true", "false"):
            raise ValidationError(f"Invalid value for parameter {key}: {raw!r} is not true "
                                  "or false")
        return raw.lower() == "true"
    return raw


def _camel(name: str) -> str:
    # AWS names members in lower camel case in validation messages ("at 'userName'").
    return name[:1].lower() + name[1:]


def _violation(value: Any, name: str, constraint: str) -> ValidationError:
    shown = "null" if value is None else f"'{value}'"
    return ValidationError(f"1 validation error detected: Value {shown} at '{_camel(name)}' "
                           f"failed to satisfy constraint: {constraint}")


def _validate_structure(shape: StructureShape, value: Mapping[str, Any]) -> None:
    for required in shape.required_members:
        if value.get(required) is None:
            raise _violation(None, required, "Member must not be null")
    for name, item in value.items():
        _validate(shape.members[name], item, name)



def _validate(shape: Shape, value: Any, name: str) -> None:
    broken = broken_constraint(shape, value)
    if broken is not None:
        raise _violation(value, name, broken)
    if shape.type_name == "list":
        for item in value:
            _validate(shape.member, item, name)
    elif isinstance(shape, StructureShape):
        _validate_structure(shape, value)


# -- output --------------------------------------------------------------------------------------

def render_result(service: str, op: OperationModel, result: Mapping[str, Any],
                  request_id: str) -> bytes:
    """The XML response for an operation's result, shaped by its output model."""
    root = ET.Element(f"{op.name}Response", xmlns=namespace(service))
    shape = op.output_shape
    if shape is not None:
        wrapper = ET.SubElement(root, shape.serialization.get("resultWrapper",
                                                              f"{op.name}Result"))
        _fill_structure(wrapper, shape, result)
    metadata = ET.SubElement(root, "ResponseMetadata")
    ET.SubElement(metadata, "RequestId").text = request_id
    return bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True))


def _fill_structure(element: ET.Element, shape: StructureShape, value: Mapping[str, Any]) -> None:
    for name, member in shape.members.items():
        item = value.get(name)
        if item is None:
            continue
        _append(element, member.serialization.get("name", name), member, item)


def _append(parent: ET.Element, tag: str, shape: Shape, value: Any) -> None:
    if shape.type_name == "list":
        item_shape = shape.member
        if shape.serialization.get("flattened"):
            for item in value:
                _append(parent, tag, item_shape, item)
            return
        container = ET.SubElement(parent, tag)
        item_tag = item_shape.serialization.get("name", "member")
        for item in value:
            _append(container, item_tag, item_shape, item)
        return
    element = ET.SubElement(parent, tag)
    if isinstance(shape, StructureShape):
        _fill_structure(element, shape, value)
    elif shape.type_name == "map":
        for key, item in value.items():
            entry = ET.SubElement(element, "entry")
            ET.SubElement(entry, "key").text = str(key)
            _append(entry, "value", shape.value, item)
    else:
        element.text = _text(value)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(value)


def render_error(service: str, code: str, message: str, request_id: str,
                 sender_fault: bool = True) -> bytes:
    root = ET.Element("ErrorResponse", xmlns=namespace(service))
    error = ET.SubElement(root, "Error")
    ET.SubElement(error, "Type").text = "Sender" if sender_fault else "Receiver"
    ET.SubElement(error, "Code").text = code
    ET.SubElement(error, "Message").text = message
    ET.SubElement(root, "RequestId").text = request_id
    return bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True))
