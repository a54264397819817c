"""The batch/v1 Job that runs one worker of a ParallelJob (a pure function of the spec)."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from parallel_job_operator.constants import (
    API_VERSION,
    KIND,
    PARALLEL_JOB_LABEL,
    PARALLEL_JOB_NAME_ENV,
    WORKER_CONTAINER,
    WORKER_COUNT_ENV,
    WORKER_INDEX_ENV,
    WORKER_INDEX_LABEL,
)
from parallel_job_operator.spec import ParallelJobSpec

_WORKER_ENV_NAMES = frozenset({WORKER_INDEX_ENV, WORKER_COUNT_ENV, PARALLEL_JOB_NAME_ENV})


@dataclass(frozen=True)
class Owner:
    """The ParallelJob a Job belongs to: enough to name, label and own the Job."""

    name: str
    namespace: str
    uid: str

    def reference(self) -> dict[str, Any]:
        return {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "name": self.name,
            "uid": self.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }


def worker_job_name(parallel_job_name: str, index: int) -> str:
    return f"{parallel_job_name}-w{index}"


def worker_labels(parallel_job_name: str, index: int) -> dict[str, str]:
    return {PARALLEL_JOB_LABEL: parallel_job_name, WORKER_INDEX_LABEL: str(index)}


def _worker_env(existing: list[Any], owner: Owner, spec: ParallelJobSpec, index: int) -> list[Any]:
    # The operator's variables win over same-named ones from the template, and come first
    # so that later user variables can refer to them with $(WORKER_INDEX).
    ours = [
        {"name": WORKER_INDEX_ENV, "value": str(index)},
        {"name": WORKER_COUNT_ENV, "value": str(spec.workers)},
        {"name": PARALLEL_JOB_NAME_ENV, "value": owner.name},
    ]
    return ours + [var for var in existing if not (isinstance(var, Mapping) and var.get("name") in _WORKER_ENV_NAMES)]


FALLBACK_TO_LOGS_ON_ERROR = "FallbackToLogsOnError"


def build_worker_job(owner: Owner, spec: ParallelJobSpec, index: int) -> dict[str, Any]:
    """The Job manifest for worker `index`; the ParallelJob's template is not modified."""
    labels = worker_labels(owner.name, index)
    template = copy.deepcopy(dict(spec.template))
    metadata = dict(template.get("metadata") or {})
    metadata["labels"] = {**(metadata.get("labels") or {}), **labels}
    pod_spec = dict(template.get("spec") or {})
    pod_spec["restartPolicy"] = spec.restart_policy
    pod_spec["containers"] = [
        {
            **container,
            "env": _worker_env(list(container.get("env") or []), owner, spec, index),
            # A worker killed before it could write its error (OOM, a crash) still says why: the end of its log.
            "terminationMessagePolicy": container.get("terminationMessagePolicy") or FALLBACK_TO_LOGS_ON_ERROR,
        }
        if container.get("name") == WORKER_CONTAINER
        else container
        for container in pod_spec.get("containers") or []
    ]
    job_spec: dict[str, Any] = {
        "backoffLimit": spec.max_restarts,
        "completions": 1,
        "parallelism": 1,
        "template": {"metadata": metadata, "spec": pod_spec},
    }
    if spec.active_deadline_seconds is not None:
        job_spec["activeDeadlineSeconds"] = spec.active_deadline_seconds
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": worker_job_name(owner.name, index),
            "namespace": owner.namespace,
            "labels": labels,
            "ownerReferences": [owner.reference()],
        },
        "spec": job_spec,
    }
