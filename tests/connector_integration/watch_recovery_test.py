"""The watch-backed cache survives dropped streams, 410 Gone and API restarts."""

from __future__ import annotations

from flyteidl.core.execution_pb2 import TaskExecution

from connector_integration.conftest import Harness
from k8s_operator_connector.testing.flyte_models import make_metadata
from kube_emulator import wait_until


def caches(harness: Harness):
    return harness.runtime.caches()


def test_closed_watch_streams_resume_without_missing_updates(harness: Harness):
    meta = harness.create()
    harness.wait_for_phase(meta, TaskExecution.QUEUED)
    for running in (1, 2, 3):
        harness.api.faults.close_watches()
        harness.set_status(meta, {"phase": "Running", "workerCounts": {"running": running}})
        harness.wait_for_phase(meta, TaskExecution.RUNNING)

        def updated(expected: int = running) -> bool:
            return bool(harness.get(meta).custom_info["running"] == expected)

        wait_until(updated, timeout=30)


def test_410_gone_relists_and_converges_without_duplicates(harness: Harness):
    metas = [harness.create(metadata=make_metadata(node=f"n{i}")) for i in range(5)]
    (cache,) = caches(harness)
    wait_until(lambda: len(cache) == 5, timeout=30)
    relists = cache.relists
    harness.api.faults.expire_watches(resource="paralleljobs")  # not the Warning-event watch
    harness.api.faults.close_watches()
    for meta in metas:
        harness.set_status(meta, {"phase": "Succeeded"})
    for meta in metas:
        harness.wait_for_phase(meta, TaskExecution.SUCCEEDED)
    assert cache.relists > relists
    assert len(cache) == 5


def test_deletions_missed_while_disconnected_are_noticed_on_relist(harness: Harness):
    keep, lose = (
        harness.create(metadata=make_metadata(node="keep")),
        harness.create(metadata=make_metadata(node="lose")),
    )
    (cache,) = caches(harness)
    wait_until(lambda: len(cache) == 2, timeout=30)
    harness.api.stop()
    harness.api.delete("paralleljobs.workloads.example.com", lose.name, lose.namespace)  # state kept, not watched
    harness.api.start()
    wait_until(lambda: len(cache) == 1, timeout=60)
    assert harness.get(keep).phase == TaskExecution.QUEUED
    assert harness.get(lose).phase == TaskExecution.RETRYABLE_FAILED


def test_an_unobservable_object_becomes_a_retryable_failure_after_the_staleness_limit(harness_factory):
    harness = harness_factory(stale_after_seconds=1.0)
    meta = harness.create()
    harness.set_status(meta, {"phase": "Running"})
    harness.wait_for_phase(meta, TaskExecution.RUNNING)
    harness.api.stop()
    try:
        failed = harness.wait_for_phase(meta, TaskExecution.RETRYABLE_FAILED)
        assert "could not observe" in failed.message
    finally:
        harness.api.start()
