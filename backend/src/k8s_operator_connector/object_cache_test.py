import dataclasses
import time

import pytest
from flyteidl.core.execution_pb2 import TaskExecution

from k8s_operator_connector.kube_api import KubeApi, ResourceType
from k8s_operator_connector.object_cache import ObjectCache
from k8s_operator_connector.plugin import Observation

JOBS = ResourceType("batch", "v1", "jobs", "Job")
RUNNING = Observation.of(TaskExecution.RUNNING, "waiting for: status.conditions")
FAILED = Observation.of(TaskExecution.FAILED, "status.condition: no such path")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def cache_observing(observation: Observation, clock: Clock) -> ObjectCache:
    # No list or watch runs in these tests: the API is never called.
    api = KubeApi.__new__(KubeApi)
    return ObjectCache(api, JOBS, None, "", lambda obj: observation, tombstone_seconds=60, clock=clock)


def job(name: str) -> dict:
    return {"metadata": {"name": name, "namespace": "ns", "uid": f"uid-{name}"}}


def test_retention_counts_from_when_an_object_was_first_seen_finished():
    clock = Clock()
    cache = cache_observing(FAILED, clock)
    cache.record(job("done"))
    clock.now += 30
    assert cache.finished_before(31) == []
    assert cache.finished_before(30) == [("ns", "done")]


@pytest.mark.parametrize(
    ("until_from_now", "later", "finished_for_10s"),
    [
        (-20.0, FAILED, True),  # the grace period ended 20 s ago: finished since then
        (-5.0, FAILED, False),  # finished only 5 s ago
        (+5.0, FAILED, False),  # the deadline is still ahead
        (-20.0, RUNNING, False),  # what holds after the deadline is not terminal
    ],
)
def test_an_object_finished_by_its_deadline_is_retained_from_that_deadline(until_from_now, later, finished_for_10s):
    """A condition's grace period fails a task without any change to the object (no watch event):
    retention must still see it as finished, or a cluster keeps it forever."""
    observation = dataclasses.replace(RUNNING, until=time.time() + until_from_now, later=later)
    cache = cache_observing(observation, Clock())
    cache.record(job("grace"))
    assert (cache.finished_before(10) == [("ns", "grace")]) is finished_for_10s


def test_a_running_object_without_a_deadline_is_never_finished():
    cache = cache_observing(RUNNING, Clock())
    cache.record(job("running"))
    assert cache.finished_before(0) == []


def test_an_object_created_while_the_first_list_is_in_flight_is_not_taken_for_deleted():
    """CreateTask records its object; a list answered before the create does not contain it. The
    list must not bury it (GetTask would report "deleted outside Flyte"); the watch, which starts
    at the list's resourceVersion, brings whatever happens to it next."""
    cache = cache_observing(RUNNING, Clock())
    cache._list_starting()
    cache.record(job("created-during-list"))
    cache._replace_all([job("older")])
    assert cache.lookup(("ns", "created-during-list")) is not None
    assert cache.tombstone(("ns", "created-during-list")) is None
    cache._list_starting()
    cache._replace_all([job("older")])  # a later list without it: now it really is gone
    assert cache.lookup(("ns", "created-during-list")) is None
    assert cache.tombstone(("ns", "created-during-list")) is not None
