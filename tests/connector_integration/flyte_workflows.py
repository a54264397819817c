"""Flyte's FlyteWorkflow custom resource in the emulator, as flyteadmin and propeller make it.

The CRD is the one Flyte's charts install (flyteorg/flyte v1.16.8, commit
51877f899c9f95e0cb5efe90444eb0c6c6ea48a9, charts/flyte-core/templates/propeller/crds/flyteworkflow.yaml:
group flyte.lyft.com, kind FlyteWorkflow, plural flyteworkflows, namespaced, v1alpha1, no status
subresource). flyteadmin names the object after the execution and creates it in the execution's
namespace (flyteadmin/pkg/workflowengine/impl/k8s_executor.go); propeller adds its finalizer
``flyte.org/finalizer`` while the workflow runs (flytepropeller/pkg/controller/handler.go,
controller.go) and writes ``status.phase`` as an int (v1alpha1/iface.go WorkflowPhase).
"""

from __future__ import annotations

from typing import Any

from kube_emulator import KubeEmulator

FLYTE_WORKFLOWS = "flyteworkflows.flyte.lyft.com"
PROPELLER_FINALIZER = "flyte.org/finalizer"
CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": FLYTE_WORKFLOWS},
    "spec": {
        "group": "flyte.lyft.com",
        "names": {
            "kind": "FlyteWorkflow",
            "plural": "flyteworkflows",
            "shortNames": ["fly"],
            "singular": "flyteworkflow",
        },
        "scope": "Namespaced",
        "versions": [
            {
                "name": "v1alpha1",
                "served": True,
                "storage": True,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
            }
        ],
    },
}


def start_execution(
    api: KubeEmulator, namespace: str, execution: str, propeller_running: bool = True
) -> dict[str, Any]:
    """The FlyteWorkflow of a running execution (with propeller's finalizer while propeller runs it)."""
    if api.get("customresourcedefinitions.apiextensions.k8s.io", FLYTE_WORKFLOWS) is None:
        api.install_crd(CRD)
    metadata: dict[str, Any] = {"name": execution, "namespace": namespace, "labels": {"execution-id": execution}}
    if propeller_running:
        metadata["finalizers"] = [PROPELLER_FINALIZER]
    return api.create(
        {
            "apiVersion": "flyte.lyft.com/v1alpha1",
            "kind": "FlyteWorkflow",
            "metadata": metadata,
            "executionId": {"project": "flytesnacks", "domain": "development", "name": execution},
            "status": {"phase": 1},  # WorkflowPhaseRunning
        }
    )
