"""The task classes: :class:`ParallelJobTask` (behind ``@task(task_config=ParallelJob(...))``)
and :class:`CustomResourceTask` (a manifest run entirely by the connector)."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml
from flytekit.configuration import SerializationSettings
from flytekit.core.base_task import IgnoreOutputs, PythonTask
from flytekit.core.interface import Interface, transform_function_to_interface
from flytekit.core.python_function_task import PythonFunctionTask
from flytekit.extend import TaskPlugins
from google.protobuf import json_format

from flyte_k8s_operator.v1 import custom_resource_pb2
from flytekitplugins.k8s_operator.conditions import (
    Condition,
    Expression,
    ProgressTemplate,
    parse_condition,
    parse_progress_template,
)
from flytekitplugins.k8s_operator.config import ParallelJob, SuccessPolicy
from flytekitplugins.k8s_operator.constants import (
    CUSTOM_RESOURCE_TASK_TYPE,
    CUSTOM_RESOURCE_TASK_TYPE_VERSION,
    PARALLEL_JOB_TASK_TYPE,
    PARALLEL_JOB_TASK_TYPE_VERSION,
    WORKER_ENTRYPOINT,
)
from flytekitplugins.k8s_operator.exchange import current_worker
from flytekitplugins.k8s_operator.local_executor import (
    LocalConnectorExecutor,
    is_local_execution,
    local_mode,
    run_with_connector,
)
from flytekitplugins.k8s_operator.manifest import ManifestError, validate_manifest
from flytekitplugins.k8s_operator.object_output import ObjectOutput, compile_outputs
from flytekitplugins.k8s_operator.operator_task import OperatorTask

__all__ = ["CustomResourceConfig", "CustomResourceTask", "ParallelJobTask", "local_mode"]

#: Input types a manifest placeholder can render (datetimes as ISO 8601 text).
_PLACEHOLDER_TYPES = (str, int, float, bool, datetime.datetime)


def _check_outputs_with(config: ParallelJob, function: Callable[..., Any]) -> None:
    """ANY_WORKER needs a task without outputs (the connector refuses it too, at run time)."""
    if config.success_policy is not SuccessPolicy.ANY_WORKER:
        return
    outputs = transform_function_to_interface(function).outputs
    if outputs:
        raise ValueError(
            f"ParallelJob.success_policy: ANY_WORKER needs a task without outputs, and "
            f"{getattr(function, '__qualname__', function)} returns {', '.join(sorted(outputs))}: only worker 0 "
            "writes the task's outputs, and with ANY_WORKER the job may succeed before worker 0 finishes. "
            "Return nothing (write results to a blob store) or use ALL_WORKERS"
        )


class ParallelJobTask(OperatorTask[ParallelJob]):
    """A Python function run on several workers by the example operator's ``ParallelJob``.

    Not built directly: ``@task(task_config=ParallelJob(...))`` creates it. Where it runs:

    * In a worker pod (``pyflyte-execute``): runs the function, like any Python task.
    * In a local execution (``pyflyte run`` without ``--remote``, or calling the task in a
      test): submits the job through the connector and waits for it, unless
      ``FLYTE_K8S_OPERATOR_LOCAL_MODE=function``, which runs the function in-process as the
      only worker (index 0 of 1).

    The container command is ``python -m flytekitplugins.k8s_operator.worker`` followed by the
    usual ``pyflyte-execute`` arguments, so only worker 0 writes the task's outputs.
    """

    config_type = ParallelJob
    task_type_name = PARALLEL_JOB_TASK_TYPE
    task_type_version_number = PARALLEL_JOB_TASK_TYPE_VERSION
    map_task_alternative = "Loop in a @dynamic workflow instead, or give the task more workers"
    _TASK_TYPE = PARALLEL_JOB_TASK_TYPE

    def __init__(self, task_config: ParallelJob, task_function: Callable[..., Any], **kwargs: Any) -> None:
        if isinstance(task_config, ParallelJob):
            _check_outputs_with(task_config, task_function)
        super().__init__(task_config=task_config, task_function=task_function, **kwargs)

    def get_default_command(self, settings: SerializationSettings) -> list[str]:
        """``pyflyte-execute ...`` behind the worker entrypoint (see ``worker.py``)."""
        return [*WORKER_ENTRYPOINT, *super().get_default_command(settings)]

    def execute(self, **kwargs: Any) -> Any:
        """Runs the function in a pod or in ``function`` mode, else through the connector.

        In a pod, a worker other than the leader runs the function and then raises flytekit's
        ``IgnoreOutputs``: its return value is neither type-checked, serialized nor uploaded
        (``pyflyte-execute`` writes nothing and exits 0), so N workers store one copy of the outputs.
        """
        if is_local_execution():
            return super().execute(**kwargs)
        me = current_worker()
        result = PythonFunctionTask.execute(self, **kwargs)
        if not me.is_leader:
            raise IgnoreOutputs(f"worker {me.index}: only worker 0's outputs are kept")
        return result


TaskPlugins.register_pythontask_plugin(ParallelJob, ParallelJobTask)


def _load_manifest(manifest: Mapping[str, Any] | str) -> Any:
    if not isinstance(manifest, str):
        return manifest
    try:
        return yaml.safe_load(manifest)
    except yaml.YAMLError as error:
        raise ManifestError(f"manifest is not valid YAML: {error}") from error


@dataclass(frozen=True)
class CustomResourceConfig:
    """The validated parts of a :class:`CustomResourceTask` (its ``task_config``).

    Attributes:
        manifest: The object to create, with ``{{ inputs.NAME }}`` placeholders in string values.
        success_condition: When the object has succeeded (CEL), e.g. ``object.status.phase == 'Succeeded'``.
        failure_condition: When it has failed; None: never (only the timeout ends it).
        progress_template: Optional text shown while running, e.g. ``"{object.status.succeeded} done"``.
        outputs: Output name -> the expression its value is read with when the task succeeds.
    """

    manifest: Mapping[str, Any]
    success_condition: Condition
    failure_condition: Condition | None
    progress_template: ProgressTemplate | None
    outputs: Mapping[str, Expression] = field(default_factory=dict)

    def to_proto(self) -> custom_resource_pb2.CustomResourceTask:
        """The ``flyte_k8s_operator.v1.CustomResourceTask`` message written to ``TaskTemplate.custom``."""
        message = custom_resource_pb2.CustomResourceTask(
            success_condition=str(self.success_condition),
            failure_condition=str(self.failure_condition) if self.failure_condition else "",
            progress_template=str(self.progress_template) if self.progress_template else "",
            outputs={name: expression.text for name, expression in self.outputs.items()},
        )
        message.manifest.update(self.manifest)
        return message


class CustomResourceTask(LocalConnectorExecutor, PythonTask[CustomResourceConfig]):
    """Creates a Kubernetes object from a manifest and waits for a condition on it.

    There is no Python function: the connector creates the object (named after the execution,
    in the execution's namespace), polls it, reports ``progress_template`` and ends the task
    when ``success_condition`` or ``failure_condition`` holds. Local executions go through the
    connector too. Everything is checked at declaration; errors name the field::

        create_job = CustomResourceTask(
            name="count_to",
            manifest='''
                apiVersion: batch/v1
                kind: Job
                spec:
                  completions: "{{ inputs.n }}"
                  template:
                    spec:
                      restartPolicy: Never
                      containers:
                        - name: main
                          image: busybox:1.36
                          args: ["echo", "counting to {{ inputs.n }}"]
            ''',
            success_condition="object.status.conditions.exists(c, c.type == 'Complete' && c.status == 'True')",
            failure_condition="object.status.conditions.exists(c, c.type == 'Failed' && c.status == 'True')",
            progress_template="{object.status.succeeded}/{object.spec.completions} done",
            inputs=kwtypes(n=int),
            outputs={"pods": ObjectOutput(int, "object.status.succeeded")},
        )

    Args:
        name: The task's name (unique in its project).
        manifest: A mapping or a YAML string: ``apiVersion`` and ``kind`` required,
            ``metadata.name``/``namespace``/``generateName`` forbidden, ``{{ inputs.NAME }}``
            placeholders (declared inputs only) in string values.
        success_condition: A CEL expression on the live ``object``; see
            :mod:`flytekitplugins.k8s_operator.conditions` for the semantics (a missing field is false).
        failure_condition: Same language; empty means the object never fails by condition.
        progress_template: Text with ``{expression}`` references; empty for none.
        inputs: Input names and types (``kwtypes(n=int)``); only ``str``, ``int``, ``float``,
            ``bool`` and ``datetime``, the values placeholders can render.
        outputs: Output names and :class:`ObjectOutput` (type and CEL expression), read from the
            object when the success condition holds; a missing or mistyped value fails the task.
        **kwargs: Passed to ``PythonTask`` (e.g. ``metadata=TaskMetadata(retries=2, timeout=...)``).
    """

    _TASK_TYPE = CUSTOM_RESOURCE_TASK_TYPE

    def __init__(
        self,
        name: str,
        manifest: Mapping[str, Any] | str,
        success_condition: str,
        failure_condition: str = "",
        progress_template: str = "",
        inputs: Mapping[str, type] | None = None,
        outputs: Mapping[str, ObjectOutput] | None = None,
        **kwargs: Any,
    ) -> None:
        declared = dict(inputs or {})
        for input_name, input_type in declared.items():
            if input_type not in _PLACEHOLDER_TYPES:
                raise ValueError(
                    f"CustomResourceTask {name!r}: input {input_name!r} has type {input_type!r}; "
                    "manifest placeholders render str, int, float, bool and datetime inputs only"
                )
        try:
            loaded = _load_manifest(manifest)
            validate_manifest(loaded, declared)
        except ManifestError as error:
            raise ManifestError(f"CustomResourceTask {name!r}: {error}") from error
        config = CustomResourceConfig(
            manifest=loaded,
            success_condition=parse_condition(success_condition, f"{name}.success_condition"),
            failure_condition=(
                parse_condition(failure_condition, f"{name}.failure_condition") if failure_condition.strip() else None
            ),
            progress_template=(
                parse_progress_template(progress_template, f"{name}.progress_template") if progress_template else None
            ),
            outputs=compile_outputs(name, outputs),
        )
        super().__init__(
            task_type=self._TASK_TYPE,
            name=name,
            task_config=config,
            interface=Interface(inputs=declared, outputs={key: output.type for key, output in (outputs or {}).items()}),
            task_type_version=CUSTOM_RESOURCE_TASK_TYPE_VERSION,
            **kwargs,
        )

    def get_custom(self, settings: SerializationSettings) -> dict[str, Any]:
        """``TaskTemplate.custom``: the ``flyte_k8s_operator.v1.CustomResourceTask`` message as a dict."""
        return json_format.MessageToDict(self.task_config.to_proto())

    def execute(self, **kwargs: Any) -> Any:
        """Runs the task through the connector (there is no function body to run)."""
        return run_with_connector(self, **kwargs)
