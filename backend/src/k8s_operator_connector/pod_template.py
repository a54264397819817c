"""The task's container as a Kubernetes pod template, for operators that run pods.

Image, rendered ``pyflyte-execute`` args, environment, resources and secret requests
come from the TaskTemplate (propeller renders the args' ``{{.input}}``-style
placeholders before CreateTask; anything left is rendered here against the output
prefix). A task's own pod template (``pod_template=`` in flytekit) is honoured: its
primary container receives the task container's settings and comes first.
"""

from __future__ import annotations

import base64
import copy
from typing import Any

from flytekit.extend.backend.utils import render_task_template
from flytekit.models import task as task_models
from google.protobuf import text_format

from k8s_operator_connector.plugin import InvalidTaskError, TaskRequest

_RESOURCE_NAMES = {
    task_models.Resources.ResourceName.CPU: "cpu",
    task_models.Resources.ResourceName.GPU: "nvidia.com/gpu",
    task_models.Resources.ResourceName.MEMORY: "memory",
    task_models.Resources.ResourceName.EPHEMERAL_STORAGE: "ephemeral-storage",
}
SECRETS_LABEL = "inject-flyte-secrets"
_SECRET_ANNOTATION_PREFIX = "flyte.secrets/s"


def resources_dict(resources: task_models.Resources | None) -> dict[str, dict[str, str]]:
    """Flyte's request/limit entries as a Kubernetes ResourceRequirements dict."""
    if resources is None:
        return {}
    result: dict[str, dict[str, str]] = {}
    for kind, entries in (("requests", resources.requests), ("limits", resources.limits)):
        values = {_RESOURCE_NAMES[e.name]: e.value for e in entries or [] if e.name in _RESOURCE_NAMES and e.value}
        if values:
            result[kind] = values
    return result


def secret_annotations(template: task_models.TaskTemplate) -> dict[str, str]:
    """The annotations Flyte's secret-injection webhook reads (as propeller writes them)."""
    security = template.security_context
    secrets = list(security.secrets or []) if security is not None else []
    annotations = {}
    for index, secret in enumerate(secrets):
        text = text_format.MessageToString(secret.to_flyte_idl(), as_one_line=False)
        encoded = base64.b32encode(text.encode()).decode().rstrip("=")
        annotations[f"{_SECRET_ANNOTATION_PREFIX}{index}"] = encoded
    return annotations


def _rendered_args(request: TaskRequest) -> list[str]:
    container = request.template.container
    args = list(container.args or [])
    if any("{{." in arg for arg in args):
        # A local or test caller sent placeholders; render them as flytekit's local executor does.
        rendered = copy.deepcopy(request.template)
        render_task_template(rendered, request.output_prefix.rstrip("/"))
        args = list(rendered.container.args or [])
    return args


def task_container(request: TaskRequest, name: str, extra_env: dict[str, str]) -> dict[str, Any]:
    container = request.template.container
    if container is None:
        raise InvalidTaskError("container", "the task has no container; it must be a Python function task")
    if not container.image:
        raise InvalidTaskError("container.image", "empty; set container_image on the task")
    env = dict(container.env or {})
    env.update(request.context.environment)
    env.update(extra_env)
    spec: dict[str, Any] = {
        "name": name,
        "image": container.image,
        "args": _rendered_args(request),
        "env": [{"name": key, "value": value} for key, value in sorted(env.items())],
    }
    if container.command:
        spec["command"] = list(container.command)
    resources = resources_dict(container.resources)
    if resources:
        spec["resources"] = resources
    return spec


def worker_pod_template(request: TaskRequest, extra_env: dict[str, str]) -> dict[str, Any]:
    """A PodTemplateSpec whose first container runs the task."""
    template = request.template
    context = request.context
    pod_spec: dict[str, Any] = {}
    metadata: dict[str, Any] = {"labels": {}, "annotations": {}}
    primary_name = "worker"
    if template.k8s_pod is not None:
        pod_spec = copy.deepcopy(template.k8s_pod.pod_spec or {})
        pod_metadata = template.k8s_pod.metadata
        if pod_metadata is not None:
            metadata["labels"].update(pod_metadata.labels or {})
            metadata["annotations"].update(pod_metadata.annotations or {})
        primary_name = (template.config or {}).get("primary_container_name") or primary_name
    task = task_container(request, primary_name, extra_env)
    containers = list(pod_spec.get("containers") or [])
    existing = next((c for c in containers if c.get("name") == primary_name), None)
    if existing is not None:
        containers.remove(existing)
        # The pod template's primary container keeps what the task does not set (mounts, ports...).
        merged_env = [e for e in existing.get("env") or [] if e.get("name") not in {v["name"] for v in task["env"]}]
        task = {**existing, **task, "env": merged_env + task["env"]}
    pod_spec["containers"] = [task, *containers]
    pod_spec.setdefault("restartPolicy", "Never")
    if context.service_account:
        pod_spec.setdefault("serviceAccountName", context.service_account)
    metadata["labels"].update(context.labels)
    metadata["annotations"].update(context.annotations)
    secrets = secret_annotations(template)
    if secrets:
        metadata["labels"][SECRETS_LABEL] = "true"
        metadata["annotations"].update(secrets)
    return {"metadata": metadata, "spec": pod_spec}
