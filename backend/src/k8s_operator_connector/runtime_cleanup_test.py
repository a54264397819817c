"""The runtime on the in-memory FakeKubeApi: one cache per resource and scope, and retention
cleanup that deletes only finished objects Flyte created, each exactly once (runtime_test.py: a
sweep stops when the Lease is lost)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest

from k8s_operator_connector.leader_election import LEASES
from k8s_operator_connector.object_cache import ObjectCache
from k8s_operator_connector.plugins.parallel_job import PARALLEL_JOB, ParallelJobPlugin
from k8s_operator_connector.runtime import ConnectorRuntime
from k8s_operator_connector.settings import ConnectorSettings
from k8s_operator_connector.task_context import MANAGED_BY, MANAGED_BY_LABEL, TASK_EXECUTION_ANNOTATION
from k8s_operator_connector.testing.fake_kube_api import FakeKubeApi
from k8s_operator_connector.testing.signing_keys import signer_for_tests
from k8s_operator_connector.warning_events import EVENTS

NAMESPACE = "flytesnacks-development"
OBSERVE = ParallelJobPlugin().observe


@pytest.fixture
def api() -> Iterator[FakeKubeApi]:
    fake = FakeKubeApi((PARALLEL_JOB, LEASES, EVENTS))
    yield fake
    fake.close()


def runtime_on(api: FakeKubeApi, **settings: Any) -> ConnectorRuntime:
    # Never asked by a GetTask here, so unservedRetentionSeconds is the retention that applies.
    base = ConnectorSettings(default_namespace=NAMESPACE, finished_retention_seconds=0, unserved_retention_seconds=0)
    return ConnectorRuntime(dataclasses.replace(base, **settings), api_factory=lambda: api, signer=signer_for_tests())


def job(name: str, phase: str, owner: str = "p/d/e/n/0", namespace: str = NAMESPACE) -> dict[str, Any]:
    annotations = {TASK_EXECUTION_ANNOTATION: owner} if owner else {}
    return {
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {MANAGED_BY_LABEL: MANAGED_BY},
            "annotations": annotations,
        },
        "spec": {"workers": 1},
        "status": {"phase": phase},
    }


def synced_cache(runtime: ConnectorRuntime, namespace: str = NAMESPACE) -> ObjectCache:
    cache = runtime.cache_for(PARALLEL_JOB, namespace, OBSERVE)
    assert cache.wait_synced(30)
    return cache


def test_one_cache_per_resource_and_scope(api: FakeKubeApi) -> None:
    everywhere = runtime_on(api)
    per_namespace = runtime_on(api, namespaces=("team-a", "team-b"))
    try:
        # Without namespaces, one cluster-wide watch serves every namespace.
        assert everywhere.cache_for(PARALLEL_JOB, "team-a", OBSERVE) is everywhere.cache_for(PARALLEL_JOB, "x", OBSERVE)
        assert everywhere.caches()[0].namespace is None
        a = per_namespace.cache_for(PARALLEL_JOB, "team-a", OBSERVE)
        assert a is not per_namespace.cache_for(PARALLEL_JOB, "team-b", OBSERVE)
        assert a is per_namespace.cache_for(PARALLEL_JOB, "team-a", OBSERVE)
        assert [cache.namespace for cache in per_namespace.caches()] == ["team-a", "team-b"]
    finally:
        everywhere.stop()
        per_namespace.stop()


def test_the_api_client_is_made_once_and_only_when_needed(api: FakeKubeApi) -> None:
    made: list[FakeKubeApi] = []

    def factory() -> FakeKubeApi:
        made.append(api)
        return api

    runtime = ConnectorRuntime(ConnectorSettings(), api_factory=factory)
    assert made == []
    assert runtime.api is runtime.api is api
    assert made == [api]


def test_start_watching_covers_every_configured_namespace(api: FakeKubeApi) -> None:
    runtime = runtime_on(api, namespaces=("team-a", "team-b"))
    try:
        runtime.start_watching([PARALLEL_JOB], OBSERVE)
        assert sorted(str(cache.namespace) for cache in runtime.caches()) == ["team-a", "team-b"]
    finally:
        runtime.stop()


def test_cleanup_deletes_finished_objects_flyte_created_once(api: FakeKubeApi) -> None:
    for name, phase, owner in [
        ("pj-done", "Succeeded", "p/d/e/n/0"),
        ("pj-failed", "Failed", "p/d/e/n/1"),
        ("pj-running", "Running", "p/d/e/n/2"),
        ("pj-copied-label", "Succeeded", ""),  # the label alone does not make it Flyte's
    ]:
        api.put(PARALLEL_JOB, job(name, phase, owner))
    runtime = runtime_on(api)
    try:
        cache = synced_cache(runtime)
        assert runtime.sweep_once() == 2
        left = sorted(item["metadata"]["name"] for item in api.list(PARALLEL_JOB, NAMESPACE)[0])
        assert left == ["pj-copied-label", "pj-running"]
        assert cache.lookup((NAMESPACE, "pj-done")) is None and cache.tombstone((NAMESPACE, "pj-done")) is not None
        assert runtime.sweep_once() == 0  # each object once
    finally:
        runtime.stop()


def test_cleanup_waits_for_the_retention(api: FakeKubeApi) -> None:
    api.put(PARALLEL_JOB, job("pj-done", "Succeeded"))
    runtime = runtime_on(api, finished_retention_seconds=3600, unserved_retention_seconds=3600)
    try:
        synced_cache(runtime)
        assert runtime.sweep_once() == 0
        assert api.stored(PARALLEL_JOB, NAMESPACE, "pj-done") is not None
    finally:
        runtime.stop()


def test_a_failed_cleanup_delete_is_skipped_and_the_rest_go_on(api: FakeKubeApi) -> None:
    api.put(PARALLEL_JOB, job("pj-a", "Succeeded"))
    api.put(PARALLEL_JOB, job("pj-b", "Succeeded"))
    runtime = runtime_on(api)
    try:
        synced_cache(runtime)
        api.add(verb="delete", name="pj-a", status=500, times=1)
        assert runtime.sweep_once() == 1
        assert api.stored(PARALLEL_JOB, NAMESPACE, "pj-a") is not None
        assert runtime.sweep_once() == 1  # the next sweep retries it
        assert api.stored(PARALLEL_JOB, NAMESPACE, "pj-a") is None
    finally:
        runtime.stop()
