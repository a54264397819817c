import re

import pytest

from k8s_operator_connector.naming import dns_label, label_value
from k8s_operator_connector.settings import ConnectorSettings
from k8s_operator_connector.task_context import (
    MANAGED_BY_LABEL,
    TASK_EXECUTION_ANNOTATION,
    TASK_TYPE_LABEL,
    TaskContext,
    flyte_label_value,
    task_context,
)
from k8s_operator_connector.testing.flyte_models import make_metadata

DNS_1123 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


def context(**kwargs):
    return task_context(make_metadata(**kwargs), "s3://b/o", "parallel_job", ConnectorSettings(), 52)


def test_same_attempt_same_name_and_new_attempt_new_name():
    assert context().name == context().name
    assert context(attempt=1).name != context().name
    assert context(node="n1").name != context().name


def test_names_differ_across_projects_with_equal_execution_names():
    assert context(project="a").name != context(project="b").name


def test_names_are_dns_labels_within_the_limit_even_for_hostile_ids():
    for execution in ["a" * 300, "UPPER_case.dots", "-leading", "9starts-with-digit", "ü-unicode"]:
        name = context(execution=execution).name
        assert len(name) <= 52
        assert DNS_1123.match(name), name


def test_readable_prefix_keeps_the_execution_and_node():
    assert context(execution="abc123", node="n3").name.startswith("abc123-n3-0-")


def test_labels_carry_flyte_identity_and_sanitized_user_labels():
    ctx = context(labels={"team": "ml", "bad": "has spaces and/slashes"})
    assert ctx.labels["execution-id"] == "a1b2c3"
    assert ctx.labels["project"] == "flytesnacks"
    assert ctx.labels["node-id"] == "n0"
    assert ctx.labels["task-name"] == "demo-train"  # as propeller labels its pods (flyte_label_value)
    assert ctx.labels[MANAGED_BY_LABEL] == "flyte-k8s-operator-connector"
    assert ctx.labels["bad"] == label_value("has spaces and/slashes")
    assert ctx.annotations[TASK_EXECUTION_ANNOTATION] == "flytesnacks/development/a1b2c3/n0/0"
    assert ctx.annotations["owner"] == "data-team"
    assert ctx.service_account == "flyte-worker"
    assert ctx.namespace == "flytesnacks-development"


def test_local_runs_use_configured_defaults():
    settings = ConnectorSettings(default_namespace="sandbox", default_service_account="runner")
    ctx = task_context(None, "/tmp/flyte/abc", "parallel_job", settings, 52)
    assert ctx.namespace == "sandbox"
    assert ctx.service_account == "runner"
    assert ctx.name.startswith("local-")
    assert ctx.name == task_context(None, "/tmp/flyte/abc", "parallel_job", settings, 52).name
    assert ctx.name != task_context(None, "/tmp/flyte/xyz", "parallel_job", settings, 52).name


def test_label_values_are_valid_and_unique_after_cutting():
    long_a, long_b = "x" * 70 + "a", "x" * 70 + "b"
    assert len(label_value(long_a)) <= 63
    assert label_value(long_a) != label_value(long_b)
    assert label_value("fine-value_1.2") == "fine-value_1.2"


def test_dns_label_rejects_impossible_lengths():
    try:
        dns_label(["x"], "x", 5)
    except ValueError as error:
        assert "max_length" in str(error)
    else:
        raise AssertionError("expected ValueError")


# (input, SanitizeLabelValue's result) from flytepropeller/pkg/utils/k8s_test.go TestSanitizeLabelValue
# (flyteorg/flyte v1.16.8, commit 51877f899c9f95e0cb5efe90444eb0c6c6ea48a9).
UPSTREAM_SANITIZE_VECTORS = [
    ("a.b.c", "a-b-c"),
    ("a.B.c", "a-b-c"),
    ("a.9.c", "a-9-c"),
    ("a-b-c", "a-b-c"),
    ("a-b-c/", "a-b-c"),
    ("a" * 63, "a" * 63),
    ("a" * 62 + ".", "a" * 62),
    ("a" * 63 + "b", "a" * 63),
    ("a" * 63 + ".", "a" * 63),
]


@pytest.mark.parametrize(("value", "expected"), UPSTREAM_SANITIZE_VECTORS)
def test_node_and_task_labels_are_sanitized_as_propeller_does(value, expected):
    assert flyte_label_value(value) == expected


def test_a_propeller_context_in_full():
    ctx = context(attempt=2, labels={"team": "ml"}, env={"FOO": "bar"})
    assert ctx.labels == {
        "team": "ml",
        "project": "flytesnacks",
        "domain": "development",
        "execution-id": "a1b2c3",
        "node-id": "n0",
        "task-name": "demo-train",
        "retry-attempt": "2",
        MANAGED_BY_LABEL: "flyte-k8s-operator-connector",
        TASK_TYPE_LABEL: "parallel_job",
    }
    assert ctx.task_execution_id == "flytesnacks/development/a1b2c3/n0/2"
    assert (ctx.project, ctx.domain, ctx.environment, ctx.local) == (
        "flytesnacks",
        "development",
        {"FOO": "bar"},
        False,
    )


def test_a_local_context_in_full():
    settings = ConnectorSettings(default_namespace="sandbox", default_service_account="runner")
    ctx = task_context(None, "/tmp/flyte/abc", "custom_resource", settings, 52)
    assert ctx == TaskContext(
        name=ctx.name,
        namespace="sandbox",
        task_execution_id="local//tmp/flyte/abc",
        labels={MANAGED_BY_LABEL: "flyte-k8s-operator-connector", TASK_TYPE_LABEL: "custom_resource"},
        annotations={TASK_EXECUTION_ANNOTATION: "local//tmp/flyte/abc"},
        service_account="runner",
        local=True,
    )
