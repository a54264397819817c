"""Parsing Kubernetes API paths into (group, version, resource, namespace, name, subresource)."""

from __future__ import annotations

from dataclasses import dataclass

_NAMESPACE_SUBRESOURCES = frozenset({"status", "finalize"})


@dataclass(frozen=True)
class ResourcePath:
    group: str
    version: str
    plural: str
    namespace: str | None
    name: str | None
    subresource: str | None
    legacy_watch: bool = False  # the deprecated /api/v1/watch/... form


def parse_resource_path(path: str) -> ResourcePath | None:
    """None for non-resource paths (discovery, /version) and for malformed ones."""
    parts = [part for part in path.split("/") if part]
    if len(parts) >= 3 and parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    elif len(parts) >= 4 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    legacy_watch = rest[0] == "watch"
    if legacy_watch:
        rest = rest[1:]
        if not rest:
            return None
    namespace = None
    if rest[0] == "namespaces" and len(rest) > 1:
        if len(rest) > 2 and rest[2] not in _NAMESPACE_SUBRESOURCES:
            namespace, rest = rest[1], rest[2:]
        else:  # the Namespace object itself, possibly its /status
            subresource = rest[2] if len(rest) > 2 else None
            return (
                None
                if len(rest) > 3
                else ResourcePath(group, version, "namespaces", None, rest[1], subresource, legacy_watch)
            )
    if len(rest) > 3:
        return None
    return ResourcePath(
        group,
        version,
        rest[0],
        namespace,
        rest[1] if len(rest) > 1 else None,
        rest[2] if len(rest) > 2 else None,
        legacy_watch,
    )
