"""Reading a task's object and pods from the cluster, generically (any kind, any operator)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from conformance.suite.cluster import PODS, ClusterView
from k8s_operator_connector.kube_api import KubeApiError

_MAX_OWNER_DEPTH = 4


def pod_specs(obj: Any, path: str = "") -> Iterator[tuple[str, Mapping[str, Any], Mapping[str, Any]]]:
    """(path, metadata, spec) of every pod spec inside an object: any mapping with a ``containers`` list."""
    if isinstance(obj, Mapping):
        spec = obj.get("spec")
        if isinstance(spec, Mapping) and isinstance(spec.get("containers"), list):
            yield f"{path}.spec" if path else "spec", obj.get("metadata") or {}, spec
        for key, value in obj.items():
            if key in ("metadata", "status"):
                continue
            yield from pod_specs(value, f"{path}.{key}" if path else key)
    elif isinstance(obj, list):
        for index, item in enumerate(obj):
            yield from pod_specs(item, f"{path}[{index}]")


def contains_container(obj: Mapping[str, Any], image: str, command: list[str]) -> bool:
    """Whether a pod spec in ``obj`` has a container with this image running this command."""
    for _, _, spec in pod_specs(obj):
        for container in spec.get("containers") or []:
            argv = [*(container.get("command") or []), *(container.get("args") or [])]
            if container.get("image") == image and argv[-len(command) :] == command:
                return True
    return False


def descendant_pods(cluster: ClusterView, namespace: str, root_uid: str) -> list[dict[str, Any]]:
    """Pods whose ownerReferences lead (through Jobs, ReplicaSets...) to the object with ``root_uid``."""
    owners: dict[tuple[str, str, str], list[dict[str, Any]]] = {}

    def owner_refs(api_version: str, kind: str, name: str) -> list[dict[str, Any]]:
        key = (api_version, kind, name)
        if key not in owners:
            try:
                obj = cluster.get(cluster.resource_of(api_version, kind), namespace, name)
            except (KeyError, KubeApiError):
                obj = None
            owners[key] = list((obj or {}).get("metadata", {}).get("ownerReferences") or [])
        return owners[key]

    def leads_to_root(references: list[dict[str, Any]], depth: int) -> bool:
        for reference in references:
            if reference.get("uid") == root_uid:
                return True
            if depth < _MAX_OWNER_DEPTH and leads_to_root(
                owner_refs(reference.get("apiVersion", ""), reference.get("kind", ""), reference.get("name", "")),
                depth + 1,
            ):
                return True
        return False

    return [
        pod
        for pod in cluster.objects(PODS, namespace)
        if leads_to_root(list(pod["metadata"].get("ownerReferences") or []), 1)
    ]


def names(objects: list[dict[str, Any]]) -> list[str]:
    return sorted(obj["metadata"]["name"] for obj in objects)
