"""Each worker's state, from the observations of its Job and pods."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from parallel_job_operator.constants import FAILED, PENDING, RUNNING, SUCCEEDED
from parallel_job_operator.observations import JobObservation, PodObservation


@dataclass(frozen=True)
class WorkerState:
    index: int
    job: str
    pod: str
    phase: str
    restarts: int = 0
    reason: str = ""
    message: str = ""
    waiting_reason: str = ""
    # A failed worker's own account (its container's termination message), empty if it gave none.
    error: str = ""

    def as_status(self) -> dict[str, object]:
        status: dict[str, object] = {
            "index": self.index,
            "job": self.job,
            "pod": self.pod,
            "phase": self.phase,
            "restarts": self.restarts,
        }
        if self.error:
            status["message"] = self.error
        return status


def latest_pod(job_name: str, pods: Iterable[PodObservation]) -> PodObservation | None:
    """The Job's newest pod (a Job replaces failed pods; the newest tells the current state)."""
    candidates = [pod for pod in pods if not pod.job_name or pod.job_name == job_name]
    if not candidates:
        return None
    return max(candidates, key=lambda pod: (not pod.deleting, pod.created, pod.name))


def worker_state(index: int, job_name: str, job: JobObservation | None, pods: Iterable[PodObservation]) -> WorkerState:
    """A missing Job is Pending; a finished Job decides; otherwise its newest pod does."""
    if job is None:
        return WorkerState(index=index, job=job_name, pod="", phase=PENDING)
    pod = latest_pod(job.name, pods)
    pod_name = pod.name if pod else ""
    restarts = job.failed + (pod.restarts if pod else 0)
    if job.outcome in (SUCCEEDED, FAILED):
        error = pod.termination_message if pod is not None and job.outcome == FAILED else ""
        return WorkerState(index, job.name, pod_name, job.outcome, restarts, job.reason, job.message, error=error)
    # A pod that already succeeded belongs to a Job that is about to complete.
    if pod is not None and pod.phase in (RUNNING, SUCCEEDED) and not pod.deleting:
        return WorkerState(index, job.name, pod_name, RUNNING, restarts)
    waiting = pod.waiting_reason if pod else ""
    return WorkerState(index, job.name, pod_name, PENDING, restarts, waiting_reason=waiting)
