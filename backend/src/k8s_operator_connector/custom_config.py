"""A plugin's task config: ``TaskTemplate.custom`` as its proto message, checked, and as spec fields.

Every plugin reads its custom the same way (``json_format.ParseDict``, never by hand: a Struct
turns numbers into floats and int64 fields travel as strings), and every parse error must
name the field, so the task fails at once with ``custom.<field>: ...`` instead of a retry.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, TypeVar

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor
from google.protobuf.message import Message

from k8s_operator_connector.operator_plugin import InvalidTaskError

M = TypeVar("M", bound=Message)
# json_format's messages: "Failed to parse <field> field: ..." once per level, then the cause.
_FAILED_FIELD = re.compile(r"Failed to parse (\w+) field: ")
_UNKNOWN_FIELD = re.compile(r'has no field named "([^"]+)"')


def _field_path(error: str, descriptor: Descriptor) -> str:
    """``custom.<field>.<field>`` (proto names) of the field a json_format error is about."""
    names = []
    rest = error
    while found := _FAILED_FIELD.match(rest):
        names.append(found.group(1))
        rest = rest[found.end() :]
    unknown = _UNKNOWN_FIELD.search(rest)
    if unknown:
        names.append(unknown.group(1))
    path = ["custom"]
    current: Descriptor | None = descriptor
    for name in names:  # json_format names fields as the JSON had them: camelCase or proto names
        field = next((f for f in current.fields if name in (f.name, f.json_name)), None) if current else None
        path.append(field.name if field else name)
        is_map = field is not None and field.message_type is not None and field.message_type.GetOptions().map_entry
        current = field.message_type if field is not None and not is_map else None
    return ".".join(path)


def parse_custom(custom: Mapping[str, Any] | None, message_type: type[M]) -> M:
    """``custom`` as a ``message_type``; InvalidTaskError names the field (``custom.workers``)."""
    full_name = message_type.DESCRIPTOR.full_name
    if not custom:
        raise InvalidTaskError("custom", f"missing; the task carries no {full_name} config")
    if not isinstance(custom, Mapping):
        raise InvalidTaskError("custom", f"must be a {full_name} mapping, got {type(custom).__name__}")
    message = message_type()
    try:
        json_format.ParseDict(dict(custom), message)
    except json_format.ParseError as error:
        raise InvalidTaskError(
            _field_path(str(error), message_type.DESCRIPTOR), f"not a {full_name}: {error}"
        ) from error
    return message


def check_range(message: Message, field: str, low: int, high: int, note: str = "") -> None:
    """Raises InvalidTaskError ``custom.<field>: must be between LOW and HIGH`` for a value outside."""
    value = getattr(message, field)
    if not low <= value <= high:
        raise InvalidTaskError(f"custom.{field}", f"must be between {low}{note} and {high}, got {value}")


def spec_fields(message: Message) -> dict[str, Any]:
    """The fields the task set, under their JSON (camelCase) names, as Kubernetes-ready values.

    Numbers stay numbers (JSON would turn 64-bit integers into strings); enums become their
    names, messages and maps JSON objects, as ``json_format.MessageToDict`` writes them.
    """
    as_json = json_format.MessageToDict(message)
    fields: dict[str, Any] = {}
    for field, value in message.ListFields():
        if field.message_type is not None or field.enum_type is not None:
            fields[field.json_name] = as_json[field.json_name]
        elif isinstance(value, bool | int | float | str | bytes):
            fields[field.json_name] = value
        else:  # a repeated scalar field
            fields[field.json_name] = list(value)
    return fields
