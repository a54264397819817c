"""The base of a task whose Python function an operator runs: a config, a task type, one line each.

A plugin's SDK module (what ``./pants run build-support:new-plugin`` writes) is a frozen config
dataclass with ``to_proto()`` and::

    class JobSetTask(OperatorTask[JobSet]):
        config_type = JobSet
        task_type_name = "job_set"

    TaskPlugins.register_pythontask_plugin(JobSet, JobSetTask)

The base writes the config's proto into ``TaskTemplate.custom`` and carries this package's
local-run executor (waiting, cleaning up, and Ctrl-C deleting the object: see ``task.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from flytekit.configuration import SerializationSettings
from flytekit.core.python_function_task import PythonFunctionTask
from google.protobuf import json_format
from google.protobuf.message import Message

from flytekitplugins.k8s_operator.constants import LOCAL_MODE_FUNCTION
from flytekitplugins.k8s_operator.task import _ConnectorExecution, _is_local_execution, _run_with_connector, local_mode

__all__ = ["OperatorTask", "TaskConfig"]


class TaskConfig(Protocol):
    """What a plugin's task config offers: its ``TaskTemplate.custom`` as a proto message."""

    def to_proto(self) -> Message: ...


C = TypeVar("C", bound=TaskConfig)


class OperatorTask(_ConnectorExecution, PythonFunctionTask[C], Generic[C]):
    """A Python function run by an operator; ``@task(task_config=Config(...))`` creates it.

    In the operator's pod it runs the function like any Python task; in a local execution it
    goes through the connector, unless ``FLYTE_K8S_OPERATOR_LOCAL_MODE=function`` runs it in-process.
    """

    #: The config class ``@task(task_config=...)`` takes, and the task type it is served as.
    config_type: ClassVar[type]
    task_type_name: ClassVar[str]
    #: The version of the custom's schema; the connector's plugin serves exactly this one.
    task_type_version_number: ClassVar[int] = 1

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

    def execute(self, **kwargs: Any) -> Any:
        """Runs the function in a pod or in ``function`` mode, else through the connector."""
        if not _is_local_execution() or local_mode() == LOCAL_MODE_FUNCTION:
            return PythonFunctionTask.execute(self, **kwargs)
        return _run_with_connector(self, **kwargs)
