"""What the operator observes of its worker Jobs and pods, reduced to plain values.

Kopf's indexes keep these small records (not whole objects) for every Job and pod that
carries the parallel-job label; the status computation reads only them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from parallel_job_operator.constants import FAILED, PARALLEL_JOB_LABEL, SUCCEEDED, WORKER_INDEX_LABEL

# A finished Job has Complete or Failed; Kubernetes >= 1.31 first sets these two while
# the Job's remaining pods terminate, and they already decide the outcome.
_SUCCESS_CONDITIONS = ("Complete", "SuccessCriteriaMet")
_FAILURE_CONDITIONS = ("Failed", "FailureTarget")
# The kubelet keeps at most 4096 bytes of a termination message (MaxContainerTerminationMessageLength);
# a pod body is untrusted input, so the operator bounds it again.
MAX_TERMINATION_MESSAGE = 4096


@dataclass(frozen=True)
class JobObservation:
    name: str
    index: int
    owner_uid: str
    active: int = 0
    succeeded: int = 0
    failed: int = 0
    outcome: str = ""  # "" while running, else Succeeded or Failed
    reason: str = ""
    message: str = ""
    deleting: bool = False


@dataclass(frozen=True)
class PodObservation:
    name: str
    index: int
    job_name: str
    phase: str
    restarts: int = 0
    created: str = ""
    waiting_reason: str = ""
    deleting: bool = False
    # The newest failed termination's message (the worker's error), empty if none.
    termination_message: str = ""


def parallel_job_of(metadata: Mapping[str, Any]) -> str:
    return str((metadata.get("labels") or {}).get(PARALLEL_JOB_LABEL) or "")


def worker_index_of(metadata: Mapping[str, Any]) -> int | None:
    value = (metadata.get("labels") or {}).get(WORKER_INDEX_LABEL)
    try:
        index = int(str(value))
    except ValueError:
        return None
    return index if index >= 0 else None


def controller_uid(metadata: Mapping[str, Any]) -> str:
    for reference in metadata.get("ownerReferences") or []:
        if reference.get("controller"):
            return str(reference.get("uid") or "")
    return ""


def _true_condition(conditions: list[Mapping[str, Any]], types: tuple[str, ...]) -> Mapping[str, Any] | None:
    for condition_type in types:
        for condition in conditions:
            if condition.get("type") == condition_type and condition.get("status") == "True":
                return condition
    return None


def observe_job(body: Mapping[str, Any]) -> JobObservation | None:
    """The Job as a record, or None if it lacks a valid worker-index label."""
    metadata = body.get("metadata") or {}
    index = worker_index_of(metadata)
    if index is None:
        return None
    status = body.get("status") or {}
    conditions = list(status.get("conditions") or [])
    outcome, reason, message = "", "", ""
    failure = _true_condition(conditions, _FAILURE_CONDITIONS)
    success = _true_condition(conditions, _SUCCESS_CONDITIONS)
    if failure is not None:
        outcome, reason, message = FAILED, str(failure.get("reason") or ""), str(failure.get("message") or "")
    elif success is not None:
        outcome = SUCCEEDED
    return JobObservation(
        name=str(metadata.get("name") or ""),
        index=index,
        owner_uid=controller_uid(metadata),
        active=int(status.get("active") or 0),
        succeeded=int(status.get("succeeded") or 0),
        failed=int(status.get("failed") or 0),
        outcome=outcome,
        reason=reason,
        message=message,
        deleting=bool(metadata.get("deletionTimestamp")),
    )


def _waiting_reason(status: Mapping[str, Any]) -> str:
    for container in status.get("containerStatuses") or []:
        waiting = (container.get("state") or {}).get("waiting") or {}
        if waiting.get("reason"):
            return str(waiting["reason"])
    return ""


def _failed_termination_message(status: Mapping[str, Any]) -> str:
    """The message of the newest failed container termination (state, else lastState after a restart)."""
    for container in status.get("containerStatuses") or []:
        for key in ("state", "lastState"):
            terminated = (container.get(key) or {}).get("terminated") or {}
            message = terminated.get("message")
            if message and terminated.get("exitCode") != 0:
                return str(message)[-MAX_TERMINATION_MESSAGE:].strip()
    return ""


def observe_pod(body: Mapping[str, Any]) -> PodObservation | None:
    """The pod as a record, or None if it lacks a valid worker-index label."""
    metadata = body.get("metadata") or {}
    index = worker_index_of(metadata)
    if index is None:
        return None
    labels = metadata.get("labels") or {}
    status = body.get("status") or {}
    restarts = sum(int(c.get("restartCount") or 0) for c in status.get("containerStatuses") or [])
    return PodObservation(
        name=str(metadata.get("name") or ""),
        index=index,
        job_name=str(labels.get("batch.kubernetes.io/job-name") or labels.get("job-name") or ""),
        phase=str(status.get("phase") or "Pending"),
        restarts=restarts,
        created=str(metadata.get("creationTimestamp") or ""),
        waiting_reason=_waiting_reason(status),
        deleting=bool(metadata.get("deletionTimestamp")),
        termination_message=_failed_termination_message(status),
    )
