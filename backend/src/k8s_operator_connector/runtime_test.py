"""Retention cleanup on the in-memory FakeKubeApi: a sweep ends the moment the Lease is lost."""

from __future__ import annotations

import time

from k8s_operator_connector.plugins.parallel_job import PARALLEL_JOB, ParallelJobPlugin
from k8s_operator_connector.runtime import ConnectorRuntime
from k8s_operator_connector.settings import ConnectorSettings
from k8s_operator_connector.task_context import MANAGED_BY, MANAGED_BY_LABEL, TASK_EXECUTION_ANNOTATION
from k8s_operator_connector.testing.fake_kube_api import FakeKubeApi
from k8s_operator_connector.testing.signing_keys import signer_for_tests

NAMESPACE = "flytesnacks-development"
# No background sweep during the test: it calls sweep_once itself.
# Never asked by a GetTask, so the upper bound (unservedRetentionSeconds) is what retention waits for.
SETTINGS = ConnectorSettings(
    default_namespace=NAMESPACE,
    finished_retention_seconds=0,
    unserved_retention_seconds=0,
    cleanup_interval_seconds=3600,
)
FINISHED = {"phase": "Succeeded", "workerCounts": {"pending": 0, "running": 0, "succeeded": 1, "failed": 0}}


def finished_job(name: str) -> dict[str, object]:
    return {
        "apiVersion": PARALLEL_JOB.api_version,
        "kind": PARALLEL_JOB.kind,
        "metadata": {
            "name": name,
            "namespace": NAMESPACE,
            "labels": {MANAGED_BY_LABEL: MANAGED_BY},
            "annotations": {TASK_EXECUTION_ANNOTATION: f"p/d/{name}/n0/0"},
        },
        "spec": {"workers": 1},
        "status": FINISHED,
    }


def test_a_sweep_stops_as_soon_as_this_replica_no_longer_leads() -> None:
    api = FakeKubeApi((PARALLEL_JOB,))
    runtime = ConnectorRuntime(SETTINGS, api_factory=lambda: api, signer=signer_for_tests())
    try:
        cache = runtime.cache_for(PARALLEL_JOB, NAMESPACE, ParallelJobPlugin().observe)
        names = ["a", "b", "c"]
        for name in names:
            api.put(PARALLEL_JOB, finished_job(name))
        deadline = time.monotonic() + 30
        while len(cache.finished_before(0)) < len(names) and time.monotonic() < deadline:
            time.sleep(0.01)
        answers = iter([True])  # leads for the first delete only
        assert runtime.sweep_once(still_leading=lambda: next(answers, False)) == 1
        assert sum(api.stored(PARALLEL_JOB, NAMESPACE, name) is None for name in names) == 1
        assert runtime.sweep_once(still_leading=lambda: False) == 0
        assert runtime.sweep_once() == 2  # leading throughout: the rest
        assert all(api.stored(PARALLEL_JOB, NAMESPACE, name) is None for name in names)
    finally:
        runtime.stop()
        api.close()
