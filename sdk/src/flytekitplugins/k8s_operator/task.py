"""The task classes: :class:`ParallelJobTask` (behind ``@task(task_config=ParallelJob(...))``)
and :class:`CustomResourceTask` (a manifest run entirely by the connector)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import datetime
import inspect
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

import yaml
from flytekit import FlyteContext, FlyteContextManager
from flytekit.configuration import SerializationSettings
from flytekit.core.array_node_map_task import ArrayNodeMapTask
from flytekit.core.base_task import IgnoreOutputs, PythonTask
from flytekit.core.interface import Interface, transform_function_to_interface
from flytekit.core.python_function_task import PythonFunctionTask
from flytekit.core.type_engine import TypeEngine
from flytekit.exceptions.system import FlyteConnectorNotFound
from flytekit.extend import TaskPlugins
from flytekit.extend.backend import base_connector
from flytekit.extend.backend.base_connector import AsyncConnectorExecutorMixin, Resource
from flytekit.extend.backend.utils import mirror_async_methods
from flytekit.models.literals import LiteralMap
from flytekit.models.task import TaskTemplate
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
    LOCAL_MODE_CONNECTOR,
    LOCAL_MODE_ENV,
    LOCAL_MODE_FUNCTION,
    PARALLEL_JOB_TASK_TYPE,
    PARALLEL_JOB_TASK_TYPE_VERSION,
    WORKER_ENTRYPOINT,
)
from flytekitplugins.k8s_operator.exchange import current_worker
from flytekitplugins.k8s_operator.local_run import KEEP_OBJECTS_ENV, LocalRunReporter, describe, keep_objects, wait_for
from flytekitplugins.k8s_operator.manifest import ManifestError, validate_manifest
from flytekitplugins.k8s_operator.object_output import ObjectOutput, compile_outputs

__all__ = ["CustomResourceConfig", "CustomResourceTask", "ParallelJobTask", "local_mode"]

#: Why a ParallelJob task cannot be the target of ``map_task``.
MAP_TASK_REFUSAL = (
    "map_task over a ParallelJob task cannot run on Flyte: propeller's ArrayNode keeps only a k8s plugin's "
    "state for each mapped item (flyteorg/flyte v1.16.8 flytepropeller/pkg/controller/nodes/array/handler.go: "
    "'currently just mocking based on node phase -> which works for all k8s plugins'), so the connector "
    "could not follow the ParallelJob it created. Loop in a @dynamic workflow instead, or give the task "
    "more workers"
)
#: Set while flytekit's ``dispatch_execute`` runs the task (it wants the connector's LiteralMap as is).
_DISPATCHING: contextvars.ContextVar[bool] = contextvars.ContextVar("parallel_job_dispatching", default=False)
#: Exit status of a local run aborted with Ctrl-C (128 + SIGINT, the shell's convention).
EXIT_ABORTED = 130
#: Input types a manifest placeholder can render (datetimes as ISO 8601 text).
_PLACEHOLDER_TYPES = (str, int, float, bool, datetime.datetime)


def local_mode() -> str:
    """How tasks run in a local execution: ``"connector"`` (default) or ``"function"``.

    Read from ``FLYTE_K8S_OPERATOR_LOCAL_MODE`` on every local run.

    Raises:
        ValueError: the variable holds another value.
    """
    mode = os.environ.get(LOCAL_MODE_ENV, "").strip().lower() or LOCAL_MODE_CONNECTOR
    if mode not in (LOCAL_MODE_CONNECTOR, LOCAL_MODE_FUNCTION):
        raise ValueError(
            f"{LOCAL_MODE_ENV}={os.environ[LOCAL_MODE_ENV]!r} is not a local mode; "
            f"use {LOCAL_MODE_CONNECTOR!r} (the default) or {LOCAL_MODE_FUNCTION!r}"
        )
    return mode


def _is_local_execution() -> bool:
    state = FlyteContextManager.current_context().execution_state
    return state is not None and state.is_local_execution()


def _run_with_connector(task: AsyncConnectorExecutorMixin, **kwargs: Any) -> LiteralMap:
    """Runs ``task`` through its connector, with a hint when no connector is installed."""
    keep_objects()  # a malformed FLYTE_K8S_OPERATOR_KEEP_OBJECTS fails before anything is created
    try:
        return AsyncConnectorExecutorMixin.execute(task, **kwargs)
    except FlyteConnectorNotFound as error:
        raise FlyteConnectorNotFound(
            f"{error}. Running {task.name!r} locally needs the flyte-k8s-operator-connector package "
            f"installed (and a cluster in your kubeconfig); or set {LOCAL_MODE_ENV}={LOCAL_MODE_FUNCTION} "
            "to run ParallelJob task functions in-process"
        ) from error


@contextlib.contextmanager
def _pod_templates_unrendered() -> Iterator[None]:
    """flytekit's local ``_create`` renders ``tt.container.args`` and fails on a task with a pod
    template (no container; flytekit 1.16). Such a template passes through unrendered while this
    is active: the connector renders the placeholders left in the primary container's args."""
    render = base_connector.render_task_template

    def render_if_container(template: TaskTemplate, file_prefix: str) -> TaskTemplate:
        return render(template, file_prefix) if template.container is not None else template

    base_connector.render_task_template = render_if_container
    try:
        yield
    finally:
        base_connector.render_task_template = render


class _ConnectorExecution(AsyncConnectorExecutorMixin):
    """flytekit's local connector executor, waiting and cleaning up as :mod:`.local_run` describes,
    and running tasks with pod templates.

    Ctrl-C: flytekit's own handler calls ``asyncio.run(connector.delete(...))`` from the SIGINT
    handler, which runs while its local event loop is polling, so ``asyncio.run`` raises and nothing
    is deleted (flytekit 1.16). The delete runs on a fresh loop in another thread instead, the
    handler prints what it deleted, and the run exits with 130 (128 + SIGINT), one task or many.
    """

    async def _create(self, task_template: TaskTemplate, output_prefix: str, inputs: Any = None) -> Any:
        with _pod_templates_unrendered():
            return await super()._create(task_template, output_prefix, inputs)

    #: Resource metas of this task's runs that are still being waited for (abort deletes only those).
    _waiting: set[int]

    def _connector_call(self, method: Callable[..., Any], resource_meta: Any) -> Any:
        if inspect.iscoroutinefunction(method):
            with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
                return pool.submit(asyncio.run, method(resource_meta=resource_meta)).result()
        return method(resource_meta)

    def connector_signal_handler(self, resource_meta: Any, signum: int, frame: FrameType | None) -> None:
        if id(resource_meta) not in self.__dict__.get("_waiting", set()):
            return  # a run of this task that has already ended (and been cleaned up)
        self._connector_call(self._connector.delete, resource_meta)
        self._clean_up_task = True
        print(f"[{self.name}] ABORTED: deleted {describe(resource_meta)} (with what it started)", file=sys.stderr)
        sys.stderr.flush()
        raise SystemExit(EXIT_ABORTED)

    async def _get(self, resource_meta: Any) -> Resource:
        """Waits with :func:`.local_run.wait_for`, then deletes the object unless asked to keep it."""
        reporter = LocalRunReporter(self.name)
        keep = keep_objects()
        timeout = self.metadata.timeout
        waiting = self.__dict__.setdefault("_waiting", set())
        waiting.add(id(resource_meta))
        try:
            resource, timed_out = await wait_for(
                lambda: mirror_async_methods(self._connector.get, resource_meta=resource_meta),
                reporter,
                datetime.timedelta(seconds=timeout) if isinstance(timeout, int) else timeout,
                lambda: self._clean_up_task,
            )
        finally:
            waiting.discard(id(resource_meta))
        created = not getattr(resource_meta, "failure_phase", 0)
        if created and (timed_out or not keep):
            await mirror_async_methods(self._connector.delete, resource_meta=resource_meta)
            reporter.say(
                f"deleted {describe(resource_meta)}" + ("" if timed_out else f" (keep it: {KEEP_OBJECTS_ENV}=1)")
            )
        elif created:
            reporter.say(f"kept {describe(resource_meta)} ({KEEP_OBJECTS_ENV} is set)")
        return resource


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


class ParallelJobTask(_ConnectorExecution, PythonFunctionTask[ParallelJob]):
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

    _TASK_TYPE = PARALLEL_JOB_TASK_TYPE

    def __init__(self, task_config: ParallelJob, task_function: Callable[..., Any], **kwargs: Any) -> None:
        if not isinstance(task_config, ParallelJob):
            raise TypeError(f"task_config must be a ParallelJob, got {type(task_config).__name__}")
        _check_outputs_with(task_config, task_function)
        super().__init__(
            task_config=task_config,
            task_function=task_function,
            task_type=self._TASK_TYPE,
            task_type_version=PARALLEL_JOB_TASK_TYPE_VERSION,
            **kwargs,
        )

    def get_custom(self, settings: SerializationSettings) -> dict[str, Any]:
        """``TaskTemplate.custom``: the ``flyte_k8s_operator.v1.ParallelJob`` message as a dict."""
        return json_format.MessageToDict(self.task_config.to_proto())

    def get_default_command(self, settings: SerializationSettings) -> list[str]:
        """``pyflyte-execute ...`` behind the worker entrypoint (see ``worker.py``)."""
        return [*WORKER_ENTRYPOINT, *super().get_default_command(settings)]

    def set_command_fn(self, get_command_fn: Callable[[SerializationSettings], list[str]] | None = None) -> None:
        """Refuses to be serialized inside a ``map_task`` (flytekit's ``ArrayNodeMapTask`` sets its own
        command here while it serializes its target), which Flyte cannot run; see :data:`MAP_TASK_REFUSAL`."""
        if isinstance(getattr(get_command_fn, "__self__", None), ArrayNodeMapTask):
            raise ValueError(f"{self.name}: {MAP_TASK_REFUSAL}")
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
        """Runs the function in a pod or in ``function`` mode, else through the connector.

        In a pod, a worker other than the leader runs the function and then raises flytekit's
        ``IgnoreOutputs``: its return value is neither type-checked, serialized nor uploaded
        (``pyflyte-execute`` writes nothing and exits 0), so N workers store one copy of the outputs.
        """
        if not _is_local_execution():
            me = current_worker()
            result = PythonFunctionTask.execute(self, **kwargs)
            if not me.is_leader:
                raise IgnoreOutputs(f"worker {me.index}: only worker 0's outputs are kept")
            return result
        if local_mode() == LOCAL_MODE_FUNCTION:
            return PythonFunctionTask.execute(self, **kwargs)
        ctx = FlyteContextManager.current_context()
        if self.container_image is None and ctx.serialization_settings is None:
            raise ValueError(
                f"Task {self.name!r}: running a ParallelJob locally through the connector needs "
                f"@task(container_image=...), the image the workers run; or set "
                f"{LOCAL_MODE_ENV}={LOCAL_MODE_FUNCTION} to run the function in-process"
            )
        outputs = _run_with_connector(self, **kwargs)
        return outputs if _DISPATCHING.get() else self._native_outputs(outputs)


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


class CustomResourceTask(_ConnectorExecution, PythonTask[CustomResourceConfig]):
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
        return _run_with_connector(self, **kwargs)
