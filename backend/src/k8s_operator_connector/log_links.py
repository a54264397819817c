"""Log links from the templates in the settings, filled in per task (and per pod)."""

from __future__ import annotations

from flyteidl.core.execution_pb2 import TaskExecution, TaskLog

from k8s_operator_connector.plugin import PENDING_PHASES, Observation, Phase
from k8s_operator_connector.settings import LogLinkTemplate


def phase_group(phase: Phase) -> str:
    """The name log-link templates use for a phase: pending, running, succeeded or failed."""
    if phase in PENDING_PHASES:
        return "pending"
    if phase == TaskExecution.RUNNING:
        return "running"
    if phase == TaskExecution.SUCCEEDED:
        return "succeeded"
    return "failed"


def render_log_links(
    templates: tuple[LogLinkTemplate, ...],
    observation: Observation,
    namespace: str,
    name: str,
    task_execution_id: str,
    max_links: int,
) -> list[TaskLog]:
    group = phase_group(observation.phase)
    links: list[TaskLog] = []
    for template in templates:
        if group not in template.phases:
            continue
        values = {"namespace": namespace, "name": name, "taskExecutionId": task_execution_id}
        if not template.per_pod:
            links.append(TaskLog(name=template.name, uri=template.template.format(**values)))
            continue
        pods = [pod for pod in observation.pods if pod]
        for index, pod in enumerate(pods[:max_links]):
            uri = template.template.format(**values, podName=pod, workerIndex=index)
            label = f"{template.name} (worker {index})" if len(pods) > 1 else template.name
            links.append(TaskLog(name=label, uri=uri))
    return links
