"""The CreateTask and GetTask requests propeller would send for N ParallelJob tasks."""

from __future__ import annotations

from flyteidl.admin import agent_pb2
from flytekit.models import task
from flytekit.models.core import identifier

from k8s_operator_connector.testing.flyte_models import make_template


def _task_id(task_type: str) -> identifier.Identifier:
    return identifier.Identifier(identifier.ResourceType.TASK, "flytesnacks", "development", f"bench.{task_type}", "v1")


def task_template(task_type: str, version: int, workers: int) -> task.TaskTemplate:
    args = ["pyflyte-execute", "--inputs", "s3://bucket/in/inputs.pb", "--output-prefix", "s3://bucket/out"]
    return make_template(
        task_type,
        {"workers": workers},
        version,
        image="ghcr.io/example/bench:1",
        args=args,
        task_id=_task_id(task_type),
    )


def execution_metadata(task_type: str, namespace: str, index: int) -> task.TaskExecutionMetadata:
    execution = identifier.WorkflowExecutionIdentifier("flytesnacks", "development", f"bench{index:06d}")
    node = identifier.NodeExecutionIdentifier("n0", execution)
    return task.TaskExecutionMetadata(
        task_execution_id=identifier.TaskExecutionIdentifier(_task_id(task_type), node, 0),
        namespace=namespace,
        labels={"team": "benchmark"},
        annotations={"owner": "benchmark"},
        k8s_service_account="default",
        environment_variables={},
        identity=None,
    )


def create_requests(
    task_type: str, version: int, namespace: str, indexes: range, workers: int
) -> list[agent_pb2.CreateTaskRequest]:
    """One CreateTaskRequest per task index: the same template, a distinct task execution."""
    template = task_template(task_type, version, workers).to_flyte_idl()
    return [
        agent_pb2.CreateTaskRequest(
            template=template,
            output_prefix=f"s3://bucket/metadata/bench{index:06d}/n0/0",
            task_execution_metadata=execution_metadata(task_type, namespace, index).to_flyte_idl(),
        )
        for index in indexes
    ]


def get_request(task_type: str, version: int, resource_meta: bytes) -> agent_pb2.GetTaskRequest:
    return agent_pb2.GetTaskRequest(
        task_category=agent_pb2.TaskCategory(name=task_type, version=version), resource_meta=resource_meta
    )
