"""What the Flyte console gets from a sequence of GetTask answers: a model of propeller and flyteadmin.

Written from flyteorg/flyte v1.16.8 (commit 51877f899c9f95e0cb5efe90444eb0c6c6ea48a9); each
step cites the lines it follows. Only what decides the console's view is modelled:

1. propeller's connector plugin turns an answer into a PhaseInfo
   (flyteplugins/go/tasks/plugins/webapi/connector/plugin.go, ``Status``, lines 307-337):
   every phase gets ``DefaultPhaseVersion`` (0); QUEUED, WAITING_FOR_RESOURCES and
   INITIALIZING carry the answer's message as the reason; RUNNING drops the message;
   SUCCEEDED has no reason; FAILED and RETRYABLE_FAILED become an error
   "failed to run the job: <message>"; log links and custom info ride along on all of them.
2. Before the first answer, the webapi machinery reports QUEUED version 2, reason "launched"
   (pluginmachinery/internal/webapi/launcher.go, lines 38-54), and while its cache has no
   answer yet, QUEUED with the same version, "job submitted" (monitor.go, lines 32-43).
3. propeller records an event only when the phase or the phase version differs from the last
   one (flytepropeller/pkg/controller/nodes/task/handler.go, lines 565-570), built by
   ``ToTaskExecutionEvent`` (transformer.go, lines 90-201; phases mapped by
   ``ToTaskEventPhase``, lines 31-56: a retryable failure is reported as FAILED).
4. flyteadmin refuses an event of the stored phase whose version is not higher, and any event
   after a terminal one (flyteadmin/pkg/manager/impl/task_execution_manager.go, lines 169-185;
   propeller ignores both refusals: pkg/controller/nodes/node_exec_context.go, lines 36-52).
   Accepted events update what the console shows (repositories/transformers/task_execution.go,
   ``UpdateTaskExecutionModel``, lines 406-470): the reason, log links merged with earlier ones
   (``mergeLogs``, lines 224-254) and filtered by phase (``filterLogsByPhase``, lines 387-404).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flyteidl.core.execution_pb2 import TaskExecution, TaskLog

DEFAULT_PHASE_VERSION = 0
LAUNCHED_PHASE_VERSION = 2
TERMINAL = frozenset({TaskExecution.SUCCEEDED, TaskExecution.FAILED, TaskExecution.ABORTED})
PENDING_FOR_LOGS = frozenset({TaskExecution.QUEUED, TaskExecution.INITIALIZING})


@dataclass(frozen=True)
class Answer:
    """One GetTask answer, as propeller's connector plugin reads it (plugin.go ``Get``, lines 271-278)."""

    phase: int
    message: str = ""
    log_links: tuple[TaskLog, ...] = ()
    custom_info: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, resource: Any) -> Answer:
        """From a flytekit ``Resource`` (what the connector returns)."""
        return cls(
            resource.phase, resource.message or "", tuple(resource.log_links or ()), dict(resource.custom_info or {})
        )


@dataclass(frozen=True)
class PhaseInfo:
    """pluginmachinery/core/phase.go ``PhaseInfo``, as an event phase (ToTaskEventPhase)."""

    phase: int
    version: int
    reason: str = ""
    error: str = ""
    logs: tuple[TaskLog, ...] = ()
    custom_info: Mapping[str, Any] = field(default_factory=dict)


def status(answer: Answer) -> PhaseInfo:
    """plugin.go ``Status`` (lines 307-337), with the phase as ``ToTaskEventPhase`` reports it."""
    logs, custom = answer.log_links, answer.custom_info
    phase = answer.phase
    if phase in (TaskExecution.QUEUED, TaskExecution.WAITING_FOR_RESOURCES, TaskExecution.INITIALIZING):
        return PhaseInfo(phase, DEFAULT_PHASE_VERSION, reason=answer.message, logs=logs, custom_info=custom)
    if phase in (TaskExecution.RUNNING, TaskExecution.SUCCEEDED):
        return PhaseInfo(phase, DEFAULT_PHASE_VERSION, logs=logs, custom_info=custom)
    if phase in (TaskExecution.ABORTED, TaskExecution.FAILED, TaskExecution.RETRYABLE_FAILED):
        error = (
            "failed to run the job with aborted phase."
            if phase == TaskExecution.ABORTED
            else f"failed to run the job: {answer.message}"
        )
        return PhaseInfo(TaskExecution.FAILED, DEFAULT_PHASE_VERSION, error=error, logs=logs, custom_info=custom)
    raise ValueError(f"unknown execution phase [{phase}]: propeller reports a system error")


@dataclass(frozen=True)
class Event:
    """The parts of an event.TaskExecutionEvent the console uses."""

    phase: int
    version: int
    reason: str
    error: str
    logs: tuple[TaskLog, ...]
    custom_info: Mapping[str, Any]

    @property
    def phase_name(self) -> str:
        return TaskExecution.Phase.Name(self.phase)

    @property
    def log_names(self) -> list[str]:
        return [log.name for log in self.logs]


@dataclass
class ConsoleView:
    """flyteadmin's TaskExecutionClosure: what the console shows for the task attempt."""

    phase: int = TaskExecution.UNDEFINED
    version: int = 0
    reason: str = ""
    reasons: list[str] = field(default_factory=list)
    error: str = ""
    logs: list[TaskLog] = field(default_factory=list)
    custom_info: dict[str, Any] = field(default_factory=dict)


def merge_logs(existing: list[TaskLog], latest: Iterable[TaskLog]) -> list[TaskLog]:
    """transformers/task_execution.go ``mergeLogs`` (lines 224-254)."""
    latest = list(latest)
    if not latest:
        return existing
    uris = {log.uri for log in latest}
    names = {log.name for log in latest if log.name}
    return latest + [log for log in existing if log.uri not in uris and log.name not in names]


def filter_logs_by_phase(logs: list[TaskLog], phase: int) -> list[TaskLog]:
    """transformers/task_execution.go ``filterLogsByPhase`` (lines 387-404)."""
    kept = []
    for log in logs:
        if phase in TERMINAL and log.HideOnceFinished:
            continue
        if phase in PENDING_FOR_LOGS and not log.ShowWhilePending:
            continue
        kept.append(log)
    return kept


class PropellerModel:
    """Feed it GetTask answers in order; it keeps the events propeller sends and what the console shows."""

    def __init__(self) -> None:
        self.emitted: list[Event] = []  # every event propeller sends to flyteadmin
        self.recorded: list[Event] = []  # the ones flyteadmin accepts
        self.console = ConsoleView()
        self._last: tuple[int, int] | None = None
        self._transition(PhaseInfo(TaskExecution.QUEUED, LAUNCHED_PHASE_VERSION, reason="launched"))

    def not_synced_yet(self) -> None:
        """A round before the webapi cache has an answer (monitor.go, lines 32-43)."""
        self._transition(PhaseInfo(TaskExecution.QUEUED, LAUNCHED_PHASE_VERSION, reason="job submitted"))

    def answer(self, answer: Answer) -> None:
        self._transition(status(answer))

    def run(self, answers: Iterable[Answer]) -> list[Event]:
        for answer in answers:
            self.answer(answer)
        return self.recorded

    def _transition(self, info: PhaseInfo) -> None:
        if self._last == (info.phase, info.version):
            return  # handler.go 565-570: "p+Version previously seen .. no event will be sent"
        self._last = (info.phase, info.version)
        event = Event(info.phase, info.version, info.reason, info.error, info.logs, dict(info.custom_info))
        self.emitted.append(event)
        self._record(event)

    def _record(self, event: Event) -> None:
        view = self.console
        if view.phase == event.phase and view.version >= event.version:
            return  # task_execution_manager.go 169-176: AlreadyExists
        if view.phase in TERMINAL:
            return  # task_execution_manager.go 178-185: already in a terminal state
        self.recorded.append(event)
        view.phase, view.version = event.phase, event.version
        view.logs = filter_logs_by_phase(merge_logs(view.logs, event.logs), event.phase)
        if event.reason:  # propeller fills event.reasons; flyteadmin appends them all (lines 433-442)
            view.reasons.append(event.reason)
            view.reason = event.reason
        view.error = event.error or view.error
        # mergeCustom (lines 256-290) is a JSON merge patch; the connector's custom info is flat.
        view.custom_info = {**view.custom_info, **event.custom_info}
