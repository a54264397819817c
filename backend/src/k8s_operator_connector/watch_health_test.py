"""Staleness, readiness and liveness of watches, on an injected clock and a scripted API."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from prometheus_client import REGISTRY

from k8s_operator_connector.kube_api import KubeApiError, ResourceType
from k8s_operator_connector.list_watch import ListWatch
from k8s_operator_connector.metrics import WATCHES
from k8s_operator_connector.watch_health import watch_health

JOBS = ResourceType("workloads.example.com", "v1alpha1", "paralleljobs", "ParallelJob")
LABELS = {"resource": "paralleljobs.workloads.example.com", "scope": "health-test"}


@dataclass
class FakeWatch:
    resource_label: str
    is_synced: bool
    stale: float
    scope_label: str = "ns"

    def synced(self) -> bool:
        return self.is_synced

    def stale_for(self) -> float:
        return self.stale

    def __len__(self) -> int:
        return 0


def test_ready_once_every_watch_synced_and_live_until_one_is_stale_past_the_threshold():
    fresh = FakeWatch("jobs", True, 0.0)
    assert watch_health([], 60) == watch_health([fresh], 60)
    assert watch_health([fresh], 60).ready and watch_health([fresh], 60).live
    unsynced = watch_health([fresh, FakeWatch("pods", False, 5.0)], 60)
    assert (unsynced.ready, unsynced.live) == (False, True)
    assert "pods in ns has not synced yet" in unsynced.reason
    at_limit = watch_health([fresh, FakeWatch("pods", True, 60.0)], 60)
    assert at_limit.live  # "longer than" the threshold, not equal to it
    stale = watch_health([fresh, FakeWatch("pods", True, 60.5)], 60)
    assert (stale.ready, stale.live) == (True, False)
    assert "pods in ns stale for 60s (livenessStaleSeconds=60)" in stale.reason


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class ScriptedApi:
    """list answers or fails as told; a watch stream blocks until the test cuts it."""

    def __init__(self) -> None:
        self.failing = False
        self.failed_lists = 0
        self.lists = 0
        self.failed_twice = threading.Event()
        self.listed = threading.Event()
        self.streams: queue.Queue[Exception | None] = queue.Queue()

    def list_pages(self, *args: Any, **kwargs: Any) -> Iterator[tuple[list[dict[str, Any]], str]]:
        if self.failing:
            self.failed_lists += 1
            if self.failed_lists >= 2:  # the first failure has been recorded by then
                self.failed_twice.set()
            raise KubeApiError(503, "ServiceUnavailable", "injected")
        self.lists += 1
        self.listed.set()
        yield [], "1"

    def watch(self, *args: Any, **kwargs: Any) -> Iterator[dict[str, Any]]:
        cut = self.streams.get(timeout=30)
        if cut is not None:
            raise cut
        return iter(())


class Watch(ListWatch):
    def _replace_all(self, items: Iterable[Mapping[str, Any]]) -> None:
        pass

    def _apply(self, event_type: str, obj: Mapping[str, Any]) -> None:
        pass

    def __len__(self) -> int:
        return 0


def sample(name: str) -> float | None:
    return REGISTRY.get_sample_value(f"k8s_operator_connector_{name}", LABELS)


def test_staleness_grows_from_the_cut_and_returns_to_zero_when_the_watch_is_back():
    clock, api = Clock(100.0), ScriptedApi()
    watch = Watch(api, JOBS, "health-test", clock=clock)  # type: ignore[arg-type]
    clock.now = 130.0
    assert (watch.synced(), watch.stale_for()) == (False, 30.0)  # never connected: stale since creation
    relists_before = (
        REGISTRY.get_sample_value("k8s_operator_connector_watch_relists_total", {"resource": LABELS["resource"]}) or 0.0
    )
    watch.start()
    try:
        assert watch.wait_synced(30)
        assert watch in WATCHES.watches()
        assert watch.stale_for() == 0.0
        assert (sample("watch_synced"), sample("watch_stale_seconds")) == (1.0, 0.0)
        assert watch_health([watch], 60).ready and watch_health([watch], 60).live

        api.failing = True
        api.streams.put(KubeApiError(0, "WatchClosed", "cut"))
        assert api.failed_twice.wait(30)
        clock.now = 200.0
        assert watch.stale_for() == 70.0  # since the cut at 130, not since the last relist
        assert sample("watch_stale_seconds") == 70.0
        health = watch_health([watch], 60)
        assert (health.ready, health.live) == (True, False)  # readiness is about the first sync only

        api.listed.clear()
        api.failing = False
        assert api.listed.wait(30)
        api.streams.put(None)  # the new stream ends; the watch resumes (another relist or watch)
        assert _eventually(lambda: watch.stale_for() == 0.0)
        assert watch_health([watch], 60).live
        relists_after = REGISTRY.get_sample_value(
            "k8s_operator_connector_watch_relists_total", {"resource": LABELS["resource"]}
        )
        assert relists_after is not None and relists_after >= relists_before + 2
    finally:
        watch.stop()
        api.streams.put(None)
    assert watch not in WATCHES.watches()
    assert sample("watch_synced") is None  # a stopped watch is no longer reported


def _eventually(condition: Any) -> bool:
    done = threading.Event()
    for _ in range(3000):
        if condition():
            return True
        done.wait(0.01)
    return False


def test_every_reason_is_listed_in_order():
    health = watch_health([FakeWatch("jobs", False, 0.0), FakeWatch("pods", True, 90.0)], 60)
    assert health.reason == "jobs in ns has not synced yet; pods in ns stale for 90s (livenessStaleSeconds=60)"
