"""Kubernetes errors and bad input become phases with messages that say what to do."""

from __future__ import annotations

import pytest
from flyteidl.core.execution_pb2 import TaskExecution

from connector_integration.conftest import NAMESPACE, PARALLEL_JOBS, Harness
from k8s_operator_connector.kube_api import KubeApiError
from k8s_operator_connector.meta_signing import MetaSigningSettings
from k8s_operator_connector.testing.flyte_models import make_metadata, make_template
from k8s_operator_connector.testing.metric_values import metric_value
from k8s_operator_connector.testing.signing_keys import SIGNING_KEY

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


def test_a_quota_wait_survives_a_restart_and_secrets_stay_sealed(harness_factory):
    old = harness_factory()
    rule = old.api.faults.add(verb="create", resource="paralleljobs", status=403, message=QUOTA_MESSAGE)
    secret = "s3cr3t-quota-wait-value"
    meta = old.create(metadata=make_metadata(env={"TOKEN": secret}))
    assert meta.awaiting_quota and meta.pending_create
    encoded = meta.encode().decode()
    assert "containers" not in encoded and secret not in encoded  # sealed: propeller stores this meta
    old.close()
    new = harness_factory()  # another process with the same signing key: a restart, or another replica
    assert new.get(type(meta).decode(meta.encode())).phase == TaskExecution.WAITING_FOR_RESOURCES
    new.api.faults.remove(rule)
    assert new.get(meta).phase == TaskExecution.QUEUED
    (created,) = new.api.list(PARALLEL_JOBS, NAMESPACE)
    assert secret in str(created["spec"])  # the object got the task's env, where it belongs


def test_a_quota_wait_sealed_with_a_key_no_longer_configured_is_retryable(harness_factory, tmp_path):
    old = harness_factory()
    old.api.faults.add(verb="create", resource="paralleljobs", status=403, message=QUOTA_MESSAGE)
    meta = old.create()
    old.close()
    rotated = tmp_path / "rotated"
    rotated.mkdir()
    (rotated / "keys").write_bytes(b"another-signing-key-0123456789abcdef-xyz\n" + SIGNING_KEY + b"\n")
    # Rotated: the old key, still listed, verifies the meta and opens the manifest.
    listed = harness_factory(meta_signing=MetaSigningSettings("required", str(rotated / "keys")))
    assert listed.get(meta).phase == TaskExecution.WAITING_FOR_RESOURCES
    listed.close()
    (rotated / "keys").write_bytes(b"another-signing-key-0123456789abcdef-xyz\n")
    dropped = harness_factory(meta_signing=MetaSigningSettings("required", str(rotated / "keys")))
    resource = dropped.get(meta)  # (served, the meta itself would no longer verify either)
    assert resource.phase == TaskExecution.RETRYABLE_FAILED
    assert resource.message.startswith("this task waited for quota, but its create cannot be retried: ")
    assert "does not open with any key in metaSigning.keysPath" in resource.message


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
        ({"replicas": 3}, "custom.replicas"),  # an unknown field is named (parse_custom)
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
