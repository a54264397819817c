"""The rendered bundle: labels, namespace, images, RBAC, security, CRD schema, Flyte routing."""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from k8s_operator_connector.settings import parse_settings

CONFIG_DIR = Path(__file__).resolve().parent
OVERLAYS = ("default", "overlays/sandbox", "overlays/production")
# Pants runs tests with a minimal PATH: look in the usual places too (or set KUBECTL).
_KUBECTL_DIRS = ("/usr/local/bin", "/usr/bin", "/bin")


def _kubectl() -> str:
    found = (
        os.environ.get("KUBECTL")
        or shutil.which("kubectl")
        or shutil.which("kubectl", path=os.pathsep.join(_KUBECTL_DIRS))
    )
    if not found:
        pytest.fail("kubectl is not installed; the bundle tests render with `kubectl kustomize`")
    return found


def render(kustomization: str) -> list[dict[str, Any]]:
    """The objects a kustomization directory (relative to config/) builds, in order."""
    directory = CONFIG_DIR / kustomization
    result = subprocess.run([_kubectl(), "kustomize", str(directory)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"kubectl kustomize {directory} failed: {result.stderr.strip()}"
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


NAMESPACE = "flyte"
IMAGES = {
    "flyte-operator-kit/connector:0.1.0",
    "flyte-operator-kit/parallel-job-operator:0.1.0",
}
CLUSTER_SCOPED = {"Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding"}
TASK_TYPES = ["parallel_job", "custom_resource"]
CONNECTOR_ENDPOINT = "dns:///flyte-k8s-operator-connector.flyte.svc.cluster.local:8000"
# The only cluster-wide reads/writes the operator and connector need (see rbac/*.yaml).
ALLOWED_RULES = {
    "parallel-job-operator": {
        ("workloads.example.com", "paralleljobs"): {"get", "list", "watch", "patch"},
        ("workloads.example.com", "paralleljobs/status"): {"get", "patch"},
        ("workloads.example.com", "paralleljobs/finalizers"): {"update"},
        ("batch", "jobs"): {"get", "list", "watch", "create", "patch", "delete"},
        ("", "pods"): {"get", "list", "watch"},
        ("", "events"): {"create"},
        ("apiextensions.k8s.io", "customresourcedefinitions"): {"get", "list", "watch"},
    },
    "flyte-k8s-operator-connector": {
        ("workloads.example.com", "paralleljobs"): {"create", "get", "list", "watch", "delete"},
        ("", "events"): {"get", "list", "watch"},
    },
}


@pytest.fixture(scope="module", params=OVERLAYS)
def rendered(request) -> tuple[str, list[dict[str, Any]]]:
    return request.param, render(request.param)


def _of_kind(objects, kind):
    return [o for o in objects if o["kind"] == kind]


def _one(objects, kind, name):
    matches = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind} {name}"
    return matches[0]


def _flyte_config(objects):
    return [
        o
        for o in objects
        if o["metadata"].get("labels", {}).get("app.kubernetes.io/component") == "flyte-propeller-config"
    ]


def _containers(objects):
    for deployment in _of_kind(objects, "Deployment"):
        pod_spec = deployment["spec"]["template"]["spec"]
        for container in pod_spec.get("initContainers", []) + pod_spec["containers"]:
            yield deployment, pod_spec, container


def test_every_object_has_the_kit_labels(rendered):
    overlay, objects = rendered
    for obj in objects:
        labels = obj["metadata"].get("labels", {})
        assert labels.get("app.kubernetes.io/part-of") == "flyte-operator-kit", obj["metadata"]["name"]
        assert labels.get("app.kubernetes.io/managed-by") == "kustomize"
        if overlay != "default":
            assert labels.get("flyte-operator-kit/overlay") == overlay.split("/")[-1]


def test_namespaced_objects_are_in_flyte(rendered):
    _, objects = rendered
    for obj in objects:
        if obj["kind"] in CLUSTER_SCOPED:
            assert "namespace" not in obj["metadata"], obj["metadata"]["name"]
        else:
            assert obj["metadata"].get("namespace") == NAMESPACE, (obj["kind"], obj["metadata"]["name"])
    for binding in _of_kind(objects, "ClusterRoleBinding"):
        assert [s["namespace"] for s in binding["subjects"]] == [NAMESPACE]


def test_images_are_the_pinned_tags(rendered):
    _, objects = rendered
    assert {container["image"] for _, _, container in _containers(objects)} == IMAGES


def test_rbac_has_no_wildcards_and_only_the_documented_rules(rendered):
    _, objects = rendered
    assert not _of_kind(objects, "Role") or all("*" not in str(r) for r in _of_kind(objects, "Role"))
    roles = _of_kind(objects, "ClusterRole")
    assert {role["metadata"]["name"] for role in roles} == set(ALLOWED_RULES)
    for role in roles:
        granted: dict[tuple[str, str], set[str]] = {}
        for rule in role["rules"]:
            assert "nonResourceURLs" not in rule and "resourceNames" not in rule
            for values in (rule["apiGroups"], rule["resources"], rule["verbs"]):
                assert "*" not in values and not any("*" in value for value in values)
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    granted.setdefault((group, resource), set()).update(rule["verbs"])
        assert granted == ALLOWED_RULES[role["metadata"]["name"]]
    for binding in _of_kind(objects, "ClusterRoleBinding"):
        assert binding["roleRef"]["name"] in ALLOWED_RULES
        assert [s["kind"] for s in binding["subjects"]] == ["ServiceAccount"]
        assert binding["subjects"][0]["name"] == binding["roleRef"]["name"]


def test_containers_are_locked_down(rendered):
    _, objects = rendered
    seen = 0
    for deployment, pod_spec, container in _containers(objects):
        seen += 1
        pod_security = pod_spec["securityContext"]
        assert pod_security["runAsNonRoot"] is True and pod_security["runAsUser"] != 0
        assert pod_security["seccompProfile"] == {"type": "RuntimeDefault"}
        security = container["securityContext"]
        assert security["readOnlyRootFilesystem"] is True
        assert security["allowPrivilegeEscalation"] is False
        assert security["capabilities"] == {"drop": ["ALL"]}
        resources = container["resources"]
        assert set(resources["requests"]) == set(resources["limits"]) == {"cpu", "memory"}
        assert container.get("livenessProbe") and container.get("readinessProbe"), deployment["metadata"]["name"]
        assert pod_spec["serviceAccountName"] == deployment["metadata"]["name"]
    assert seen == 2


def test_operator_deployment(rendered):
    overlay, objects = rendered
    operator = _one(objects, "Deployment", "parallel-job-operator")
    assert operator["spec"]["replicas"] == 1 and operator["spec"]["strategy"]["type"] == "Recreate"
    container = operator["spec"]["template"]["spec"]["containers"][0]
    assert "--liveness=http://0.0.0.0:8080/healthz" in container["args"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {"health": 8080}


def test_connector_deployment_service_and_config(rendered):
    overlay, objects = rendered
    connector = _one(objects, "Deployment", "flyte-k8s-operator-connector")
    pod_spec = connector["spec"]["template"]["spec"]
    container = pod_spec["containers"][0]
    assert container["command"] + container["args"] == [
        "pyflyte",
        "serve",
        "connector",
        "--port",
        "8000",
        "--prometheus_port",
        "9090",
    ]
    assert container["readinessProbe"]["grpc"] == {"port": 8000}
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["K8S_OPERATOR_CONNECTOR_CONFIG"] == "/etc/flyte-k8s-operator/connector.yaml"
    mount = next(m for m in container["volumeMounts"] if m["name"] == "config")
    assert mount["mountPath"] == "/etc/flyte-k8s-operator"
    config_map_name = next(v for v in pod_spec["volumes"] if v["name"] == "config")["configMap"]["name"]
    config_map = _one(objects, "ConfigMap", config_map_name)  # the generated name, with its hash
    settings = parse_settings(yaml.safe_load(config_map["data"]["connector.yaml"]))
    assert list(settings.task_types) == TASK_TYPES
    assert settings.custom_resource.allowed_kinds == ()
    service = _one(objects, "Service", "flyte-k8s-operator-connector")
    grpc = next(p for p in service["spec"]["ports"] if p["name"] == "grpc")
    assert (grpc["port"], grpc["targetPort"]) == (8000, "grpc")
    assert service["spec"]["selector"] == connector["spec"]["selector"]["matchLabels"]
    assert _one(objects, "ServiceAccount", "flyte-k8s-operator-connector")
    expected_replicas = 2 if overlay == "overlays/production" else 1
    assert connector["spec"]["replicas"] == expected_replicas


def test_production_has_a_disruption_budget_and_sandbox_is_smaller():
    production = render("overlays/production")
    budget = _one(production, "PodDisruptionBudget", "flyte-k8s-operator-connector")
    assert budget["spec"]["minAvailable"] == 1
    assert budget["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": "flyte-k8s-operator-connector"}
    sandbox = render("overlays/sandbox")
    for name in ("parallel-job-operator", "flyte-k8s-operator-connector"):
        small = _one(sandbox, "Deployment", name)["spec"]["template"]["spec"]["containers"][0]["resources"]
        big = _one(production, "Deployment", name)["spec"]["template"]["spec"]["containers"][0]["resources"]
        assert small != big


def _crd(objects):
    return _one(objects, "CustomResourceDefinition", "paralleljobs.workloads.example.com")


def test_crd_names_scope_status_and_columns():
    crd = _crd(render("default"))
    spec = crd["spec"]
    assert (spec["group"], spec["scope"]) == ("workloads.example.com", "Namespaced")
    assert spec["names"]["kind"] == "ParallelJob" and spec["names"]["plural"] == "paralleljobs"
    assert "pj" in spec["names"]["shortNames"]
    (version,) = spec["versions"]
    assert version["name"] == "v1alpha1" and version["served"] and version["storage"]
    assert version["subresources"] == {"status": {}}
    columns = {c["name"]: c["jsonPath"] for c in version["additionalPrinterColumns"]}
    assert columns["Workers"] == ".spec.workers" and columns["Phase"] == ".status.phase"
    assert columns["Age"] == ".metadata.creationTimestamp"


def test_crd_schema_enums_and_ranges():
    schema = _crd(render("default"))["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    spec = schema["properties"]["spec"]
    fields = spec["properties"]
    assert set(spec["required"]) == {"workers", "template"}
    assert (fields["workers"]["minimum"], fields["workers"]["maximum"]) == (1, 1000)
    assert (fields["maxRestarts"]["minimum"], fields["maxRestarts"]["maximum"]) == (0, 100)
    assert fields["restartPolicy"]["enum"] == ["Never", "OnFailure"]
    assert fields["successPolicy"]["enum"] == ["AllWorkers", "AnyWorker"]
    assert fields["activeDeadlineSeconds"]["minimum"] == 1
    assert schema["properties"]["status"]["properties"]["phase"]["enum"] == [
        "Pending",
        "Running",
        "Succeeded",
        "Failed",
    ]


def _validate(value: Any, schema: dict[str, Any], path: str = "") -> list[str]:
    """The structural-schema checks a CRD applies: types, required, enums, ranges, unknown fields."""
    problems = []
    kind = schema.get("type")
    checks = {"object": dict, "array": list, "string": str, "integer": int, "boolean": bool}
    if kind in checks and (not isinstance(value, checks[kind]) or (kind == "integer" and isinstance(value, bool))):
        return [f"{path}: want {kind}"]
    if "enum" in schema and value not in schema["enum"]:
        problems.append(f"{path}: {value!r} not in {schema['enum']}")
    if "minimum" in schema and value < schema["minimum"]:
        problems.append(f"{path}: below {schema['minimum']}")
    if "maximum" in schema and value > schema["maximum"]:
        problems.append(f"{path}: above {schema['maximum']}")
    if kind == "array":
        if len(value) < schema.get("minItems", 0):
            problems.append(f"{path}: too few items")
        for index, item in enumerate(value):
            problems += _validate(item, schema.get("items", {}), f"{path}[{index}]")
    if kind == "object":
        properties = schema.get("properties", {})
        problems += [f"{path}.{key}: required" for key in schema.get("required", []) if key not in value]
        for key, item in value.items():
            if key in properties:
                problems += _validate(item, properties[key], f"{path}.{key}")
            elif "additionalProperties" in schema:
                problems += _validate(item, schema["additionalProperties"], f"{path}.{key}")
            elif properties and not schema.get("x-kubernetes-preserve-unknown-fields") and path != ".metadata":
                problems.append(f"{path}.{key}: unknown field")
    return problems


def test_crd_schema_accepts_the_sample_and_rejects_bad_specs():
    schema = _crd(render("default"))["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    sample = yaml.safe_load((CONFIG_DIR / "samples" / "parallel_job.yaml").read_text())
    assert _validate(sample, schema) == []
    bad = {
        "workers": 0,
        "restartPolicy": "Always",
        "maxRestarts": 101,
        "successPolicy": "Most",
        "activeDeadlineSeconds": 0,
    }
    for field, value in bad.items():
        broken = copy.deepcopy(sample)
        broken["spec"][field] = value
        assert any(f".spec.{field}" in p for p in _validate(broken, schema)), field
    missing_template = copy.deepcopy(sample)
    del missing_template["spec"]["template"]
    assert _validate(missing_template, schema) == [".spec.template: required"]
    no_containers = copy.deepcopy(sample)
    no_containers["spec"]["template"]["spec"]["containers"] = []
    assert _validate(no_containers, schema) == [".spec.template.spec.containers: too few items"]


def test_crd_schema_accepts_the_status_the_operator_writes():
    schema = _crd(render("default"))["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    status = {
        "phase": "Running",
        "reason": "",
        "message": "1/1 workers running, 0 succeeded",
        "startTime": "2024-01-01T00:00:00Z",
        "observedGeneration": 1,
        "workerCounts": {"pending": 0, "running": 1, "succeeded": 0, "failed": 0},
        "workers": [{"index": 0, "job": "pj-w0", "pod": "pj-w0-x", "phase": "Running", "restarts": 0}],
        "conditions": [
            {
                "type": "Running",
                "status": "True",
                "reason": "WorkersRunning",
                "message": "",
                "lastTransitionTime": "2024-01-01T00:00:00Z",
            }
        ],
    }
    sample = yaml.safe_load((CONFIG_DIR / "samples" / "parallel_job.yaml").read_text())
    assert _validate({**sample, "status": status}, schema) == []


def _routing(config: dict[str, Any]) -> None:
    """Exactly our task types go to the connector Service, whose DNS name and port match."""
    plugins = config["tasks"]["task-plugins"]
    assert "connector-service" in plugins["enabled-plugins"]
    routed = sorted(t for t, plugin in plugins["default-for-task-types"].items() if plugin == "connector-service")
    assert routed == sorted(TASK_TYPES)
    connector = config["plugins"]["connector-service"]
    assert sorted(connector["supportedTaskTypes"]) == sorted(TASK_TYPES)
    assert connector["defaultConnector"]["endpoint"] == CONNECTOR_ENDPOINT
    assert connector["defaultConnector"]["insecure"] is True


def test_propeller_config_routes_our_task_types_to_the_service():
    source = yaml.safe_load((CONFIG_DIR / "flyte" / "propeller-connector.yaml").read_text())
    _routing(source)
    helm = yaml.safe_load((CONFIG_DIR / "flyte" / "helm-values.yaml").read_text())
    assert helm["configuration"]["inline"] == source
    for flavour, name in (("sandbox", "flyte-sandbox-config"), ("binary", "flyte-binary-config")):
        (config_map,) = render(f"flyte/{flavour}")
        assert config_map["metadata"]["name"] == name
        assert yaml.safe_load(config_map["data"]["200-k8s-operator-connector.yaml"]) == source
    # The endpoint names the Service the bundle creates, in the namespace it creates it in.
    service = _one(render("default"), "Service", "flyte-k8s-operator-connector")
    host, port = CONNECTOR_ENDPOINT.removeprefix("dns:///").split(":")
    assert host == f"{service['metadata']['name']}.{service['metadata']['namespace']}.svc.cluster.local"
    assert int(port) in [p["port"] for p in service["spec"]["ports"] if p["name"] == "grpc"]


def test_only_the_sandbox_overlay_carries_the_propeller_config():
    sandbox = _flyte_config(render("overlays/sandbox"))
    assert [c["metadata"]["name"] for c in sandbox] == ["flyte-sandbox-config"]
    assert _flyte_config(render("overlays/production")) == []
    assert _flyte_config(render("default")) == []


def test_every_kustomization_dir_has_its_files():
    for kustomization in Path(CONFIG_DIR).rglob("kustomization.yaml"):
        document = yaml.safe_load(kustomization.read_text())
        for entry in document.get("resources", []) + [p["path"] for p in document.get("patches", [])]:
            assert (kustomization.parent / entry).exists(), f"{kustomization}: {entry}"
