"""Manifest templates of ``custom_resource`` tasks: validation (SDK) and rendering (connector).

A manifest is a JSON-compatible mapping whose string values may hold ``{{ inputs.NAME }}``
placeholders. The SDK validates manifests when a task is declared; the connector renders them
with the task's inputs. Pure standard-library Python, so the connector can import it.

Rendering rules (:func:`render_manifest`):

* A string that is exactly one placeholder (``"{{ inputs.n }}"``) becomes the input's value
  with its type, so ``completions: "{{ inputs.n }}"`` renders as the number ``3``.
* Placeholders inside longer text are replaced by the value's text (``true``/``false`` for
  booleans), e.g. ``"--shard={{ inputs.shard }}"``. Datetimes render as ISO 8601 text.
* Whole numbers become ints: ``TaskTemplate.custom`` is a ``google.protobuf.Struct``, which
  stores every number as a double, and Kubernetes rejects ``3.0`` for integer fields.
"""

from __future__ import annotations

import datetime
import math
import re
from collections.abc import Collection, Mapping
from typing import Any, Final

__all__ = [
    "RESERVED_METADATA_FIELDS",
    "ManifestError",
    "find_placeholders",
    "render_manifest",
    "validate_manifest",
]

#: Set by the connector on every object it creates; a manifest must not set them.
RESERVED_METADATA_FIELDS: Final = ("name", "namespace", "generateName")

PLACEHOLDER_RE: Final = re.compile(r"\{\{\s*inputs\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_ANY_BRACES_RE: Final = re.compile(r"\{\{.*?\}\}", re.DOTALL)


class ManifestError(ValueError):
    """A manifest that cannot be used; the message names the field and the path in the manifest."""


def _child(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", key) else f"{path}[{key!r}]"


def find_placeholders(text: str, path: str = "manifest") -> frozenset[str]:
    """The input names of the ``{{ inputs.NAME }}`` placeholders in ``text``.

    Raises:
        ManifestError: ``text`` holds a ``{{ ... }}`` that is not an input placeholder.
    """
    names = set()
    for match in _ANY_BRACES_RE.finditer(text):
        placeholder = PLACEHOLDER_RE.fullmatch(match.group())
        if placeholder is None:
            raise ManifestError(
                f"{path}: {match.group()!r} is not a placeholder; write {{{{ inputs.NAME }}}} "
                "with NAME a declared input"
            )
        names.add(placeholder.group(1))
    return frozenset(names)


def _check_values(value: object, path: str, placeholders: dict[str, str]) -> None:
    """Checks that ``value`` is JSON-compatible and collects its placeholders (name -> path)."""
    if isinstance(value, Mapping):
        for key, child in value.items():
            if not isinstance(key, str):
                raise ManifestError(f"{path}: keys must be strings, got {key!r}")
            if "{{" in key:
                raise ManifestError(f"{_child(path, key)}: placeholders are allowed in values only, not in keys")
            _check_values(child, _child(path, key), placeholders)
    elif isinstance(value, list | tuple):
        for index, child in enumerate(value):
            _check_values(child, _child(path, index), placeholders)
    elif isinstance(value, str):
        for name in find_placeholders(value, path):
            placeholders.setdefault(name, path)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ManifestError(f"{path}: {value!r} is not a JSON number")
    elif value is not None and not isinstance(value, bool | int):
        raise ManifestError(
            f"{path}: {type(value).__name__} values are not allowed (strings, numbers, booleans, null, "
            "lists and mappings are); quote dates and timestamps in YAML"
        )


def validate_manifest(manifest: object, input_names: Collection[str], field_name: str = "manifest") -> frozenset[str]:
    """Checks a manifest template and returns the input names its placeholders use.

    Raises:
        ManifestError: not a mapping; not JSON-compatible; ``apiVersion`` or ``kind`` missing,
            empty or templated; ``metadata.name``/``namespace``/``generateName`` set; a
            placeholder that is malformed or names an undeclared input.
    """
    if not isinstance(manifest, Mapping):
        raise ManifestError(f"{field_name} must be a mapping (or a YAML mapping), got {type(manifest).__name__}")
    placeholders: dict[str, str] = {}
    _check_values(manifest, field_name, placeholders)
    for key in ("apiVersion", "kind"):
        value = manifest.get(key)
        if not isinstance(value, str) or not value.strip():
            raise ManifestError(f"{field_name}.{key} is required and must be a non-empty string, got {value!r}")
        if "{{" in value:
            raise ManifestError(f"{field_name}.{key} must be fixed: the connector admits kinds by an allowlist")
    metadata = manifest.get("metadata")
    if metadata is not None and not isinstance(metadata, Mapping):
        raise ManifestError(f"{field_name}.metadata must be a mapping, got {type(metadata).__name__}")
    for key in RESERVED_METADATA_FIELDS:
        if metadata is not None and key in metadata:
            raise ManifestError(
                f"{field_name}.metadata.{key} must not be set: the connector names every object "
                "after the task execution and creates it in the execution's namespace"
            )
    declared = set(input_names)
    for name, path in sorted(placeholders.items()):
        if name not in declared:
            known = ", ".join(sorted(declared)) or "none"
            raise ManifestError(
                f"{path}: placeholder {{{{ inputs.{name} }}}} names no declared input (declared: {known})"
            )
    return frozenset(placeholders)


def _text(value: object) -> str:
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _render(value: object, inputs: Mapping[str, Any], path: str) -> Any:
    if isinstance(value, Mapping):
        return {key: _render(child, inputs, _child(path, key)) for key, child in value.items()}
    if isinstance(value, list | tuple):
        return [_render(child, inputs, _child(path, index)) for index, child in enumerate(value)]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if not isinstance(value, str) or "{{" not in value:
        return value
    for name in find_placeholders(value, path):
        if name not in inputs:
            raise ManifestError(f"{path}: no value for input {name!r} (given: {', '.join(sorted(inputs)) or 'none'})")
    whole = PLACEHOLDER_RE.fullmatch(value.strip())
    if whole is not None:
        value = inputs[whole.group(1)]
        return value.isoformat() if isinstance(value, datetime.datetime) else value
    return PLACEHOLDER_RE.sub(lambda match: _text(inputs[match.group(1)]), value)


def render_manifest(manifest: Mapping[str, Any], inputs: Mapping[str, Any]) -> dict[str, Any]:
    """A new manifest with every placeholder replaced by its input (see the module docs).

    Raises:
        ManifestError: a placeholder is malformed or its input is missing from ``inputs``.
    """
    rendered = _render(manifest, inputs, "manifest")
    assert isinstance(rendered, dict)
    return rendered
