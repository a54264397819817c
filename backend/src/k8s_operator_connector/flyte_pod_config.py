"""Applies podDefaults to a worker pod the way Flyte's k8s plugin machinery does.

Sources (github.com/flyteorg/flyte v1.16.8, flyteplugins/go/tasks/pluginmachinery/flytek8s/):
``k8s_resource_adds.go`` DecorateEnvVars (env of every container: its own, the execution's,
then the defaults, appended, so with duplicate names the default is what the container
sees) and GetPodTolerations; ``pod_helper.go`` UpdatePod, ApplyInterruptibleNodeAffinity,
ApplyFlytePodConfiguration (default-security-context on the primary container only) and
AddTolerationsForExtendedResources; ``plugins/k8s/kfoperators/common/common_operator.go``
ToReplicaSpec (labels and annotations: defaults < pod template < execution).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from k8s_operator_connector.pod_defaults import FLYTE_GPU, PodDefaults


def _all_containers(pod_spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [*(pod_spec.get("initContainers") or []), *(pod_spec.get("containers") or [])]


def merge_env(existing: Iterable[dict[str, Any]], added: dict[str, str]) -> list[dict[str, Any]]:
    """The container's env with ``added`` applied last: same-named entries are replaced."""
    kept = [item for item in existing if item.get("name") not in added]
    return kept + [{"name": key, "value": value} for key, value in sorted(added.items())]


def sanitize_gpu(resources: dict[str, dict[str, str]], defaults: PodDefaults) -> dict[str, dict[str, str]]:
    """Flyte's SanitizeGPUResourceRequirements: a resource named ``gpu`` becomes gpu-resource-name."""
    result = {}
    for kind, values in resources.items():
        renamed = dict(values)
        if FLYTE_GPU in renamed:
            renamed[defaults.gpu_resource_name] = renamed.pop(FLYTE_GPU)
        result[kind] = renamed
    return result


def decorate_env(pod_spec: dict[str, Any], defaults: PodDefaults, execution_env: dict[str, str]) -> None:
    """DecorateEnvVars on every container: execution env, then default env vars, then envFrom sources."""
    default_env = defaults.environment()
    env_from = [{"configMapRef": {"name": name, "optional": True}} for name in defaults.default_env_from_configmaps]
    env_from = [
        {"secretRef": {"name": name, "optional": True}} for name in defaults.default_env_from_secrets
    ] + env_from
    for container in _all_containers(pod_spec):
        env = merge_env(container.get("env") or [], execution_env)
        container["env"] = merge_env(env, default_env)
        if env_from:
            container["envFrom"] = [*(container.get("envFrom") or []), *copy.deepcopy(env_from)]


def _resource_names(pod_spec: dict[str, Any], kinds: tuple[str, ...]) -> set[str]:
    names: set[str] = set()
    for container in pod_spec.get("containers") or []:
        resources = container.get("resources") or {}
        for kind in kinds:
            names.update((resources.get(kind) or {}).keys())
    return names


def _tolerations(pod_spec: dict[str, Any], defaults: PodDefaults, interruptible: bool) -> list[dict[str, Any]]:
    """GetPodTolerations: per-resource, then interruptible, then default ones, then the pod's own."""
    added: list[dict[str, Any]] = []
    for name in sorted(_resource_names(pod_spec, ("limits", "requests"))):
        added.extend(defaults.resource_tolerations.get(name, ()))
    if interruptible:
        added.extend(defaults.interruptible_tolerations)
    added.extend(defaults.default_tolerations)
    return [*copy.deepcopy(added), *(pod_spec.get("tolerations") or [])]


def _add_node_selector_requirement(affinity: dict[str, Any], requirement: dict[str, Any]) -> None:
    """AddRequiredNodeSelectorRequirements: AND the requirement into every required term."""
    node_affinity = affinity.setdefault("nodeAffinity", {})
    required = node_affinity.setdefault("requiredDuringSchedulingIgnoredDuringExecution", {})
    terms = required.setdefault("nodeSelectorTerms", [])
    if not terms:
        terms.append({"matchExpressions": []})
    for term in terms:
        term.setdefault("matchExpressions", []).append(copy.deepcopy(requirement))


def _extended_resource_tolerations(pod_spec: dict[str, Any], defaults: PodDefaults) -> None:
    """AddTolerationsForExtendedResources: tolerate the taint of each configured resource requested."""
    requested: set[str] = set()
    for container in _all_containers(pod_spec):
        requested.update(((container.get("resources") or {}).get("requests") or {}).keys())
    tolerations = pod_spec.get("tolerations") or []
    for name in sorted(requested & set(defaults.add_tolerations_for_extended_resources)):
        toleration = {"key": name, "operator": "Exists", "effect": "NoSchedule"}
        if toleration not in tolerations:
            tolerations.append(toleration)
    if tolerations:
        pod_spec["tolerations"] = tolerations


def update_pod(pod_spec: dict[str, Any], defaults: PodDefaults, interruptible: bool) -> None:
    """UpdatePod and the primary container's default security context (the first container)."""
    pod_spec.setdefault("restartPolicy", "Never")
    tolerations = _tolerations(pod_spec, defaults, interruptible)
    if tolerations:
        pod_spec["tolerations"] = tolerations
    if defaults.scheduler_name and not pod_spec.get("schedulerName"):
        pod_spec["schedulerName"] = defaults.scheduler_name
    node_selector = {**defaults.default_node_selector, **(pod_spec.get("nodeSelector") or {})}
    if interruptible:
        node_selector.update(defaults.interruptible_node_selector)
    if node_selector:
        pod_spec["nodeSelector"] = node_selector
    if not pod_spec.get("affinity") and defaults.default_affinity is not None:
        pod_spec["affinity"] = copy.deepcopy(defaults.default_affinity)
    requirement = (
        defaults.interruptible_node_selector_requirement
        if interruptible
        else defaults.non_interruptible_node_selector_requirement
    )
    if requirement is not None:
        _add_node_selector_requirement(pod_spec.setdefault("affinity", {}), requirement)
    if not pod_spec.get("securityContext") and defaults.default_pod_security_context is not None:
        pod_spec["securityContext"] = copy.deepcopy(defaults.default_pod_security_context)
    if defaults.enable_host_networking_pod is not None:
        pod_spec["hostNetwork"] = defaults.enable_host_networking_pod
    if not pod_spec.get("dnsConfig") and defaults.default_pod_dns_config is not None:
        pod_spec["dnsConfig"] = copy.deepcopy(defaults.default_pod_dns_config)
    primary = pod_spec["containers"][0]
    if not primary.get("securityContext") and defaults.default_security_context is not None:
        primary["securityContext"] = copy.deepcopy(defaults.default_security_context)
    _extended_resource_tolerations(pod_spec, defaults)


def pod_metadata(
    defaults: PodDefaults, template_meta: dict[str, dict[str, str]], execution_meta: dict[str, dict[str, str]]
) -> dict[str, dict[str, str]]:
    """Labels and annotations: defaults, then the pod template's, then the execution's (which win)."""
    return {
        "labels": {**defaults.default_labels, **template_meta["labels"], **execution_meta["labels"]},
        "annotations": {
            **defaults.default_annotations,
            **template_meta["annotations"],
            **execution_meta["annotations"],
        },
    }
