"""The example operator's plugin: a Flyte task on N workers as a ParallelJob.

This is the worked example of an operator plugin (see docs/writing-a-plugin.md): it
states the resource, builds the object from the task's custom config and container, and
reads a phase, a progress message and the worker pods from the object's status.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flyteidl.core.execution_pb2 import TaskExecution

from flyte_k8s_operator.v1.parallel_job_pb2 import ParallelJob, RestartPolicy, SuccessPolicy
from flytekitplugins.k8s_operator.constants import (
    EXCHANGE_PREFIX_ENV,
    PARALLEL_JOB_TASK_TYPE,
    PARALLEL_JOB_TASK_TYPE_VERSION,
)
from k8s_operator_connector.custom_config import check_range, parse_custom
from k8s_operator_connector.kube_api import ResourceType
from k8s_operator_connector.operator_plugin import (
    BuiltObject,
    InvalidTaskError,
    Observation,
    OperatorPlugin,
    TaskRequest,
)
from k8s_operator_connector.plugin_registry import register
from k8s_operator_connector.pod_template import worker_pod_template
from k8s_operator_connector.settings import ConnectorSettings

PARALLEL_JOB = ResourceType("workloads.example.com", "v1alpha1", "paralleljobs", "ParallelJob")
# The operator runs (and sets WORKER_INDEX in) the container of this name; see docs/operator.md.
WORKER_CONTAINER = "worker"
MAX_WORKERS = 1000
MAX_RESTARTS = 100
_RESTART_POLICIES = {
    RestartPolicy.RESTART_POLICY_UNSPECIFIED: "Never",
    RestartPolicy.RESTART_POLICY_NEVER: "Never",
    RestartPolicy.RESTART_POLICY_ON_FAILURE: "OnFailure",
}
_SUCCESS_POLICIES = {
    SuccessPolicy.SUCCESS_POLICY_UNSPECIFIED: "AllWorkers",
    SuccessPolicy.SUCCESS_POLICY_ALL_WORKERS: "AllWorkers",
    SuccessPolicy.SUCCESS_POLICY_ANY_WORKER: "AnyWorker",
}
# Failures a new attempt cannot fix: the spec itself is wrong.
_PERMANENT_REASONS = frozenset({"InvalidSpec"})


def parse_parallel_job(custom: Mapping[str, Any] | None) -> ParallelJob:
    """The task's custom as the proto message; InvalidTaskError names the bad field."""
    config = parse_custom(custom, ParallelJob)
    check_range(config, "workers", 1, MAX_WORKERS)
    check_range(config, "max_restarts", 0, MAX_RESTARTS)
    if config.timeout_seconds < 0:
        raise InvalidTaskError("custom.timeout_seconds", f"must be >= 0 (0: no limit), got {config.timeout_seconds}")
    if config.restart_policy not in _RESTART_POLICIES:
        raise InvalidTaskError("custom.restart_policy", f"unknown value {config.restart_policy}")
    if config.success_policy not in _SUCCESS_POLICIES:
        raise InvalidTaskError("custom.success_policy", f"unknown value {config.success_policy}")
    return config


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _count(value: Any) -> int:
    """An integer status field; 0 when it is missing or not an integer (observe must not raise)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _listed_workers(status: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """``status.workers`` by index; entries that are not objects are left out."""
    workers = status.get("workers")
    entries = [entry for entry in workers if isinstance(entry, Mapping)] if isinstance(workers, list) else []
    return sorted(entries, key=lambda entry: _count(entry.get("index")))


def _workers_never_started(workers: list[Mapping[str, Any]]) -> list[int]:
    """Indexes of the listed workers that have had no pod yet (no name, no restart, still pending)."""
    unstarted = []
    for entry in workers:
        if not isinstance(entry.get("index"), int):
            continue
        if not entry.get("pod") and not entry.get("restarts") and entry.get("phase") in (None, "", "Pending"):
            unstarted.append(entry["index"])
    return sorted(unstarted)


def _primary_container(spec: Mapping[str, Any]) -> str:
    """The name of the worker pods' first container (the task's), "" when the spec has none."""
    template = spec.get("template")
    pod_spec = template.get("spec") if isinstance(template, Mapping) else None
    containers = pod_spec.get("containers") if isinstance(pod_spec, Mapping) else None
    first = containers[0] if isinstance(containers, list) and containers else None
    return str(first.get("name") or "") if isinstance(first, Mapping) else ""


class ParallelJobPlugin(OperatorPlugin):
    task_type = PARALLEL_JOB_TASK_TYPE
    task_type_version = PARALLEL_JOB_TASK_TYPE_VERSION
    # The operator names worker Jobs "<name>-w<index>", and Job names end up in pod labels (<= 63).
    max_name_length = 52

    def build_object(self, request: TaskRequest) -> BuiltObject:
        config = parse_parallel_job(request.template.custom)
        outputs = request.template.interface.outputs if request.template.interface else {}
        if config.success_policy == SuccessPolicy.SUCCESS_POLICY_ANY_WORKER and outputs:
            raise InvalidTaskError(
                "custom.success_policy",
                "ANY_WORKER needs a task without outputs: only worker 0 writes the task's outputs, "
                "and with ANY_WORKER the job may succeed before worker 0 finishes",
            )
        # The SDK's share()/gather() pass values between workers under this prefix.
        exchange = f"{request.output_prefix.rstrip('/')}/exchange"
        worker_resources = None
        if config.HasField("worker_resources"):
            worker_resources = {
                kind: dict(values)
                for kind, values in (
                    ("requests", config.worker_resources.requests),
                    ("limits", config.worker_resources.limits),
                )
                if values
            }
        template = worker_pod_template(request, {EXCHANGE_PREFIX_ENV: exchange}, WORKER_CONTAINER, worker_resources)
        restart_policy = _RESTART_POLICIES[config.restart_policy]
        template["spec"]["restartPolicy"] = restart_policy
        spec: dict[str, Any] = {
            "workers": config.workers,
            "restartPolicy": restart_policy,
            "maxRestarts": config.max_restarts,
            "successPolicy": _SUCCESS_POLICIES[config.success_policy],
            "template": template,
        }
        if config.timeout_seconds:
            spec["activeDeadlineSeconds"] = config.timeout_seconds
        manifest = {"apiVersion": PARALLEL_JOB.api_version, "kind": PARALLEL_JOB.kind, "spec": spec}
        return BuiltObject(PARALLEL_JOB, manifest)

    def observe(self, obj: Mapping[str, Any]) -> Observation:
        spec, status = _mapping(obj.get("spec")), _mapping(obj.get("status"))
        workers = _count(spec.get("workers"))
        counts = _mapping(status.get("workerCounts"))
        running, pending = _count(counts.get("running")), _count(counts.get("pending"))
        succeeded, failed = _count(counts.get("succeeded")), _count(counts.get("failed"))
        listed = _listed_workers(status)
        pods = tuple(str(worker.get("pod") or "") for worker in listed)
        info = {"workers": workers, "running": running, "pending": pending, "succeeded": succeeded, "failed": failed}
        container = _primary_container(spec)

        def seen(flyte_phase: int, message: str) -> Observation:
            return Observation.of(flyte_phase, message, pods, container=container, **info)

        phase = status.get("phase") or ""
        message = str(status.get("message") or "")
        if phase == "Succeeded":
            return seen(TaskExecution.SUCCEEDED, message or f"{succeeded}/{workers} workers succeeded")
        if phase == "Failed":
            reason = str(status.get("reason") or "Failed")
            flyte_phase = TaskExecution.FAILED if reason in _PERMANENT_REASONS else TaskExecution.RETRYABLE_FAILED
            return seen(flyte_phase, f"{reason}: {message}" if message else reason)
        if phase == "Running":
            unstarted = _workers_never_started(listed)
            if unstarted:
                # Not RUNNING yet: propeller records RUNNING once, and its event should carry every
                # worker's log link (docs/connector.md, "What the Flyte console shows when").
                shown = ", ".join(str(index) for index in unstarted[:5]) + (", ..." if len(unstarted) > 5 else "")
                return seen(TaskExecution.INITIALIZING, f"{running}/{workers} workers running; no pod yet for {shown}")
            progress = f"{running}/{workers} workers running, {succeeded} succeeded"
            if failed:
                progress += f", {failed} failed"
            return seen(TaskExecution.RUNNING, progress)
        if phase == "Pending":
            return seen(TaskExecution.INITIALIZING, f"{pending}/{workers} workers pending")
        return seen(TaskExecution.QUEUED, "waiting for the ParallelJob operator")

    def watch_resources(self, settings: ConnectorSettings) -> list[ResourceType]:
        return [PARALLEL_JOB]


register(ParallelJobPlugin())
