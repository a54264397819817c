"""The base of a task whose Python function an operator runs: a config, a task type, one line each.

A plugin's SDK module (what ``./pants run build-support:new-plugin`` writes) is a frozen config
dataclass with ``to_proto()`` and::

    class JobSetTask(OperatorTask[JobSet]):
        config_type = JobSet
        task_type_name = "job_set"

    TaskPlugins.register_pythontask_plugin(JobSet, JobSetTask)

The base writes the config's proto into ``TaskTemplate.custom``, carries this package's
local-run executor (waiting, cleaning up, and Ctrl-C deleting the object: see
:mod:`.local_executor`), and refuses a ``map_task`` over the task, which Flyte cannot run.
``ParallelJobTask`` is one too.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from flytekit import FlyteContext, FlyteContextManager
from flytekit.configuration import SerializationSettings
from flytekit.core.array_node_map_task import ArrayNodeMapTask
from flytekit.core.python_function_task import PythonFunctionTask
from flytekit.core.type_engine import TypeEngine
from flytekit.models.literals import LiteralMap
from google.protobuf import json_format
from google.protobuf.message import Message

from flytekitplugins.k8s_operator.constants import LOCAL_MODE_ENV, LOCAL_MODE_FUNCTION
from flytekitplugins.k8s_operator.local_executor import (
    LocalConnectorExecutor,
    is_local_execution,
    local_mode,
    run_with_connector,
)

__all__ = ["OperatorTask", "TaskConfig"]

#: Why a task run by an operator through the connector cannot be the target of ``map_task``.
MAP_TASK_REFUSAL = (
    "map_task over a {kind} task cannot run on Flyte: propeller's ArrayNode keeps only a k8s plugin's "
    "state for each mapped item (flyteorg/flyte v1.16.8 flytepropeller/pkg/controller/nodes/array/handler.go: "
    "'currently just mocking based on node phase -> which works for all k8s plugins'), so the connector "
    "could not follow the {kind} it created. {instead}"
)
#: Set while flytekit's ``dispatch_execute`` runs the task (it wants the connector's LiteralMap as is).
_DISPATCHING: contextvars.ContextVar[bool] = contextvars.ContextVar("operator_task_dispatching", default=False)


class TaskConfig(Protocol):
    """What a plugin's task config offers: its ``TaskTemplate.custom`` as a proto message."""

    def to_proto(self) -> Message: ...


C = TypeVar("C", bound=TaskConfig)


class OperatorTask(LocalConnectorExecutor, PythonFunctionTask[C], Generic[C]):
    """A Python function run by an operator; ``@task(task_config=Config(...))`` creates it.

    In the operator's pod it runs the function like any Python task; in a local execution it
    goes through the connector, unless ``FLYTE_K8S_OPERATOR_LOCAL_MODE=function`` runs it in-process.
    """

    #: The config class ``@task(task_config=...)`` takes, and the task type it is served as.
    config_type: ClassVar[type]
    task_type_name: ClassVar[str]
    #: The version of the custom's schema; the connector's plugin serves exactly this one.
    task_type_version_number: ClassVar[int] = 1
    #: What to do instead of a ``map_task`` over this task (the end of the refusal's message).
    map_task_alternative: ClassVar[str] = "Loop in a @dynamic workflow instead"

    def __init__(self, task_config: C, task_function: Callable[..., Any], **kwargs: Any) -> None:
        if not isinstance(task_config, self.config_type):
            raise TypeError(f"task_config must be a {self.config_type.__name__}, got {type(task_config).__name__}")
        super().__init__(
            task_config=task_config,
            task_function=task_function,
            task_type=self.task_type_name,
            task_type_version=self.task_type_version_number,
            **kwargs,
        )

    def get_custom(self, settings: SerializationSettings) -> dict[str, Any]:
        """``TaskTemplate.custom``: the config's proto message as a dict."""
        return json_format.MessageToDict(self.task_config.to_proto())

    def set_command_fn(self, get_command_fn: Callable[[SerializationSettings], list[str]] | None = None) -> None:
        """Refuses to be serialized inside a ``map_task`` (flytekit's ``ArrayNodeMapTask`` sets its own
        command here while it serializes its target), which Flyte cannot run; see :data:`MAP_TASK_REFUSAL`."""
        if isinstance(getattr(get_command_fn, "__self__", None), ArrayNodeMapTask):
            kind = self.config_type.__name__
            raise ValueError(f"{self.name}: {MAP_TASK_REFUSAL.format(kind=kind, instead=self.map_task_alternative)}")
        super().set_command_fn(get_command_fn)

    def dispatch_execute(self, ctx: FlyteContext, input_literal_map: LiteralMap) -> Any:
        token = _DISPATCHING.set(True)
        try:
            return super().dispatch_execute(ctx, input_literal_map)
        finally:
            _DISPATCHING.reset(token)

    def _native_outputs(self, outputs: LiteralMap) -> Any:
        """The connector's outputs as the function's return value (for callers that bypass
        ``dispatch_execute``, such as flytekit's local ``map_task``, which collects raw values)."""
        types = self.python_interface.outputs
        ctx = FlyteContextManager.current_context()
        values = TypeEngine.literal_map_to_kwargs(ctx, outputs, types) if types else {}
        if not values:
            return None
        ordered = tuple(values[name] for name in types)
        return ordered[0] if len(ordered) == 1 else ordered

    def execute(self, **kwargs: Any) -> Any:
        """Runs the function in a pod or in ``function`` mode, else through the connector."""
        if not is_local_execution() or local_mode() == LOCAL_MODE_FUNCTION:
            return PythonFunctionTask.execute(self, **kwargs)
        ctx = FlyteContextManager.current_context()
        if self.container_image is None and ctx.serialization_settings is None:
            raise ValueError(
                f"Task {self.name!r}: running a {self.config_type.__name__} locally through the connector needs "
                f"@task(container_image=...), the image the workers run; or set "
                f"{LOCAL_MODE_ENV}={LOCAL_MODE_FUNCTION} to run the function in-process"
            )
        outputs = run_with_connector(self, **kwargs)
        return outputs if _DISPATCHING.get() else self._native_outputs(outputs)
