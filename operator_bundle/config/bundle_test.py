"""The rendered bundle: labels, namespace, images, RBAC, security, CRD schema (Flyte routing: routing_test).

Every entry point is also validated strictly against Kubernetes' own JSON schemas (the
kubernetes-validate package) for the oldest and newest Kubernetes versions docs/install.md
claims, and custom resources against the CRD's own openAPIV3Schema.
"""

from __future__ import annotations

import copy
import functools
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema  # pants: no-infer-dep (installed with kubernetes-validate, which validates with it)
import kubernetes_validate
import pytest
import yaml

from k8s_operator_connector.lease_settings import DEFAULT_LEASE_NAME
from k8s_operator_connector.plugin_registry import enabled_plugins
from k8s_operator_connector.plugins import available_plugins
from k8s_operator_connector.plugins.parallel_job import ParallelJobPlugin
from k8s_operator_connector.serve import DEFAULT_MODULES, LIVENESS
from k8s_operator_connector.serve import parse_args as parse_serve_args
from k8s_operator_connector.settings import ConnectorSettings, parse_settings
from k8s_operator_connector.testing.flyte_models import make_request, make_template

CONFIG_DIR = Path(__file__).resolve().parent
# The workload entry points (the CRD is its own entry point, applied and deleted apart).
OVERLAYS = ("default", "overlays/sandbox", "overlays/production")
# Every directory a user applies: the BUILD's rendered bundle plus the Flyte configurations.
ENTRY_POINTS = ("crd", *OVERLAYS, "flyte/sandbox", "flyte/binary", "../../demo/sandbox")
# The Kubernetes versions docs/install.md claims (oldest, newest); kubernetes-validate ships their schemas.
KUBERNETES_VERSIONS = ("1.25", "1.37")
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


def render(kustomization: str | Path) -> list[dict[str, Any]]:
    """The objects a kustomization directory (relative to config/, or absolute) builds, in order.

    The repository's own directories are rendered once per test process (no test changes them);
    each caller gets its own copy to change. Any other directory (a test's own) is rendered anew.
    """
    directory = (CONFIG_DIR / kustomization).resolve()
    if directory.is_relative_to(_REPOSITORY):
        return copy.deepcopy(_render_repository_directory(directory))
    return _kustomize(directory)


def _kustomize(directory: Path) -> list[dict[str, Any]]:
    result = subprocess.run([_kubectl(), "kustomize", str(directory)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"kubectl kustomize {directory} failed: {result.stderr.strip()}"
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


_REPOSITORY = CONFIG_DIR.parent.parent
_render_repository_directory = functools.cache(_kustomize)


NAMESPACE = "flyte"
IMAGES = {
    "flyte-operator-kit/connector:0.1.0",
    "flyte-operator-kit/parallel-job-operator:0.1.0",
}
CLUSTER_SCOPED = {"Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding", "PriorityClass"}
PULL_POLICY = "IfNotPresent"
RESOURCES = {"cpu", "memory", "ephemeral-storage"}
# ClusterRoles Kubernetes aggregates into the built-in edit/admin and view roles (bound to no one here).
AGGREGATED = {
    "flyte-operator-kit-paralleljobs-edit": {"aggregate-to-edit", "aggregate-to-admin"},
    "flyte-operator-kit-paralleljobs-view": {"aggregate-to-view", "aggregate-to-edit", "aggregate-to-admin"},
}
# The connector creates, watches and deletes the objects of every plugin's resource.
PLUGIN_VERBS = {"create", "get", "list", "watch", "delete", "patch"}
PLUGIN_RULES = {
    (resource.group, resource.plural): PLUGIN_VERBS
    for plugin in available_plugins().values()
    for resource in plugin.watch_resources(ConnectorSettings())
}
# The connector's rules for itself, whatever plugins it serves (rbac/connector_role.yaml).
CONNECTOR_OWN_RULES = {
    ("", "events"): {"get", "list", "watch"},
    # Flyte's executions, for the orphan sweep and owner references (executions.py): read only.
    ("flyte.lyft.com", "flyteworkflows"): {"get"},
}
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
        ("workloads.example.com", "paralleljobs"): {"create", "get", "list", "watch", "delete", "patch"},
        **PLUGIN_RULES,
        **CONNECTOR_OWN_RULES,
    },
    "flyte-operator-kit-paralleljobs-edit": {
        ("workloads.example.com", "paralleljobs"): {"create", "delete", "deletecollection", "patch", "update"},
    },
    "flyte-operator-kit-paralleljobs-view": {
        ("workloads.example.com", "paralleljobs"): {"get", "list", "watch"},
        ("workloads.example.com", "paralleljobs/status"): {"get", "list", "watch"},
    },
}


def test_the_backend_registers_the_example_plugins():
    assert {"parallel_job", "custom_resource"} <= set(available_plugins())


@pytest.fixture(scope="module", params=OVERLAYS)
def rendered(request) -> tuple[str, list[dict[str, Any]]]:
    return request.param, render(request.param)


def _of_kind(objects, kind):
    return [o for o in objects if o["kind"] == kind]


def _one(objects, kind, name):
    matches = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind} {name}"
    return matches[0]


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
    # Flyte owns its namespace: `kubectl delete -k` of the bundle must never delete it.
    assert _of_kind(objects, "Namespace") == []
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


Granted = dict[tuple[str, str], set[str]]


def granted(role: dict[str, Any]) -> Granted:
    """(API group, resource) -> verbs, over all of a role's rules."""
    result: Granted = {}
    for rule in role.get("rules") or []:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                result.setdefault((group, resource), set()).update(rule["verbs"])
    return result


def test_rbac_has_no_wildcards_and_only_the_documented_rules(rendered):
    _, objects = rendered
    assert not _of_kind(objects, "Role") or all("*" not in str(r) for r in _of_kind(objects, "Role"))
    roles = _of_kind(objects, "ClusterRole")
    assert {role["metadata"]["name"] for role in roles} == set(ALLOWED_RULES)
    for role in roles:
        for rule in role["rules"]:
            assert "nonResourceURLs" not in rule and "resourceNames" not in rule
            for values in (rule["apiGroups"], rule["resources"], rule["verbs"]):
                assert "*" not in values and not any("*" in value for value in values)
        assert granted(role) == ALLOWED_RULES[role["metadata"]["name"]]
    for binding in _of_kind(objects, "ClusterRoleBinding"):
        assert binding["roleRef"]["name"] in set(ALLOWED_RULES) - set(AGGREGATED)
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
        assert set(resources["requests"]) == set(resources["limits"]) == RESOURCES, container["name"]
        assert container["imagePullPolicy"] == PULL_POLICY
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


def _served_settings(objects) -> ConnectorSettings:
    """The connector's configuration as the entry point mounts it."""
    pod_spec = _one(objects, "Deployment", "flyte-k8s-operator-connector")["spec"]["template"]["spec"]
    config_map_name = next(v for v in pod_spec["volumes"] if v["name"] == "config")["configMap"]["name"]
    config_map = _one(objects, "ConfigMap", config_map_name)  # the generated name, with its hash
    return parse_settings(yaml.safe_load(config_map["data"]["connector.yaml"]))


def test_connector_deployment_service_and_config(rendered):
    overlay, objects = rendered
    connector = _one(objects, "Deployment", "flyte-k8s-operator-connector")
    pod_spec = connector["spec"]["template"]["spec"]
    container = pod_spec["containers"][0]
    assert container["command"] == ["python", "-m", "k8s_operator_connector.serve"]
    if overlay != "overlays/production":  # production serves TLS: security_bundle_test checks it
        args = parse_serve_args(container["args"])
        assert (args.port, args.prometheus_port, args.health_port, args.tls_cert) == (8000, 9090, 0, None)
        assert list(args.modules or DEFAULT_MODULES) == ["k8s_operator_connector.flytekit_entry_point"]
        # Readiness and liveness are the gRPC health service's "" and "liveness" (serve.py).
        assert container["readinessProbe"]["grpc"] == {"port": 8000}
        assert container["livenessProbe"]["grpc"] == {"port": 8000, "service": LIVENESS}
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["K8S_OPERATOR_CONNECTOR_CONFIG"] == "/etc/flyte-k8s-operator/connector.yaml"
    mount = next(m for m in container["volumeMounts"] if m["name"] == "config")
    assert mount["mountPath"] == "/etc/flyte-k8s-operator"
    settings = _served_settings(objects)
    assert settings.task_types is None  # every registered plugin: a new plugin needs no edit here
    assert settings.custom_resource.allowed_kinds == ()
    assert settings.liveness_stale_seconds == 600  # the liveness probe's threshold, stated in the file
    # The signing keys come from a Secret mounted where the configuration looks for them.
    assert settings.meta_signing.mode == "required"
    keys_mount = next(m for m in container["volumeMounts"] if m["name"] == "meta-signing")
    assert (keys_mount["mountPath"], keys_mount["readOnly"]) == (settings.meta_signing.keys_path, True)
    keys_volume = next(v for v in pod_spec["volumes"] if v["name"] == "meta-signing")
    assert keys_volume["secret"]["secretName"] == "flyte-k8s-operator-connector-meta-signing"
    assert not any(o["kind"] == "Secret" for o in objects), "a signing key must never be in the bundle"
    service = _one(objects, "Service", "flyte-k8s-operator-connector")
    grpc = next(p for p in service["spec"]["ports"] if p["name"] == "grpc")
    assert (grpc["port"], grpc["targetPort"]) == (8000, "grpc")
    assert service["spec"]["selector"] == connector["spec"]["selector"]["matchLabels"]
    # Headless in every entry point, so propeller's round_robin reaches every replica
    # (routing_test.test_the_endpoint_names_the_bundles_headless_service).
    assert service["spec"]["clusterIP"] == "None"
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


def _crd(objects=None):
    return _one(render("crd") if objects is None else objects, "CustomResourceDefinition", CRD_NAME)


CRD_NAME = "paralleljobs.workloads.example.com"


def test_crd_names_scope_status_and_columns():
    crd = _crd()
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
    schema = _crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
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


def _strict(schema: dict[str, Any]) -> dict[str, Any]:
    """The CRD's schema as the API server applies it with strict field validation (the kubectl
    default since 1.25): an object with `properties` and neither `additionalProperties` nor
    `x-kubernetes-preserve-unknown-fields` rejects unknown fields."""
    schema = copy.deepcopy(schema)
    nodes = [schema]
    while nodes:
        node = nodes.pop()
        if not isinstance(node, dict):
            continue
        if (
            node.get("type") == "object"
            and "properties" in node
            and "additionalProperties" not in node
            and not node.get("x-kubernetes-preserve-unknown-fields")
        ):
            node["additionalProperties"] = False
        for value in node.values():
            nodes.extend(value if isinstance(value, list) else [value])
    return schema


def _cr_errors(resource: dict[str, Any]) -> list[tuple[str, str]]:
    """(path, message) of every way a ParallelJob breaks the CRD's own openAPIV3Schema."""
    _, version = resource["apiVersion"].split("/")
    (served,) = (v for v in _crd()["spec"]["versions"] if v["name"] == version)
    validator = jsonschema.Draft4Validator(_strict(served["schema"]["openAPIV3Schema"]))
    errors = validator.iter_errors(resource)
    return sorted((".".join(str(part) for part in error.absolute_path), error.message) for error in errors)


def _sample() -> dict[str, Any]:
    return yaml.safe_load((CONFIG_DIR / "samples" / "parallel_job.yaml").read_text())


def test_crd_schema_accepts_the_sample_and_rejects_bad_specs():
    sample = _sample()
    assert _cr_errors(sample) == []
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
        assert [path for path, _ in _cr_errors(broken)] == [f"spec.{field}"], field
    missing_template = copy.deepcopy(sample)
    del missing_template["spec"]["template"]
    assert _cr_errors(missing_template) == [("spec", "'template' is a required property")]
    no_containers = copy.deepcopy(sample)
    no_containers["spec"]["template"]["spec"]["containers"] = []
    assert [path for path, _ in _cr_errors(no_containers)] == ["spec.template.spec.containers"]
    unknown = copy.deepcopy(sample)
    unknown["spec"]["wrokers"] = 3
    assert [path for path, _ in _cr_errors(unknown)] == ["spec"]


@pytest.mark.parametrize(
    "custom",
    [
        {"workers": 1},
        {"workers": 3, "maxRestarts": 2, "timeoutSeconds": "3600", "restartPolicy": "RESTART_POLICY_ON_FAILURE"},
        {"workers": 1000, "maxRestarts": 100},
    ],
)
def test_the_parallel_jobs_the_connector_builds_pass_the_crd_schema(custom):
    built = ParallelJobPlugin().build_object(
        make_request(make_template(custom=custom, args=["pyflyte-execute", "--inputs", "s3://b/in/inputs.pb"]))
    )
    manifest = built.manifest
    assert manifest["kind"] == _crd()["spec"]["names"]["kind"]
    assert _cr_errors(manifest) == []


def test_crd_schema_accepts_the_status_the_operator_writes():
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
    assert _cr_errors({**_sample(), "status": status}) == []


def test_every_kustomization_dir_has_its_files():
    for kustomization in Path(CONFIG_DIR).rglob("kustomization.yaml"):
        document = yaml.safe_load(kustomization.read_text())
        entries = document.get("resources", []) + document.get("components", [])
        for entry in entries + [p["path"] for p in document.get("patches", [])]:
            assert (kustomization.parent / entry).exists(), f"{kustomization}: {entry}"


def schema_problems(objects: list[dict[str, Any]], version: str) -> list[str]:
    """What Kubernetes' own JSON schemas (strict: no unknown fields) reject in ``objects``."""
    problems = []
    for obj in objects:
        name = f"{obj['kind']} {obj['metadata']['name']}"
        try:
            validated = kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            problems.append(f"{name}: {'.'.join(map(str, error.absolute_path))}: {error.message}")
        except kubernetes_validate.SchemaNotFoundError as error:
            problems.append(f"{name}: {error.message}")
        else:
            assert validated == version
    return problems


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("entry_point", ENTRY_POINTS)
def test_every_entry_point_passes_kubernetes_own_schemas_strictly(entry_point, version):
    objects = render(entry_point)
    assert objects, entry_point
    assert schema_problems(objects, version) == [], f"{entry_point} against Kubernetes {version}"


def test_strict_validation_catches_a_misspelled_field():
    deployment = copy.deepcopy(_one(render("default"), "Deployment", "parallel-job-operator"))
    deployment["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSIONS[0], strict=True)


def test_the_crd_is_an_entry_point_of_its_own_and_no_workload_overlay_carries_it():
    assert [(o["kind"], o["metadata"]["name"]) for o in render("crd")] == [("CustomResourceDefinition", CRD_NAME)]
    assert _crd()["metadata"]["labels"]["app.kubernetes.io/part-of"] == "flyte-operator-kit"
    for overlay in OVERLAYS:
        # `kubectl delete -k <overlay>` must not delete the CRD (and with it every ParallelJob).
        assert _of_kind(render(overlay), "CustomResourceDefinition") == [], overlay


def test_production_uses_the_kits_own_priority_class_which_preempts_nothing():
    objects = render("overlays/production")
    (priority,) = _of_kind(objects, "PriorityClass")
    name = priority["metadata"]["name"]
    assert not name.startswith("system-")
    assert priority["preemptionPolicy"] == "Never" and priority["globalDefault"] is False
    # User-defined classes must stay at or below one billion; the system-* classes sit above it.
    assert 0 < priority["value"] <= 1_000_000_000
    for deployment in _of_kind(objects, "Deployment"):
        assert deployment["spec"]["template"]["spec"]["priorityClassName"] == name
    for overlay in ("default", "overlays/sandbox"):
        pod_specs = [d["spec"]["template"]["spec"] for d in _of_kind(render(overlay), "Deployment")]
        assert all("priorityClassName" not in pod_spec for pod_spec in pod_specs), overlay


def test_paralleljob_roles_aggregate_into_the_built_in_edit_and_view_roles(rendered):
    _, objects = rendered
    for name, aggregations in AGGREGATED.items():
        role = _one(objects, "ClusterRole", name)
        labels = {
            key.removeprefix("rbac.authorization.k8s.io/")
            for key, value in role["metadata"]["labels"].items()
            if key.startswith("rbac.authorization.k8s.io/aggregate-to-") and value == "true"
        }
        assert labels == aggregations, name
    bound = {b["roleRef"]["name"] for b in _of_kind(objects, "ClusterRoleBinding") + _of_kind(objects, "RoleBinding")}
    assert not bound & set(AGGREGATED)


SITE_IMAGES = {
    "flyte-operator-kit/connector": ("registry.example.com/platform/connector", "sha256:" + "0a" * 32),
    "flyte-operator-kit/parallel-job-operator": ("registry.example.com/platform/operator", "sha256:" + "1b" * 32),
}


def test_a_site_overlay_sets_registry_and_digest_without_editing_the_bundle(tmp_path: Path):
    """docs/install.md's site overlay: the bundle as a base, an `images:` list, nothing edited."""
    site = tmp_path / "site"
    site.mkdir()
    base = os.path.relpath(CONFIG_DIR / "overlays" / "production", site)
    images = [{"name": name, "newName": new_name, "digest": digest} for name, (new_name, digest) in SITE_IMAGES.items()]
    kustomization = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
                     "resources": [base], "images": images}  # fmt: skip
    (site / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    ours, theirs = render("overlays/production"), render(site)
    assert {c["image"] for _, _, c in _containers(theirs)} == {f"{n}@{d}" for n, d in SITE_IMAGES.values()}

    def without_images(objects):
        objects = copy.deepcopy(objects)
        for _, _, container in _containers(objects):
            del container["image"]
        return objects

    assert without_images(theirs) == without_images(ours)


def test_the_connector_may_elect_its_sweeper_on_one_lease_in_its_own_namespace_only(rendered):
    """leader_election.py: create, then get/update of the one Lease named in leaderElection.leaseName."""
    _, objects = rendered
    roles = _of_kind(objects, "Role")
    role = _one(objects, "Role", "flyte-k8s-operator-connector-leases")
    assert role["metadata"]["namespace"] == NAMESPACE
    assert [r["metadata"]["name"] for r in roles] == ["flyte-k8s-operator-connector-leases"]
    assert role["rules"] == [
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
        {
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "resourceNames": ["flyte-k8s-operator-connector-sweeper"],
            "verbs": ["get", "update"],
        },
    ]
    binding = _one(objects, "RoleBinding", "flyte-k8s-operator-connector-leases")
    assert binding["metadata"]["namespace"] == NAMESPACE
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": role["metadata"]["name"],
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "flyte-k8s-operator-connector", "namespace": NAMESPACE}
    ]
    assert DEFAULT_LEASE_NAME == "flyte-k8s-operator-connector-sweeper"  # the connector's default: keep in step


# -- each plugin's RBAC: a kustomize Component under plugins/ ---------------------------------

PLUGINS_DIR = CONFIG_DIR / "plugins"
CONNECTOR_ROLE = "flyte-k8s-operator-connector"


def _connector_role_with(tmp_path: Path, *components: str) -> Granted:
    """What the connector's ClusterRole grants, rendered from rbac/ with only ``components``."""
    build = tmp_path / "build"
    build.mkdir()
    relative = [os.path.relpath(CONFIG_DIR / path, build) for path in ("rbac", *components)]
    kustomization = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
                     "resources": relative[:1], "components": relative[1:]}  # fmt: skip
    (build / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    return granted(_one(render(build), "ClusterRole", CONNECTOR_ROLE))


def test_every_registered_plugin_has_its_component_and_the_bundle_lists_each_once():
    directories = {d.name for d in PLUGINS_DIR.iterdir() if (d / "kustomization.yaml").is_file()}
    listed = yaml.safe_load((PLUGINS_DIR / "kustomization.yaml").read_text())["components"]
    assert sorted(listed) == sorted(directories), "kustomize has no glob: list every plugins/<name>"
    assert directories == set(available_plugins())
    assert yaml.safe_load((CONFIG_DIR / "default" / "kustomization.yaml").read_text())["components"] == ["../plugins"]


def test_the_connectors_own_rules_name_no_plugin_resource(tmp_path):
    assert _connector_role_with(tmp_path) == {
        key: verbs for key, verbs in ALLOWED_RULES[CONNECTOR_ROLE].items() if key not in PLUGIN_RULES
    }


@pytest.mark.parametrize("task_type", sorted(available_plugins()))
def test_each_plugin_component_grants_exactly_its_plugins_resources(task_type, tmp_path):
    plugin = available_plugins()[task_type]
    own = {
        (resource.group, resource.plural): {"create", "get", "list", "watch", "delete", "patch"}
        for resource in plugin.watch_resources(ConnectorSettings())
    }
    (tmp_path / "base").mkdir()
    base = _connector_role_with(tmp_path / "base")
    with_component = _connector_role_with(tmp_path, f"plugins/{task_type}")
    assert {key: verbs for key, verbs in with_component.items() if base.get(key) != verbs} == own


@pytest.mark.parametrize("entry_point", [*OVERLAYS, "../../demo/sandbox"])
def test_the_connector_may_do_exactly_what_the_plugins_it_serves_need(entry_point):
    """Every ClusterRole bound to its ServiceAccount, against the configuration it is given:
    each served plugin's resources (the custom_resource allowlist included) and its own rules."""
    objects = render(entry_point)
    settings = _served_settings(objects)
    subject = {"kind": "ServiceAccount", "name": CONNECTOR_ROLE, "namespace": NAMESPACE}
    rights: Granted = {}
    for binding in _of_kind(objects, "ClusterRoleBinding"):
        if subject in binding["subjects"]:
            for key, verbs in granted(_one(objects, "ClusterRole", binding["roleRef"]["name"])).items():
                rights.setdefault(key, set()).update(verbs)
    needed = {
        (resource.group, resource.plural): PLUGIN_VERBS
        for plugin in enabled_plugins(settings)
        for resource in plugin.watch_resources(settings)
    }
    assert rights == {**CONNECTOR_OWN_RULES, **needed}
