"""The orphan sweep's decisions, with a fake clock and a fake view of the executions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from flyteidl.core.execution_pb2 import TaskExecution

from k8s_operator_connector.execution_settings import ExecutionSettings
from k8s_operator_connector.executions import Execution, ExecutionState
from k8s_operator_connector.kube_api import KubeApi, KubeApiError, ResourceType
from k8s_operator_connector.object_cache import ObjectCache
from k8s_operator_connector.operator_plugin import Observation
from k8s_operator_connector.orphans import READ_BURST, READS_PER_SECOND, OrphanSweep
from k8s_operator_connector.task_context import TASK_EXECUTION_ANNOTATION
from k8s_operator_connector.testing.metric_values import metric_value

JOBS = ResourceType("batch", "v1", "jobs", "Job")
ALIVE = ExecutionState(Execution.ALIVE, "")
GONE = ExecutionState(Execution.GONE, "its FlyteWorkflow does not exist")
UNKNOWN = ExecutionState(Execution.UNKNOWN, "the API server does not serve flyteworkflows.flyte.lyft.com")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeApi:
    """Records deletes; ``gone`` names objects whose delete finds nothing (404)."""

    def __init__(self) -> None:
        self.deletes: list[tuple[str, str, str, str]] = []
        self.resources: list[ResourceType] = []
        self.gone: set[str] = set()
        self.fail: set[str] = set()

    def delete(self, resource: ResourceType, namespace: str, name: str, propagation: str, uid: str) -> bool:
        if name in self.fail:
            raise KubeApiError(503, "ServiceUnavailable", "try later")
        self.resources.append(resource)
        self.deletes.append((namespace, name, propagation, uid))
        return name not in self.gone


class Executions:
    """What the sweep reads of each execution, and how often."""

    def __init__(self, **states: ExecutionState) -> None:
        self.states = states
        self.reads: list[tuple[str, str]] = []

    def __call__(self, namespace: str, execution: str) -> ExecutionState:
        self.reads.append((namespace, execution))
        return self.states.get(execution, ALIVE)


def obj(name: str, owner: str | None, phase: str = "Running") -> dict[str, Any]:
    annotations = {TASK_EXECUTION_ANNOTATION: owner} if owner is not None else {}
    return {
        "metadata": {"name": name, "namespace": "ns", "uid": f"uid-{name}", "annotations": annotations},
        "status": {"phase": phase},
    }


def observe(o: Mapping[str, Any]) -> Observation:
    if o["status"]["phase"] == "Succeeded":
        return Observation.of(TaskExecution.SUCCEEDED, "done")
    return Observation.of(TaskExecution.RUNNING, "running")


def setup(
    executions: Executions, grace: float = 60, interval: float = 0
) -> tuple[ObjectCache, OrphanSweep, FakeApi, Clock]:
    clock = Clock()
    api = FakeApi()
    cache = ObjectCache(KubeApi.__new__(KubeApi), JOBS, None, "", observe, tombstone_seconds=60, clock=clock)
    settings = ExecutionSettings(orphan_grace_seconds=grace, orphan_check_interval_seconds=interval)
    sweep = OrphanSweep(lambda: api, settings, read=executions, clock=clock)  # type: ignore[arg-type,return-value]
    return cache, sweep, api, clock


def test_a_running_object_is_an_orphan_once_its_execution_was_gone_for_the_grace():
    executions = Executions(ex1=GONE)
    cache, sweep, _, clock = setup(executions)
    cache.record(obj("a", "p/d/ex1/n0/0"))
    assert sweep.orphans([cache]) == []
    clock.now += 59
    assert sweep.orphans([cache]) == []
    clock.now += 1
    assert [key for _, key, _ in sweep.orphans([cache])] == [("ns", "a")]


def test_an_execution_seen_alive_again_starts_the_grace_anew():
    executions = Executions(ex1=GONE)
    cache, sweep, _, clock = setup(executions)
    cache.record(obj("a", "p/d/ex1/n0/0"))
    sweep.orphans([cache])
    clock.now += 50
    executions.states["ex1"] = ALIVE
    assert sweep.orphans([cache]) == []
    executions.states["ex1"] = GONE
    clock.now += 50
    assert sweep.orphans([cache]) == []  # gone again for 0 s, not 100 s
    clock.now += 60
    assert len(sweep.orphans([cache])) == 1


def test_nothing_is_deleted_while_the_execution_cannot_be_read():
    executions = Executions(ex1=UNKNOWN)
    cache, sweep, api, clock = setup(executions, grace=0)
    cache.record(obj("a", "p/d/ex1/n0/0"))
    for _ in range(3):
        clock.now += 1000
        assert sweep.sweep([cache]) == 0
    assert api.deletes == []


def test_finished_objects_objects_without_an_owner_and_local_runs_are_not_judged():
    executions = Executions(ex1=GONE)
    cache, sweep, api, clock = setup(executions, grace=0)
    cache.record(obj("finished", "p/d/ex1/n0/0", phase="Succeeded"))
    cache.record(obj("stranger", None))
    cache.record(obj("local", "local/s3://bucket/out/"))
    cache.record(obj("malformed", "not-a-task-execution-id"))
    assert sweep.sweep([cache]) == 0
    assert api.deletes == [] and executions.reads == []


def test_one_read_per_execution_and_deletes_with_the_uid_in_the_background():
    executions = Executions(ex1=GONE, ex2=ALIVE)
    cache, sweep, api, _ = setup(executions, grace=0)
    for name, owner in (("a", "p/d/ex1/n0/0"), ("b", "p/d/ex1/n1/0"), ("c", "p/d/ex2/n0/0")):
        cache.record(obj(name, owner))
    before = metric_value("orphan_deletes_total", resource="jobs.batch")
    assert sweep.sweep([cache]) == 2
    assert sorted(executions.reads) == [("ns", "ex1"), ("ns", "ex2")]
    assert sorted(api.deletes) == [("ns", "a", "Background", "uid-a"), ("ns", "b", "Background", "uid-b")]
    assert metric_value("orphan_deletes_total", resource="jobs.batch") == before + 2
    assert cache.lookup(("ns", "a")) is None and cache.tombstone(("ns", "a")) is not None
    assert cache.lookup(("ns", "c")) is not None


@pytest.mark.parametrize("outcome", ["already gone", "delete fails"])
def test_a_delete_that_finds_nothing_or_fails_is_not_counted(outcome: str):
    executions = Executions(ex1=GONE)
    cache, sweep, api, _ = setup(executions, grace=0)
    cache.record(obj("a", "p/d/ex1/n0/0"))
    (api.gone if outcome == "already gone" else api.fail).add("a")
    assert sweep.sweep([cache]) == 0
    # Gone already: the cache forgets it. A failed delete is tried again on the next sweep.
    assert (cache.lookup(("ns", "a")) is None) is (outcome == "already gone")
    if outcome == "delete fails":
        api.fail.clear()
        assert sweep.sweep([cache]) == 1


def test_each_execution_is_read_at_most_once_per_interval_and_reads_are_rate_limited():
    executions = Executions()
    cache, sweep, _, clock = setup(executions, interval=60)
    count = READ_BURST + 10
    for index in range(count):
        cache.record(obj(f"o{index}", f"p/d/ex{index}/n0/0"))
    sweep.orphans([cache])
    assert len(executions.reads) == READ_BURST
    sweep.orphans([cache])  # no budget left at the same moment
    assert len(executions.reads) == READ_BURST
    clock.now += 10 / READS_PER_SECOND
    sweep.orphans([cache])  # the 10 not read yet, none of the others (read 2 s ago)
    assert len(executions.reads) == count and len(set(executions.reads)) == count
    clock.now += 60
    sweep.orphans([cache])  # all due again; the budget refilled to the burst, not beyond
    assert len(executions.reads) == count + READ_BURST


def test_a_replica_that_lost_the_sweeper_lease_stops_deleting():
    executions = Executions(ex1=GONE)
    cache, sweep, api, _ = setup(executions, grace=0)
    cache.record(obj("a", "p/d/ex1/n0/0"))
    assert sweep.sweep([cache], still_leading=lambda: False) == 0
    assert api.deletes == [] and cache.lookup(("ns", "a")) is not None


def test_a_failed_delete_does_not_stop_the_others_and_both_are_logged(caplog):
    executions = Executions(ex1=GONE)
    cache, sweep, api, _ = setup(executions, grace=0)
    cache.record(obj("a", "p/d/ex1/n0/0"))
    cache.record(obj("b", "p/d/ex1/n1/0"))
    api.fail.add("a")
    with caplog.at_level("INFO", logger="k8s_operator_connector.orphans"):
        assert sweep.sweep([cache]) == 1
    assert [name for _, name, _, _ in api.deletes] == ["b"]
    assert api.resources == [JOBS]
    assert [record.getMessage() for record in caplog.records] == [
        "execution ns/ex1 is gone (its FlyteWorkflow does not exist): deleting its 2 running objects",
        "orphan delete of jobs.batch ns/a failed: 503 ServiceUnavailable: try later",
    ]


def test_an_execution_is_read_again_exactly_when_its_interval_has_passed():
    executions = Executions()
    cache, sweep, _, clock = setup(executions, interval=60)
    cache.record(obj("a", "p/d/ex1/n0/0"))
    sweep.orphans([cache])
    clock.now += 59.9
    sweep.orphans([cache])
    assert len(executions.reads) == 1
    clock.now += 0.1
    sweep.orphans([cache])
    assert len(executions.reads) == 2


def test_with_a_short_budget_the_executions_read_longest_ago_come_first():
    executions = Executions()
    cache, sweep, _, clock = setup(executions, interval=0)  # everything is due at every sweep
    count = READ_BURST + 10
    for index in range(count):
        cache.record(obj(f"o{index}", f"p/d/ex{index}/n0/0"))
    sweep.orphans([cache])
    clock.now += 10 / READS_PER_SECOND  # budget for 10 more
    sweep.orphans([cache])
    assert len(set(executions.reads)) == count  # the 10 never read, not 10 read a moment ago


def test_an_unreadable_execution_is_logged_once_per_spell(caplog):
    executions = Executions(ex1=UNKNOWN)
    cache, sweep, _, clock = setup(executions)
    cache.record(obj("a", "p/d/ex1/n0/0"))
    logged = []
    with caplog.at_level("WARNING", logger="k8s_operator_connector.orphans"):
        for state in (UNKNOWN, UNKNOWN, ALIVE, UNKNOWN):
            executions.states["ex1"] = state
            caplog.clear()
            sweep.orphans([cache])
            logged.append([record.getMessage() for record in caplog.records])
            clock.now += 1
    warning = [f"orphan sweep: cannot judge execution ns/ex1: {UNKNOWN.reason}"]
    assert logged == [warning, [], [], warning]


def test_by_default_the_sweep_reads_the_executions_flyteworkflow():
    from k8s_operator_connector.executions import FLYTE_WORKFLOWS
    from k8s_operator_connector.testing.fake_kube_api import FakeKubeApi

    api = FakeKubeApi((FLYTE_WORKFLOWS, JOBS))
    api.put(FLYTE_WORKFLOWS, {"apiVersion": "flyte.lyft.com/v1alpha1", "kind": "FlyteWorkflow",
                              "metadata": {"name": "ex2", "namespace": "ns"}})  # fmt: skip
    clock = Clock()
    cache = ObjectCache(KubeApi.__new__(KubeApi), JOBS, None, "", observe, tombstone_seconds=60, clock=clock)
    cache.record(obj("a", "p/d/ex1/n0/0"))  # its FlyteWorkflow does not exist
    cache.record(obj("b", "p/d/ex2/n0/0"))
    sweep = OrphanSweep(lambda: api, ExecutionSettings(orphan_grace_seconds=0), clock=clock)
    assert [key for _, key, _ in sweep.orphans([cache])] == [("ns", "a")]
    assert ("get", "/apis/flyte.lyft.com/v1alpha1/namespaces/ns/flyteworkflows/ex1") in api.requests
