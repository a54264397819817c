"""CustomResourceDefinitions: the resource types they declare, and loading them from YAML."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from kube_emulator.errors import invalid
from kube_emulator.resources import ResourceType


def resource_types_from_crd(crd: dict[str, Any]) -> list[ResourceType]:
    """One ResourceType per served version of an apiextensions.k8s.io/v1 CRD."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    group, plural, kind = spec.get("group"), names.get("plural"), names.get("kind")
    name = crd.get("metadata", {}).get("name", "")
    if not group or not plural or not kind:
        raise invalid(
            "customresourcedefinitions.apiextensions.k8s.io",
            "CustomResourceDefinition",
            name,
            [("spec", "Required value: group, names.plural and names.kind")],
        )
    if name != f"{plural}.{group}":
        raise invalid(
            "customresourcedefinitions.apiextensions.k8s.io",
            "CustomResourceDefinition",
            name,
            [("metadata.name", f'Invalid value: "{name}": must be spec.names.plural+"."+spec.group')],
        )
    versions = [v for v in spec.get("versions") or [] if v.get("served", True)]
    if not versions:
        raise invalid(
            "customresourcedefinitions.apiextensions.k8s.io",
            "CustomResourceDefinition",
            name,
            [("spec.versions", "Required value: at least one served version")],
        )
    return [
        ResourceType(
            group=group,
            version=version["name"],
            plural=plural,
            kind=kind,
            namespaced=spec.get("scope", "Namespaced") == "Namespaced",
            singular=names.get("singular") or kind.lower(),
            short_names=tuple(names.get("shortNames") or ()),
            categories=tuple(names.get("categories") or ()),
            subresources=frozenset(sub for sub in ("status", "scale") if sub in (version.get("subresources") or {})),
        )
        for version in versions
    ]


def load_manifests(paths: Iterable[str | Path]) -> list[dict[str, Any]]:
    """All YAML documents of the given files (multi-document files allowed, empty ones skipped)."""
    documents: list[dict[str, Any]] = []
    for path in paths:
        with open(path, encoding="utf-8") as stream:
            documents.extend(doc for doc in yaml.safe_load_all(stream) if doc)
    return documents
