"""Log links from the templates in the settings, filled in per task (and per pod).

Templates use Flyte's syntax and variable names (see ``log_template``). Each link also
carries Flyte's display flags, because flyteadmin filters a task's links by them
(flyteadmin/pkg/repositories/transformers/task_execution.go, ``filterLogsByPhase``):
links without ``show_while_pending`` are dropped from QUEUED and INITIALIZING events, and
links from earlier events are kept after the task finishes unless ``hide_once_finished``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from flyteidl.core.execution_pb2 import TaskExecution, TaskLog

from k8s_operator_connector.kube_api import rfc3339
from k8s_operator_connector.operator_plugin import PENDING_PHASES, Observation, Phase
from k8s_operator_connector.settings import LogLinkTemplate


@dataclass(frozen=True)
class LinkSubject:
    """What the link variables describe besides the observation: the task and its object."""

    namespace: str
    object_name: str
    #: "project/domain/execution/node/attempt", as the machinery writes it (local runs differ).
    task_execution_id: str = ""
    #: "project/domain/name/version" of the task ("" when unknown).
    task_id: str = ""


def phase_group(phase: Phase) -> str:
    """The name log-link templates use for a phase: pending, running, succeeded or failed."""
    if phase in PENDING_PHASES:
        return "pending"
    if phase == TaskExecution.RUNNING:
        return "running"
    if phase == TaskExecution.SUCCEEDED:
        return "succeeded"
    return "failed"


def task_values(subject: LinkSubject, observation: Observation, now: float) -> dict[str, str]:
    """Values of the task-wide variables, keyed by lower-cased name; unknown ones are empty."""
    values = {
        "namespace": subject.namespace,
        "objectname": subject.object_name,
        "containername": observation.container,
    }
    execution = subject.task_execution_id.split("/")
    if len(execution) == 5 and execution[4].isdigit():
        for key, value in zip(
            ("executionproject", "executiondomain", "executionname", "nodeid"), execution, strict=False
        ):
            values[key] = value
        values["taskretryattempt"] = execution[4]
    task = subject.task_id.split("/", 3)
    if len(task) == 4:
        for key, value in zip(("taskproject", "taskdomain", "taskid", "taskversion"), task, strict=False):
            values[key] = value
    finish = int(now)
    values["podunixfinishtime"] = str(finish)
    values["podrfc3339finishtime"] = rfc3339(finish)
    if observation.created_at:
        start = int(observation.created_at)
        values["podunixstarttime"] = str(start)
        values["podrfc3339starttime"] = rfc3339(start)
    return values


def _link(template: LogLinkTemplate, name: str, values: Mapping[str, str]) -> TaskLog:
    terminal = {"succeeded", "failed"}
    return TaskLog(
        name=name,
        uri=template.parsed.render(values),
        ShowWhilePending="pending" in template.phases,
        HideOnceFinished=not terminal & set(template.phases),
    )


def render_log_links(
    templates: tuple[LogLinkTemplate, ...],
    observation: Observation,
    subject: LinkSubject,
    max_links: int,
    now: float,
) -> list[TaskLog]:
    """The links for one GetTask answer: templates of this phase, per-pod ones once per pod."""
    group = phase_group(observation.phase)
    values = task_values(subject, observation, now)
    links: list[TaskLog] = []
    for template in templates:
        if group not in template.phases:
            continue
        if not template.per_pod:
            links.append(_link(template, template.name, values))
            continue
        pods = [(index, pod) for index, pod in enumerate(observation.pods) if pod]
        for index, pod in pods[:max_links]:
            label = f"{template.name} (worker {index})" if len(pods) > 1 else template.name
            links.append(_link(template, label, {**values, "podname": pod, "workerindex": str(index)}))
    return links
