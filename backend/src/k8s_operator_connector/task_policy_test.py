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


POLICY_WITH_TEMPLATES = TaskPolicy(
    TaskPolicySettings(namespaces=("{{ project }}-{{ domain }}", "shared", "ml-{{ domain }}")), "flyte"
)


def test_a_namespace_refusal_lists_the_entries_and_what_the_templates_give():
    assert POLICY_WITH_TEMPLATES.namespace_refusal("ml-development", "flytesnacks", "development") is None
    assert POLICY_WITH_TEMPLATES.namespace_refusal("other", "flytesnacks", "development") == (
        "namespace 'other' is not admitted by the connector's taskPolicy.namespaces "
        "({{ project }}-{{ domain }}, shared, ml-{{ domain }}): not listed, and for project 'flytesnacks' "
        "domain 'development' the templates give flytesnacks-development, ml-development; "
        "add it to taskPolicy.namespaces to allow it"
    )


def test_without_templates_the_refusal_says_they_give_nothing_and_a_local_run_is_explained():
    policy = TaskPolicy(TaskPolicySettings(namespaces=("shared",)))
    assert policy.namespace_refusal("default", "", "", local=True) == (
        "namespace 'default' is not admitted by the connector's taskPolicy.namespaces (shared): not listed, "
        "and for project '' domain '' the templates give nothing (a local run uses defaultNamespace); "
        "add it to taskPolicy.namespaces to allow it"
    )


def test_a_protected_namespace_refusal_says_why():
    assert POLICY_WITH_TEMPLATES.namespace_refusal("flyte", "flyte", "x") == (
        "namespace 'flyte' is not admitted by the connector's taskPolicy.namespaces "
        "({{ project }}-{{ domain }}, shared, ml-{{ domain }}): a system namespace or the connector's own, "
        "admitted only when listed by name; add it to taskPolicy.namespaces to allow it"
    )


def test_the_service_account_name_of_every_pod_spec_is_held_to_the_list():
    policy = TaskPolicy(TaskPolicySettings(service_accounts=("default", "etl")))
    manifest = {"spec": {"template": {"spec": {"serviceAccountName": "admin", "containers": [{"name": "c"}]}}}}
    assert policy.object_refusal(manifest) == (
        "spec.template.spec.serviceAccountName: service account 'admin' is not admitted by the connector's "
        "taskPolicy.serviceAccounts (default, etl); add it there to let tasks run as it"
    )
    manifest["spec"]["template"]["spec"]["serviceAccountName"] = "etl"
    assert policy.object_refusal(manifest) is None


@pytest.mark.parametrize("entry", ["{{ project }-x", "x-project }}"])
def test_a_half_written_placeholder_is_named_as_a_template_mistake(entry):
    with pytest.raises(SettingsError) as raised:
        parse_settings({"taskPolicy": {"namespaces": ["shared", entry]}})
    assert str(raised.value) == (
        f"taskPolicy.namespaces[1] is {entry!r}: the only placeholders are {{{{ project }}}} and {{{{ domain }}}}, "
        "written as in Flyte's namespace_mapping.template (one space inside the braces)"
    )


def test_a_bad_entry_is_named_by_its_index():
    with pytest.raises(SettingsError) as raised:
        parse_settings({"taskPolicy": {"namespaces": ["shared", "{{ project }}-{{ domain }}", "Bad"]}})
    assert (
        str(raised.value) == "taskPolicy.namespaces[2] is 'Bad': not a namespace name (a DNS-1123 label) or a template"
    )
