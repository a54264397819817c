"""Kubernetes object bodies for the unit tests (test-only; not shipped in the image)."""

from __future__ import annotations

from typing import Any

from parallel_job_operator.constants import API_VERSION, KIND, PARALLEL_JOB_LABEL, WORKER_INDEX_LABEL
from parallel_job_operator.observations import JobObservation, PodObservation, observe_job, observe_pod

UID = "0f0f0f0f-1111-2222-3333-444444444444"


def parallel_job(
    name: str = "pj",
    workers: int = 2,
    status: dict[str, Any] | None = None,
    generation: int = 1,
    **spec: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {"name": name, "namespace": "ns", "uid": UID, "generation": generation},
        "spec": {
            "workers": workers,
            "template": {
                "metadata": {"labels": {"team": "ml"}},
                "spec": {
                    "containers": [{"name": "worker", "image": "python:3.11", "env": [{"name": "A", "value": "1"}]}]
                },
            },
            **spec,
        },
    }
    if status is not None:
        body["status"] = status
    return body


def job(
    index: int,
    parent: str = "pj",
    owner_uid: str = UID,
    conditions: list[dict[str, Any]] | None = None,
    **status: Any,
) -> dict[str, Any]:
    references = [{"uid": owner_uid, "controller": True, "kind": KIND, "name": parent}] if owner_uid else []
    return {
        "metadata": {
            "name": f"{parent}-w{index}",
            "namespace": "ns",
            "labels": {PARALLEL_JOB_LABEL: parent, WORKER_INDEX_LABEL: str(index)},
            "ownerReferences": references,
        },
        "status": {**status, "conditions": conditions or []},
    }


def condition(condition_type: str, reason: str = "", message: str = "") -> dict[str, Any]:
    return {"type": condition_type, "status": "True", "reason": reason, "message": message}


def pod(
    index: int,
    suffix: str = "abcde",
    phase: str = "Running",
    parent: str = "pj",
    created: str = "2024-01-01T00:00:00Z",
    restarts: int = 0,
    waiting: str = "",
    terminated: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A worker pod; `terminated` (e.g. {"exitCode": 1, "message": ...}) is its container's end."""
    state: dict[str, Any] = {"running": {}}
    if waiting:
        state = {"waiting": {"reason": waiting}}
    if terminated is not None:
        state = {"terminated": terminated}
    return {
        "metadata": {
            "name": f"{parent}-w{index}-{suffix}",
            "namespace": "ns",
            "creationTimestamp": created,
            "labels": {
                PARALLEL_JOB_LABEL: parent,
                WORKER_INDEX_LABEL: str(index),
                "batch.kubernetes.io/job-name": f"{parent}-w{index}",
            },
        },
        "status": {"phase": phase, "containerStatuses": [{"name": "worker", "restartCount": restarts, "state": state}]},
    }


def observed_job(body: dict[str, Any]) -> JobObservation:
    """observe_job for bodies the test knows to be valid worker Jobs."""
    observation = observe_job(body)
    assert observation is not None, body
    return observation


def observed_pod(body: dict[str, Any]) -> PodObservation:
    """observe_pod for bodies the test knows to be valid worker pods."""
    observation = observe_pod(body)
    assert observation is not None, body
    return observation
