"""What one reconciliation should do, decided from the observed state alone.

`plan_reconciliation` is pure: given the ParallelJob as read from the API, the Jobs and
pods observed for it, and the time, it returns the status to write, the workers whose
Job is missing, and the Jobs to delete. Nothing is remembered between calls, so a
restarted operator makes the same decisions (a Job created but not yet observed is
created again, which the API answers with 409 and the operator adopts).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from parallel_job_operator.clock import format_time, parse_time
from parallel_job_operator.constants import FAILED, REASON_INVALID_SPEC, TERMINAL_PHASES
from parallel_job_operator.job_manifest import Owner, worker_job_name
from parallel_job_operator.observations import JobObservation, PodObservation
from parallel_job_operator.spec import InvalidSpecError, ParallelJobSpec, parse_spec
from parallel_job_operator.status import build_conditions, build_status
from parallel_job_operator.verdict import Verdict, decide
from parallel_job_operator.workers import WorkerState, worker_state


@dataclass(frozen=True)
class Plan:
    owner: Owner
    status: dict[str, Any]
    spec: ParallelJobSpec | None = None
    create: tuple[int, ...] = ()
    delete: tuple[str, ...] = ()
    requeue_after: float | None = None
    previous_phase: str = ""
    events: tuple[tuple[str, str, str], ...] = field(default=())  # (type, reason, message)

    @property
    def phase(self) -> str:
        return str(self.status.get("phase") or "")


def owner_of(body: Mapping[str, Any]) -> Owner:
    metadata = body.get("metadata") or {}
    return Owner(
        name=str(metadata.get("name") or ""),
        namespace=str(metadata.get("namespace") or ""),
        uid=str(metadata.get("uid") or ""),
    )


def _normalized(status: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in status.items() if value is not None and value != ""}


def status_differs(previous: Mapping[str, Any], status: Mapping[str, Any]) -> bool:
    """Whether writing `status` would change anything (absent, None and "" are alike)."""
    return _normalized(previous) != _normalized(status)


def _owned_jobs(jobs: Iterable[JobObservation], owner: Owner, workers: int | None) -> dict[int, JobObservation]:
    """This ParallelJob's Jobs by worker index. Jobs of an older object of the same name
    (another uid, not yet garbage-collected) are not ours; unowned ones get adopted."""
    owned: dict[int, JobObservation] = {}
    for job in jobs:
        if job.owner_uid not in ("", owner.uid) or (workers is not None and job.index >= workers):
            continue
        if job.name == worker_job_name(owner.name, job.index):
            owned[job.index] = job
    return owned


def _unfinished(jobs: Iterable[JobObservation]) -> tuple[str, ...]:
    return tuple(sorted(job.name for job in jobs if not job.outcome and not job.deleting))


def _transition_events(previous_phase: str, verdict: Verdict) -> tuple[tuple[str, str, str], ...]:
    if previous_phase == verdict.phase:
        return ()
    if verdict.phase == FAILED:
        return (("Warning", verdict.reason or FAILED, verdict.message),)
    return (("Normal", verdict.phase, verdict.message),)


def _frozen(body: Mapping[str, Any], owner: Owner, jobs: Iterable[JobObservation]) -> Plan:
    """A finished ParallelJob keeps its status; Jobs still running are stopped."""
    status = dict(body.get("status") or {})
    status["observedGeneration"] = int((body.get("metadata") or {}).get("generation") or 0)
    phase = str(status.get("phase") or "")
    return Plan(owner, status, delete=_unfinished(_owned_jobs(jobs, owner, None).values()), previous_phase=phase)


def plan_reconciliation(
    body: Mapping[str, Any],
    jobs: Iterable[JobObservation],
    pods: Iterable[PodObservation],
    now: datetime,
) -> Plan:
    owner = owner_of(body)
    jobs, pods = list(jobs), list(pods)
    previous = body.get("status") or {}
    previous_phase = str(previous.get("phase") or "")
    if previous_phase in TERMINAL_PHASES:
        return _frozen(body, owner, jobs)
    generation = int((body.get("metadata") or {}).get("generation") or 0)
    start_time = parse_time(previous.get("startTime")) or now
    try:
        spec = parse_spec(body.get("spec"))
    except InvalidSpecError as error:
        verdict = Verdict(FAILED, REASON_INVALID_SPEC, str(error))
        status = build_status(previous, generation, [], verdict, start_time, now)
        unfinished = _unfinished(_owned_jobs(jobs, owner, None).values())
        events = _transition_events(previous_phase, verdict)
        return Plan(owner, status, None, (), unfinished, None, previous_phase, events)

    owned = _owned_jobs(jobs, owner, spec.workers)
    pods_by_index: dict[int, list[PodObservation]] = {}
    for pod in pods:
        pods_by_index.setdefault(pod.index, []).append(pod)
    workers: list[WorkerState] = [
        worker_state(index, worker_job_name(owner.name, index), owned.get(index), pods_by_index.get(index, []))
        for index in range(spec.workers)
    ]
    deadline = spec.active_deadline_seconds
    remaining = (start_time + timedelta(seconds=deadline) - now).total_seconds() if deadline else None
    verdict = decide(spec.success_policy, workers, deadline, remaining is not None and remaining <= 0)
    status = build_status(previous, generation, workers, verdict, start_time, now)
    events = _transition_events(previous_phase, verdict)
    if verdict.terminal:
        return Plan(owner, status, spec, (), _unfinished(owned.values()), None, previous_phase, events)
    missing = tuple(index for index in range(spec.workers) if index not in owned)
    return Plan(owner, status, spec, missing, (), remaining, previous_phase, events)


def fail_plan(plan: Plan, reason: str, message: str, now: datetime) -> Plan:
    """The same plan, but ending the ParallelJob as Failed (e.g. the API refused its Jobs)."""
    verdict = Verdict(FAILED, reason, message)
    previous = plan.status
    status = {
        **previous,
        "phase": FAILED,
        "reason": reason,
        "message": message,
        "completionTime": format_time(now),
        "conditions": build_conditions(verdict, list(previous.get("conditions") or []), now),
    }
    # Every worker's Job goes (deleting one that was never created is a harmless 404).
    workers = plan.spec.workers if plan.spec else 0
    return Plan(
        plan.owner,
        status,
        plan.spec,
        delete=tuple(worker_job_name(plan.owner.name, index) for index in range(workers)),
        previous_phase=plan.previous_phase,
        events=_transition_events(plan.previous_phase, verdict),
    )
