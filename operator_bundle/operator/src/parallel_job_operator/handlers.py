"""The Kopf handlers: thin triggers around `controller.reconcile`.

A ParallelJob is reconciled when it is created or the operator starts (with Kopf's
retries), whenever one of its Jobs or pods changes (best effort), and by a periodic
timer while it is unfinished (which also enforces activeDeadlineSeconds and retries
whatever a best-effort trigger could not finish). The handlers go into their own
`REGISTRY` (not Kopf's global default, which test plugins may swap); `python -m
parallel_job_operator` runs Kopf with it.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping
from typing import Any

import kopf

from parallel_job_operator.constants import (
    FINALIZER,
    GROUP,
    KOPF_ANNOTATION_PREFIX,
    PARALLEL_JOB_LABEL,
    PLURAL,
    TERMINAL_PHASES,
    VERSION,
)
from parallel_job_operator.controller import ReconcileLocks, reconcile
from parallel_job_operator.kube_api import (
    ClientConfigurationError,
    KubeApi,
    connection_info,
    load_client_configuration,
)
from parallel_job_operator.observations import observe_job, observe_pod, parallel_job_of

RESYNC_SECONDS_ENV = "PARALLEL_JOB_OPERATOR_RESYNC_SECONDS"
RESYNC_SECONDS = float(os.environ.get(RESYNC_SECONDS_ENV) or 10.0)
_WORKER_SELECTOR: Mapping[str, Any] = {PARALLEL_JOB_LABEL: kopf.PRESENT}
REGISTRY = kopf.OperatorRegistry()


@kopf.on.startup(registry=REGISTRY)
def configure(*, settings: kopf.OperatorSettings, memo: Any, **_: Any) -> None:
    # The CRD's status schema is structural: keep Kopf's bookkeeping in annotations.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=KOPF_ANNOTATION_PREFIX)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=KOPF_ANNOTATION_PREFIX, key="last-handled-configuration"
    )
    settings.persistence.finalizer = FINALIZER
    # Transitions are posted as events by the controller; Kopf's own logs only when they warn.
    settings.posting.level = logging.WARNING
    try:
        load_client_configuration()
    except ClientConfigurationError as error:
        raise kopf.PermanentError(str(error)) from error  # stops the operator: nothing to retry
    memo["api"] = KubeApi()
    # Per-run state bound to this event loop: locks and pending deadline checks (wake-ups
    # only; every decision is re-made from observed state).
    memo["locks"] = ReconcileLocks()
    memo["deadline_checks"] = {}
    memo["deadline_tasks"] = set()


Logger = logging.Logger | logging.LoggerAdapter[Any]
WorkerIndex = kopf.Index[tuple[str, str], Any]


@kopf.on.login(registry=REGISTRY)
def login(**_: Any) -> kopf.ConnectionInfo:
    try:
        info: kopf.ConnectionInfo = connection_info()
        return info
    except ClientConfigurationError as error:
        raise kopf.PermanentError(str(error)) from error


@kopf.index("batch", "v1", "jobs", labels=_WORKER_SELECTOR, registry=REGISTRY)
def worker_jobs(*, namespace: str | None, meta: kopf.Meta, body: kopf.Body, **_: Any) -> dict[Any, Any] | None:
    observation = observe_job(body)
    return {(namespace, parallel_job_of(meta)): observation} if observation else None


@kopf.index("v1", "pods", labels=_WORKER_SELECTOR, registry=REGISTRY)
def worker_pods(*, namespace: str | None, meta: kopf.Meta, body: kopf.Body, **_: Any) -> dict[Any, Any] | None:
    observation = observe_pod(body)
    return {(namespace, parallel_job_of(meta)): observation} if observation else None


def _is_unfinished(*, status: kopf.Status, **_: Any) -> bool:
    return status.get("phase") not in TERMINAL_PHASES


async def _reconcile(memo: Any, key: tuple[str, str], indexes: Mapping[str, Any], retry: int, logger: Logger) -> None:
    jobs: WorkerIndex = indexes["worker_jobs"]
    pods: WorkerIndex = indexes["worker_pods"]
    plan = await reconcile(
        memo["api"], *key, jobs.get(key, []), pods.get(key, []), locks=memo["locks"], retry=retry, logger=logger
    )
    if plan is not None and plan.requeue_after is not None and plan.requeue_after < RESYNC_SECONDS:
        _schedule_deadline_check(memo, key, indexes, plan.requeue_after, logger)


def _schedule_deadline_check(
    memo: Any, key: tuple[str, str], indexes: Mapping[str, Any], delay: float, logger: Logger
) -> None:
    """Reconcile again right when the deadline passes, rather than at the next resync."""
    checks: dict[tuple[str, str], asyncio.TimerHandle] = memo["deadline_checks"]
    tasks: set[asyncio.Future[None]] = memo["deadline_tasks"]
    if key in checks:
        return

    def fire() -> None:
        del checks[key]
        task = asyncio.ensure_future(_reconcile(memo, key, indexes, 0, logger))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    checks[key] = asyncio.get_running_loop().call_later(max(delay, 0.0) + 0.05, fire)


@kopf.on.resume(GROUP, VERSION, PLURAL, registry=REGISTRY)
@kopf.on.create(GROUP, VERSION, PLURAL, registry=REGISTRY)
async def parallel_job_created(
    *, namespace: str | None, name: str, retry: int, memo: Any, logger: Logger, **indexes: Any
) -> None:
    await _reconcile(memo, (namespace or "", name), indexes, retry, logger)


@kopf.timer(GROUP, VERSION, PLURAL, interval=RESYNC_SECONDS, when=_is_unfinished, registry=REGISTRY)
async def parallel_job_resync(*, namespace: str | None, name: str, memo: Any, logger: Logger, **indexes: Any) -> None:
    await _reconcile(memo, (namespace or "", name), indexes, 0, logger)


async def _worker_changed(
    namespace: str | None, meta: kopf.Meta, memo: Any, logger: Logger, indexes: Mapping[str, Any]
) -> None:
    name = parallel_job_of(meta)
    if not name or "api" not in memo:
        return
    try:
        await _reconcile(memo, (namespace or "", name), indexes, 0, logger)
    except kopf.TemporaryError as error:
        # Event handlers are not retried; the resync timer picks this up.
        logger.warning(f"reconciling ParallelJob {namespace}/{name} deferred: {error}")


@kopf.on.event("batch", "v1", "jobs", labels=_WORKER_SELECTOR, registry=REGISTRY)
async def worker_job_changed(
    *, namespace: str | None, meta: kopf.Meta, memo: Any, logger: Logger, **indexes: Any
) -> None:
    await _worker_changed(namespace, meta, memo, logger, indexes)


@kopf.on.event("v1", "pods", labels=_WORKER_SELECTOR, registry=REGISTRY)
async def worker_pod_changed(
    *, namespace: str | None, meta: kopf.Meta, memo: Any, logger: Logger, **indexes: Any
) -> None:
    await _worker_changed(namespace, meta, memo, logger, indexes)
