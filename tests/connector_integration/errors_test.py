"""Kubernetes errors and bad input become phases with messages that say what to do."""

from __future__ import annotations

import pytest
from flyteidl.core.execution_pb2 import TaskExecution

from connector_integration.conftest import NAMESPACE, PARALLEL_JOBS, Harness
from k8s_operator_connector.conftest import make_template, metric_value
from k8s_operator_connector.kube_api import KubeApiError

QUOTA_MESSAGE = (
    'paralleljobs "x" is forbidden: exceeded quota: compute, requested: pods=2, used: pods=10, limited: pods=10'
)


def test_quota_exceeded_waits_for_resources_then_creates(harness: Harness):
    rule = harness.api.faults.add(verb="create", resource="paralleljobs", status=403, message=QUOTA_MESSAGE)
    counted: list[tuple[str, dict[str, str]]] = [
        ("quota_waits_total", {}),
        ("api_request_errors_total", {"verb": "create", "code": "403"}),
    ]
    before = [metric_value(name, **labels) for name, labels in counted]
    meta = harness.create()
    assert [metric_value(name, **labels) for name, labels in counted] == [value + 1 for value in before]
    waiting = harness.get(meta)
    assert waiting.phase == TaskExecution.WAITING_FOR_RESOURCES
    assert "exceeded quota" in waiting.message
    assert harness.api.list(PARALLEL_JOBS, NAMESPACE) == []
    harness.api.faults.remove(rule)
    assert harness.get(meta).phase == TaskExecution.QUEUED
    assert len(harness.api.list(PARALLEL_JOBS, NAMESPACE)) == 1


def test_a_quota_wait_interrupted_by_a_restart_is_retryable(harness_factory):
    old = harness_factory()
    old.api.faults.add(verb="create", resource="paralleljobs", status=403, message=QUOTA_MESSAGE)
    meta = old.create()
    assert meta.awaiting_quota
    assert "containers" not in meta.encode().decode()  # the manifest stays out of propeller's storage
    old.close()
    resource = harness_factory().get(type(meta).decode(meta.encode()))
    assert resource.phase == TaskExecution.RETRYABLE_FAILED
    assert "waited for quota" in resource.message


def test_forbidden_create_says_what_to_grant(harness: Harness):
    harness.api.faults.forbid(verb="create", resource="paralleljobs")
    resource = harness.get(harness.create())
    assert resource.phase == TaskExecution.FAILED
    assert "Grant the connector's service account" in resource.message
    assert "paralleljobs" in resource.message


def test_missing_crd_says_what_to_install(harness: Harness):
    harness.api.uninstall_crd(PARALLEL_JOBS)
    resource = harness.get(harness.create())
    assert resource.phase == TaskExecution.FAILED
    assert "install its CustomResourceDefinition" in resource.message


def test_forbidden_delete_is_reported(harness: Harness):
    meta = harness.create()
    harness.api.faults.forbid(verb="delete", resource="paralleljobs")
    with pytest.raises(KubeApiError, match="Grant the connector's service account delete"):
        harness.delete(meta)


@pytest.mark.parametrize(
    ("custom", "field"),
    [
        ({"workers": 0}, "custom.workers"),
        ({"workers": 3, "maxRestarts": 500}, "custom.max_restarts"),
        ({"replicas": 3}, "custom"),
        ({}, "custom"),
    ],
)
def test_invalid_custom_fails_the_task_naming_the_field(harness: Harness, custom, field):
    resource = harness.get(harness.create(template=make_template(custom=custom)))
    assert resource.phase == TaskExecution.FAILED
    assert f"{field}:" in resource.message
    assert harness.api.list(PARALLEL_JOBS, NAMESPACE) == []


def test_wrong_task_type_version_is_refused(harness: Harness):
    resource = harness.get(harness.create(template=make_template(version=2)))
    assert resource.phase == TaskExecution.FAILED
    assert "task_type_version" in resource.message


def test_transient_errors_are_retried(harness: Harness):
    harness.api.faults.add(verb="create", resource="paralleljobs", status=503, times=2)
    harness.api.faults.add(verb="create", resource="paralleljobs", status=429, retry_after=1, times=1)
    meta = harness.create()
    assert harness.get(meta).phase == TaskExecution.QUEUED
    assert len(harness.api.list(PARALLEL_JOBS, NAMESPACE)) == 1


def test_persistent_server_errors_fail_the_call_for_propeller_to_retry(harness: Harness):
    harness.api.faults.add(verb="create", resource="paralleljobs", status=500)
    with pytest.raises(KubeApiError, match="500"):
        harness.create()
