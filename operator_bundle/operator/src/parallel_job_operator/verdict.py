"""The ParallelJob's phase, reason and message, decided from its workers' states."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from parallel_job_operator.constants import (
    ANY_WORKER,
    FAILED,
    PENDING,
    REASON_DEADLINE_EXCEEDED,
    REASON_WORKER_FAILED,
    RUNNING,
    SUCCEEDED,
    TERMINAL_PHASES,
)
from parallel_job_operator.workers import WorkerState


@dataclass(frozen=True)
class Verdict:
    phase: str
    reason: str
    message: str

    @property
    def terminal(self) -> bool:
        return self.phase in TERMINAL_PHASES


def worker_counts(workers: Sequence[WorkerState]) -> dict[str, int]:
    counts = Counter(worker.phase for worker in workers)
    return {key.lower(): counts.get(key, 0) for key in (PENDING, RUNNING, SUCCEEDED, FAILED)}


def _failure(worker: WorkerState) -> Verdict:
    """Which worker, pod and Job, and why: the worker's own error (its termination message) if it
    left one, which says what broke, else the Job's condition message."""
    reason = worker.reason or REASON_WORKER_FAILED
    if worker.error:
        where = f"pod {worker.pod}, Job {worker.job}" if worker.pod else f"Job {worker.job}"
        return Verdict(FAILED, reason, f"worker {worker.index} ({where}) failed ({reason}): {worker.error}")
    detail = f": {worker.message}" if worker.message else ""
    return Verdict(FAILED, reason, f"worker {worker.index} (Job {worker.job}) failed ({reason}){detail}")


def _progress(workers: Sequence[WorkerState]) -> Verdict:
    counts = worker_counts(workers)
    total = len(workers)
    if counts["pending"] == total:
        message = f"{total}/{total} workers pending"
        waiting = [w for w in workers if w.waiting_reason]
        if waiting:
            message += f" (worker {waiting[0].index}: {waiting[0].waiting_reason})"
        return Verdict(PENDING, "", message)
    message = f"{counts['running']}/{total} workers running, {counts['succeeded']} succeeded"
    if counts["failed"]:
        message += f", {counts['failed']} failed"
    return Verdict(RUNNING, "", message)


def decide(
    success_policy: str,
    workers: Sequence[WorkerState],
    deadline_seconds: int | None,
    deadline_passed: bool,
) -> Verdict:
    """AllWorkers: the first failed worker fails the job, all succeeded succeed it.
    AnyWorker: the first success succeeds it; it fails only when every worker failed.
    A finished outcome wins over a deadline that passed in the same observation."""
    total = len(workers)
    succeeded = [w for w in workers if w.phase == SUCCEEDED]
    failed = [w for w in workers if w.phase == FAILED]
    if success_policy == ANY_WORKER:
        if succeeded:
            return Verdict(SUCCEEDED, "", f"worker {succeeded[0].index} succeeded ({ANY_WORKER})")
        if len(failed) == total:
            return _failure(failed[0])
    else:
        if failed:
            return _failure(failed[0])
        if len(succeeded) == total:
            return Verdict(SUCCEEDED, "", f"{total}/{total} workers succeeded")
    if deadline_passed:
        return Verdict(FAILED, REASON_DEADLINE_EXCEEDED, f"ran longer than activeDeadlineSeconds={deadline_seconds}")
    return _progress(workers)
