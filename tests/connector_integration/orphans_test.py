"""Objects die with their executions: a running ParallelJob whose FlyteWorkflow is gone is deleted,
and with it the operator's Jobs and their pods (the emulator's garbage collector and kubelet)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flyteidl.core.execution_pb2 import TaskExecution

from connector_integration.conftest import NAMESPACE, PARALLEL_JOBS, Harness
from connector_integration.flyte_workflows import FLYTE_WORKFLOWS, start_execution
from k8s_operator_connector.execution_settings import ExecutionSettings
from k8s_operator_connector.resource_meta import OperatorResourceMeta
from k8s_operator_connector.testing.flyte_models import make_metadata
from k8s_operator_connector.testing.metric_values import metric_value
from kube_emulator import KubeEmulator, wait_until
from kube_emulator.kubelet import Kubelet, PodOutcome
from parallel_job_operator.job_manifest import Owner, build_worker_job
from parallel_job_operator.spec import parse_spec

SWEEP_FAST = ExecutionSettings(orphan_grace_seconds=1, orphan_check_interval_seconds=0.1)


@pytest.fixture
def kubelet(emulator: KubeEmulator) -> Iterator[Kubelet]:
    """Runs every Job's pod as a simulated container that would run for an hour."""
    with Kubelet(emulator.api_client(), policy=lambda pod, attempt: PodOutcome(duration=3600)) as running:
        yield running


def start_running_task(harness: Harness, execution: str) -> OperatorResourceMeta:
    """CreateTask, then the operator's part: a Job per worker owned by the ParallelJob (as the example
    operator builds it), pods from the kubelet, and the ParallelJob's status Running."""
    meta = harness.create(metadata=make_metadata(execution=execution))
    obj = harness.api.get(PARALLEL_JOBS, meta.name, NAMESPACE)
    assert obj is not None
    owner = Owner(meta.name, NAMESPACE, obj["metadata"]["uid"])
    spec = parse_spec(obj["spec"])
    for index in range(spec.workers):
        harness.api.create(build_worker_job(owner, spec, index), NAMESPACE)
    wait_until(lambda: len(pods_of(harness.api, meta.name)) == spec.workers, timeout=60, what="worker pods")
    workers = [{"index": index, "pod": pod} for index, pod in enumerate(sorted(pods_of(harness.api, meta.name)))]
    harness.set_status(meta, {"phase": "Running", "workerCounts": {"running": spec.workers}, "workers": workers})
    harness.wait_for_phase(meta, TaskExecution.RUNNING)
    return meta


def pods_of(api: KubeEmulator, parallel_job: str) -> list[str]:
    return [
        pod["metadata"]["name"]
        for pod in api.list("pods", NAMESPACE)
        if pod["metadata"]["name"].startswith(parallel_job)
    ]


def jobs_of(api: KubeEmulator, parallel_job: str) -> list[str]:
    return [
        job["metadata"]["name"]
        for job in api.list("jobs", NAMESPACE)
        if job["metadata"]["name"].startswith(parallel_job)
    ]


def everything_gone(api: KubeEmulator, meta: OperatorResourceMeta) -> bool:
    return (
        api.get(PARALLEL_JOBS, meta.name, NAMESPACE) is None
        and not jobs_of(api, meta.name)
        and not pods_of(api, meta.name)
    )


@pytest.mark.parametrize("propeller", ["running", "down"])
def test_deleting_the_execution_deletes_its_running_object_and_pods(harness_factory, kubelet: Kubelet, propeller: str):
    """With propeller down its finalizer keeps the deleted FlyteWorkflow (deletionTimestamp set)."""
    harness = harness_factory(executions=SWEEP_FAST)
    start_execution(harness.api, NAMESPACE, "doomed", propeller_running=True)
    start_execution(harness.api, NAMESPACE, "alive")
    doomed = start_running_task(harness, "doomed")
    alive = start_running_task(harness, "alive")
    deletes = metric_value("orphan_deletes_total", resource=PARALLEL_JOBS)

    harness.api.delete(FLYTE_WORKFLOWS, "doomed", NAMESPACE, propagation_policy="Background")
    if propeller == "running":  # propeller aborts (its DeleteTask is lost here) and drops its finalizer
        harness.api.patch(FLYTE_WORKFLOWS, "doomed", {"metadata": {"finalizers": None}}, NAMESPACE)
        assert harness.api.get(FLYTE_WORKFLOWS, "doomed", NAMESPACE) is None
    else:
        assert harness.api.get(FLYTE_WORKFLOWS, "doomed", NAMESPACE)["metadata"]["deletionTimestamp"]

    wait_until(lambda: everything_gone(harness.api, doomed), timeout=120, interval=0.2, what="orphan deleted")
    assert metric_value("orphan_deletes_total", resource=PARALLEL_JOBS) == deletes + 1
    assert harness.get(alive).phase == TaskExecution.RUNNING
    assert harness.api.get(PARALLEL_JOBS, alive.name, NAMESPACE) is not None
    assert len(pods_of(harness.api, alive.name)) == 2


def test_a_terminal_execution_leaves_no_running_object(harness_factory, kubelet: Kubelet):
    harness = harness_factory(executions=SWEEP_FAST)
    start_execution(harness.api, NAMESPACE, "failed")
    meta = start_running_task(harness, "failed")
    harness.api.patch(FLYTE_WORKFLOWS, "failed", {"status": {"phase": 5}}, NAMESPACE)  # WorkflowPhaseFailed
    wait_until(lambda: everything_gone(harness.api, meta), timeout=120, interval=0.2, what="orphan deleted")


def test_without_flyteworkflows_in_the_cluster_nothing_is_judged_an_orphan(harness_factory):
    """No FlyteWorkflow CRD (a cluster where propeller does not run): the sweep reads, finds
    nothing it can judge, and deletes nothing."""
    harness = harness_factory(executions=SWEEP_FAST)
    meta = harness.create()
    harness.set_status(meta, {"phase": "Running", "workerCounts": {"running": 2}})
    harness.wait_for_phase(meta, TaskExecution.RUNNING)
    harness.api.requests.reset()
    wait_until(lambda: harness.api.requests.count(verb="get", resource="flyteworkflows") >= 5, timeout=120)
    assert harness.api.get(PARALLEL_JOBS, meta.name, NAMESPACE) is not None
    assert harness.api.requests.count(verb="delete") == 0


def test_with_owner_references_kubernetes_collects_the_object_with_its_execution(harness_factory, kubelet: Kubelet):
    """`executions.ownerReferences`: the garbage collector deletes the object (and through the
    operator's owner references its Jobs and pods) as soon as the FlyteWorkflow is gone, with
    the orphan sweep off."""
    harness = harness_factory(executions=ExecutionSettings(owner_references=True, orphan_sweep=False))
    workflow = start_execution(harness.api, NAMESPACE, "owned")
    meta = start_running_task(harness, "owned")
    obj = harness.api.get(PARALLEL_JOBS, meta.name, NAMESPACE)
    assert obj["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "flyte.lyft.com/v1alpha1",
            "kind": "FlyteWorkflow",
            "name": "owned",
            "uid": workflow["metadata"]["uid"],
        }
    ]
    harness.api.delete(FLYTE_WORKFLOWS, "owned", NAMESPACE, propagation_policy="Background")
    harness.api.patch(FLYTE_WORKFLOWS, "owned", {"metadata": {"finalizers": None}}, NAMESPACE)
    wait_until(lambda: everything_gone(harness.api, meta), timeout=120, interval=0.2, what="garbage collected")


def test_owner_references_cost_one_read_per_execution_and_none_without_a_flyteworkflow(harness_factory):
    harness = harness_factory(executions=ExecutionSettings(owner_references=True, orphan_sweep=False))
    start_execution(harness.api, NAMESPACE, "mapped")
    harness.api.requests.reset()
    metas = [harness.create(metadata=make_metadata(execution="mapped", node=f"n{index}")) for index in range(3)]
    assert harness.api.requests.count(verb="get", resource="flyteworkflows") == 1
    for meta in metas:
        owners = harness.api.get(PARALLEL_JOBS, meta.name, NAMESPACE)["metadata"]["ownerReferences"]
        assert [owner["name"] for owner in owners] == ["mapped"]
    # No FlyteWorkflow for this execution: created without an owner reference (the sweep judges it).
    lonely = harness.create(metadata=make_metadata(execution="lonely"))
    assert "ownerReferences" not in harness.api.get(PARALLEL_JOBS, lonely.name, NAMESPACE)["metadata"]
    # Propeller sent no namespace: the object goes to defaultNamespace, where no owner can be.
    elsewhere = harness.create(metadata=make_metadata(execution="mapped", node="n9", namespace=""))
    assert "ownerReferences" not in harness.api.get(PARALLEL_JOBS, elsewhere.name, elsewhere.namespace)["metadata"]
