"""Running one task through the connector as propeller does, watching its object on the cluster."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from flyteidl.admin import agent_pb2
from flyteidl.core.execution_pb2 import TaskExecution
from google.protobuf import json_format

from conformance.suite.context import Fail, Found, Target, TaskTypeRun
from conformance.suite.objects import descendant_pods
from connector_integration.propeller_model import Answer, PropellerModel

TERMINAL = frozenset({TaskExecution.SUCCEEDED, TaskExecution.FAILED, TaskExecution.RETRYABLE_FAILED})
POLL_SECONDS = 0.3
POD_REFRESH_SECONDS = 1.0


def phase_name(phase: int) -> str:
    return str(TaskExecution.Phase.Name(phase))


def describe(resource: agent_pb2.Resource | None) -> str:
    if resource is None:
        return "no answer"
    return f"{phase_name(resource.phase)} {resource.message!r}" if resource.message else phase_name(resource.phase)


def observe_fn(run: TaskTypeRun) -> str:
    """The plugin function that decides the phase, as the author knows it."""
    return "observe()" if run.plugin_mode else f"the {run.task_type} plugin's observe()"


def create(target: Target, request: agent_pb2.CreateTaskRequest) -> bytes:
    """CreateTask twice, as propeller may after a lost answer: both must name the same task."""
    first = target.client.create(request)
    second = target.client.create(request)
    if first != second:
        raise Fail(
            "a repeated CreateTask answered a different resource_meta: create must be idempotent (adopt the object)"
        )
    return first


class TaskWatch:
    """GetTask answers through propeller's model, and the task's object and pods from the cluster."""

    def __init__(self, target: Target, task_type: str, resource_meta: bytes, execution_name: str) -> None:
        self.target = target
        self.execution_name = execution_name
        self.task_type = task_type
        self.found = Found(resource_meta=resource_meta)
        self.model = PropellerModel()
        self.last: agent_pb2.Resource | None = None
        self.phases: list[int] = []
        self._pods_read_at = 0.0

    def get(self) -> agent_pb2.Resource:
        resource = self.target.client.get(self.task_type, self.found.resource_meta)
        custom = json_format.MessageToDict(resource.custom_info)
        self.model.answer(Answer(resource.phase, resource.message, tuple(resource.log_links), custom))
        if not self.phases or self.phases[-1] != resource.phase:
            self.phases.append(resource.phase)
        self.last = resource
        self._read_cluster(custom)
        return resource

    def _read_cluster(self, custom: dict[str, Any]) -> None:
        found = self.found
        if not found.name and custom.get("kind") and custom.get("name"):
            found.kind, found.namespace, found.name = custom["kind"], custom.get("namespace", ""), custom["name"]
        if not found.name:
            return
        obj = self.target.cluster.get(self.target.cluster.resource_of_kind(found.kind), found.namespace, found.name)
        if obj is not None:
            found.obj = obj
        now = time.monotonic()
        if found.obj is not None and now - self._pods_read_at >= POD_REFRESH_SECONDS:
            self._pods_read_at = now
            pods = descendant_pods(self.target.cluster, found.namespace, found.obj["metadata"].get("uid", ""))
            if pods:
                found.pods = pods

    def until(
        self,
        reached: Callable[[agent_pb2.Resource], bool],
        timeout: float,
        check: Callable[[Found], None] | None = None,
    ) -> agent_pb2.Resource | None:
        """Poll GetTask until ``reached``; None after ``timeout`` seconds. ``check`` sees what was
        found on the cluster after every answer (it raises Fail to stop early)."""
        deadline = time.monotonic() + timeout
        while True:
            resource = self.get()
            if check is not None:
                check(self.found)
            if reached(resource):
                return resource
            if resource.phase in TERMINAL or time.monotonic() >= deadline:
                return None
            time.sleep(POLL_SECONDS)

    def history(self) -> str:
        return " -> ".join(phase_name(phase) for phase in self.phases)


def run_to_terminal(
    target: Target,
    run: TaskTypeRun,
    request: agent_pb2.CreateTaskRequest,
    name: str,
    check: Callable[[Found], None] | None = None,
) -> TaskWatch:
    """Create the task and follow it until a terminal phase; Fail if it never gets there."""
    watch = TaskWatch(target, run.task_type, create(target, request), name)
    if watch.until(lambda resource: resource.phase in TERMINAL, target.timeout, check) is None:
        raise Fail(
            f"{observe_fn(run)} never returned a terminal phase within {target.timeout:.0f} s; "
            f"last: {describe(watch.last)} (phases: {watch.history()})"
        )
    watch.found.phase = watch.last.phase if watch.last else 0
    watch.found.finished_at = time.monotonic()
    return watch
