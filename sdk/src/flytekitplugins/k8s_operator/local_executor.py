"""The local-run executor of this package's tasks: flytekit's connector executor, fixed.

A local execution (``pyflyte run`` without ``--remote``, or calling a task in a test) of a task
whose executor is :class:`LocalConnectorExecutor` goes through the connector as flytekit's
``AsyncConnectorExecutorMixin`` does, and also waits and cleans up as :mod:`.local_run`
describes, runs tasks with pod templates, and deletes the object on Ctrl-C.
``FLYTE_K8S_OPERATOR_LOCAL_MODE`` (:func:`local_mode`) chooses between the connector and running
a task's function in-process.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import datetime
import inspect
import os
import sys
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

from flytekit import FlyteContextManager
from flytekit.core.python_function_task import PythonFunctionTask
from flytekit.exceptions.system import FlyteConnectorNotFound
from flytekit.extend.backend import base_connector
from flytekit.extend.backend.base_connector import AsyncConnectorExecutorMixin, Resource
from flytekit.extend.backend.utils import mirror_async_methods
from flytekit.models.literals import LiteralMap
from flytekit.models.task import TaskTemplate

from flytekitplugins.k8s_operator.constants import LOCAL_MODE_CONNECTOR, LOCAL_MODE_ENV, LOCAL_MODE_FUNCTION
from flytekitplugins.k8s_operator.local_run import KEEP_OBJECTS_ENV, LocalRunReporter, describe, keep_objects, wait_for

__all__ = ["EXIT_ABORTED", "LocalConnectorExecutor", "is_local_execution", "local_mode", "run_with_connector"]

#: Exit status of a local run aborted with Ctrl-C (128 + SIGINT, the shell's convention).
EXIT_ABORTED = 130


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


def is_local_execution() -> bool:
    """Whether the task runs in a local execution (not in a pod of a Flyte execution)."""
    state = FlyteContextManager.current_context().execution_state
    return state is not None and state.is_local_execution()


def run_with_connector(task: AsyncConnectorExecutorMixin, **kwargs: Any) -> LiteralMap:
    """Runs ``task`` through its connector, with a hint when no connector is installed (and,
    for a task with a Python function, how to run that function in-process instead)."""
    keep_objects()  # a malformed FLYTE_K8S_OPERATOR_KEEP_OBJECTS fails before anything is created
    try:
        return AsyncConnectorExecutorMixin.execute(task, **kwargs)
    except FlyteConnectorNotFound as error:
        function_mode = (
            f"; or set {LOCAL_MODE_ENV}={LOCAL_MODE_FUNCTION} to run its function in-process"
            if isinstance(task, PythonFunctionTask)
            else ""
        )
        raise FlyteConnectorNotFound(
            f"{error}. Running {task.name!r} locally needs the flyte-k8s-operator-connector package "
            f"installed (and a cluster in your kubeconfig){function_mode}"
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


class LocalConnectorExecutor(AsyncConnectorExecutorMixin):
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
