"""Where and as whom a task's object lives: derived from Flyte's execution metadata.

Propeller sends a ``TaskExecutionMetadata`` with every CreateTask; local runs
(flytekit's connector executor) send none, and get defaults from the settings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from flytekit.models.task import TaskExecutionMetadata

from k8s_operator_connector.naming import dns_label, label_value
from k8s_operator_connector.settings import ConnectorSettings

MANAGED_BY = "flyte-k8s-operator-connector"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
TASK_EXECUTION_ANNOTATION = "flyte-k8s-operator.flyte.org/task-execution-id"
TASK_TYPE_LABEL = "flyte-k8s-operator.flyte.org/task-type"


@dataclass(frozen=True)
class TaskContext:
    """Everything about the task attempt that shapes its Kubernetes object."""

    name: str
    namespace: str
    task_execution_id: str
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    service_account: str = ""
    environment: dict[str, str] = field(default_factory=dict)
    # For the namespace policy: the execution's project and domain, and whether this is an
    # in-process local run (no execution metadata; never the case over gRPC).
    project: str = ""
    domain: str = ""
    local: bool = False


_NOT_DNS_1123 = re.compile("[^-a-z0-9]+")


def flyte_label_value(value: str) -> str:
    """Propeller's ``SanitizeLabelValue`` (flytepropeller/pkg/utils/k8s.go, lines 35 and 104-111,
    flyteorg/flyte v1.16.8, commit 51877f899c9f95e0cb5efe90444eb0c6c6ea48a9): lower case, every run
    outside [-a-z0-9] becomes "-", cut to 63 characters, "-" trimmed at both ends. Propeller labels
    its own pods' ``node-id`` and ``task-name`` so (nodes/node_exec_context.go, lines 221-224), and
    so must the connector, or one selector would not find both."""
    return _NOT_DNS_1123.sub("-", value.lower())[:63].strip("-")


def _execution_identity(metadata: TaskExecutionMetadata) -> tuple[dict[str, str], list[str]]:
    """Flyte's identifying labels, and the parts of the task execution id in order."""
    task_execution = metadata.task_execution_id
    node = task_execution.node_execution_id
    execution = node.execution_id
    identity = {
        "project": execution.project,
        "domain": execution.domain,
        "execution-id": execution.name,
        "node-id": flyte_label_value(node.node_id),
        "task-name": flyte_label_value(task_execution.task_id.name),
        "retry-attempt": str(task_execution.retry_attempt),
    }
    parts = [execution.project, execution.domain, execution.name, node.node_id, str(task_execution.retry_attempt)]
    return identity, parts


def task_context(
    metadata: TaskExecutionMetadata | None,
    output_prefix: str,
    task_type: str,
    settings: ConnectorSettings,
    max_name_length: int,
) -> TaskContext:
    """The object's name, namespace, labels and annotations for one task attempt."""
    base_labels = {MANAGED_BY_LABEL: MANAGED_BY, TASK_TYPE_LABEL: task_type}
    if metadata is None or metadata.task_execution_id is None:
        # A local run: the output prefix is unique per run, so it names the object.
        execution_id = f"local/{output_prefix}"
        return TaskContext(
            name=dns_label(["local"], execution_id, max_name_length),
            namespace=settings.default_namespace,
            task_execution_id=execution_id,
            labels=base_labels,
            annotations={TASK_EXECUTION_ANNOTATION: execution_id},
            service_account=settings.default_service_account,
            local=True,
        )
    identity, parts = _execution_identity(metadata)
    execution_id = "/".join(parts)
    # Readable: execution-node-attempt; unique: the hash of the whole id incl. project/domain.
    name = dns_label(parts[2:], execution_id, max_name_length)
    labels = {key: label_value(value) for key, value in (metadata.labels or {}).items()}
    labels.update({key: label_value(value) for key, value in identity.items() if value})
    labels.update(base_labels)
    annotations = dict(metadata.annotations or {})
    annotations[TASK_EXECUTION_ANNOTATION] = execution_id
    return TaskContext(
        name=name,
        namespace=metadata.namespace or settings.default_namespace,
        task_execution_id=execution_id,
        labels=labels,
        annotations=annotations,
        service_account=metadata.k8s_service_account or settings.default_service_account,
        environment=dict(metadata.environment_variables or {}),
        project=parts[0],
        domain=parts[1],
    )
