"""The ``shaped`` workflow's cluster side: the Secret it reads, and what its worker pod got."""

from __future__ import annotations

import base64
import secrets
from typing import Any

import kubernetes.client  # type: ignore[import-untyped]

from flyte_operator_demo.workflows import SECRET_GROUP, SECRET_KEY


def ensure_demo_secret(api_client: kubernetes.client.ApiClient, namespace: str) -> str:
    """Creates (or replaces) the Secret ``shaped`` requests, with a fresh random value; returns it."""
    token = secrets.token_hex(16)
    core = kubernetes.client.CoreV1Api(api_client)
    body = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": SECRET_GROUP, "namespace": namespace},
        "data": {SECRET_KEY: base64.b64encode(token.encode()).decode()},
    }
    try:
        core.delete_namespaced_secret(SECRET_GROUP, namespace, _preload_content=False)
    except kubernetes.client.ApiException as error:
        if error.status != 404:
            raise
    core.create_namespaced_secret(namespace, body, _preload_content=False)
    return token


def describe_worker_pod(pod: dict[str, Any]) -> list[str]:
    """How the connector and the webhook shaped a worker pod: container, tolerations, secret env."""
    spec = pod.get("spec") or {}
    containers = spec.get("containers") or [{}]
    labels = (pod.get("metadata") or {}).get("labels") or {}
    secret_env = [
        item["name"] for item in containers[0].get("env") or [] if "secretKeyRef" in (item.get("valueFrom") or {})
    ]
    tolerations = [t.get("key", "") for t in spec.get("tolerations") or []]
    return [
        f"container {containers[0].get('name')!r} (the pod template named it 'task'), "
        f"label inject-flyte-secrets={labels.get('inject-flyte-secrets', '-')}",
        f"tolerations {tolerations} (pod template's + podDefaults' interruptible ones)",
        f"secret env from the webhook: {secret_env}",
    ]
