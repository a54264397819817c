import dataclasses
import time

import pytest
from flyteidl.core.execution_pb2 import TaskExecution

from k8s_operator_connector.kube_api import KubeApi, ResourceType
from k8s_operator_connector.object_cache import ObjectCache
from k8s_operator_connector.operator_plugin import Observation

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


def test_listed_objects_are_current_page_by_page_and_the_finished_list_buries_the_rest():
    """A start's first list (or a relist after a cut) shows each page as it arrives: those objects
    are current at once, objects its pages have not brought yet are not (GetTask asks the API for
    them instead of waiting). Once the last page arrived, what no page held is gone."""
    cache = cache_observing(RUNNING, Clock())
    cache._list_starting()
    cache._list_page([job("kept"), job("vanished")])
    cache._list_finished()
    cache._disconnected_since = 1000.0  # the watch was cut: nothing is current until relisted
    assert cache.current(("ns", "kept")) is None
    assert cache.lookup(("ns", "kept")) is not None

    cache._list_starting()
    cache._list_page([job("kept")])
    assert cache.current(("ns", "kept")) is not None  # its page arrived
    assert cache.current(("ns", "vanished")) is None  # not listed yet: ask the API
    assert cache.lookup(("ns", "vanished")) is not None  # not buried before the list is complete
    cache.record(job("asked-for"))  # a GET's answer during the list is current as well
    assert cache.current(("ns", "asked-for")) is not None
    cache._list_page([job("later-page")])
    cache._list_finished()

    assert cache.lookup(("ns", "vanished")) is None
    assert cache.tombstone(("ns", "vanished")) is not None
    assert cache.lookup(("ns", "asked-for")) is not None  # recorded during the list: not buried
    assert {key for key in cache._objects} == {("ns", "kept"), ("ns", "asked-for"), ("ns", "later-page")}
    assert len(cache) == 3  # each object once, however many pages and records brought it


def test_a_list_started_again_forgets_the_pages_of_the_abandoned_one():
    """A continue token that expired (410) restarts the list: only the complete list decides what
    is gone, and an object a page of the abandoned attempt held but the new list lacks is gone."""
    cache = cache_observing(RUNNING, Clock())
    cache._list_starting()
    cache._list_page([job("a"), job("deleted-between-attempts")])
    cache._list_starting()  # the attempt that completes
    cache._list_page([job("a")])
    cache._list_finished()
    assert cache.lookup(("ns", "a")) is not None
    assert cache.lookup(("ns", "deleted-between-attempts")) is None
