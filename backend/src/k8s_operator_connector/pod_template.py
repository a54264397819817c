"""The task's container as a Kubernetes pod template, for operators that run pods.

Image, rendered ``pyflyte-execute`` args, environment, resources and secret requests
come from the TaskTemplate (propeller renders the args' ``{{.input}}``-style
placeholders before CreateTask; anything left is rendered here against the output
prefix). A task's own pod template (``pod_template=`` in flytekit) is honoured: its
primary container receives the task container's settings, comes first, and is renamed
to the name the plugin's operator requires (as Flyte's Kubeflow plugins rename it).
The cluster's ``podDefaults`` (Flyte's k8s plugin keys) are applied last, with Flyte's
precedence (``flyte_pod_config``).
"""

from __future__ import annotations

import copy
from typing import Any

from flytekit.models import task as task_models

from k8s_operator_connector.flyte_pod_config import decorate_env, merge_env, pod_metadata, sanitize_gpu, update_pod
from k8s_operator_connector.flyte_secrets import SecretRequestError, injection_metadata
from k8s_operator_connector.operator_plugin import InvalidTaskError, TaskRequest
from k8s_operator_connector.pod_defaults import (
    DEFAULT_GPU_RESOURCE_NAME,
    FLYTE_GPU,
    PodDefaultsError,
    check_kubernetes_value,
)

_RESOURCE_NAMES = {
    task_models.Resources.ResourceName.CPU: "cpu",
    task_models.Resources.ResourceName.GPU: FLYTE_GPU,
    task_models.Resources.ResourceName.MEMORY: "memory",
    task_models.Resources.ResourceName.EPHEMERAL_STORAGE: "ephemeral-storage",
}
DEFAULT_PRIMARY_CONTAINER = "worker"


def resources_dict(
    resources: task_models.Resources | None, gpu_resource_name: str = DEFAULT_GPU_RESOURCE_NAME
) -> dict[str, dict[str, str]]:
    """Flyte's request/limit entries as a Kubernetes ResourceRequirements dict.

    A GPU request gets the cluster's GPU resource name (podDefaults ``gpu-resource-name``).
    """
    if resources is None:
        return {}
    result: dict[str, dict[str, str]] = {}
    for kind, entries in (("requests", resources.requests), ("limits", resources.limits)):
        values = {_RESOURCE_NAMES[e.name]: e.value for e in entries or [] if e.name in _RESOURCE_NAMES and e.value}
        if FLYTE_GPU in values:
            values[gpu_resource_name] = values.pop(FLYTE_GPU)
        if values:
            result[kind] = values
    return result


def interruptible(template: task_models.TaskTemplate) -> bool:
    """The task's ``interruptible`` flag (TaskTemplate.metadata.interruptible; unset: False)."""
    return bool(template.metadata is not None and template.metadata.interruptible)


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


def _raw_task_container(request: TaskRequest, name: str) -> dict[str, Any]:
    """The TaskTemplate's container as written (Flyte's BuildRawContainer)."""
    container = request.template.container
    if container is None:
        raise InvalidTaskError("container", "the task has no container; it must be a Python function task")
    if not container.image:
        raise InvalidTaskError("container.image", "empty; set container_image on the task")
    defaults = request.settings.pod_defaults
    spec: dict[str, Any] = {
        "name": name,
        "image": container.image,
        "args": render_args(list(container.args or []), request.output_prefix),
        "env": merge_env([], dict(container.env or {})),
    }
    if container.command:
        spec["command"] = list(container.command)
    resources = resources_dict(container.resources, defaults.gpu_resource_name)
    if resources:
        spec["resources"] = resources
    if defaults.image_pull_policy:
        spec["imagePullPolicy"] = defaults.image_pull_policy
    return spec


def task_container(request: TaskRequest, name: str, extra_env: dict[str, str]) -> dict[str, Any]:
    """The TaskTemplate's container as a container spec, for CRDs that take a container.

    Env: the task's, the execution's, podDefaults' env vars, then ``extra_env``; plus the
    container-level podDefaults (GPU name, image pull policy, default security context).
    """
    pod_spec = {"containers": [_raw_task_container(request, name)]}
    decorate_env(pod_spec, request.settings.pod_defaults, request.context.environment)
    container = pod_spec["containers"][0]
    container["env"] = merge_env(container["env"], extra_env)
    security_context = request.settings.pod_defaults.default_security_context
    if security_context is not None:
        container["securityContext"] = copy.deepcopy(security_context)
    return container


def _containers(pod_spec: Any) -> list[dict[str, Any]]:
    """The pod template's containers, after checking the whole spec against Kubernetes' PodSpec."""
    try:
        check_kubernetes_value(pod_spec, "V1PodSpec", "k8s_pod.pod_spec")
    except PodDefaultsError as error:
        raise InvalidTaskError("k8s_pod.pod_spec", str(error)) from error
    containers = pod_spec.get("containers")
    if not containers:
        raise InvalidTaskError("k8s_pod.pod_spec.containers", "must list the task's container")
    return list(containers)


def _pod_template_primary(request: TaskRequest, pod_spec: dict[str, Any], primary_name: str) -> None:
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
    resources = primary.get("resources")
    if isinstance(resources, dict):
        primary["resources"] = sanitize_gpu(resources, request.settings.pod_defaults)
    pod_spec["containers"] = [primary, *others]


def worker_pod_template(
    request: TaskRequest,
    extra_env: dict[str, str],
    primary_container_name: str = DEFAULT_PRIMARY_CONTAINER,
    resources: dict[str, dict[str, str]] | None = None,
) -> dict[str, Any]:
    """A PodTemplateSpec whose first container runs the task.

    The task's container is named ``primary_container_name`` (what the operator requires),
    with or without a pod template; an empty name keeps the pod template's own name.
    ``resources``, when given, replace the task container's (a ``gpu`` entry is renamed to
    the cluster's GPU resource). The cluster's podDefaults are applied to the result.
    """
    template = request.template
    context = request.context
    defaults = request.settings.pod_defaults
    template_meta: dict[str, dict[str, str]] = {"labels": {}, "annotations": {}}
    if template.k8s_pod is not None:
        pod_spec = copy.deepcopy(template.k8s_pod.pod_spec or {})
        _pod_template_primary(request, pod_spec, primary_container_name)
        if template.k8s_pod.metadata is not None:
            template_meta["labels"].update(template.k8s_pod.metadata.labels or {})
            template_meta["annotations"].update(template.k8s_pod.metadata.annotations or {})
    else:
        name = primary_container_name or DEFAULT_PRIMARY_CONTAINER
        pod_spec = {"containers": [_raw_task_container(request, name)]}
    primary = pod_spec["containers"][0]
    if resources is not None:
        primary["resources"] = sanitize_gpu(resources, defaults)
    decorate_env(pod_spec, defaults, context.environment)
    primary["env"] = merge_env(primary["env"], extra_env)
    # As flytek8s UpdatePod: the execution's account unless the pod names one (empty counts as none).
    if context.service_account and not pod_spec.get("serviceAccountName"):
        pod_spec["serviceAccountName"] = context.service_account
    update_pod(pod_spec, defaults, interruptible(template))
    # Propeller unions the secret annotations and the webhook's label over the execution's own.
    secret_labels, secret_annotations = secret_injection(template)
    execution_meta = {
        "labels": {**context.labels, **secret_labels},
        "annotations": {**context.annotations, **secret_annotations},
    }
    return {"metadata": pod_metadata(defaults, template_meta, execution_meta), "spec": pod_spec}
