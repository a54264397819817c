"""Connectors for local runs in tests: registered with flytekit for a test's duration, answering at once."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from flytekit.extend.backend.base_connector import AsyncConnectorBase, ConnectorRegistry, Resource, ResourceMeta
from flytekit.models.core.execution import TaskExecutionPhase
from flytekit.models.literals import LiteralMap
from flytekit.models.task import TaskTemplate


@contextlib.contextmanager
def registered(connector: AsyncConnectorBase) -> Iterator[None]:
    """A (fake) connector in flytekit's registry for the duration of a test, then removed again."""
    ConnectorRegistry.register(connector, override=True)
    try:
        yield
    finally:
        ConnectorRegistry._REGISTRY.pop(connector.task_category, None)
        ConnectorRegistry._METADATA.pop(connector.name, None)


class SucceedingConnector(AsyncConnectorBase):
    """Serves one task type and version: records what each local run sends, and answers that the
    task succeeded with ``outputs`` (native values, converted with the task's interface)."""

    def __init__(self, task_type: str, task_type_version: int, outputs: dict[str, Any]) -> None:
        super().__init__(task_type_name=task_type, task_type_version=task_type_version, metadata_type=ResourceMeta)
        self.name = f"fake {task_type} connector"
        self.outputs = outputs
        self.templates: list[TaskTemplate] = []
        self.inputs: list[LiteralMap | None] = []

    def create(self, task_template: TaskTemplate, inputs: LiteralMap | None = None, **kwargs: Any) -> ResourceMeta:
        self.templates.append(task_template)
        self.inputs.append(inputs)
        return ResourceMeta()

    def get(self, resource_meta: ResourceMeta, **kwargs: Any) -> Resource:
        return Resource(phase=TaskExecutionPhase.SUCCEEDED, outputs=self.outputs)

    def delete(self, resource_meta: ResourceMeta, **kwargs: Any) -> None:
        pass
