"""The cluster as the suite sees it: only what a kubeconfig reaches, through the backend's KubeApi."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from k8s_operator_connector.kube_api import KubeApi, KubeApiError, ResourceType
from k8s_operator_connector.settings import ApiSettings

PODS = ResourceType("", "v1", "pods", "Pod")
CONFIG_MAPS = ResourceType("", "v1", "configmaps", "ConfigMap")
SECRETS = ResourceType("", "v1", "secrets", "Secret")
CONNECTOR_CONFIG_KEY = "connector.yaml"


class ClusterView:
    """Read objects and pods, create and delete the suite's own fixtures; nothing else."""

    def __init__(self, kubeconfig: Path, context: str = "") -> None:
        self.api = KubeApi(ApiSettings(kubeconfig=str(kubeconfig), context=context, timeout_seconds=15, max_retries=3))
        self._kinds: dict[tuple[str, str], ResourceType] = {}

    def close(self) -> None:
        self.api.close()

    def resource_of(self, api_version: str, kind: str) -> ResourceType:
        """The resource serving ``kind`` in ``api_version`` (Kubernetes discovery); KeyError if none."""
        key = (api_version, kind)
        if key not in self._kinds:
            path = f"/apis/{api_version}" if "/" in api_version else f"/api/{api_version}"
            group, _, version = api_version.rpartition("/")
            for entry in self.api.request("GET", path).get("resources") or []:
                if entry.get("kind") == kind and "/" not in entry.get("name", ""):
                    resource = ResourceType(group, version, entry["name"], kind, bool(entry.get("namespaced", True)))
                    self._kinds[key] = resource
                    break
            else:
                raise KeyError(f"the cluster serves no {kind} in {api_version}")
        return self._kinds[key]

    def resource_of_kind(self, kind: str) -> ResourceType:
        """The first resource of this kind in any API group (discovery over every group version)."""
        for known in self._kinds.values():
            if known.kind == kind:
                return known
        versions = ["v1"] + [
            entry["groupVersion"]
            for group in self.api.request("GET", "/apis").get("groups") or []
            for entry in group.get("versions") or []
        ]
        for api_version in versions:
            try:
                return self.resource_of(api_version, kind)
            except KeyError:
                continue
        raise KeyError(f"the cluster serves no resource of kind {kind}")

    def get(self, resource: ResourceType, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return self.api.get(resource, namespace, name)
        except KubeApiError as error:
            if error.status == 404:
                return None
            raise

    def objects(self, resource: ResourceType, namespace: str, label_selector: str = "") -> list[dict[str, Any]]:
        return self.api.list(resource, namespace, label_selector=label_selector)[0]

    def create(self, resource: ResourceType, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.api.create(resource, namespace, body)

    def delete(self, resource: ResourceType, namespace: str, name: str) -> None:
        self.api.delete(resource, namespace, name, propagation="Background")

    def connector_settings(self, namespace: str, name_prefix: str) -> dict[str, Any] | None:
        """The connector's configuration from the bundle's ConfigMap (kustomize suffixes its name
        with a hash: the newest one whose name starts with ``name_prefix``); None if there is none."""
        try:
            config_maps = self.objects(CONFIG_MAPS, namespace)
        except KubeApiError as error:
            if error.status in (403, 404):
                return None
            raise
        candidates = [
            item
            for item in config_maps
            if item["metadata"]["name"].startswith(name_prefix) and CONNECTOR_CONFIG_KEY in (item.get("data") or {})
        ]
        if not candidates:
            return None
        newest = max(candidates, key=lambda item: item["metadata"].get("creationTimestamp") or "")
        document = yaml.safe_load(newest["data"][CONNECTOR_CONFIG_KEY])
        return document if isinstance(document, dict) else None


def wait_for(check: Callable[[], Any], timeout: float, interval: float = 0.2) -> Any:
    """``check()``'s first truthy value, or None once ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            return None
        time.sleep(interval)
