"""The connector's configuration for the demo (the file ``K8S_OPERATOR_CONNECTOR_CONFIG`` names)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

DEFAULT_NAMESPACE = "flytesnacks-development"


def demo_connector_config(kubeconfig: Path | None, namespace: str = DEFAULT_NAMESPACE) -> dict[str, Any]:
    """Settings for the demo: its namespace, a kubeconfig, log links, and batch/v1 Jobs allowlisted.

    ``kubeconfig=None`` leaves the connector to its defaults (in-cluster or ``KUBECONFIG``).
    """
    config: dict[str, Any] = {
        "defaultNamespace": namespace,
        "logLinks": [
            {"name": "kubectl logs", "template": "kubectl logs -n {{ .namespace }} {{ .podName }}"},
            {
                "name": "objects",
                "template": "kubectl get -n {{ .namespace }} paralleljobs,jobs,pods | grep {{ .objectName }}",
            },
        ],
        "customResource": {
            "allowedKinds": [{"group": "batch", "version": "v1", "kind": "Job", "plural": "jobs"}],
        },
    }
    if kubeconfig is not None:
        config["api"] = {"kubeconfig": str(kubeconfig)}
    return config


def write_connector_config(path: Path, kubeconfig: Path | None, namespace: str = DEFAULT_NAMESPACE) -> Path:
    """Writes :func:`demo_connector_config` as YAML to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(demo_connector_config(kubeconfig, namespace), sort_keys=False), encoding="utf-8")
    return path
