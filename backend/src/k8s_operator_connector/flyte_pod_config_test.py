"""podDefaults on worker pods, with Flyte's precedence.

Expected behaviour read from github.com/flyteorg/flyte v1.16.8
(commit 51877f899c9f95e0cb5efe90444eb0c6c6ea48a9), flyteplugins/go/tasks/pluginmachinery/flytek8s/:
pod_helper.go UpdatePod / ApplyInterruptibleNodeAffinity / ApplyFlytePodConfiguration /
AddTolerationsForExtendedResources, k8s_resource_adds.go DecorateEnvVars / GetPodTolerations,
container_helper.go SanitizeGPUResourceRequirements, and kfoperators/common/common_operator.go
ToReplicaSpec for labels and annotations.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from flytekit.models import task as task_models
from flytekit.models.security import Secret, SecurityContext

from k8s_operator_connector.plugins.parallel_job import ParallelJobPlugin
from k8s_operator_connector.pod_defaults import parse_pod_defaults
from k8s_operator_connector.settings import ConnectorSettings
from k8s_operator_connector.testing.flyte_models import make_request, make_template

SPOT = {"key": "spot", "operator": "Exists", "effect": "NoSchedule"}
FLYTE = {"key": "flyte", "operator": "Equal", "value": "true", "effect": "NoSchedule"}
GPU_TAINT = {"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}
DEFAULTS = {
    "default-labels": {"team": "platform", "tier": "default"},
    "default-annotations": {"owner": "platform", "cost-center": "42"},
    "default-env-vars": {"FOO": "from-defaults", "REGION": "eu"},
    "default-env-from-secrets": ["flyte-secret-env"],
    "default-tolerations": [FLYTE],
    "default-node-selector": {"pool": "flyte", "disk": "ssd"},
    "scheduler-name": "volcano",
    "interruptible-tolerations": [SPOT],
    "interruptible-node-selector": {"pool": "spot"},
    "interruptible-node-selector-requirement": {"key": "lifecycle", "operator": "In", "values": ["spot"]},
    "non-interruptible-node-selector-requirement": {"key": "lifecycle", "operator": "NotIn", "values": ["spot"]},
    "resource-tolerations": {"amd.com/gpu": [GPU_TAINT]},
    "gpu-resource-name": "amd.com/gpu",
    "default-pod-security-context": {"runAsNonRoot": True},
    "default-security-context": {"allowPrivilegeEscalation": False},
    "default-pod-dns-config": {"options": [{"name": "ndots", "value": "2"}]},
    "image-pull-policy": "IfNotPresent",
    "add-tolerations-for-extended-resources": ["example.com/fpga"],
}
plugin = ParallelJobPlugin()


def pod(defaults: dict[str, Any] | None = None, **template_kwargs: Any) -> dict[str, Any]:
    settings = dataclasses.replace(
        ConnectorSettings(), pod_defaults=parse_pod_defaults(DEFAULTS if defaults is None else defaults)
    )
    template = make_template(**template_kwargs)
    return plugin.build_object(make_request(template, settings)).manifest["spec"]["template"]


def env(container: dict[str, Any]) -> dict[str, str]:
    return {item["name"]: item["value"] for item in container["env"] if "value" in item}


def gpu_resources() -> task_models.Resources:
    gpu = task_models.Resources.ResourceEntry(task_models.Resources.ResourceName.GPU, "1")
    return task_models.Resources(requests=[gpu], limits=[gpu])


def with_pod_template(spec: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    primary = {"name": "primary", "image": "app:1", "args": ["pyflyte-execute"], **kwargs.pop("primary", {})}
    pod_spec = {"containers": [primary, {"name": "sidecar", "image": "busybox"}], **spec}
    metadata = task_models.K8sObjectMetadata(labels={"tier": "template"}, annotations={"owner": "template"})
    return {
        "k8s_pod": task_models.K8sPod(metadata=metadata, pod_spec=pod_spec),
        "config": {"primary_container_name": "primary"},
    }


def test_without_defaults_nothing_is_added():
    built = pod({})
    assert set(built["spec"]) == {"containers", "restartPolicy", "serviceAccountName"}
    assert "securityContext" not in built["spec"]["containers"][0]


def test_labels_and_annotations_defaults_lose_to_the_pod_template_and_the_execution():
    metadata = pod(**with_pod_template({}))["metadata"]
    assert metadata["labels"]["team"] == "ml"  # the execution's label (make_metadata) beats the default
    assert metadata["labels"]["tier"] == "template"  # the pod template's beats the default
    assert metadata["annotations"]["owner"] == "data-team"  # the execution's beats template and default
    assert metadata["annotations"]["cost-center"] == "42"


def test_default_env_vars_are_appended_last_as_flyte_does_but_the_plugins_own_win():
    built = pod(env={"FOO": "from-task", "KEEP": "1"}, **{})
    worker = built["spec"]["containers"][0]
    values = env(worker)
    # DecorateEnvVars appends the defaults after the task's env; Kubernetes uses the last one.
    assert values["FOO"] == "from-defaults" and values["KEEP"] == "1" and values["REGION"] == "eu"
    assert values["FLYTE_K8S_OPERATOR_EXCHANGE_PREFIX"] == "s3://bucket/out/exchange"
    assert [name for name in (item["name"] for item in worker["env"])].count("FOO") == 1
    assert worker["envFrom"] == [{"secretRef": {"name": "flyte-secret-env", "optional": True}}]


def test_sidecars_get_the_default_env_but_not_the_primarys_security_context():
    built = pod(**with_pod_template({}))
    worker, sidecar = built["spec"]["containers"]
    assert env(sidecar)["REGION"] == "eu"
    assert "FLYTE_K8S_OPERATOR_EXCHANGE_PREFIX" not in env(sidecar)
    assert worker["securityContext"] == {"allowPrivilegeEscalation": False}
    assert "securityContext" not in sidecar
    assert "imagePullPolicy" not in worker  # Flyte sets it on containers it builds, not on pod templates'


def test_tolerations_resource_then_interruptible_then_default_then_the_pods_own():
    own = {"key": "own", "operator": "Exists"}
    pod_spec = pod(interruptible=True, resources=gpu_resources())["spec"]
    assert pod_spec["tolerations"] == [GPU_TAINT, SPOT, FLYTE]
    templated = pod(
        interruptible=True,
        **with_pod_template({"tolerations": [own]}, primary={"resources": {"limits": {"gpu": "1"}}}),
    )["spec"]
    assert templated["tolerations"] == [GPU_TAINT, SPOT, FLYTE, own]


def test_not_interruptible_no_interruptible_tolerations_or_selector():
    pod_spec = pod(interruptible=False)["spec"]
    assert pod_spec["tolerations"] == [FLYTE]
    assert pod_spec["nodeSelector"] == {"pool": "flyte", "disk": "ssd"}
    terms = pod_spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert terms == [{"matchExpressions": [{"key": "lifecycle", "operator": "NotIn", "values": ["spot"]}]}]


def test_interruptible_is_read_from_the_task_templates_metadata():
    pod_spec = pod(interruptible=True)["spec"]
    assert SPOT in pod_spec["tolerations"]
    # UnionMaps(default, pod's own) then UnionMaps(that, interruptible): the interruptible selector wins.
    assert pod_spec["nodeSelector"] == {"pool": "spot", "disk": "ssd"}
    assert pod(interruptible=None)["spec"]["nodeSelector"]["pool"] == "flyte"  # unset: not interruptible


def test_the_pods_own_node_selector_beats_the_default():
    pod_spec = pod(**with_pod_template({"nodeSelector": {"pool": "mine"}}))["spec"]
    assert pod_spec["nodeSelector"] == {"pool": "mine", "disk": "ssd"}


def test_interruptible_requirement_is_anded_into_every_term_of_the_pods_affinity():
    affinity = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]},
                    {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["b"]}]},
                ]
            }
        }
    }
    defaults = {**DEFAULTS, "default-affinity": {"podAffinity": {}}}
    pod_spec = pod(defaults, interruptible=True, **with_pod_template({"affinity": affinity}))["spec"]
    terms = pod_spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    spot = {"key": "lifecycle", "operator": "In", "values": ["spot"]}
    assert [term["matchExpressions"][-1] for term in terms] == [spot, spot]
    assert "podAffinity" not in pod_spec["affinity"]  # the pod's own affinity beats default-affinity
    assert pod(defaults)["spec"]["affinity"]["podAffinity"] == {}


def test_pod_level_settings_of_the_pod_template_beat_the_defaults():
    own = {"schedulerName": "mine", "securityContext": {"runAsUser": 7}, "dnsConfig": {"nameservers": ["1.1.1.1"]}}
    pod_spec = pod(**with_pod_template(own))["spec"]
    assert pod_spec["schedulerName"] == "mine"
    assert pod_spec["securityContext"] == {"runAsUser": 7}
    assert pod_spec["dnsConfig"] == {"nameservers": ["1.1.1.1"]}
    plain = pod()["spec"]
    assert plain["schedulerName"] == "volcano" and plain["securityContext"] == {"runAsNonRoot": True}
    assert plain["dnsConfig"] == {"options": [{"name": "ndots", "value": "2"}]}
    assert plain["containers"][0]["imagePullPolicy"] == "IfNotPresent"


def test_gpus_get_the_clusters_resource_name():
    worker = pod(resources=gpu_resources())["spec"]["containers"][0]
    assert worker["resources"] == {"requests": {"amd.com/gpu": "1"}, "limits": {"amd.com/gpu": "1"}}
    default_name = pod({}, resources=gpu_resources())["spec"]["containers"][0]
    assert default_name["resources"]["limits"] == {"nvidia.com/gpu": "1"}
    # The SDK writes Flyte's "gpu" into worker_resources; the connector names it for the cluster.
    custom = {"workers": 1, "workerResources": {"requests": {"gpu": "2"}, "limits": {"gpu": "2"}}}
    from_custom = pod(custom=custom)["spec"]
    assert from_custom["containers"][0]["resources"]["limits"] == {"amd.com/gpu": "2"}
    assert from_custom["tolerations"][0] == GPU_TAINT


def test_extended_resources_get_their_toleration_once():
    custom = {"workers": 1, "workerResources": {"requests": {"example.com/fpga": "1"}}}
    tolerations = pod(custom=custom)["spec"]["tolerations"]
    assert tolerations.count({"key": "example.com/fpga", "operator": "Exists", "effect": "NoSchedule"}) == 1


def test_host_networking_is_forced_when_configured():
    assert pod({"enable-host-networking-pod": True}, **with_pod_template({"hostNetwork": False}))["spec"]["hostNetwork"]


def test_secrets_label_and_annotations_beat_defaults():
    defaults = {"default-annotations": {"flyte.secrets/s0": "forged"}, "default-labels": {"inject-flyte-secrets": "no"}}
    metadata = pod(defaults, security_context=SecurityContext(secrets=[Secret(group="db", key="pw")]))["metadata"]
    assert metadata["labels"]["inject-flyte-secrets"] == "true"
    assert metadata["annotations"]["flyte.secrets/s0"] != "forged"


def test_init_containers_get_the_env_and_env_from_sources_after_their_own():
    from k8s_operator_connector.flyte_pod_config import decorate_env

    defaults = parse_pod_defaults(
        {"default-env-vars": {"A": "1"}, "default-env-from-configmaps": ["cm"], "default-env-from-secrets": ["s"]}
    )
    own = {"configMapRef": {"name": "mine"}}
    pod_spec: dict[str, Any] = {"initContainers": [{"name": "init", "envFrom": [own]}], "containers": [{"name": "c"}]}
    decorate_env(pod_spec, defaults, {"E": "x"})
    init, main = pod_spec["initContainers"][0], pod_spec["containers"][0]
    assert init["env"] == main["env"] == [{"name": "E", "value": "x"}, {"name": "A", "value": "1"}]
    sources = [{"secretRef": {"name": "s", "optional": True}}, {"configMapRef": {"name": "cm", "optional": True}}]
    assert init["envFrom"] == [own, *sources]
    assert main["envFrom"] == sources


def test_update_pod_fills_only_what_the_pod_leaves_empty():
    from k8s_operator_connector.flyte_pod_config import update_pod

    defaults = parse_pod_defaults(
        {
            "default-security-context": {"allowPrivilegeEscalation": False},
            "resource-tolerations": {"example.com/fpga": [GPU_TAINT]},
            "add-tolerations-for-extended-resources": ["example.com/fpga"],
        }
    )
    own_toleration = {"key": "own", "operator": "Exists"}
    pod_spec: dict[str, Any] = {
        "containers": [
            {"name": "c", "securityContext": {"runAsUser": 7}, "resources": {"requests": {"example.com/fpga": "1"}}}
        ],
        "tolerations": [own_toleration],
    }
    update_pod(pod_spec, defaults, interruptible=False)
    assert pod_spec["restartPolicy"] == "Never"  # UpdatePod: RestartPolicyNever when empty
    assert pod_spec["containers"][0]["securityContext"] == {"runAsUser": 7}
    # The requested resource's configured toleration, the pod's own, then the extended resource's.
    fpga = {"key": "example.com/fpga", "operator": "Exists", "effect": "NoSchedule"}
    assert pod_spec["tolerations"] == [GPU_TAINT, own_toleration, fpga]
    kept: dict[str, Any] = {"containers": [{"name": "c"}], "restartPolicy": "OnFailure"}
    update_pod(kept, defaults, interruptible=False)
    assert kept["restartPolicy"] == "OnFailure"


def test_a_node_selector_term_without_match_expressions_gets_the_requirement():
    from k8s_operator_connector.flyte_pod_config import update_pod

    defaults = parse_pod_defaults(
        {"non-interruptible-node-selector-requirement": DEFAULTS["non-interruptible-node-selector-requirement"]}
    )
    fields_only = {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]}
    affinity = {
        "nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [fields_only]}}
    }
    pod_spec: dict[str, Any] = {"containers": [{"name": "c"}], "affinity": affinity}
    update_pod(pod_spec, defaults, interruptible=False)
    [term] = pod_spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert term["matchExpressions"] == [DEFAULTS["non-interruptible-node-selector-requirement"]]


def test_pods_get_copies_of_the_defaults_so_one_pod_cannot_change_the_next():
    from k8s_operator_connector.flyte_pod_config import decorate_env, update_pod

    near = {"requiredDuringSchedulingIgnoredDuringExecution": [{"topologyKey": "zone", "labelSelector": {}}]}
    nested = {
        "default-affinity": {"podAffinity": near},
        "default-pod-security-context": {"seccompProfile": {"type": "RuntimeDefault"}},
        "default-security-context": {"capabilities": {"drop": ["ALL"]}},
    }
    defaults = parse_pod_defaults({**DEFAULTS, **nested})

    def built() -> dict[str, Any]:
        pod_spec: dict[str, Any] = {"containers": [{"name": "c"}, {"name": "sidecar"}]}
        update_pod(pod_spec, defaults, interruptible=False)
        decorate_env(pod_spec, defaults, {})
        return pod_spec

    first, second = built(), built()
    first["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0]["topologyKey"] = "host"
    first["securityContext"]["seccompProfile"]["type"] = "Unconfined"
    first["dnsConfig"]["options"].clear()
    first["tolerations"][0]["key"] = "changed"
    first["containers"][0]["securityContext"]["capabilities"]["drop"].clear()
    first["containers"][0]["envFrom"][0]["secretRef"]["name"] = "changed"
    terms = first["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    terms[0]["matchExpressions"][0]["values"].append("changed")
    secret_env = [{"secretRef": {"name": "flyte-secret-env", "optional": True}}]
    assert first["containers"][1]["envFrom"] == secret_env  # not shared between containers either
    for pod_spec in (second, built()):
        assert pod_spec["affinity"]["podAffinity"] == near
        assert pod_spec["securityContext"] == {"seccompProfile": {"type": "RuntimeDefault"}}
        assert pod_spec["dnsConfig"] == {"options": [{"name": "ndots", "value": "2"}]}
        assert pod_spec["tolerations"] == [FLYTE]
        assert pod_spec["containers"][0]["securityContext"] == {"capabilities": {"drop": ["ALL"]}}
        assert pod_spec["containers"][0]["envFrom"] == secret_env
        spot_free = pod_spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        assert spot_free["nodeSelectorTerms"][0]["matchExpressions"][0]["values"] == ["spot"]


def test_a_pod_without_tolerations_gets_the_extended_resources():
    from k8s_operator_connector.flyte_pod_config import update_pod

    defaults = parse_pod_defaults({"add-tolerations-for-extended-resources": ["example.com/fpga"]})
    pod_spec: dict[str, Any] = {"containers": [{"name": "c", "resources": {"requests": {"example.com/fpga": "1"}}}]}
    update_pod(pod_spec, defaults, interruptible=False)
    assert pod_spec["tolerations"] == [{"key": "example.com/fpga", "operator": "Exists", "effect": "NoSchedule"}]
