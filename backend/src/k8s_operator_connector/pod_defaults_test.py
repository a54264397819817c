"""podDefaults parsing: Flyte's k8s plugin keys (flyteplugins flytek8s/config/config.go, v1.16.8)."""

from __future__ import annotations

import pytest
import yaml

from k8s_operator_connector.pod_defaults import PodDefaults, PodDefaultsError, parse_pod_defaults
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
