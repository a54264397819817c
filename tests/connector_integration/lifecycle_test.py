"""Create, observe, abort and clean up ParallelJobs through the connector, over real HTTP."""

from __future__ import annotations

from flyteidl.core.execution_pb2 import TaskExecution

from connector_integration.conftest import NAMESPACE, PARALLEL_JOBS, Harness
from k8s_operator_connector.task_context import MANAGED_BY_LABEL
from k8s_operator_connector.testing.flyte_models import make_metadata
from kube_emulator import wait_until


def objects(harness: Harness) -> list[dict]:
    return harness.api.list(PARALLEL_JOBS, NAMESPACE)


def test_create_twice_adopts_the_same_object(harness: Harness):
    first = harness.create()
    second = harness.create()
    assert (first.name, first.uid) == (second.name, second.uid)
    (obj,) = objects(harness)
    assert obj["metadata"]["name"] == first.name
    assert obj["metadata"]["labels"][MANAGED_BY_LABEL] == "flyte-k8s-operator-connector"
    assert obj["spec"]["workers"] == 2


def test_a_new_retry_attempt_gets_a_new_object(harness: Harness):
    first = harness.create(metadata=make_metadata(attempt=0))
    second = harness.create(metadata=make_metadata(attempt=1))
    assert first.name != second.name
    assert len(objects(harness)) == 2


def test_an_object_of_another_owner_is_not_adopted(harness: Harness):
    meta = harness.create()
    harness.api.patch(
        PARALLEL_JOBS,
        meta.name,
        {"metadata": {"annotations": {"flyte-k8s-operator.flyte.org/task-execution-id": "someone/else"}}},
        NAMESPACE,
    )
    clash = harness.create()
    resource = harness.get(clash)
    assert resource.phase == TaskExecution.FAILED
    assert "belongs to someone/else" in resource.message


def test_full_lifecycle_with_progress_log_links_and_no_api_reads_per_poll(harness: Harness):
    meta = harness.create()
    assert harness.get(meta).phase == TaskExecution.QUEUED
    harness.set_status(meta, {"phase": "Pending", "workerCounts": {"pending": 2}})
    # Pending with nothing wrong stays QUEUED (console_phase.py); the message is the plugin's.
    wait_until(lambda: harness.get(meta).message == "2/2 workers pending", timeout=30)
    assert harness.get(meta).phase == TaskExecution.QUEUED

    running_status = {
        "phase": "Running",
        "workerCounts": {"running": 2},
        "workers": [{"index": 0, "pod": f"{meta.name}-w0-abcde"}, {"index": 1, "pod": f"{meta.name}-w1-fghij"}],
    }
    harness.set_status(meta, running_status)
    running = harness.wait_for_phase(meta, TaskExecution.RUNNING)
    assert running.message == "2/2 workers running, 0 succeeded"
    links = {link.name: link.uri for link in running.log_links}
    assert links["kubectl (worker 0)"] == f"kubectl logs -n {NAMESPACE} {meta.name}-w0-abcde"
    assert links["dashboard"] == f"https://grafana.example.com/d/{NAMESPACE}/{meta.name}"
    assert running.custom_info["running"] == 2 and running.custom_info["kind"] == "ParallelJob"

    harness.api.requests.reset()
    for _ in range(50):
        assert harness.get(meta).phase == TaskExecution.RUNNING
    assert harness.api.requests.count(verb="get", resource="paralleljobs") == 0

    harness.set_status(meta, {**running_status, "phase": "Succeeded", "workerCounts": {"succeeded": 2}})
    succeeded = harness.wait_for_phase(meta, TaskExecution.SUCCEEDED)
    assert "dashboard" not in {link.name for link in succeeded.log_links}  # configured for running only


def test_failure_carries_the_operator_reason(harness: Harness):
    meta = harness.create()
    harness.set_status(meta, {"phase": "Failed", "reason": "BackoffLimitExceeded", "message": "worker 1 exited 3"})
    failed = harness.wait_for_phase(meta, TaskExecution.RETRYABLE_FAILED)
    assert failed.message == "BackoffLimitExceeded: worker 1 exited 3"


def test_abort_deletes_and_is_idempotent(harness: Harness):
    meta = harness.create()
    harness.delete(meta)
    assert objects(harness) == []
    harness.delete(meta)  # already gone: still fine


def test_finished_objects_are_cleaned_up_after_the_retention(harness_factory):
    harness = harness_factory(finished_retention_seconds=0.3)
    done, running = harness.create(metadata=make_metadata(node="n0")), harness.create(metadata=make_metadata(node="n1"))
    harness.set_status(done, {"phase": "Succeeded"})
    harness.set_status(running, {"phase": "Running"})
    harness.wait_for_phase(done, TaskExecution.SUCCEEDED)
    wait_until(lambda: [o["metadata"]["name"] for o in objects(harness)] == [running.name], timeout=30)
    # Propeller may still poll after cleanup: the answer stays the terminal phase.
    assert harness.get(done).phase == TaskExecution.SUCCEEDED
    assert harness.get(running).phase == TaskExecution.RUNNING


def test_object_deleted_behind_the_connectors_back_is_a_retryable_failure(harness: Harness):
    meta = harness.create()
    harness.set_status(meta, {"phase": "Running"})
    harness.wait_for_phase(meta, TaskExecution.RUNNING)
    harness.api.delete(PARALLEL_JOBS, meta.name, NAMESPACE)
    failed = harness.wait_for_phase(meta, TaskExecution.RETRYABLE_FAILED)
    assert "deleted outside Flyte" in failed.message


def test_a_restarted_connector_serves_tasks_created_by_the_old_one(harness_factory):
    old = harness_factory()
    meta = old.create()
    old.set_status(meta, {"phase": "Running", "workerCounts": {"running": 2}})
    old.wait_for_phase(meta, TaskExecution.RUNNING)
    old.close()
    new = harness_factory()
    decoded = type(meta).decode(meta.encode())  # propeller hands back the bytes
    assert new.get(decoded).phase == TaskExecution.RUNNING
    new.delete(decoded)
    assert objects(new) == []
