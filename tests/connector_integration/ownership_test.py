"""Only Flyte's own objects: retention cleanup and abort leave alone what the task did not create."""

from __future__ import annotations

import dataclasses
import time

import pytest
from flyteidl.core.execution_pb2 import TaskExecution

from connector_integration.conftest import NAMESPACE, PARALLEL_JOBS, Harness
from k8s_operator_connector.ownership import Refused
from k8s_operator_connector.task_context import MANAGED_BY, MANAGED_BY_LABEL, TASK_EXECUTION_ANNOTATION
from k8s_operator_connector.testing.metric_values import metric_value
from kube_emulator import wait_until


def foreign_parallel_job(harness: Harness, name: str, annotations: dict | None = None) -> dict:
    """A ParallelJob someone else made, carrying our watch label (labels are easy to copy)."""
    return harness.api.create(
        {
            "apiVersion": "workloads.example.com/v1alpha1",
            "kind": "ParallelJob",
            "metadata": {
                "name": name,
                "namespace": NAMESPACE,
                "labels": {MANAGED_BY_LABEL: MANAGED_BY},
                "annotations": annotations or {},
            },
            "spec": {"workers": 1, "template": {"spec": {"containers": [{"name": "w", "image": "x"}]}}},
        }
    )


def test_retention_cleanup_deletes_only_objects_with_an_owner(harness_factory):
    harness = harness_factory(finished_retention_seconds=0.2)
    deletes = metric_value("cleanup_deletes_total", resource=PARALLEL_JOBS)
    ours = harness.create()
    foreign_parallel_job(harness, "not-flytes")
    for name in (ours.name, "not-flytes"):
        harness.api.patch(PARALLEL_JOBS, name, {"status": {"phase": "Succeeded"}}, NAMESPACE, subresource="status")
    harness.wait_for_phase(ours, TaskExecution.SUCCEEDED)
    wait_until(lambda: harness.api.get(PARALLEL_JOBS, ours.name, NAMESPACE) is None, timeout=30)
    time.sleep(0.5)  # several more sweeps (every 0.1 s): the labelled stranger must survive them
    harness.runtime.sweep_once()
    assert harness.api.get(PARALLEL_JOBS, "not-flytes", NAMESPACE) is not None
    assert metric_value("cleanup_deletes_total", resource=PARALLEL_JOBS) == deletes + 1


def test_abort_never_deletes_a_replacement_under_the_same_name(harness: Harness):
    meta = harness.create()
    harness.api.delete(PARALLEL_JOBS, meta.name, NAMESPACE)
    replacement = foreign_parallel_job(harness, meta.name, {TASK_EXECUTION_ANNOTATION: meta.task_execution_id})
    harness.delete(meta)  # the uid differs: not ours any more
    current = harness.api.get(PARALLEL_JOBS, meta.name, NAMESPACE)
    assert current is not None and current["metadata"]["uid"] == replacement["metadata"]["uid"]


def test_get_and_delete_refuse_an_object_owned_by_another_task(harness: Harness):
    meta = harness.create()
    other = dataclasses.replace(meta, task_execution_id="flytesnacks/development/other/n0/0", uid="")
    with pytest.raises(Refused, match="belongs to task execution flytesnacks/development/a1b2c3/n0/0"):
        harness.get(other)
    with pytest.raises(Refused, match="belongs to task execution"):
        harness.delete(other)
    assert harness.api.get(PARALLEL_JOBS, meta.name, NAMESPACE) is not None


def test_a_late_get_for_a_deleted_object_still_checks_the_owner(harness: Harness):
    """The tombstone of a deleted object answers GetTask only for the task that owned it."""
    meta = harness.create()
    harness.set_status(meta, {"phase": "Succeeded"})
    harness.wait_for_phase(meta, TaskExecution.SUCCEEDED)
    harness.delete(meta)
    assert harness.get(meta).phase == TaskExecution.SUCCEEDED
    other = dataclasses.replace(meta, task_execution_id="flytesnacks/development/other/n0/0")
    with pytest.raises(Refused, match="belongs to task execution"):
        harness.get(other)
