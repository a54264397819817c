"""Retention's decision and the final-phase-served mark, with fake clocks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from flyteidl.core.execution_pb2 import TaskExecution

from k8s_operator_connector.final_phase import FINAL_PHASE_SERVED_ANNOTATION, retention_due, served_at
from k8s_operator_connector.kube_api import KubeApi, ResourceType, rfc3339
from k8s_operator_connector.object_cache import ObjectCache
from k8s_operator_connector.operator_plugin import Observation
from k8s_operator_connector.settings import parse_settings
from k8s_operator_connector.settings_reader import SettingsError

JOBS = ResourceType("batch", "v1", "jobs", "Job")
SERVED = 1_800_000_000.0  # a Unix time: 2027-01-15T08:00:00Z


@pytest.mark.parametrize(
    ("served", "finished_for", "wall_now", "due"),
    [
        (SERVED, 0, SERVED + 599, False),  # served, retention (600) not over
        (SERVED, 0, SERVED + 600, True),  # served 600 s ago: due, however briefly this process saw it finished
        (0, 86399, SERVED, False),  # never served: kept until the upper bound
        (0, 86400, SERVED, True),
        (SERVED, 86400, SERVED + 10, False),  # served just now: the upper bound no longer applies
    ],
)
def test_retention_counts_from_the_final_phase_served_else_up_to_the_upper_bound(
    served: float, finished_for: float, wall_now: float, due: bool
):
    assert retention_due(served, finished_for, wall_now, 600, 86400) is due


@pytest.mark.parametrize(
    ("annotations", "expected"),
    [
        ({FINAL_PHASE_SERVED_ANNOTATION: rfc3339(SERVED)}, SERVED),
        ({FINAL_PHASE_SERVED_ANNOTATION: "yesterday"}, 0.0),
        ({FINAL_PHASE_SERVED_ANNOTATION: 5}, 0.0),
        ({}, 0.0),
        ("junk", 0.0),
    ],
)
def test_the_served_mark_is_read_from_the_annotation(annotations: Any, expected: float):
    assert served_at({"metadata": {"annotations": annotations}}) == expected


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def observe(obj: Mapping[str, Any]) -> Observation:
    return Observation.of(TaskExecution.SUCCEEDED, "done")


def job(annotations: dict[str, str] | None = None, uid: str = "uid-1") -> dict[str, Any]:
    return {"metadata": {"name": "j", "namespace": "ns", "uid": uid, "annotations": annotations or {}}}


def test_the_cache_marks_once_keeps_its_mark_until_the_watch_brings_the_annotation_and_forgets_it_for_a_new_uid():
    clock = Clock()
    cache = ObjectCache(KubeApi.__new__(KubeApi), JOBS, None, "", observe, tombstone_seconds=60, clock=clock)
    cache.record(job())
    assert cache.mark_served(("ns", "j"), "uid-1", SERVED) is True
    assert cache.mark_served(("ns", "j"), "uid-1", SERVED + 5) is False  # once
    cache.record(job())  # a watch event from before the patch landed keeps the mark
    assert cache.lookup(("ns", "j")).served_at == SERVED  # type: ignore[union-attr]
    cache.record(job({FINAL_PHASE_SERVED_ANNOTATION: rfc3339(SERVED - 60)}))  # another replica's, earlier
    assert cache.lookup(("ns", "j")).served_at == SERVED - 60  # type: ignore[union-attr]
    cache.record(job(uid="uid-2"))  # replaced under the same name: not served
    assert cache.lookup(("ns", "j")).served_at == 0  # type: ignore[union-attr]
    assert cache.mark_served(("ns", "j"), "uid-1", SERVED) is False  # a mark for the old object


def test_an_upper_bound_below_the_retention_is_refused():
    with pytest.raises(SettingsError, match=r"unservedRetentionSeconds \(60\) must be >= finishedRetentionSeconds"):
        parse_settings({"finishedRetentionSeconds": 600, "unservedRetentionSeconds": 60})
    assert parse_settings({"unservedRetentionSeconds": 600}).unserved_retention_seconds == 600


def recorded_job() -> tuple[Any, str]:
    from k8s_operator_connector.testing.fake_kube_api import FakeKubeApi

    api = FakeKubeApi((JOBS,))
    stored = api.put(JOBS, {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j", "namespace": "ns"}})
    return api, stored["metadata"]["uid"]


def test_the_mark_is_recorded_on_that_very_object_as_an_rfc3339_annotation():
    from k8s_operator_connector.final_phase import record_served

    api, uid = recorded_job()
    assert record_served(api, JOBS, "ns", "j", uid, SERVED + 0.9)
    stored = api.stored(JOBS, "ns", "j")
    assert stored is not None
    assert stored["metadata"]["annotations"] == {FINAL_PHASE_SERVED_ANNOTATION: "2027-01-15T08:00:00Z"}
    assert served_at(stored) == SERVED
    # Without a uid (an object known only by name) the patch carries no precondition.
    assert record_served(api, JOBS, "ns", "j", "", SERVED + 60)
    assert served_at(api.stored(JOBS, "ns", "j") or {}) == SERVED + 60


@pytest.mark.parametrize(
    ("uid", "fault", "hint"),
    [
        ("another-uid", None, ""),  # a new object under the same name: the precondition fails (409)
        (None, 403, " (grant the connector patch on jobs.batch)"),
        (None, 500, ""),
    ],
)
def test_a_failed_record_is_logged_with_a_hint_and_never_raised(uid, fault, hint, caplog):
    from k8s_operator_connector.final_phase import record_served

    api, stored_uid = recorded_job()
    if fault is not None:
        api.add(verb="patch", status=fault)
    with caplog.at_level("WARNING", logger="k8s_operator_connector.final_phase"):
        assert not record_served(api, JOBS, "ns", "j", uid or stored_uid, SERVED)
    [record] = caplog.records
    assert record.getMessage().startswith(
        f"could not record on {JOBS} ns/j that its final phase was served{hint}; retention keeps it in memory: "
    )
    # The API server's answer ends the line: the precondition's message, or the fault's.
    assert (f"UID in object meta: {stored_uid}" if uid else "injected fault") in record.getMessage()
    assert served_at(api.stored(JOBS, "ns", "j") or {}) == 0


def test_rfc3339_is_utc_to_the_second_whatever_the_processs_time_zone(monkeypatch):
    import time

    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        assert rfc3339(0) == "1970-01-01T00:00:00Z"
        assert rfc3339(SERVED + 0.999) == "2027-01-15T08:00:00Z"
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
