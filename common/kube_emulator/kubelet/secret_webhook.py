"""Flyte's secret-injection webhook, as the local kubelet's admission step for new pods.

Written from the webhook's description in github.com/flyteorg/flyte v1.16.8
(flytepropeller/pkg/webhook/: secrets.go, k8s_secrets.go, utils.go; the encoding in
flyteplugins/go/tasks/pluginmachinery/utils/secrets/marshaler.go), not from this repo's
encoder, so that tests can round-trip the connector's annotations through it:

* it acts only on pods labelled ``inject-flyte-secrets: "true"``;
* every annotation ``flyte.secrets/s*`` is base32 with the alphabet
  ``abcdefghijklmnopqrstuvwxyz123456`` and no padding, holding a ``flyteidl.core.Secret``
  in protobuf text format;
* the Kubernetes secret manager needs both group and key; ``ENV_VAR`` adds to every
  container and init container ``_FSEC_<GROUP>_<KEY>`` (upper case) from
  ``secretKeyRef {name: group, key: key, optional: true}``, the secret's own ``env_var``
  name if set, and ``FLYTE_SECRETS_ENV_PREFIX=_FSEC_``; ``ANY``/``FILE`` mount a secret
  volume at ``/etc/flyte/secrets/<group>`` and set ``FLYTE_SECRETS_DEFAULT_DIR``;
* variables that a container already has are left alone.

A pod the webhook cannot read is rejected (its failure policy is Fail): ``WebhookDenied``.
"""

from __future__ import annotations

import copy
import re
from typing import Any

LABEL = "inject-flyte-secrets"
ANNOTATION_PREFIX = "flyte.secrets/s"
ALPHABET = "abcdefghijklmnopqrstuvwxyz123456"
ENV_PREFIX = "_FSEC_"
SECRETS_DIR = "/etc/flyte/secrets"
VOLUME_PREFIX = "flyte-secret-"  # the webhook names volumes by base32 of the group; any unique name works
_MOUNT_TYPES = ("ANY", "ENV_VAR", "FILE")
_FIELDS = ("group", "group_version", "key", "mount_requirement", "env_var")
_SIMPLE_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "'": "'", "\\": "\\", "a": "\a", "b": "\b", "f": "\f"}
_LINE = re.compile(r"^\s*([a-z_]+)\s*:\s*(.*?)\s*$")


class WebhookDenied(ValueError):
    """The webhook rejects the pod (as admission would, with this message)."""


def decode_base32(text: str) -> bytes:
    """Base32 with Flyte's alphabet and no padding: 5 bits a character, leftover bits dropped."""
    if len(text) % 8 in (1, 3, 6):
        raise WebhookDenied(f"illegal base32 data: length {len(text)}")
    bits = value = 0
    out = bytearray()
    for position, char in enumerate(text):
        index = ALPHABET.find(char)
        if index < 0:
            raise WebhookDenied(f"illegal base32 data at input byte {position} ({char!r})")
        value = (value << 5) | index
        bits += 5
        if bits >= 8:
            bits -= 8
            out.append((value >> bits) & 0xFF)
    return bytes(out)


def _unquote(text: str) -> str:
    if len(text) < 2 or text[0] not in "\"'" or text[-1] != text[0]:
        raise WebhookDenied(f"not a quoted string: {text}")
    body = text[1:-1]
    out = bytearray()
    position = 0
    while position < len(body):
        char = body[position]
        if char != "\\":
            out += char.encode()
            position += 1
            continue
        following = body[position + 1 : position + 2]
        if following in _SIMPLE_ESCAPES:
            out += _SIMPLE_ESCAPES[following].encode()
            position += 2
        elif re.fullmatch(r"[0-7]{3}", body[position + 1 : position + 4]):
            out.append(int(body[position + 1 : position + 4], 8))
            position += 4
        elif following == "x" and re.fullmatch(r"[0-9a-fA-F]{2}", body[position + 2 : position + 4]):
            out.append(int(body[position + 2 : position + 4], 16))
            position += 4
        else:
            raise WebhookDenied(f"bad escape in {text}")
    return out.decode("utf-8")


def parse_secret(text: str) -> dict[str, str]:
    """A ``flyteidl.core.Secret`` in text format, as a dict (unset fields are empty)."""
    secret = dict.fromkeys(_FIELDS, "")
    secret["mount_requirement"] = "ANY"
    for line in text.splitlines():
        if not line.strip():
            continue
        match = _LINE.match(line)
        if match is None or match.group(1) not in _FIELDS:
            raise WebhookDenied(f"cannot parse secret line {line!r}")
        name, value = match.groups()
        if name == "mount_requirement":
            if value not in _MOUNT_TYPES:
                raise WebhookDenied(f"unknown mount_requirement {value}")
            secret[name] = value
        else:
            secret[name] = _unquote(value)
    return secret


def requested_secrets(pod: dict[str, Any]) -> list[dict[str, str]]:
    """The secrets a pod's annotations request (empty unless the pod carries the label)."""
    metadata = pod.get("metadata") or {}
    if (metadata.get("labels") or {}).get(LABEL) != "true":
        return []
    secrets = []
    for key, value in sorted((metadata.get("annotations") or {}).items()):
        if key.startswith(ANNOTATION_PREFIX):
            try:
                secrets.append(parse_secret(decode_base32(value).decode("utf-8")))
            except (WebhookDenied, UnicodeDecodeError) as error:
                raise WebhookDenied(f"error unmarshaling secret [{key}]. Error: {error}") from error
    return secrets


def _append_env(containers: list[dict[str, Any]], variable: dict[str, Any]) -> None:
    for container in containers:
        env = container.setdefault("env", [])
        if all(item.get("name") != variable["name"] for item in env):
            env.append(copy.deepcopy(variable))


def _inject(pod_spec: dict[str, Any], secret: dict[str, str]) -> None:
    if not secret["group"] or not secret["key"]:
        raise WebhookDenied(f"k8s Secrets Webhook require both key and group to be set. Secret: [{secret}]")
    containers = [*(pod_spec.get("initContainers") or []), *(pod_spec.get("containers") or [])]
    group, key = secret["group"], secret["key"]
    if secret["mount_requirement"] == "ENV_VAR":
        reference = {"secretKeyRef": {"name": group, "key": key, "optional": True}}
        _append_env(containers, {"name": f"{ENV_PREFIX}{group}_{key}".upper(), "valueFrom": reference})
        if secret["env_var"]:
            _append_env(containers, {"name": secret["env_var"], "valueFrom": reference})
        _append_env(containers, {"name": "FLYTE_SECRETS_ENV_PREFIX", "value": ENV_PREFIX})
        return
    volume_name = f"{VOLUME_PREFIX}{group.lower()}"
    volumes = pod_spec.setdefault("volumes", [])
    if all(volume.get("name") != volume_name for volume in volumes):
        volumes.append({"name": volume_name, "secret": {"secretName": group, "items": [], "optional": True}})
    volume = next(volume for volume in volumes if volume.get("name") == volume_name)
    volume["secret"]["items"].append({"key": key, "path": key.lower()})
    mount = {"name": volume_name, "readOnly": True, "mountPath": f"{SECRETS_DIR}/{group.lower()}"}
    for container in containers:
        mounts = container.setdefault("volumeMounts", [])
        if all(existing.get("name") != volume_name for existing in mounts):
            mounts.append(dict(mount))
    _append_env(containers, {"name": "FLYTE_SECRETS_DEFAULT_DIR", "value": SECRETS_DIR})
    _append_env(containers, {"name": "FLYTE_SECRETS_FILE_PREFIX", "value": ""})
    if secret["env_var"]:
        path = f"{SECRETS_DIR}/{group.lower()}/{key.lower()}"
        _append_env(containers, {"name": secret["env_var"], "value": path})


def mutate(pod: dict[str, Any]) -> dict[str, Any]:
    """The pod as the webhook would admit it (a copy); raises WebhookDenied like a rejection."""
    secrets = requested_secrets(pod)
    if not secrets:
        return pod
    mutated = copy.deepcopy(pod)
    for secret in secrets:
        _inject(mutated["spec"], secret)
    return mutated
