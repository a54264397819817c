"""The generic plugin end to end: allowlist, substitution, conditions on a live object."""

from __future__ import annotations

import asyncio

import pytest
from flyteidl.core.execution_pb2 import TaskExecution
from flytekit.models.interface import TypedInterface, Variable
from flytekit.models.literals import LiteralMap
from flytekit.models.task import TaskTemplate
from flytekit.models.types import LiteralType, SimpleType

from connector_integration.conftest import NAMESPACE, Harness
from k8s_operator_connector.testing.flyte_models import int_literal, make_template
from kube_emulator import wait_until

JOB = {
    "apiVersion": "batch/v1",
    "kind": "Job",
    "spec": {
        "completions": "{{ inputs.n }}",
        "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}},
    },
}


def template(manifest):
    custom = {
        "manifest": manifest,
        "successCondition": "object.status.succeeded >= 2",
        "failureCondition": "object.status.conditions.exists(c, c.type == 'Failed' && c.status == 'True')",
        "progressTemplate": "{object.status.succeeded}/{object.spec.completions} completions",
    }
    return make_template(task_type="custom_resource", custom=custom, with_container=False)


def create(harness: Harness, manifest, n=2):
    inputs = LiteralMap({"n": int_literal(n)})
    return harness.create(template=template(manifest), plugin="custom_resource", inputs=inputs)


def test_an_allowlisted_job_runs_to_success_with_progress(harness: Harness):
    meta = create(harness, JOB)
    (job,) = harness.api.list("jobs.batch", NAMESPACE)
    assert job["spec"]["completions"] == 2
    harness.api.patch("jobs.batch", meta.name, {"status": {"succeeded": 1}}, NAMESPACE, subresource="status")
    harness.wait_for_phase(meta, TaskExecution.RUNNING, plugin="custom_resource")
    wait_until(lambda: harness.get(meta, plugin="custom_resource").message == "1/2 completions", timeout=30)
    harness.api.patch("jobs.batch", meta.name, {"status": {"succeeded": 2}}, NAMESPACE, subresource="status")
    harness.wait_for_phase(meta, TaskExecution.SUCCEEDED, plugin="custom_resource")


def test_failure_condition(harness: Harness):
    meta = create(harness, JOB)
    status = {"conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]}
    harness.api.patch("jobs.batch", meta.name, {"status": status}, NAMESPACE, subresource="status")
    failed = harness.wait_for_phase(meta, TaskExecution.RETRYABLE_FAILED, plugin="custom_resource")
    assert "failure condition met" in failed.message


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        (
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "roleRef": {}, "subjects": []},
            "never creates it",
        ),
        ({"apiVersion": "v1", "kind": "Secret", "stringData": {"token": "x"}}, "not on the connector's allowlist"),
        ({**JOB, "metadata": {"namespace": "kube-system"}}, "execution's namespace"),
    ],
)
def test_refused_manifests_create_nothing(harness: Harness, manifest, message):
    harness.api.requests.reset()
    meta = create(harness, manifest)
    resource = harness.get(meta, plugin="custom_resource")
    assert resource.phase == TaskExecution.FAILED
    assert message in resource.message
    assert harness.api.requests.count(verb="create") == 0


def test_a_misspelled_condition_path_ends_the_task_naming_the_path(harness: Harness, monkeypatch):
    """Issue 17: `object.status.condition` (for `conditions`) on a Job that completed and will not change
    again: GetTask fails it once the grace period has passed, naming the path and the nearest key."""
    monkeypatch.setattr(harness.custom_resource.plugin, "missing_path_grace_seconds", 2.0)
    typo = {
        **template(JOB).custom,
        "successCondition": "object.status.condition.exists(c, c.type == 'Complete' && c.status == 'True')",
    }
    meta = harness.create(
        template=make_template(task_type="custom_resource", custom=typo, with_container=False),
        plugin="custom_resource",
        inputs=LiteralMap({"n": int_literal(1)}),
    )
    status = {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}
    harness.api.patch("jobs.batch", meta.name, {"status": status}, NAMESPACE, subresource="status")
    failed = harness.wait_for_phase(meta, TaskExecution.FAILED, plugin="custom_resource")
    assert failed.message.startswith(
        "condition path object.status.condition does not exist on the Job 2s after it was created"
    )
    assert "nearest existing: object.status.conditions" in failed.message


def _with_outputs(custom, **outputs: int):
    """A custom_resource template whose interface declares ``outputs`` (name -> Flyte simple type)."""
    base = make_template(task_type="custom_resource", custom=custom, with_container=False)
    variables = {name: Variable(LiteralType(simple=simple), name) for name, simple in outputs.items()}
    return TaskTemplate(
        id=base.id,
        type=base.type,
        metadata=base.metadata,
        interface=TypedInterface({}, variables),
        custom=custom,
        container=None,
        task_type_version=base.task_type_version,
    )


def test_outputs_read_from_the_object_reach_propeller_as_typed_literals(harness: Harness):
    """Issue 18: as Argo's resource template reads outputs.parameters[].valueFrom.jsonPath, the task's
    outputs come from the object when it succeeds, in GetTask's Resource.outputs. Propeller writes a
    non-empty Resource.outputs as the task's outputs (flyteorg/flyte v1.16.8,
    flyteplugins/go/tasks/plugins/webapi/agent/plugin.go writeOutput, for SUCCEEDED); flytekit's server
    sends a LiteralMap as it is (flytekit 1.16.31 base_connector.Resource.to_flyte_idl)."""
    custom = {
        **template(JOB).custom,
        "outputs": {"pods": "object.status.succeeded", "reason": "object.status.conditions[0].reason"},
    }
    meta = harness.create(
        template=_with_outputs(custom, pods=SimpleType.INTEGER, reason=SimpleType.STRING),
        plugin="custom_resource",
        inputs=LiteralMap({"n": int_literal(2)}),
    )
    harness.api.patch("jobs.batch", meta.name, {"status": {"succeeded": 1}}, NAMESPACE, subresource="status")
    running = harness.wait_for_phase(meta, TaskExecution.RUNNING, plugin="custom_resource")
    assert running.outputs is None
    status = {"succeeded": 2, "conditions": [{"type": "Complete", "status": "True", "reason": "CompletionsReached"}]}
    harness.api.patch("jobs.batch", meta.name, {"status": status}, NAMESPACE, subresource="status")
    done = harness.wait_for_phase(meta, TaskExecution.SUCCEEDED, plugin="custom_resource")
    wire = asyncio.run(done.to_flyte_idl())  # what the gRPC GetTaskResponse carries
    assert wire.outputs.literals["pods"].scalar.primitive.integer == 2
    assert wire.outputs.literals["reason"].scalar.primitive.string_value == "CompletionsReached"


def test_an_output_the_object_lacks_fails_the_task_naming_the_expression(harness: Harness):
    custom = {**template(JOB).custom, "outputs": {"pods": "object.status.ready"}}
    meta = harness.create(
        template=_with_outputs(custom, pods=SimpleType.INTEGER),
        plugin="custom_resource",
        inputs=LiteralMap({"n": int_literal(2)}),
    )
    harness.api.patch("jobs.batch", meta.name, {"status": {"succeeded": 2}}, NAMESPACE, subresource="status")
    failed = harness.wait_for_phase(meta, TaskExecution.FAILED, plugin="custom_resource")
    assert failed.message == (
        "the success condition holds, but output pods: object.status.ready: "
        "object.status.ready does not exist on the object"
    )
    assert failed.outputs is None
