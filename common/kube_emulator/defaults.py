"""What the real API server fills in on create, for the built-in kinds that tests rely on."""

from __future__ import annotations

from typing import Any

from kube_emulator.errors import invalid


def apply_create_defaults(kind: str, api_version: str, obj: dict[str, Any]) -> None:
    """Mutates a fresh object (already carrying uid and name) before it is first stored."""
    if kind == "Job" and api_version == "batch/v1":
        _default_job(obj)
    elif kind == "Pod" and api_version == "v1":
        _default_pod(obj)
    elif kind == "Namespace" and api_version == "v1":
        obj["status"] = {"phase": "Active"}


def _require_containers(group_resource: str, kind: str, name: str, pod_spec: dict[str, Any], field: str) -> None:
    if not pod_spec.get("containers"):
        raise invalid(group_resource, kind, name, [(f"{field}.containers", "Required value")])


def _default_pod(pod: dict[str, Any]) -> None:
    spec = pod.setdefault("spec", {})
    _require_containers("pods", "Pod", pod["metadata"]["name"], spec, "spec")
    spec.setdefault("restartPolicy", "Always")
    pod["status"] = {"phase": "Pending", "qosClass": "BestEffort"}


def _default_job(job: dict[str, Any]) -> None:
    metadata = job["metadata"]
    name, uid = metadata["name"], metadata["uid"]
    spec = job.setdefault("spec", {})
    template = spec.setdefault("template", {})
    pod_spec = template.setdefault("spec", {})
    _require_containers("jobs.batch", "Job", name, pod_spec, "spec.template.spec")
    if pod_spec.get("restartPolicy") not in ("Never", "OnFailure"):
        raise invalid(
            "jobs.batch",
            "Job",
            name,
            [
                (
                    "spec.template.spec.restartPolicy",
                    f'Unsupported value: "{pod_spec.get("restartPolicy", "Always")}": '
                    'supported values: "OnFailure", "Never"',
                )
            ],
        )
    spec.setdefault("parallelism", 1)
    spec.setdefault("completions", 1)
    spec.setdefault("backoffLimit", 6)
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    if not spec.get("manualSelector"):
        spec["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    template_metadata = template.setdefault("metadata", {})
    template_metadata["labels"] = {
        **(template_metadata.get("labels") or {}),
        "batch.kubernetes.io/controller-uid": uid,
        "batch.kubernetes.io/job-name": name,
        "controller-uid": uid,
        "job-name": name,
    }
    job["status"] = {}


def crd_status(crd: dict[str, Any]) -> dict[str, Any]:
    names = crd.get("spec", {}).get("names", {})
    conditions = [
        {
            "type": condition,
            "status": "True",
            "reason": reason,
            "message": message,
            "lastTransitionTime": crd["metadata"]["creationTimestamp"],
        }
        for condition, reason, message in (
            ("NamesAccepted", "NoConflicts", "no conflicts found"),
            ("Established", "InitialNamesAccepted", "the initial names have been accepted"),
        )
    ]
    versions = [v["name"] for v in crd.get("spec", {}).get("versions", []) if v.get("storage")]
    return {"acceptedNames": names, "conditions": conditions, "storedVersions": versions}
