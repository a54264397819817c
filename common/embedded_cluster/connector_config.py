"""The connector's configuration for local runs (the file ``K8S_OPERATOR_CONNECTOR_CONFIG`` names)."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import yaml

DEFAULT_NAMESPACE = "flytesnacks-development"


def local_connector_config(
    kubeconfig: Path | None, signing_keys: Path, namespace: str = DEFAULT_NAMESPACE
) -> dict[str, Any]:
    """Settings for local runs: a namespace, a kubeconfig, log links, batch/v1 Jobs allowlisted,
    the resource-meta signing key file (the connector refuses to start without one), and
    podDefaults with Flyte's keys (an interruptible toleration: harmless where no node is tainted).

    ``kubeconfig=None`` leaves the connector to its defaults (in-cluster or ``KUBECONFIG``).
    """
    config: dict[str, Any] = {
        "defaultNamespace": namespace,
        "metaSigning": {"mode": "required", "keysPath": str(signing_keys)},
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
        "podDefaults": {
            "default-labels": {"app.kubernetes.io/part-of": "flyte-operator-demo"},
            "interruptible-tolerations": [
                {"key": "flyte-operator-demo/interruptible", "operator": "Exists", "effect": "NoSchedule"}
            ],
        },
    }
    if kubeconfig is not None:
        config["api"] = {"kubeconfig": str(kubeconfig)}
    return config


def write_connector_config(path: Path, kubeconfig: Path | None, namespace: str = DEFAULT_NAMESPACE) -> Path:
    """Writes :func:`local_connector_config` as YAML to ``path``, and a fresh signing key beside it
    (local runs' metas live only as long as the run, so a new key per run is enough)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    keys = path.parent / "meta-signing-keys"
    keys.write_text(secrets.token_hex(32) + "\n", encoding="utf-8")
    keys.chmod(0o600)
    config = local_connector_config(kubeconfig, keys, namespace)
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path
