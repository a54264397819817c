"""Who may call the connector: the bundle's NetworkPolicies against the pods Flyte really runs.

Pod labels are Flyte's own, from flyteorg/flyte at tag v1.16.8 (commit
51877f899c9f95e0cb5efe90444eb0c6c6ea48a9): docker/sandbox-bundled/manifests/complete-connector.yaml
(Deployments flyte-sandbox and flyteconnector, as rendered) and the selector labels of
charts/flyte-binary/templates/_helpers.tpl and charts/flyte-core/templates/_helpers.tpl.
NetworkPolicy semantics: Kubernetes' networking.k8s.io/v1 API (a pod selected by an Ingress
policy takes only what some rule admits; empty `from` or `ports` match everything; a
podSelector peer without namespaceSelector means the policy's namespace).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import bundle_test
import pytest

from k8s_operator_connector.serve import LIVENESS

NAMESPACE = "flyte"
render = bundle_test.render
ENTRY_POINTS = ("default", "overlays/sandbox", "overlays/production", "../../demo/sandbox")
CONNECTOR_LABELS = {"app.kubernetes.io/name": "flyte-k8s-operator-connector"}
OPERATOR_LABELS = {"app.kubernetes.io/name": "parallel-job-operator"}
# Pods that run propeller.
PROPELLER_PODS = {
    "flyte-sandbox (complete-connector.yaml)": {
        "app.kubernetes.io/component": "flyte-binary",
        "app.kubernetes.io/instance": "flyte-sandbox",
        "app.kubernetes.io/name": "flyte-sandbox",
    },
    "flyte-binary chart, release flyte-binary": {
        "app.kubernetes.io/name": "flyte-binary",
        "app.kubernetes.io/instance": "flyte-binary",
        "app.kubernetes.io/component": "flyte-binary",
    },
    "flyte-core chart, flytepropeller, release flyte": {
        "app.kubernetes.io/name": "flytepropeller",
        "app.kubernetes.io/instance": "flyte",
        "helm.sh/chart": "flyte-core-v1.16.8",
        "app.kubernetes.io/managed-by": "Helm",
    },
}
# Pods in Flyte's namespace that must not reach the connector's gRPC port.
OTHER_PODS = {
    "flyteconnector (complete-connector.yaml)": {
        "app.kubernetes.io/instance": "flyte-sandbox",
        "app.kubernetes.io/managed-by": "Helm",
        "app.kubernetes.io/name": "flyteconnector",
        "helm.sh/chart": "flyteconnector-v0.1.10",
    },
    "flyte-core chart, flyteadmin": {"app.kubernetes.io/name": "flyteadmin", "app.kubernetes.io/instance": "flyte"},
    "flyte-core chart, flytepropeller-manager": {
        "app.kubernetes.io/name": "flytepropeller-manager",
        "app.kubernetes.io/instance": "flyte",
    },
    "the bundle's operator": {**OPERATOR_LABELS, "app.kubernetes.io/part-of": "flyte-operator-kit"},
    "an unlabelled pod": {},
}


def selects(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """A metav1.LabelSelector: matchLabels and matchExpressions, all must hold."""
    if any(labels.get(key) != value for key, value in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        key, operator, values = expression["key"], expression["operator"], expression.get("values", [])
        holds = {
            "In": key in labels and labels[key] in values,
            "NotIn": key not in labels or labels[key] not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[operator]
        if not holds:
            return False
    return True


def _port_matches(rule_ports: list[dict[str, Any]], port: int | str, named: dict[str, int]) -> bool:
    """A named port means the target pod's container port of that name; TCP only here."""

    def number(value: int | str) -> int:
        return named[value] if isinstance(value, str) else value

    return not rule_ports or any(
        entry.get("protocol", "TCP") == "TCP" and ("port" not in entry or number(entry["port"]) == number(port))
        for entry in rule_ports
    )


def _peer_matches(peer: Mapping[str, Any], namespace: str, labels: Mapping[str, str]) -> bool:
    if "ipBlock" in peer:
        return False  # pod traffic is judged by pod and namespace selectors here
    if "namespaceSelector" in peer:
        in_namespace = selects(peer["namespaceSelector"], {"kubernetes.io/metadata.name": namespace})
    else:
        in_namespace = namespace == NAMESPACE
    return in_namespace and selects(peer.get("podSelector", {}), labels)


def admits(
    policies: list[dict[str, Any]],
    target: Mapping[str, str],
    port: int | str,
    named: dict[str, int],
    source: Mapping[str, str],
    source_namespace: str = NAMESPACE,
) -> bool:
    selecting = [
        policy
        for policy in policies
        if "Ingress" in policy["spec"].get("policyTypes", ["Ingress"])
        and selects(policy["spec"]["podSelector"], target)
    ]
    if not selecting:
        return True
    for policy in selecting:
        for rule in policy["spec"].get("ingress", []):
            peers = rule.get("from", [])
            if _port_matches(rule.get("ports", []), port, named) and (
                not peers or any(_peer_matches(peer, source_namespace, source) for peer in peers)
            ):
                return True
    return False


def _deployment(objects: list[dict[str, Any]], name: str) -> dict[str, Any]:
    (deployment,) = (o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == name)
    return deployment


def _named_ports(deployment: dict[str, Any]) -> dict[str, int]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    return {port["name"]: port["containerPort"] for c in containers for port in c.get("ports", []) if "name" in port}


@pytest.fixture(scope="module", params=ENTRY_POINTS)
def rendered(request) -> list[dict[str, Any]]:
    return render(request.param)


def _policies(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == "NetworkPolicy"]


def test_the_policies_select_the_bundles_pods(rendered):
    policies = _policies(rendered)
    assert {p["metadata"]["name"] for p in policies} == {"flyte-k8s-operator-connector", "parallel-job-operator"}
    for name in ("flyte-k8s-operator-connector", "parallel-job-operator"):
        pod_labels = _deployment(rendered, name)["spec"]["template"]["metadata"]["labels"]
        (policy,) = (p for p in policies if p["metadata"]["name"] == name)
        assert selects(policy["spec"]["podSelector"], pod_labels)
        assert policy["metadata"]["namespace"] == NAMESPACE


@pytest.mark.parametrize("pod", sorted(PROPELLER_PODS))
def test_propeller_reaches_the_connectors_grpc_port(rendered, pod):
    connector = _deployment(rendered, "flyte-k8s-operator-connector")
    labels, named = connector["spec"]["template"]["metadata"]["labels"], _named_ports(connector)
    assert admits(_policies(rendered), labels, "grpc", named, PROPELLER_PODS[pod])
    assert admits(_policies(rendered), labels, named["grpc"], named, PROPELLER_PODS[pod])


@pytest.mark.parametrize("pod", sorted(OTHER_PODS))
def test_nothing_else_reaches_the_connectors_grpc_port(rendered, pod):
    connector = _deployment(rendered, "flyte-k8s-operator-connector")
    labels, named = connector["spec"]["template"]["metadata"]["labels"], _named_ports(connector)
    policies = _policies(rendered)
    assert not admits(policies, labels, "grpc", named, OTHER_PODS[pod])
    # Propeller's labels in another namespace are not propeller.
    assert not admits(policies, labels, "grpc", named, PROPELLER_PODS["flyte-binary chart, release flyte-binary"], "ml")
    # No port other than gRPC and metrics.
    for port in set(named.values()) - {named["grpc"], named["metrics"]}:
        assert not admits(policies, labels, port, named, OTHER_PODS[pod])


def test_prometheus_anywhere_reaches_the_metrics_port_only(rendered):
    connector = _deployment(rendered, "flyte-k8s-operator-connector")
    labels, named = connector["spec"]["template"]["metadata"]["labels"], _named_ports(connector)
    prometheus = {"app.kubernetes.io/name": "prometheus"}
    assert admits(_policies(rendered), labels, "metrics", named, prometheus, "monitoring")
    assert not admits(_policies(rendered), labels, "grpc", named, prometheus, "monitoring")


def test_nothing_reaches_the_operator(rendered):
    operator = _deployment(rendered, "parallel-job-operator")
    labels, named = operator["spec"]["template"]["metadata"]["labels"], _named_ports(operator)
    for source in [*PROPELLER_PODS.values(), *OTHER_PODS.values()]:
        for port in named.values():
            assert not admits(_policies(rendered), labels, port, named, source)


def test_the_model_admits_everything_without_a_policy_and_honours_expressions():
    assert admits([], CONNECTOR_LABELS, 8000, {}, {})
    expression = {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["a"]}]}
    assert selects(expression, {"tier": "a"}) and not selects(expression, {"tier": "b"})
    assert not selects({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}, {"tier": "a"})


# -- TLS in the production overlay ------------------------------------------------------------

TLS_SECRET = "flyte-k8s-operator-connector-tls"


def _connector_container(objects: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    pod_spec = _deployment(objects, "flyte-k8s-operator-connector")["spec"]["template"]["spec"]
    (container,) = pod_spec["containers"]
    return pod_spec, container


def _served_arguments(objects: list[dict[str, Any]]):
    from k8s_operator_connector.serve import parse_args

    pod_spec, container = _connector_container(objects)
    assert container["command"] == ["python", "-m", "k8s_operator_connector.serve"]
    return pod_spec, container, parse_args(container["args"])


def _mounted_from_secret(pod_spec: dict[str, Any], container: dict[str, Any], path: Path, secret: str) -> bool:
    volumes = {v["name"]: v for v in pod_spec["volumes"]}
    for mount in container["volumeMounts"]:
        if path.parent == Path(mount["mountPath"]):
            return (
                mount.get("readOnly") is True and volumes[mount["name"]].get("secret", {}).get("secretName") == secret
            )
    return False


def test_production_serves_tls_from_the_secret_with_health_checks_for_the_kubelet():
    objects = render("overlays/production")
    pod_spec, container, args = _served_arguments(objects)
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert (args.port, args.prometheus_port, args.health_port) == (ports["grpc"], ports["metrics"], ports["health"])
    assert args.tls_client_ca is None
    for path in (args.tls_cert, args.tls_key):
        assert _mounted_from_secret(pod_spec, container, path, TLS_SECRET), path
    # The kubelet's gRPC probe speaks no TLS: it asks the plaintext health-only port.
    assert container["readinessProbe"]["grpc"] == {"port": args.health_port}
    assert container["livenessProbe"]["grpc"] == {"port": args.health_port, "service": LIVENESS}
    assert "tcpSocket" not in container["livenessProbe"]
    assert "grpc" not in container["startupProbe"]
    # The Service exposes the TLS port and metrics, not the health port.
    (service,) = (o for o in objects if o["kind"] == "Service")
    assert {p["targetPort"] for p in service["spec"]["ports"]} == {"grpc", "metrics"}


def test_the_mtls_component_requires_client_certificates_from_the_secrets_ca(tmp_path):
    pod_spec, container, args = _served_arguments(_overlay(tmp_path, "components/connector-mtls"))
    assert args.tls_client_ca == Path("/etc/flyte-k8s-operator-tls/ca.crt")
    assert _mounted_from_secret(pod_spec, container, args.tls_client_ca, TLS_SECRET)


@pytest.mark.parametrize("entry_point", ["default", "overlays/sandbox", "../../demo/sandbox"])
def test_the_other_entry_points_serve_plaintext_as_their_propeller_config_says(entry_point):
    pod_spec, container, args = _served_arguments(render(entry_point))
    assert (args.tls_cert, args.tls_key, args.tls_client_ca) == (None, None, None)
    assert not any("tls" in arg for arg in container["args"])
    assert all(volume.get("secret", {}).get("secretName") != TLS_SECRET for volume in pod_spec["volumes"])


# -- per-namespace RBAC (components/namespaced-rbac) ------------------------------------------

BINDINGS = {"flyte-k8s-operator-connector", "parallel-job-operator"}


def _overlay(tmp_path: Path, *components: str) -> list[dict[str, Any]]:
    """What an overlay of the user's own (no `namespace:`) builds from production plus components."""
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    config = Path(__file__).resolve().parent
    (overlay / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        f"resources: [{os.path.relpath(config / 'overlays/production', overlay)}]\n"
        f"components: [{', '.join(os.path.relpath(config / c, overlay) for c in components)}]\n"
    )
    return render(str(overlay))


def test_namespaced_rbac_binds_both_roles_only_in_the_namespaces_the_operator_serves(tmp_path):
    from parallel_job_operator.cli import parse_args

    objects = _overlay(tmp_path, "components/namespaced-rbac")
    assert [o for o in objects if o["kind"] == "ClusterRoleBinding" and o["metadata"]["name"] in BINDINGS] == []
    roles = {o["metadata"]["name"] for o in objects if o["kind"] == "ClusterRole"}
    # The RoleBindings grant the same ClusterRoles, with every plugin component's rules in them.
    for name in BINDINGS:
        (role,) = (o for o in objects if o["kind"] == "ClusterRole" and o["metadata"]["name"] == name)
        assert bundle_test.granted(role) == bundle_test.ALLOWED_RULES[name]
    # The sweeper's Lease Role stays bound in the connector's own namespace (bundle_test).
    leases = [o for o in objects if o["kind"] == "RoleBinding" and o["roleRef"]["kind"] == "Role"]
    assert [(b["metadata"]["name"], b["metadata"]["namespace"]) for b in leases] == [
        ("flyte-k8s-operator-connector-leases", NAMESPACE)
    ]
    bindings = [o for o in objects if o["kind"] == "RoleBinding" and o not in leases]
    namespaces = {b["metadata"]["namespace"] for b in bindings}
    assert namespaces and NAMESPACE not in namespaces
    for namespace in namespaces:
        here = [b for b in bindings if b["metadata"]["namespace"] == namespace]
        assert sorted(b["roleRef"]["name"] for b in here) == sorted(BINDINGS)
        for binding in here:
            assert binding["roleRef"]["kind"] == "ClusterRole" and binding["roleRef"]["name"] in roles
            assert binding["subjects"] == [
                {"kind": "ServiceAccount", "name": binding["roleRef"]["name"], "namespace": NAMESPACE}
            ]
            assert binding["metadata"]["labels"]["app.kubernetes.io/part-of"] == "flyte-operator-kit"
    (container,) = _deployment(objects, "parallel-job-operator")["spec"]["template"]["spec"]["containers"]
    args = parse_args(container["args"])
    assert not args.clusterwide and set(args.namespaces) == namespaces


@pytest.mark.parametrize("version", bundle_test.KUBERNETES_VERSIONS)
@pytest.mark.parametrize(
    "components",
    [
        ("components/namespaced-rbac",),
        ("components/connector-mtls",),
        ("components/namespaced-rbac", "components/connector-mtls"),
    ],
)
def test_the_components_pass_kubernetes_own_schemas_strictly(tmp_path, components, version):
    objects = _overlay(tmp_path, *components)
    assert bundle_test.schema_problems(objects, version) == [], f"{components} against Kubernetes {version}"


def test_namespaced_rbac_combines_with_mutual_tls(tmp_path):
    objects = _overlay(tmp_path, "components/namespaced-rbac", "components/connector-mtls")
    assert any(o["kind"] == "RoleBinding" for o in objects)
    assert "--tls-client-ca=/etc/flyte-k8s-operator-tls/ca.crt" in _connector_container(objects)[1]["args"]


def test_production_serves_what_the_base_deployment_serves():
    """components/connector-tls replaces the base's args: a new flag there must be carried over."""
    _, base, base_args = _served_arguments(render("default"))
    flags = {arg.split("=", 1)[0] for arg in base["args"]}
    assert flags == {"--port", "--prometheus-port"}, "carry new flags into connector-tls"
    _, _, args = _served_arguments(render("overlays/production"))
    assert (args.port, args.prometheus_port, args.modules) == (base_args.port, base_args.prometheus_port, None)
