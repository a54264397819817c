"""What an operator plugin states, and what the machinery hands it.

A plugin names its resource, builds the object for a task, and reads a compact
:class:`Observation` from the live object. Everything else (names, metadata, idempotent
create, the watch cache, abort, cleanup, error mapping, log links) is the machinery's.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flyteidl.core.execution_pb2 import TaskExecution
from flytekit.models.literals import LiteralMap
from flytekit.models.task import TaskTemplate

from k8s_operator_connector.kube_api import ResourceType
from k8s_operator_connector.settings import ConnectorSettings
from k8s_operator_connector.task_context import TaskContext

Phase = int  # a flyteidl TaskExecution.Phase value

PENDING_PHASES = frozenset({TaskExecution.QUEUED, TaskExecution.INITIALIZING, TaskExecution.WAITING_FOR_RESOURCES})
TERMINAL_PHASES = frozenset({TaskExecution.SUCCEEDED, TaskExecution.FAILED, TaskExecution.RETRYABLE_FAILED})
MAX_MESSAGE_LENGTH = 512


class InvalidTaskError(ValueError):
    """The task cannot become an object; the message names the field and what is allowed."""

    def __init__(self, field_name: str, problem: str) -> None:
        super().__init__(f"{field_name}: {problem}")
        self.field_name = field_name


@dataclass(frozen=True, slots=True)
class Observation:
    """All the connector keeps about one live object: what GetTask needs and no more."""

    phase: Phase
    message: str = ""
    # Pod names per worker, for per-pod log links (bounded by the plugin).
    pods: tuple[str, ...] = ()
    # Small facts shown as the task's custom info, e.g. worker counts.
    info: tuple[tuple[str, Any], ...] = ()
    # The worker pods' primary container, for log links ({{ .containerName }}).
    container: str = ""
    # When the object was created (Unix seconds; 0: unknown); the machinery fills it in.
    created_at: float = 0.0
    # From `until` (Unix seconds; 0: never) on, `later` holds instead: a deadline the object itself
    # will announce by no change, e.g. a grace period for a condition path that does not exist.
    until: float = 0.0
    later: Observation | None = None
    # The task's outputs, for a SUCCEEDED observation of a plugin that reads them from the object.
    outputs: LiteralMap | None = None

    @property
    def terminal(self) -> bool:
        return self.phase in TERMINAL_PHASES

    def at(self, now: float) -> Observation:
        """This observation at time ``now``: ``later`` once ``until`` has passed."""
        if self.later is None or not self.until or now < self.until:
            return self
        return dataclasses.replace(self.later, created_at=self.created_at)

    @staticmethod
    def of(
        phase: Phase, message: str = "", pods: tuple[str, ...] = (), *, container: str = "", **info: Any
    ) -> Observation:
        return Observation.with_info(phase, message, pods, info, container)

    @staticmethod
    def with_info(
        phase: Phase, message: str, pods: tuple[str, ...], info: Mapping[str, Any], container: str = ""
    ) -> Observation:
        """An observation with ``info`` from a mapping (any key, even ``phase``) and the message cut."""
        return Observation(phase, message[:MAX_MESSAGE_LENGTH], pods, tuple(sorted(info.items())), container)


@dataclass(frozen=True)
class TaskRequest:
    """One CreateTask, as the plugin sees it."""

    template: TaskTemplate
    inputs: LiteralMap | None
    output_prefix: str
    context: TaskContext
    settings: ConnectorSettings


@dataclass(frozen=True)
class BuiltObject:
    """The object a plugin wants created (the machinery sets name, namespace, labels)."""

    resource: ResourceType
    manifest: dict[str, Any]
    # Extra facts the machinery keeps in the resource meta (e.g. the generic plugin's kind).
    meta_extras: Mapping[str, str] = field(default_factory=dict)


class OperatorPlugin(ABC):
    """Subclass this to drive an operator's custom resource from Flyte."""

    #: The Flyte task type this plugin serves, and the custom schema version it accepts.
    task_type: str
    task_type_version: int = 1
    #: Object names are cut to this length; leave room for what the operator appends.
    max_name_length: int = 63

    @abstractmethod
    def build_object(self, request: TaskRequest) -> BuiltObject:
        """The object for this task: raise InvalidTaskError for a custom that cannot work."""

    @abstractmethod
    def observe(self, obj: Mapping[str, Any]) -> Observation:
        """Read the phase (and message, pods, info) from a live object. Must not raise."""

    def watch_resources(self, settings: ConnectorSettings) -> list[ResourceType]:
        """Resources to watch from start-up (so restarts and cleanup see old objects). They are
        also the only resource types GetTask and DeleteTask act on for this task type."""
        return []
