"""The few API calls the kubelet makes, through the official client (it is a client like any other)."""

from __future__ import annotations

import base64
import json
from typing import Any

import kubernetes.client  # type: ignore[import-untyped]
from kubernetes.client import ApiException

_MERGE = "application/merge-patch+json"  # the client would pick json-patch for a dict body otherwise


class ClusterApi:
    def __init__(self, api_client: kubernetes.client.ApiClient) -> None:
        self.api_client = api_client
        self.core = kubernetes.client.CoreV1Api(api_client)
        self.batch = kubernetes.client.BatchV1Api(api_client)

    def create_pod(self, namespace: str, pod: dict[str, Any]) -> dict[str, Any]:
        created = self.core.create_namespaced_pod(namespace, pod, _preload_content=False)
        return dict(json.loads(created.data))

    def patch_pod_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        self.core.patch_namespaced_pod_status(
            name, namespace, {"status": status}, _content_type=_MERGE, _preload_content=False
        )

    def patch_job_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        self.batch.patch_namespaced_job_status(
            name, namespace, {"status": status}, _content_type=_MERGE, _preload_content=False
        )

    def set_pod_log(self, namespace: str, name: str, text: str) -> None:
        """An emulator extension: PUT replaces the text served at .../pods/NAME/log."""
        self.api_client.call_api(
            f"/api/v1/namespaces/{namespace}/pods/{name}/log",
            "PUT",
            body=text,
            header_params={"Content-Type": "text/plain"},
            _preload_content=False,
            auth_settings=["BearerToken"],
        )

    def read_secret_value(self, namespace: str, name: str, key: str) -> str | None:
        """One key of a Secret, decoded; None when the Secret or the key does not exist."""
        try:
            response = self.core.read_namespaced_secret(name, namespace, _preload_content=False)
        except ApiException as error:
            if error.status == 404:
                return None
            raise
        secret = json.loads(response.data)
        if key in (secret.get("stringData") or {}):
            return str(secret["stringData"][key])
        encoded = (secret.get("data") or {}).get(key)
        return None if encoded is None else base64.b64decode(encoded).decode("utf-8", errors="replace")

    def pod_names(self, namespace: str, job_uid: str) -> list[str]:
        pods = self.core.list_namespaced_pod(namespace, label_selector=f"controller-uid={job_uid}")
        return [pod.metadata.name for pod in pods.items]

    def delete_pod(self, namespace: str, name: str) -> None:
        try:
            self.core.delete_namespaced_pod(name, namespace, grace_period_seconds=0, _preload_content=False)
        except ApiException as error:
            if error.status != 404:
                raise
