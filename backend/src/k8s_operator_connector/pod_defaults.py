"""Cluster-wide pod defaults with the keys and meaning of Flyte's k8s plugin configuration.

The ``podDefaults`` section of the connector's configuration takes the keys of propeller's
``plugins.k8s`` block (flyteplugins ``pluginmachinery/flytek8s/config/config.go``,
v1.16.8), so a platform team can copy theirs. The keys that shape pods are applied to every
worker pod the machinery builds, in the order and with the precedence of flyteplugins'
``flytek8s/pod_helper.go`` (``UpdatePod``, ``ApplyFlytePodConfiguration``,
``AddTolerationsForExtendedResources``) and ``k8s_resource_adds.go`` (``DecorateEnvVars``,
``GetPodTolerations``). The other keys of that block are accepted and ignored (they concern
propeller's own pod handling); anything else is a start-up error naming the key.
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import kubernetes.client.models as k8s_models  # type: ignore[import-untyped]

DEFAULT_GPU_RESOURCE_NAME = "nvidia.com/gpu"
# Flyte's abstract GPU resource name, renamed to gpu-resource-name (SanitizeGPUResourceRequirements).
FLYTE_GPU = "gpu"

# Keys of Flyte's k8s plugin config that concern propeller's own pods, not the operator's.
IGNORED_KEYS: Mapping[str, str] = {
    "inject-finalizer": "the connector deletes finished objects itself (finishedRetentionSeconds)",
    "default-cpus": "the operator's pods take the task's requests as written",
    "default-memory": "the operator's pods take the task's requests as written",
    "co-pilot": "raw-container tasks are not served by this connector",
    "delete-resource-on-finalize": "the connector deletes finished objects itself (finishedRetentionSeconds)",
    "create-container-error-grace-period": "the operator decides when a worker has failed",
    "create-container-config-error-grace-period": "the operator decides when a worker has failed",
    "image-pull-backoff-grace-period": "the operator decides when a worker has failed",
    "pod-pending-timeout": "the operator decides when a worker has failed",
    "gpu-device-node-label": "applies to tasks with a GPU accelerator, which propeller handles",
    "gpu-partition-size-node-label": "applies to tasks with a GPU accelerator, which propeller handles",
    "gpu-unpartitioned-node-selector-requirement": "applies to tasks with a GPU accelerator",
    "gpu-unpartitioned-toleration": "applies to tasks with a GPU accelerator",
    "default-pod-template-name": "PodTemplate objects are read by propeller, not by the connector",
    "default-pod-template-resync": "PodTemplate objects are read by propeller, not by the connector",
    "send-object-events": "propeller's own event reporting",
    "update-base-backoff-duration": "propeller's own API retries (see api.maxRetries)",
    "update-backoff-retries": "propeller's own API retries (see api.maxRetries)",
    "enable-distributed-error-aggregation": "propeller's error aggregation for its own plugins",
}


class PodDefaultsError(ValueError):
    """A podDefaults value is invalid; the message names the key and what is allowed."""


@dataclass(frozen=True)
class PodDefaults:
    """The applied keys of Flyte's k8s plugin config (Flyte's key in each comment)."""

    default_labels: dict[str, str] = field(default_factory=dict)  # default-labels
    default_annotations: dict[str, str] = field(default_factory=dict)  # default-annotations
    default_env_vars: dict[str, str] = field(default_factory=dict)  # default-env-vars
    default_env_vars_from_env: dict[str, str] = field(default_factory=dict)  # default-env-vars-from-env
    default_env_from_configmaps: tuple[str, ...] = ()  # default-env-from-configmaps
    default_env_from_secrets: tuple[str, ...] = ()  # default-env-from-secrets
    default_tolerations: tuple[dict[str, Any], ...] = ()  # default-tolerations
    default_node_selector: dict[str, str] = field(default_factory=dict)  # default-node-selector
    default_affinity: dict[str, Any] | None = None  # default-affinity
    scheduler_name: str = ""  # scheduler-name
    interruptible_tolerations: tuple[dict[str, Any], ...] = ()  # interruptible-tolerations
    interruptible_node_selector: dict[str, str] = field(default_factory=dict)  # interruptible-node-selector
    interruptible_node_selector_requirement: dict[str, Any] | None = None
    non_interruptible_node_selector_requirement: dict[str, Any] | None = None
    resource_tolerations: dict[str, tuple[dict[str, Any], ...]] = field(default_factory=dict)
    gpu_resource_name: str = DEFAULT_GPU_RESOURCE_NAME  # gpu-resource-name
    default_pod_security_context: dict[str, Any] | None = None  # default-pod-security-context
    default_security_context: dict[str, Any] | None = None  # default-security-context
    enable_host_networking_pod: bool | None = None  # enable-host-networking-pod
    default_pod_dns_config: dict[str, Any] | None = None  # default-pod-dns-config
    image_pull_policy: str = ""  # image-pull-policy
    add_tolerations_for_extended_resources: tuple[str, ...] = ()  # add-tolerations-for-extended-resources

    def environment(self) -> dict[str, str]:
        """default-env-vars, then default-env-vars-from-env read from the connector's environment."""
        values = dict(self.default_env_vars)
        values.update({name: os.environ.get(source, "") for name, source in self.default_env_vars_from_env.items()})
        return values


# ------------------------------------------------------------------ parsing

_STRING_MAPS = {
    "default-labels": "default_labels",
    "default-annotations": "default_annotations",
    "default-env-vars": "default_env_vars",
    "default-env-vars-from-env": "default_env_vars_from_env",
    "default-node-selector": "default_node_selector",
    "interruptible-node-selector": "interruptible_node_selector",
}
_STRING_LISTS = {
    "default-env-from-configmaps": "default_env_from_configmaps",
    "default-env-from-secrets": "default_env_from_secrets",
    "add-tolerations-for-extended-resources": "add_tolerations_for_extended_resources",
}
_TOLERATION_LISTS = {
    "default-tolerations": "default_tolerations",
    "interruptible-tolerations": "interruptible_tolerations",
}
# Key -> (attribute, Kubernetes model the value must be).
_OBJECTS = {
    "default-affinity": ("default_affinity", "V1Affinity"),
    "interruptible-node-selector-requirement": ("interruptible_node_selector_requirement", "V1NodeSelectorRequirement"),
    "non-interruptible-node-selector-requirement": (
        "non_interruptible_node_selector_requirement",
        "V1NodeSelectorRequirement",
    ),
    "default-pod-security-context": ("default_pod_security_context", "V1PodSecurityContext"),
    "default-security-context": ("default_security_context", "V1SecurityContext"),
    "default-pod-dns-config": ("default_pod_dns_config", "V1PodDNSConfig"),
}
_STRINGS = {"scheduler-name": "scheduler_name", "gpu-resource-name": "gpu_resource_name"}
_PULL_POLICIES = ("Always", "IfNotPresent", "Never")
_LIST_TYPE = re.compile(r"^list\[(.+)\]$")
_DICT_TYPE = re.compile(r"^dict\[str, (.+)\]$")
APPLIED_KEYS = frozenset(
    [
        *_STRING_MAPS,
        *_STRING_LISTS,
        *_TOLERATION_LISTS,
        *_OBJECTS,
        *_STRINGS,
        "resource-tolerations",
        "enable-host-networking-pod",
        "image-pull-policy",
    ]
)


def _kind(value: Any) -> str:
    return type(value).__name__


def check_kubernetes_value(value: Any, type_name: str, where: str) -> None:
    """Checks a JSON-style value against a Kubernetes API type (field names and value types).

    The types come from the official client's models (``openapi_types``/``attribute_map``),
    so an unknown or misspelled field anywhere inside is reported with its path.
    """
    scalars: dict[str, tuple[type, ...]] = {"str": (str,), "int": (int,), "bool": (bool,), "float": (int, float)}
    if type_name in scalars:
        wrong_bool = isinstance(value, bool) and type_name != "bool"
        if wrong_bool or not isinstance(value, scalars[type_name]):
            raise PodDefaultsError(f"{where} must be {type_name}, got {value!r}")
        return
    if type_name == "object":
        return
    if match := _LIST_TYPE.match(type_name):
        if not isinstance(value, list):
            raise PodDefaultsError(f"{where} must be a list, got {_kind(value)}")
        for index, item in enumerate(value):
            check_kubernetes_value(item, match.group(1), f"{where}[{index}]")
        return
    if match := _DICT_TYPE.match(type_name):
        if not isinstance(value, Mapping):
            raise PodDefaultsError(f"{where} must be a mapping, got {_kind(value)}")
        for key, item in value.items():
            check_kubernetes_value(item, match.group(1), f"{where}.{key}")
        return
    model = getattr(k8s_models, type_name)
    if not isinstance(value, Mapping):
        raise PodDefaultsError(f"{where} must be a mapping ({type_name[2:]}), got {_kind(value)}")
    fields = {json_name: model.openapi_types[attribute] for attribute, json_name in model.attribute_map.items()}
    for key, item in value.items():
        if key not in fields:
            raise PodDefaultsError(f"unknown key {where}.{key} ({type_name[2:]}); allowed: {', '.join(sorted(fields))}")
        check_kubernetes_value(item, fields[key], f"{where}.{key}")


def _string_map(value: Any, where: str) -> dict[str, str]:
    # Flyte's config loader (mapstructure, weakly typed) also takes a list of maps, e.g. the
    # `default-env-vars: [{KEY: value}]` of Flyte's own sandbox configuration; they are merged.
    if isinstance(value, list) and all(isinstance(item, Mapping) for item in value):
        value = {key: item for part in value for key, item in part.items()}
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise PodDefaultsError(f"{where} must map strings to strings, got {value!r}")
    return {key: _weak_string(item, f"{where}.{key}") for key, item in value.items()}


def _weak_string(value: Any, where: str) -> str:
    """Weakly typed like Flyte's loader: ``TIMEOUT: 5`` is the string "5" (a bool is "1"/"0")."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | float):
        return str(value)
    if not isinstance(value, str):
        raise PodDefaultsError(f"{where} must be a string, got {value!r}")
    return value


def _string_list(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise PodDefaultsError(f"{where} must be a list of non-empty strings, got {value!r}")
    return tuple(value)


def _tolerations(value: Any, where: str) -> tuple[dict[str, Any], ...]:
    check_kubernetes_value(value, "list[V1Toleration]", where)
    return tuple(copy.deepcopy(value))


def parse_pod_defaults(data: Any, where: str = "podDefaults") -> PodDefaults:
    """Validates the section (Flyte's key names); raises PodDefaultsError naming the key."""
    if data is None:
        return PodDefaults()
    if not isinstance(data, Mapping):
        raise PodDefaultsError(f"{where} must be a mapping, got {_kind(data)}")
    values: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{where}.{key}"
        if key in IGNORED_KEYS or value is None:
            continue
        if key in _STRING_MAPS:
            values[_STRING_MAPS[key]] = _string_map(value, path)
        elif key in _STRING_LISTS:
            values[_STRING_LISTS[key]] = _string_list(value, path)
        elif key in _TOLERATION_LISTS:
            values[_TOLERATION_LISTS[key]] = _tolerations(value, path)
        elif key in _OBJECTS:
            attribute, model = _OBJECTS[key]
            check_kubernetes_value(value, model, path)
            values[attribute] = copy.deepcopy(dict(value))
        elif key in _STRINGS:
            if not isinstance(value, str) or not value:
                raise PodDefaultsError(f"{path} must be a non-empty string, got {value!r}")
            values[_STRINGS[key]] = value
        elif key == "resource-tolerations":
            if not isinstance(value, Mapping):
                raise PodDefaultsError(f"{path} must map resource names to tolerations, got {_kind(value)}")
            values["resource_tolerations"] = {
                str(name): _tolerations(items, f"{path}.{name}") for name, items in value.items()
            }
        elif key == "enable-host-networking-pod":
            if not isinstance(value, bool):
                raise PodDefaultsError(f"{path} must be true or false, got {value!r}")
            values["enable_host_networking_pod"] = value
        elif key == "image-pull-policy":
            if value not in _PULL_POLICIES:
                raise PodDefaultsError(f"{path} must be one of {', '.join(_PULL_POLICIES)}, got {value!r}")
            values["image_pull_policy"] = value
        else:
            allowed = ", ".join(sorted(APPLIED_KEYS | set(IGNORED_KEYS)))
            raise PodDefaultsError(f"unknown key {path!r}; allowed (Flyte's k8s plugin keys): {allowed}")
    return PodDefaults(**values)
