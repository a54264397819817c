import pytest

from k8s_operator_connector.settings import SettingsError, parse_settings
from k8s_operator_connector.task_policy import (
    TaskPolicy,
    TaskPolicySettings,
    connector_namespace,
    flyte_namespace,
)


@pytest.mark.parametrize(
    ("template", "project", "domain", "expected"),
    [
        # flyteadmin/pkg/common/namespace_test.go TestGetNamespaceName (flyteorg/flyte v1.16.8)
        ("prefix-{{ project }}-{{ domain }}", "flytesnacks", "production", "prefix-flytesnacks-production"),
        ("{{ domain }}", "flytesnacks", "production", "production"),
        ("{{ project }}", "flytesnacks", "production", "flytesnacks"),
        # the default namespace_mapping.template (flyteadmin/pkg/runtime/namespace_config_provider.go)
        ("{{ project }}-{{ domain }}", "flytesnacks", "development", "flytesnacks-development"),
    ],
)
def test_templates_render_as_flyteadmin_renders_them(template, project, domain, expected):
    assert flyte_namespace(template, project, domain) == expected


POLICY = TaskPolicy(TaskPolicySettings(), own_namespace="flyte")


def test_the_default_admits_the_executions_own_project_domain_namespace_only():
    assert POLICY.namespace_refusal("flytesnacks-development", "flytesnacks", "development") is None
    refusal = POLICY.namespace_refusal("other-development", "flytesnacks", "development")
    assert refusal is not None and "taskPolicy.namespaces" in refusal and "flytesnacks-development" in refusal


@pytest.mark.parametrize("namespace", ["kube-system", "kube-public", "kube-node-lease", "flyte"])
def test_system_and_own_namespaces_need_listing_by_name(namespace):
    # Even a template that renders to them does not admit them.
    project, domain = namespace.split("-", 1) if "-" in namespace else (namespace, "x")
    policy = TaskPolicy(TaskPolicySettings(namespaces=("{{ project }}-{{ domain }}", "{{ project }}")), "flyte")
    refusal = policy.namespace_refusal(namespace, project, domain)
    assert refusal is not None and "admitted only when listed by name" in refusal
    listed = TaskPolicy(TaskPolicySettings(namespaces=(namespace,)), "flyte")
    assert listed.namespace_refusal(namespace, project, domain) is None


def test_a_template_needs_the_executions_project_and_domain():
    assert POLICY.namespace_refusal("-", "", "") is not None


def test_service_accounts():
    assert POLICY.service_account_refusal("", "field") is None  # no service account: "default"
    assert POLICY.service_account_refusal("default", "field") is None
    refusal = POLICY.service_account_refusal("clusterrole-aggregation-controller", "spec.serviceAccountName")
    assert refusal is not None
    assert refusal.startswith("spec.serviceAccountName: service account 'clusterrole-aggregation-controller'")
    assert "taskPolicy.serviceAccounts" in refusal
    anyone = TaskPolicy(TaskPolicySettings(service_accounts=("*",)))
    assert anyone.service_account_refusal("whoever", "field") is None


def test_pod_specs_in_the_object_are_held_to_the_service_account_list():
    manifest = {"spec": {"template": {"spec": {"serviceAccount": "admin", "containers": [{"name": "c"}]}}}}
    refusal = POLICY.object_refusal(manifest)
    assert refusal is not None and refusal.startswith("spec.template.spec.serviceAccount: service account 'admin'")
    manifest["spec"]["template"]["spec"] = {"serviceAccountName": "default", "containers": []}
    assert POLICY.object_refusal(manifest) is None


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"namespaces": []}, "taskPolicy.namespaces is empty"),
        ({"namespaces": ["{{project}}-{{domain}}"]}, "the only placeholders are {{ project }} and {{ domain }}"),
        ({"namespaces": ["{{ project }}_{{ domain }}"]}, "does not render to a namespace name"),
        ({"namespaces": ["Kube_System"]}, "not a namespace name"),
        ({"namespaces": ["team-a\n"]}, "taskPolicy.namespaces[0] is 'team-a\\n': not a namespace name"),
        ({"namespaces": ["{{ project }}\n"]}, "does not render to a namespace name"),
        ({"serviceAccounts": ["Bad Name"]}, "taskPolicy.serviceAccounts[0] is 'Bad Name'"),
        ({"serviceAccounts": ["etl\n"]}, "taskPolicy.serviceAccounts[0] is 'etl\\n'"),
        ({"other": 1}, "unknown key 'taskPolicy.other'"),
    ],
)
def test_bad_settings_name_the_key(section, message):
    with pytest.raises(SettingsError) as raised:
        parse_settings({"taskPolicy": section})
    assert message in str(raised.value)


def test_settings_defaults():
    policy = parse_settings({}).task_policy
    assert policy == TaskPolicySettings(("{{ project }}-{{ domain }}",), ("default",))


def test_the_connectors_own_namespace(tmp_path):
    file = tmp_path / "namespace"
    file.write_text("flyte\n")
    assert connector_namespace({}, str(file)) == "flyte"
    assert connector_namespace({"POD_NAMESPACE": "ops"}, str(file)) == "ops"
    assert connector_namespace({}, str(tmp_path / "absent")) == ""
