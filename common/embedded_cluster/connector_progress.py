"""Prints what the connector reports while flytekit polls it: phases, messages and log links.

flytekit's local executor shows the connector's answers in a transient progress bar (only on a
terminal, and erased when the task ends). The demo wraps each registered connector's ``get``
to print one line whenever the phase or message changes, and the log links once, so the
output keeps the whole story.
"""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TextIO

from flyteidl.core.execution_pb2 import TaskExecution
from flytekit.extend.backend.base_connector import AsyncConnectorBase, Resource

GetMethod = Callable[..., Awaitable[Resource]]


class ProgressPrinter:
    """Remembers what was printed per object, so only changes are printed."""

    def __init__(self, stream: TextIO = sys.stdout) -> None:
        self.stream = stream
        self.started = time.monotonic()
        self._last: dict[str, tuple[int, str]] = {}
        self._links: dict[str, set[tuple[str, str]]] = {}

    def report(self, task_type: str, meta: Any, resource: Resource) -> None:
        key = f"{getattr(meta, 'kind', '') or task_type} {getattr(meta, 'name', '')}".strip()
        elapsed = time.monotonic() - self.started
        state = (int(resource.phase), resource.message or "")
        if self._last.get(key) != state:
            self._last[key] = state
            phase = TaskExecution.Phase.Name(resource.phase)
            self._print(f"[connector {elapsed:6.1f}s] {task_type} {key}: {phase} {resource.message or ''}".rstrip())
        seen = self._links.setdefault(key, set())
        for link in resource.log_links or []:
            if (link.name, link.uri) not in seen:
                seen.add((link.name, link.uri))
                self._print(f"[connector {elapsed:6.1f}s]   log link {link.name}: {link.uri}")

    def _print(self, line: str) -> None:
        print(line, file=self.stream, flush=True)


def reporting_get(get: GetMethod, task_type: str, printer: ProgressPrinter) -> GetMethod:
    """``get`` that also hands every answer to ``printer``."""

    @functools.wraps(get)
    async def wrapped(resource_meta: Any, **kwargs: Any) -> Resource:
        resource = await get(resource_meta=resource_meta, **kwargs)
        printer.report(task_type, resource_meta, resource)
        return resource

    return wrapped


def print_progress_of(connectors: Iterable[AsyncConnectorBase], printer: ProgressPrinter | None = None) -> None:
    """Wraps the ``get`` of each connector (an instance attribute shadows the method)."""
    printer = printer or ProgressPrinter()
    for connector in connectors:
        connector.get = reporting_get(connector.get, connector.task_category.name, printer)  # type: ignore[method-assign]
