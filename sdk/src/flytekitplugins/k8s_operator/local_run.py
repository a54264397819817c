"""How a local run (``pyflyte run`` without ``--remote``) waits for its object, and cleans up after it.

flytekit's local connector executor (``AsyncConnectorExecutorMixin._get``, flytekit 1.16) shows the
connector's answers only in a transient progress bar, ignores the task's ``timeout`` ("Timeout is
not supported for local execution", at info level) and never deletes what it created. The task
classes use :func:`wait_for` instead, which

* prints every change of phase or message, and each log link once, as plain lines on stderr
  (they stay in the terminal and in captured output);
* ends the task when its ``timeout`` (``@task(timeout=...)``/``TaskMetadata(timeout=...)``) passes:
  the object is deleted and the task fails saying so (on a Flyte cluster, propeller enforces the
  same timeout: it becomes the node's execution deadline);
* deletes the object when the run ends, unless ``FLYTE_K8S_OPERATOR_KEEP_OBJECTS`` is true
  (``1``/``true``/``yes``), and says what it deleted.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from typing import Any, TextIO

from flyteidl.core.execution_pb2 import TaskExecution
from flytekit.extend.backend.base_connector import Resource
from flytekit.extend.backend.utils import is_terminal_phase

__all__ = ["KEEP_OBJECTS_ENV", "LocalRunReporter", "describe", "keep_objects", "wait_for"]

#: Keep the objects a local run created (for inspecting them); by default they are deleted.
KEEP_OBJECTS_ENV = "FLYTE_K8S_OPERATOR_KEEP_OBJECTS"
_TRUE = ("1", "true", "yes")
_FALSE = ("", "0", "false", "no")
#: flytekit's local executor polls once a second too.
POLL_SECONDS = 1.0


def keep_objects(environ: Mapping[str, str] | None = None) -> bool:
    """Whether ``FLYTE_K8S_OPERATOR_KEEP_OBJECTS`` asks to keep a local run's objects.

    Raises:
        ValueError: the variable holds something else.
    """
    raw = (os.environ if environ is None else environ).get(KEEP_OBJECTS_ENV, "").strip().lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ValueError(f"{KEEP_OBJECTS_ENV}={raw!r}: use 1/true/yes to keep a local run's objects, 0/false/no (default)")


def describe(resource_meta: Any) -> str:
    """``ParallelJob ns/name`` for the connector's resource meta (whatever it is, never raising)."""
    kind = getattr(resource_meta, "kind", "") or "object"
    namespace, name = getattr(resource_meta, "namespace", ""), getattr(resource_meta, "name", "")
    return f"{kind} {namespace}/{name}" if namespace else f"{kind} {name}".strip()


class LocalRunReporter:
    """Prints a task's progress as lines: each phase/message change, each new log link."""

    def __init__(self, task_name: str, stream: TextIO | None = None) -> None:
        self.task_name = task_name
        self.stream = stream
        self._last: tuple[int, str] | None = None
        self._links: set[tuple[str, str]] = set()

    def say(self, text: str) -> None:
        print(f"[{self.task_name}] {text}", file=self.stream or sys.stderr, flush=True)

    def report(self, resource: Resource) -> None:
        state = (int(resource.phase), resource.message or "")
        if state != self._last:
            self._last = state
            self.say(f"{TaskExecution.Phase.Name(resource.phase)} {resource.message or ''}".rstrip())
        for link in resource.log_links or []:
            if (link.name, link.uri) not in self._links:
                self._links.add((link.name, link.uri))
                self.say(f"log link {link.name}: {link.uri}")


async def wait_for(
    get: Callable[[], Awaitable[Resource]],
    reporter: LocalRunReporter,
    timeout: timedelta | None,
    aborted: Callable[[], bool],
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[Resource, bool]:
    """Polls ``get`` until a terminal phase, the timeout, or an abort (``aborted()`` -> SystemExit(1)).

    Returns the last answer (a FAILED one naming the timeout if it passed) and whether it timed out.
    ``sleep`` blocks, as flytekit's loop does, so Ctrl-C's handler runs between polls.
    """
    deadline = time.monotonic() + timeout.total_seconds() if timeout else None
    while True:
        sleep(POLL_SECONDS)
        resource = await get()
        if aborted():
            sys.exit(1)
        reporter.report(resource)
        if is_terminal_phase(resource.phase):
            return resource, False
        if deadline is not None and time.monotonic() >= deadline:
            assert timeout is not None
            message = (
                f"timed out: still {TaskExecution.Phase.Name(resource.phase)} after the task's timeout of {timeout}"
            )
            reporter.say(message)
            return Resource(phase=TaskExecution.FAILED, message=message), True
