"""One reconciliation of one ParallelJob: read it, plan, act, write status.

Callers pass what the watch-backed indexes observed of its Jobs and pods; the
ParallelJob itself is read fresh so that decisions build on the last written status.
Callers serialize reconciliations of the same ParallelJob by passing its lock.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, cast

import kopf

from parallel_job_operator.api_errors import backoff_seconds, describe, is_invalid_request, is_retryable
from parallel_job_operator.clock import utc_now
from parallel_job_operator.constants import REASON_INVALID_SPEC
from parallel_job_operator.job_manifest import build_worker_job
from parallel_job_operator.kube_api import ForeignJobError, KubeApi
from parallel_job_operator.observations import JobObservation, PodObservation
from parallel_job_operator.plan import Plan, fail_plan, plan_reconciliation, status_differs


class ReconcileLocks(defaultdict[tuple[str, str], asyncio.Lock]):
    """One lock per ParallelJob (namespace, name); made per operator run (they bind to its loop)."""

    def __init__(self) -> None:
        super().__init__(asyncio.Lock)


def _create_jobs(api: KubeApi, plan: Plan, logger: logging.Logger | logging.LoggerAdapter[Any]) -> None:
    if not plan.create or plan.spec is None:  # only plans with a valid spec create Jobs
        return
    for index in plan.create:
        outcome = api.create_or_adopt_job(build_worker_job(plan.owner, plan.spec, index), plan.owner)
        if outcome != "existing":
            logger.info(f"worker {index}: Job {outcome}")


def _apply(
    api: KubeApi,
    plan: Plan,
    previous_status: dict[str, Any],
    now: datetime,
    logger: logging.Logger | logging.LoggerAdapter[Any],
) -> Plan:
    """Blocking: create/delete Jobs, then write the status if it changed."""
    try:
        _create_jobs(api, plan, logger)
    except Exception as error:
        if not is_invalid_request(error):
            raise
        plan = fail_plan(plan, REASON_INVALID_SPEC, f"the API rejected a worker Job: {describe(error)}", now)
    for name in plan.delete:
        if api.delete_job(plan.owner.namespace, name):
            logger.info(f"deleted Job {name} ({plan.phase})")
    if status_differs(previous_status, plan.status):
        api.patch_parallel_job_status(plan.owner.namespace, plan.owner.name, plan.status)
    return plan


def _post_events(body: dict[str, Any], plan: Plan) -> None:
    for event_type, reason, message in plan.events:
        kopf.event(kopf.Body(cast(kopf.RawBody, body)), type=event_type, reason=reason, message=message)


async def reconcile(
    api: KubeApi,
    namespace: str,
    name: str,
    jobs: Iterable[JobObservation],
    pods: Iterable[PodObservation],
    *,
    locks: ReconcileLocks,
    retry: int = 0,
    logger: logging.Logger | logging.LoggerAdapter[Any],
    clock: Callable[[], datetime] = utc_now,
) -> Plan | None:
    """Reconcile one ParallelJob; None if it no longer exists.
    Retryable API failures raise kopf.TemporaryError with an exponential delay."""
    key = (namespace, name)
    async with locks[key]:
        try:
            body = await asyncio.to_thread(api.read_parallel_job, namespace, name)
            if body is None or (body.get("metadata") or {}).get("deletionTimestamp"):
                locks.pop(key, None)
                return None
            now = clock()
            plan = plan_reconciliation(body, list(jobs), list(pods), now)
            plan = await asyncio.to_thread(_apply, api, plan, dict(body.get("status") or {}), now, logger)
        except ForeignJobError as error:
            raise kopf.TemporaryError(str(error), delay=backoff_seconds(retry)) from error
        except Exception as error:
            if is_retryable(error):
                raise kopf.TemporaryError(describe(error), delay=backoff_seconds(retry)) from error
            raise
    _post_events(body, plan)
    return plan
