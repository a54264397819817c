"""Retention keeps a finished object until a GetTask served its final phase and the retention
passed; the mark lives on the object, so another process (a replica, a restart) honours it."""

from __future__ import annotations

from flyteidl.core.execution_pb2 import TaskExecution

from connector_integration.conftest import NAMESPACE, PARALLEL_JOBS, Harness
from k8s_operator_connector.final_phase import FINAL_PHASE_SERVED_ANNOTATION, served_at
from k8s_operator_connector.plugins.parallel_job import ParallelJobPlugin
from k8s_operator_connector.testing.flyte_models import make_metadata
from kube_emulator import wait_until


def annotation(harness: Harness, name: str) -> str | None:
    obj = harness.api.get(PARALLEL_JOBS, name, NAMESPACE)
    return None if obj is None else (obj["metadata"].get("annotations") or {}).get(FINAL_PHASE_SERVED_ANNOTATION)


def seen_finished(harness: Harness, name: str) -> bool:
    tracked = [cache.lookup((NAMESPACE, name)) for cache in harness.runtime.caches()]
    return any(t is not None and t.observation.terminal for t in tracked)


def gone_after_a_sweep(harness: Harness, name: str) -> bool:
    """Sweeps now (the runtime's own sweeper may run too: only the Lease holder's does)."""
    harness.runtime.sweep_once()
    return harness.api.get(PARALLEL_JOBS, name, NAMESPACE) is None


def test_a_finished_object_is_kept_until_its_final_phase_was_served(harness_factory):
    # The test sweeps (sweep_once), not the runtime's own sweeper: retention may delete the object
    # before the background patch of its mark lands (on a loaded machine, it did), and then there
    # is no mark to read; that order is allowed, the mark in memory is what retention uses.
    harness = harness_factory(
        finished_retention_seconds=0.5, unserved_retention_seconds=3600, cleanup_interval_seconds=3600
    )
    asked = harness.create(metadata=make_metadata(execution="asked"))
    unasked = harness.create(metadata=make_metadata(execution="unasked"))
    for meta in (asked, unasked):
        harness.set_status(meta, {"phase": "Succeeded", "workerCounts": {"succeeded": 2}})
    wait_until(lambda: seen_finished(harness, unasked.name), timeout=60, what="the watch saw it finished")
    harness.wait_for_phase(asked, TaskExecution.SUCCEEDED)
    wait_until(lambda: annotation(harness, asked.name) is not None, timeout=60, what="the served mark")
    assert served_at(harness.api.get(PARALLEL_JOBS, asked.name, NAMESPACE)) > 0
    wait_until(lambda: gone_after_a_sweep(harness, asked.name), timeout=60, what="deleted once the retention passed")
    # The sweeps that deleted it left the object nobody asked about: it waits for the upper bound.
    assert harness.runtime.sweep_once() == 0
    assert harness.api.get(PARALLEL_JOBS, unasked.name, NAMESPACE) is not None
    assert annotation(harness, unasked.name) is None
    assert harness.get(asked).phase == TaskExecution.SUCCEEDED  # the tombstone still answers


def test_another_process_honours_the_mark_and_the_upper_bound(harness_factory):
    first = harness_factory(finished_retention_seconds=3600, unserved_retention_seconds=3600)
    served = first.create(metadata=make_metadata(execution="served"))
    never = first.create(metadata=make_metadata(execution="never"))
    for meta in (served, never):
        first.set_status(meta, {"phase": "Failed", "reason": "InvalidSpec", "message": "spec.workers"})
    first.wait_for_phase(served, TaskExecution.FAILED)
    wait_until(lambda: annotation(first, served.name) is not None, timeout=60, what="the served mark")
    first.close()  # a restart, or another replica taking over the sweep

    second = harness_factory(finished_retention_seconds=0.2, unserved_retention_seconds=3600)
    plugin = ParallelJobPlugin()
    second.runtime.start_watching(plugin.watch_resources(second.runtime.settings), plugin.observe)
    wait_until(lambda: seen_finished(second, served.name) and seen_finished(second, never.name), timeout=60)
    wait_until(lambda: gone_after_a_sweep(second, served.name), timeout=60, what="deleted by the other process")
    assert second.api.get(PARALLEL_JOBS, never.name, NAMESPACE) is not None

    third = harness_factory(finished_retention_seconds=0.2, unserved_retention_seconds=0.2)
    third.runtime.start_watching(plugin.watch_resources(third.runtime.settings), plugin.observe)
    wait_until(lambda: seen_finished(third, never.name), timeout=60)
    wait_until(lambda: gone_after_a_sweep(third, never.name), timeout=60, what="deleted at the upper bound")
