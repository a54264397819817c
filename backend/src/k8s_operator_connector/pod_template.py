"""The task's container as a Kubernetes pod template, for operators that run pods.

Image, rendered ``pyflyte-execute`` args, environment, resources and secret requests
come from the TaskTemplate (propeller renders the args' ``{{.input}}``-style
placeholders before CreateTask; anything left is rendered here against the output
prefix). A task's own pod template (``pod_template=`` in flytekit) is honoured: its
primary container receives the task container's settings, comes first, and is renamed
to the name the plugin's operator requires (as Flyte's Kubeflow plugins rename it).
"""

from __future__ import annotations

import copy
from typing import Any

from flytekit.models import task as task_models

from k8s_operator_connector.flyte_secrets import SecretRequestError, injection_metadata
from k8s_operator_connector.plugin import InvalidTaskError, TaskRequest

_RESOURCE_NAMES = {
    task_models.Resources.ResourceName.CPU: "cpu",
    task_models.Resources.ResourceName.GPU: "nvidia.com/gpu",
    task_models.Resources.ResourceName.MEMORY: "memory",
    task_models.Resources.ResourceName.EPHEMERAL_STORAGE: "ephemeral-storage",
}
DEFAULT_PRIMARY_CONTAINER = "worker"


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


def secret_injection(template: task_models.TaskTemplate) -> tuple[dict[str, str], dict[str, str]]:
    """(labels, annotations) for Flyte's secret webhook, exactly as propeller writes them."""
    security = template.security_context
    secrets = [secret.to_flyte_idl() for secret in (security.secrets or [])] if security is not None else []
    try:
        return injection_metadata(secrets)
    except SecretRequestError as error:
        raise InvalidTaskError(error.field_name, str(error).split(": ", 1)[1]) from error


def render_args(args: list[str], output_prefix: str) -> list[str]:
    """Fill placeholders propeller would have rendered, as flytekit's local executor does."""
    prefix = output_prefix.rstrip("/")
    replacements = {
        "{{.input}}": f"{prefix}/inputs.pb",
        "{{.outputPrefix}}": prefix,
        "{{.rawOutputDataPrefix}}": f"{prefix}/raw_output",
        "{{.checkpointOutputPrefix}}": f"{prefix}/checkpoint_output",
        "{{.prevCheckpointPrefix}}": f"{prefix}/prev_checkpoint",
    }
    rendered = []
    for arg in args:
        text = arg
        for placeholder, value in replacements.items():
            text = text.replace(placeholder, value)
        rendered.append(text)
    return rendered


def _env_list(env: dict[str, str]) -> list[dict[str, str]]:
    return [{"name": key, "value": value} for key, value in sorted(env.items())]


def _merge_env(existing: list[dict[str, Any]], added: dict[str, str]) -> list[dict[str, Any]]:
    kept = [item for item in existing if item.get("name") not in added]
    return kept + _env_list(added)


def task_container(request: TaskRequest, name: str, extra_env: dict[str, str]) -> dict[str, Any]:
    """The TaskTemplate's container (a task without a pod template) as a container spec."""
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
        "args": render_args(list(container.args or []), request.output_prefix),
        "env": _env_list(env),
    }
    if container.command:
        spec["command"] = list(container.command)
    resources = resources_dict(container.resources)
    if resources:
        spec["resources"] = resources
    return spec


def _containers(pod_spec: Any) -> list[dict[str, Any]]:
    if not isinstance(pod_spec, dict):
        raise InvalidTaskError("k8s_pod.pod_spec", "must be a PodSpec mapping")
    containers = pod_spec.get("containers")
    if not isinstance(containers, list) or not all(isinstance(c, dict) for c in containers):
        raise InvalidTaskError("k8s_pod.pod_spec.containers", "must be a list of container mappings")
    return containers


def _pod_template_primary(
    request: TaskRequest, pod_spec: dict[str, Any], extra_env: dict[str, str], primary_name: str
) -> dict[str, Any]:
    """A task with a pod template: flytekit put the task's container into it as the primary."""
    name = (request.template.config or {}).get("primary_container_name") or ""
    containers = _containers(pod_spec)
    primary = next((c for c in containers if c.get("name") == name), None)
    if primary is None:
        raise InvalidTaskError(
            "k8s_pod.pod_spec.containers", f"no container named {name!r} (the pod template's primary_container_name)"
        )
    if not primary.get("image"):
        raise InvalidTaskError("container.image", "empty; set container_image on the task")
    others = [c for c in containers if c is not primary]
    if primary_name and any(c.get("name") == primary_name for c in others):
        raise InvalidTaskError(
            "k8s_pod.pod_spec.containers",
            f"another container is named {primary_name!r}, the name this task type gives the task's own "
            f"container {name!r}; rename that container",
        )
    primary = dict(primary)
    # Like flyteplugins' kfoperators (OverridePrimaryContainerName): the operator's name wins.
    primary["name"] = primary_name or name
    primary["args"] = render_args(list(primary.get("args") or []), request.output_prefix)
    primary["env"] = _merge_env(list(primary.get("env") or []), {**request.context.environment, **extra_env})
    pod_spec["containers"] = [primary, *others]
    return primary


def worker_pod_template(
    request: TaskRequest, extra_env: dict[str, str], primary_container_name: str = DEFAULT_PRIMARY_CONTAINER
) -> dict[str, Any]:
    """A PodTemplateSpec whose first container runs the task.

    The task's container is named ``primary_container_name`` (what the operator requires),
    with or without a pod template; an empty name keeps the pod template's own name.
    """
    template = request.template
    context = request.context
    metadata: dict[str, Any] = {"labels": {}, "annotations": {}}
    if template.k8s_pod is not None:
        pod_spec = copy.deepcopy(template.k8s_pod.pod_spec or {})
        _pod_template_primary(request, pod_spec, extra_env, primary_container_name)
        pod_metadata = template.k8s_pod.metadata
        if pod_metadata is not None:
            metadata["labels"].update(pod_metadata.labels or {})
            metadata["annotations"].update(pod_metadata.annotations or {})
    else:
        name = primary_container_name or DEFAULT_PRIMARY_CONTAINER
        pod_spec = {"containers": [task_container(request, name, extra_env)]}
    pod_spec.setdefault("restartPolicy", "Never")
    if context.service_account:
        pod_spec.setdefault("serviceAccountName", context.service_account)
    metadata["labels"].update(context.labels)
    metadata["annotations"].update(context.annotations)
    # Propeller unions the secret annotations and the webhook's label over the execution's own.
    secret_labels, secret_annotations = secret_injection(template)
    metadata["labels"].update(secret_labels)
    metadata["annotations"].update(secret_annotations)
    return {"metadata": metadata, "spec": pod_spec}
