"""CreateTask requests as propeller sends them: a task template and the execution's metadata."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flyteidl.admin import agent_pb2
from flytekit.models import literals
from flytekit.models import security as security_models
from flytekit.models import task as task_models
from flytekit.models.core import identifier

from conformance.suite.samples import PRIMARY_CONTAINER, Sample
from k8s_operator_connector.testing.flyte_models import make_template

# The secret each pod asks Flyte's webhook for (the suite creates it, so a webhook that resolves
# it at admission finds it).
SECRET_GROUP = "conformance-secret"
SECRET_KEY = "token"
EXECUTION_LABELS = {"conformance": "flyte-operator-kit"}
EXECUTION_ANNOTATIONS = {"conformance.flyte-operator-kit/run": "yes"}


@dataclass(frozen=True)
class Execution:
    """Where the suite's tasks run: Flyte's project, domain and the execution's namespace and account."""

    namespace: str = "flytesnacks-development"
    project: str = "flytesnacks"
    domain: str = "development"
    service_account: str = "default"
    image: str = "busybox:1.36"
    labels: dict[str, str] = field(default_factory=lambda: dict(EXECUTION_LABELS))
    annotations: dict[str, str] = field(default_factory=lambda: dict(EXECUTION_ANNOTATIONS))


def secret_request() -> security_models.SecurityContext:
    secret = security_models.Secret(
        group=SECRET_GROUP, key=SECRET_KEY, mount_requirement=security_models.Secret.MountType.ENV_VAR
    )
    return security_models.SecurityContext(secrets=[secret])


def privileged_pod(image: str, command: list[str], **spec: Any) -> task_models.K8sPod:
    """A pod template (flytekit's ``pod_template=``) asking for a privileged primary container."""
    container = {"name": PRIMARY_CONTAINER, "image": image, "args": command, "securityContext": {"privileged": True}}
    return task_models.K8sPod(metadata=task_models.K8sObjectMetadata(), pod_spec={"containers": [container], **spec})


def execution_labels(execution: Execution, name: str) -> dict[str, str]:
    """The labels propeller sends with a task of execution ``name``: the FlyteWorkflow's
    (flytepropeller/pkg/compiler/transformers/k8s/workflow.go, lines 19-32 and 236-245) and the
    node's (flytepropeller/pkg/controller/nodes/node_exec_context.go, lines 27-29 and 216-226),
    flyteorg/flyte v1.16.8 (commit 51877f899c9f95e0cb5efe90444eb0c6c6ea48a9), over the execution's own."""
    return {
        **execution.labels,
        "execution-id": name,
        "project": execution.project,
        "domain": execution.domain,
        "workflow-name": "conformance-sample-wf",
        "shard-key": "0",
        "node-id": "n0",
        "task-name": "conformance-sample",
        "interruptible": "false",
    }


def task_metadata(execution: Execution, name: str) -> task_models.TaskExecutionMetadata:
    task_id = identifier.Identifier(
        identifier.ResourceType.TASK, execution.project, execution.domain, "conformance.sample", "v1"
    )
    node = identifier.NodeExecutionIdentifier(
        "n0", identifier.WorkflowExecutionIdentifier(execution.project, execution.domain, name)
    )
    return task_models.TaskExecutionMetadata(
        task_execution_id=identifier.TaskExecutionIdentifier(task_id, node, 0),
        namespace=execution.namespace,
        labels=execution_labels(execution, name),
        annotations=dict(execution.annotations),
        k8s_service_account=execution.service_account,
        environment_variables={},
        identity=None,
    )


def create_request(
    sample: Sample,
    execution: Execution,
    name: str,
    command: list[str],
    *,
    secrets: bool = False,
    k8s_pod: task_models.K8sPod | None = None,
    custom: dict[str, Any] | None = None,
) -> agent_pb2.CreateTaskRequest:
    """CreateTask for execution ``name`` of a ``sample`` task whose work is ``command``."""
    config = dict(sample.config)
    if k8s_pod is not None:
        config.setdefault("primary_container_name", PRIMARY_CONTAINER)
    template = make_template(
        task_type=sample.task_type,
        version=sample.version,
        custom=custom if custom is not None else sample.custom(command),
        image=execution.image,
        args=command,
        with_container=sample.uses_container,
        security_context=secret_request() if secrets else None,
        k8s_pod=k8s_pod,
        config=config or None,
    )
    request = agent_pb2.CreateTaskRequest(
        template=template.to_flyte_idl(),
        output_prefix=f"s3://conformance/metadata/{name}/n0/0",
        task_execution_metadata=task_metadata(execution, name).to_flyte_idl(),
    )
    request.inputs.CopyFrom(literals.LiteralMap({}).to_flyte_idl())
    return request
