"""Builders for the Flyte models the connector is fed: task templates, execution metadata,
task requests and input literals."""

from __future__ import annotations

from typing import Any

from flytekit.models import interface, literals, task
from flytekit.models.core import identifier, types

from k8s_operator_connector.operator_plugin import TaskRequest
from k8s_operator_connector.settings import ConnectorSettings
from k8s_operator_connector.task_context import task_context

TASK_ID = identifier.Identifier(identifier.ResourceType.TASK, "flytesnacks", "development", "demo.train", "v1")


def make_template(
    task_type: str = "parallel_job",
    custom: dict[str, Any] | None = None,
    version: int = 1,
    image: str = "ghcr.io/example/demo:1",
    args: list[str] | None = None,
    env: dict[str, str] | None = None,
    resources: task.Resources | None = None,
    security_context: Any = None,
    k8s_pod: task.K8sPod | None = None,
    config: dict[str, str] | None = None,
    with_container: bool = True,
    interruptible: bool | None = False,
    task_id: identifier.Identifier = TASK_ID,
) -> task.TaskTemplate:
    metadata = task.TaskMetadata(
        discoverable=False,
        runtime=task.RuntimeMetadata(task.RuntimeMetadata.RuntimeType.FLYTE_SDK, "1.16.31", "python"),
        timeout=None,
        retries=literals.RetryStrategy(0),
        interruptible=interruptible,
        discovery_version="",
        deprecated_error_message="",
        cache_serializable=False,
        pod_template_name="",
        cache_ignore_input_vars=(),
    )
    container = (
        None
        if k8s_pod is not None or not with_container
        else task.Container(
            image=image,
            command=[],
            args=args if args is not None else ["pyflyte-execute", "--inputs", "s3://b/in/inputs.pb"],
            resources=resources or task.Resources(requests=[], limits=[]),
            env=env or {},
            config={},
        )
    )
    return task.TaskTemplate(
        id=task_id,
        type=task_type,
        metadata=metadata,
        interface=interface.TypedInterface({}, {}),
        custom=custom if custom is not None else {"workers": 2},
        container=container,
        task_type_version=version,
        security_context=security_context,
        k8s_pod=k8s_pod,
        config=config,
    )


def make_metadata(
    execution: str = "a1b2c3",
    node: str = "n0",
    attempt: int = 0,
    namespace: str = "flytesnacks-development",
    project: str = "flytesnacks",
    labels: dict[str, str] | None = None,
    env: dict[str, str] | None = None,
) -> task.TaskExecutionMetadata:
    node_execution = identifier.NodeExecutionIdentifier(
        node, identifier.WorkflowExecutionIdentifier(project, "development", execution)
    )
    return task.TaskExecutionMetadata(
        task_execution_id=identifier.TaskExecutionIdentifier(TASK_ID, node_execution, attempt),
        namespace=namespace,
        labels=labels or {"team": "ml"},
        annotations={"owner": "data-team"},
        k8s_service_account="flyte-worker",
        environment_variables=env or {},
        identity=None,
    )


def make_request(
    template: task.TaskTemplate | None = None,
    settings: ConnectorSettings | None = None,
    metadata: task.TaskExecutionMetadata | None = None,
    inputs: literals.LiteralMap | None = None,
    max_name_length: int = 52,
) -> TaskRequest:
    settings = settings or ConnectorSettings()
    template = template or make_template()
    context = task_context(
        metadata if metadata is not None else make_metadata(),
        "s3://bucket/out/",
        template.type,
        settings,
        max_name_length,
    )
    return TaskRequest(template, inputs, "s3://bucket/out/", context, settings)


def int_literal(value: int) -> literals.Literal:
    return literals.Literal(scalar=literals.Scalar(primitive=literals.Primitive(integer=value)))


def str_literal(value: str) -> literals.Literal:
    return literals.Literal(scalar=literals.Scalar(primitive=literals.Primitive(string_value=value)))


def blob_literal() -> literals.Literal:
    blob_type = types.BlobType("", types.BlobType.BlobDimensionality.SINGLE)
    return literals.Literal(
        scalar=literals.Scalar(blob=literals.Blob(literals.BlobMetadata(blob_type), "s3://bucket/file"))
    )
