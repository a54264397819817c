"""podDefaults parsing: Flyte's k8s plugin keys (flyteplugins flytek8s/config/config.go, v1.16.8)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from k8s_operator_connector.pod_defaults import (
    PodDefaults,
    PodDefaultsError,
    check_kubernetes_value,
    parse_pod_defaults,
)
from k8s_operator_connector.settings import CONFIG_ENV, SettingsError, load_settings, parse_settings

# A propeller `plugins.k8s` block as a platform team has it, pasted under podDefaults.
FLYTE_K8S_BLOCK = """
inject-finalizer: true
default-cpus: 100m
default-memory: 100Mi
default-env-vars:
  - AWS_METADATA_SERVICE_TIMEOUT: "5"
default-labels: {team: platform}
default-annotations: {cluster-autoscaler.kubernetes.io/safe-to-evict: "false"}
default-env-vars-from-env: {CLUSTER: CLUSTER_NAME}
default-env-from-configmaps: [flyte-env]
default-env-from-secrets: [flyte-secret-env]
default-tolerations:
  - {key: flyte, operator: Equal, value: "true", effect: NoSchedule}
default-node-selector: {pool: flyte}
default-affinity:
  podAntiAffinity:
    preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 10
        podAffinityTerm: {topologyKey: kubernetes.io/hostname}
scheduler-name: volcano
interruptible-tolerations:
  - {key: spot, operator: Exists, effect: NoSchedule}
interruptible-node-selector: {lifecycle: spot}
interruptible-node-selector-requirement: {key: lifecycle, operator: In, values: [spot]}
non-interruptible-node-selector-requirement: {key: lifecycle, operator: NotIn, values: [spot]}
resource-tolerations:
  nvidia.com/gpu:
    - {key: gpu, operator: Exists, effect: NoSchedule}
gpu-resource-name: amd.com/gpu
default-pod-security-context: {runAsNonRoot: true, runAsUser: 1000}
default-security-context: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}
enable-host-networking-pod: false
default-pod-dns-config: {options: [{name: ndots, value: "2"}]}
image-pull-policy: IfNotPresent
add-tolerations-for-extended-resources: [example.com/fpga]
co-pilot: {name: flyte-copilot-, image: cr.flyte.org/flyteorg/flytecopilot:v1.16.8}
create-container-error-grace-period: 3m
"""


def test_a_flyte_k8s_block_parses_with_flytes_key_names():
    defaults = parse_settings({"podDefaults": yaml.safe_load(FLYTE_K8S_BLOCK)}).pod_defaults
    assert defaults.default_labels == {"team": "platform"}
    assert defaults.default_env_vars == {"AWS_METADATA_SERVICE_TIMEOUT": "5"}
    assert defaults.default_tolerations[0]["key"] == "flyte"
    assert defaults.scheduler_name == "volcano"
    assert defaults.interruptible_node_selector_requirement == {
        "key": "lifecycle",
        "operator": "In",
        "values": ["spot"],
    }
    assert defaults.resource_tolerations["nvidia.com/gpu"][0]["key"] == "gpu"
    assert defaults.gpu_resource_name == "amd.com/gpu"
    assert defaults.default_security_context == {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
    assert defaults.enable_host_networking_pod is False
    assert defaults.image_pull_policy == "IfNotPresent"


def test_flytes_own_eks_production_block_parses():
    # charts/flyte-binary/eks-production.yaml at flyteorg/flyte v1.16.8
    # (commit 51877f899c9f95e0cb5efe90444eb0c6c6ea48a9), configuration.inline.plugins.k8s.
    block = yaml.safe_load(
        "inject-finalizer: true\n"
        "default-env-vars:\n"
        "  - AWS_METADATA_SERVICE_TIMEOUT: 5\n"
        "  - AWS_METADATA_SERVICE_NUM_ATTEMPTS: 20\n"
    )
    defaults = parse_pod_defaults(block)
    assert defaults.default_env_vars == {"AWS_METADATA_SERVICE_TIMEOUT": "5", "AWS_METADATA_SERVICE_NUM_ATTEMPTS": "20"}


def test_string_maps_take_flytes_list_of_maps_form_too():
    defaults = parse_pod_defaults({"default-env-vars": [{"A": "1"}, {"B": "2"}], "default-labels": {"c": "3"}})
    assert defaults.default_env_vars == {"A": "1", "B": "2"}
    assert defaults.default_labels == {"c": "3"}


def test_without_the_section_nothing_is_added_and_gpus_are_nvidia():
    assert parse_settings({}).pod_defaults == PodDefaults()
    assert PodDefaults().gpu_resource_name == "nvidia.com/gpu"


def test_an_unknown_key_stops_start_up_naming_it():
    with pytest.raises(SettingsError, match=r"unknown key 'podDefaults.default-lables'; allowed .*default-labels"):
        parse_settings({"podDefaults": {"default-lables": {"a": "b"}}})


@pytest.mark.parametrize(
    ("section", "message"),
    [
        (
            {"default-tolerations": [{"key": "a", "operater": "Exists"}]},
            r"unknown key podDefaults.default-tolerations\[0\].operater",
        ),
        ({"default-tolerations": [{"key": "a", "tolerationSeconds": "60"}]}, r"tolerationSeconds must be int"),
        (
            {"default-affinity": {"nodeAffinity": {"required": {}}}},
            r"unknown key podDefaults.default-affinity.nodeAffinity.required",
        ),
        ({"default-labels": {"a": [1]}}, r"podDefaults.default-labels.a must be a string"),
        ({"default-labels": ["a"]}, r"podDefaults.default-labels must map strings to strings"),
        ({"default-env-from-secrets": "s"}, r"podDefaults.default-env-from-secrets must be a list"),
        ({"scheduler-name": 5}, r"podDefaults.scheduler-name must be a non-empty string"),
        (
            {"image-pull-policy": "Sometimes"},
            r"podDefaults.image-pull-policy must be one of Always, IfNotPresent, Never",
        ),
        ({"enable-host-networking-pod": "yes"}, r"podDefaults.enable-host-networking-pod must be true or false"),
        ({"resource-tolerations": [1]}, r"podDefaults.resource-tolerations must map resource names"),
        ({"default-security-context": {"privileged": "true"}}, r"privileged must be bool"),
    ],
)
def test_bad_values_name_the_key(section, message):
    with pytest.raises(PodDefaultsError, match=message):
        parse_pod_defaults(section)


def test_the_section_must_be_a_mapping():
    with pytest.raises(SettingsError, match="podDefaults must be"):
        parse_settings({"podDefaults": ["default-labels"]})


def test_env_vars_from_env_are_read_from_the_connectors_environment(monkeypatch):
    monkeypatch.setenv("CLUSTER_NAME", "east-1")
    defaults = parse_pod_defaults(
        {"default-env-vars": {"A": "1"}, "default-env-vars-from-env": {"CLUSTER": "CLUSTER_NAME"}}
    )
    assert defaults.environment() == {"A": "1", "CLUSTER": "east-1"}


def test_a_typo_in_the_config_file_stops_start_up_naming_file_and_key(tmp_path):
    path = tmp_path / "connector.yaml"
    path.write_text("podDefaults:\n  interruptible-tolerations:\n    - {key: spot, efect: NoSchedule}\n")
    with pytest.raises(SettingsError) as raised:
        load_settings({CONFIG_ENV: str(path)})
    assert str(raised.value).startswith(f"{path}: unknown key podDefaults.interruptible-tolerations[0].efect")


ANTI_AFFINITY = {
    "podAntiAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchLabels": {"app": "x"}}, "topologyKey": "kubernetes.io/hostname"}
        ]
    }
}
SELECTOR = (
    "podDefaults.default-affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].labelSelector"
)


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ([], "podDefaults must be a mapping, got list"),
        ({"default-tolerations": {"key": "a"}}, "podDefaults.default-tolerations must be a list, got dict"),
        ({"default-tolerations": [{"key": "a", "tolerationSeconds": True}]},
         "podDefaults.default-tolerations[0].tolerationSeconds must be int, got True"),
        ({"default-affinity": "x"}, "podDefaults.default-affinity must be a mapping (Affinity), got str"),
        ({"default-pod-dns-config": {"nameserver": ["1.1.1.1"]}},
         "unknown key podDefaults.default-pod-dns-config.nameserver (PodDNSConfig); allowed: nameservers, options, "
         "searches"),
        ({"default-affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchLabels": ["app"]}}]}}},
         f"{SELECTOR}.matchLabels must be a mapping, got list"),
        ({"default-affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchLabels": {"app": 5}}}]}}},
         f"{SELECTOR}.matchLabels.app must be str, got 5"),
        ({"resource-tolerations": "x"},
         "podDefaults.resource-tolerations must map resource names to tolerations, got str"),
        ({"resource-tolerations": {"nvidia.com/gpu": [{"effect": 1}]}},
         "podDefaults.resource-tolerations.nvidia.com/gpu[0].effect must be str, got 1"),
        ({"default-env-from-configmaps": ["a", ""]},
         "podDefaults.default-env-from-configmaps must be a list of non-empty strings, got ['a', '']"),
    ],
)  # fmt: skip
def test_each_refusal_names_the_path_and_what_is_allowed(section, message):
    with pytest.raises(PodDefaultsError) as raised:
        parse_pod_defaults(section)
    assert str(raised.value) == message


def test_an_unknown_key_lists_flytes_keys_in_order():
    with pytest.raises(PodDefaultsError) as raised:
        parse_pod_defaults({"nope": 1})
    assert str(raised.value).startswith(
        "unknown key 'podDefaults.nope'; allowed (Flyte's k8s plugin keys): add-tolerations-for-extended-resources, "
        "co-pilot, create-container-config-error-grace-period, create-container-error-grace-period, default-affinity, "
    )


def test_an_affinity_with_label_selectors_is_taken_and_kept_apart_from_the_input():
    section: dict[str, Any] = {
        "default-affinity": copy.deepcopy(ANTI_AFFINITY),
        "default-tolerations": [{"key": "a", "operator": "Exists"}],
    }
    defaults = parse_pod_defaults(section)
    assert defaults.default_affinity is not None and defaults.default_affinity == ANTI_AFFINITY
    # Later changes to the loaded document (or to a pod built from it) do not reach the defaults.
    section["default-affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"].clear()
    section["default-tolerations"][0]["key"] = "b"
    assert defaults.default_affinity["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert defaults.default_tolerations == ({"key": "a", "operator": "Exists"},)


def test_booleans_and_numbers_in_string_maps_are_written_as_flytes_weakly_typed_loader_writes_them():
    """mapstructure's WeaklyTypedInput (Flyte's config loader): true -> "1", false -> "0", 5 -> "5"."""
    defaults = parse_pod_defaults({"default-env-vars": {"ON": True, "OFF": False, "N": 5, "X": 0.5}})
    assert defaults.default_env_vars == {"ON": "1", "OFF": "0", "N": "5", "X": "0.5"}


def test_an_env_var_from_an_unset_variable_is_empty(monkeypatch):
    """As Go's os.Getenv: an unset variable reads as ""."""
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    assert parse_pod_defaults({"default-env-vars-from-env": {"A": "NOT_SET_ANYWHERE"}}).environment() == {"A": ""}


def test_json_values_any_type_and_whole_numbers_are_fine_floats():
    # An HTTPGetAction's port is an IntOrString ("object" in the client's models).
    check_kubernetes_value({"port": "http", "path": "/"}, "V1HTTPGetAction", "probe")
    check_kubernetes_value({"port": 8080}, "V1HTTPGetAction", "probe")
    check_kubernetes_value(1, "float", "x")
    with pytest.raises(PodDefaultsError, match="^x must be float, got True$"):
        check_kubernetes_value(True, "float", "x")
