"""Metrics scraped over HTTP and gRPC health, while the watch is cut and restored.

``python -m k8s_operator_connector.serve`` serves prometheus_client's default registry on
``--prometheus-port``, as ``pyflyte serve connector --prometheus_port`` does (flytekit
1.16.31, flytekit/clis/sdk_in_container/serve.py ``_start_http_server`` calls
``prometheus_client.start_http_server``).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest

from kube_emulator import wait_until
from reliability.conftest import Served
from reliability.harness import NOT_SERVING, PARALLEL_JOBS, SERVING, ConnectorProcess, connector_config

LIVENESS_STALE = 3
WATCH = (("resource", PARALLEL_JOBS), ("scope", "all namespaces"))  # no `namespaces` configured


@pytest.fixture(scope="module")
def served(served_factory: Callable[..., Served]) -> Served:
    return served_factory()


@pytest.fixture
def connector(served: Served):
    config = connector_config(served.kubeconfig, livenessStaleSeconds=LIVENESS_STALE, api={"maxRetries": 0})
    process = ConnectorProcess(served.work_dir, config, label="observed", serve_module=True).start()
    yield process
    process.stop()


def test_metrics_and_health_follow_the_watch_as_it_is_cut_and_restored(served: Served, connector: ConnectorProcess):
    client = connector.client()
    try:
        # start() returned once the health check said ready: every watch has synced once.
        first = connector.scrape()
        assert ("k8s_operator_connector_watch_synced", WATCH) in first, sorted(first)
        assert first[("k8s_operator_connector_watch_synced", WATCH)] == 1.0
        assert first[("k8s_operator_connector_watch_stale_seconds", WATCH)] == 0.0
        relists = first[("k8s_operator_connector_watch_relists_total", (("resource", PARALLEL_JOBS),))]
        assert relists >= 1
        assert ("k8s_operator_connector_cache_objects", WATCH) in first
        assert first[("k8s_operator_connector_api_request_duration_seconds_count", (("verb", "list"),))] >= 1
        assert connector.health(client.channel, "liveness") == SERVING

        # Cut: every list and watch of the resource fails, and the open stream is closed.
        rules = [served.api.faults.add(verb=verb, resource="paralleljobs", status=503) for verb in ("list", "watch")]
        served.api.faults.close_watches()
        wait_until(lambda: connector.scrape()[("k8s_operator_connector_watch_stale_seconds", WATCH)] > 0, timeout=30)
        errors = ("k8s_operator_connector_api_request_errors_total", (("code", "503"), ("verb", "list")))
        wait_until(lambda: connector.scrape().get(errors, 0) >= 1, timeout=30)
        wait_until(lambda: connector.health(client.channel, "liveness") == NOT_SERVING, timeout=60)
        cut = connector.scrape()
        assert cut[("k8s_operator_connector_watch_stale_seconds", WATCH)] > LIVENESS_STALE
        assert connector.health(client.channel) == SERVING  # still ready: readiness is the first sync

        # Restore: the watch relists and is fresh again; liveness recovers.
        for rule in rules:
            served.api.faults.remove(rule)
        wait_until(lambda: connector.scrape()[("k8s_operator_connector_watch_stale_seconds", WATCH)] == 0, timeout=60)
        restored = connector.scrape()
        assert restored[("k8s_operator_connector_watch_relists_total", (("resource", PARALLEL_JOBS),))] > relists
        wait_until(lambda: connector.health(client.channel, "liveness") == SERVING, timeout=30)
    finally:
        client.close()


def status(process: ConnectorProcess, service: str) -> int | None:
    """The health status, or None while the process does not answer yet."""
    if not process.port:
        return None
    with grpc.insecure_channel(f"127.0.0.1:{process.port}") as channel:
        try:
            return process.health(channel, service)
        except grpc.RpcError:
            return None


def test_not_ready_until_every_watch_has_listed_once(served: Served):
    rule = served.api.faults.add(verb="list", resource="paralleljobs", status=503)
    config = connector_config(served.kubeconfig, api={"maxRetries": 0})
    process = ConnectorProcess(served.work_dir, config, label="unsynced", serve_module=True)
    try:
        with ThreadPoolExecutor(1) as pool:
            started = pool.submit(process.start)  # returns once the health check says ready
            wait_until(lambda: status(process, "") == NOT_SERVING, timeout=120)
            assert status(process, "liveness") == SERVING  # not stale past livenessStaleSeconds (600)
            assert status(process, "flyteidl.service.AsyncAgentService") == NOT_SERVING
            served.api.faults.remove(rule)
            started.result(timeout=120)
        assert status(process, "") == SERVING
        assert process.scrape()[("k8s_operator_connector_watch_synced", WATCH)] == 1.0
    finally:
        served.api.faults.clear()
        process.stop()
