"""The ParallelJob's status document, built from a verdict and the previous status."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from parallel_job_operator.clock import format_time
from parallel_job_operator.constants import FAILED, PENDING, RUNNING, SUCCEEDED
from parallel_job_operator.verdict import Verdict, worker_counts
from parallel_job_operator.workers import WorkerState

CONDITION_TYPES = (RUNNING, SUCCEEDED, FAILED)
_FALSE_REASONS = {PENDING: "WorkersPending", RUNNING: "WorkersRunning", SUCCEEDED: "Succeeded", FAILED: "Failed"}


def _condition_for(condition_type: str, verdict: Verdict) -> tuple[str, str, str]:
    """(status, reason, message) of one condition type under a verdict."""
    if condition_type == verdict.phase:
        if verdict.phase == RUNNING:
            return "True", "WorkersRunning", verdict.message
        if verdict.phase == SUCCEEDED:
            return "True", "Succeeded", verdict.message
        return "True", verdict.reason or FAILED, verdict.message
    return "False", _FALSE_REASONS[verdict.phase], ""


def build_conditions(verdict: Verdict, previous: Sequence[Mapping[str, Any]], now: datetime) -> list[dict[str, str]]:
    """One condition per type; lastTransitionTime moves only when the status flips."""
    before = {str(c.get("type")): c for c in previous if isinstance(c, Mapping)}
    conditions = []
    for condition_type in CONDITION_TYPES:
        status, reason, message = _condition_for(condition_type, verdict)
        old = before.get(condition_type) or {}
        changed = old.get("status") != status or not old.get("lastTransitionTime")
        conditions.append(
            {
                "type": condition_type,
                "status": status,
                "reason": reason,
                "message": message,
                "lastTransitionTime": format_time(now) if changed else str(old["lastTransitionTime"]),
            }
        )
    return conditions


def build_status(
    previous: Mapping[str, Any],
    generation: int,
    workers: Sequence[WorkerState],
    verdict: Verdict,
    start_time: datetime,
    now: datetime,
) -> dict[str, Any]:
    """The whole status; startTime and a reached completionTime are kept from `previous`."""
    completion = ""
    if verdict.terminal:
        completion = str(previous.get("completionTime") or "") or format_time(now)
    return {
        "phase": verdict.phase,
        "reason": verdict.reason,
        "message": verdict.message,
        "startTime": format_time(start_time),
        "completionTime": completion or None,
        "observedGeneration": generation,
        "workerCounts": worker_counts(workers),
        "workers": [worker.as_status() for worker in workers],
        "conditions": build_conditions(verdict, list(previous.get("conditions") or []), now),
    }
