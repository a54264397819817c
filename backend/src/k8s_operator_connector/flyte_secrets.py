"""Secret requests as Flyte's propeller writes them for its secret-injection webhook.

Propeller (flyteplugins ``pluginmachinery/utils/secrets/marshaler.go``) turns each
``Secret`` of the task's security context into one pod annotation
``flyte.secrets/s<index>`` and labels the pod ``inject-flyte-secrets: "true"`` (the
webhook's object selector). The annotation's value is the secret in protobuf text format,
as golang/protobuf's ``MarshalTextString`` writes it, encoded with Flyte's own base32
alphabet (``pluginmachinery/encoding``) without padding. Python's ``text_format`` escapes
differently (it escapes ``'``), so the text is written here the way Go writes it.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

SECRETS_LABEL = "inject-flyte-secrets"
SECRETS_LABEL_VALUE = "true"
ANNOTATION_PREFIX = "flyte.secrets/s"
# Flyte's base32 alphabet; the standard one (A-Z2-7) is what the webhook cannot decode.
FLYTE_BASE32_ALPHABET = "abcdefghijklmnopqrstuvwxyz123456"
_STANDARD_BASE32_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_TO_FLYTE = str.maketrans(_STANDARD_BASE32_ALPHABET, FLYTE_BASE32_ALPHABET)
# Kubernetes' limit on all annotations of an object; propeller refuses one secret larger than it.
ANNOTATION_SIZE_LIMIT = 256 * 1024
# golang/protobuf's writeQuotedString: these bytes get a short escape, other non-printables \ooo.
_GO_ESCAPES = {ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t", ord('"'): '\\"', ord("\\"): "\\\\"}


class SecretRequestError(ValueError):
    """A secret request propeller would refuse; ``field_name`` says which."""

    def __init__(self, field_name: str, problem: str) -> None:
        super().__init__(f"{field_name}: {problem}")
        self.field_name = field_name


def encode(data: bytes) -> str:
    """Flyte's ``encoding.Base32Encoder``: base32 with its own alphabet and no padding."""
    return base64.b32encode(data).decode("ascii").rstrip("=").translate(_TO_FLYTE)


def _go_quoted(value: str) -> str:
    parts = []
    for byte in value.encode("utf-8"):
        if byte in _GO_ESCAPES:
            parts.append(_GO_ESCAPES[byte])
        elif 0x20 <= byte < 0x7F:
            parts.append(chr(byte))
        else:
            parts.append(f"\\{byte:03o}")
    return '"' + "".join(parts) + '"'


def go_text(message: Message) -> str:
    """A flat message in the text format of golang/protobuf's ``proto.MarshalTextString``.

    Fields in declaration order, proto3 defaults left out, one ``name: value`` line each.
    Only scalar fields are supported (a ``flyteidl.core.Secret`` has nothing else).
    """
    lines = []
    for descriptor in message.DESCRIPTOR.fields:
        if descriptor.is_repeated or descriptor.message_type is not None:
            raise TypeError(f"{message.DESCRIPTOR.full_name}.{descriptor.name}: only scalar fields are supported")
        value = getattr(message, descriptor.name)
        if value == descriptor.default_value:
            continue
        if descriptor.type == FieldDescriptor.TYPE_STRING:
            text = _go_quoted(value)
        elif descriptor.enum_type is not None:
            number = descriptor.enum_type.values_by_number.get(value)
            text = number.name if number is not None else str(value)
        elif descriptor.type == FieldDescriptor.TYPE_BOOL:
            text = "true" if value else "false"
        else:
            text = str(value)
        lines.append(f"{descriptor.name}: {text}\n")
    return "".join(lines)


def secret_annotations(secrets: Iterable[Message], field_name: str = "security_context.secrets") -> dict[str, str]:
    """``flyte.secrets/s<index>`` annotations for ``flyteidl.core.Secret`` messages, as propeller writes them."""
    annotations = {}
    for index, secret in enumerate(secrets):
        mount = secret.DESCRIPTOR.fields_by_name["mount_requirement"]
        if secret.mount_requirement not in mount.enum_type.values_by_number:
            allowed = ", ".join(value.name for value in mount.enum_type.values)
            raise SecretRequestError(
                f"{field_name}[{index}].mount_requirement",
                f"unknown value {secret.mount_requirement}; allowed: {allowed}",
            )
        encoded = encode(go_text(secret).encode("utf-8"))
        if len(encoded) > ANNOTATION_SIZE_LIMIT:
            raise SecretRequestError(f"{field_name}[{index}]", f"encodes to more than {ANNOTATION_SIZE_LIMIT} bytes")
        annotations[f"{ANNOTATION_PREFIX}{index}"] = encoded
    return annotations


def injection_metadata(secrets: Iterable[Message]) -> tuple[dict[str, str], dict[str, str]]:
    """(labels, annotations) propeller adds to a pod that requests secrets; both empty without any."""
    annotations = secret_annotations(secrets)
    labels = {SECRETS_LABEL: SECRETS_LABEL_VALUE} if annotations else {}
    return labels, annotations
