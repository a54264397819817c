import pytest
from flyteidl.core.execution_pb2 import TaskExecution

from k8s_operator_connector.status_conventions import conventional_phase, status_counters


def condition(kind: str, status: str = "True", reason: str = "", message: str = "") -> dict[str, str]:
    return {"type": kind, "status": status, "reason": reason, "message": message}


@pytest.mark.parametrize(
    ("status", "phase", "message"),
    [
        ({}, TaskExecution.QUEUED, "waiting for the JobSet operator"),
        ({"phase": "Pending"}, TaskExecution.INITIALIZING, "Pending"),
        ({"phase": "Running", "message": "2/3 up"}, TaskExecution.RUNNING, "Running: 2/3 up"),
        ({"phase": "Succeeded"}, TaskExecution.SUCCEEDED, "Succeeded"),
        ({"state": "COMPLETED"}, TaskExecution.SUCCEEDED, "COMPLETED"),
        (
            {"phase": "Failed", "reason": "OOM", "message": "killed"},
            TaskExecution.RETRYABLE_FAILED,
            "Failed: OOM: killed",
        ),
        ({"phase": "Resizing"}, TaskExecution.RUNNING, "Resizing"),
        ({"replicas": 1}, TaskExecution.INITIALIZING, "JobSet created"),
    ],
)
def test_status_phase(status, phase, message):
    assert conventional_phase({"status": status}, "JobSet") == (phase, message)


def test_conditions_failure_wins_over_success_and_only_true_counts():
    status = {"conditions": [condition("Completed"), condition("Failed", reason="BackoffLimit", message="w1 failed")]}
    assert conventional_phase({"status": status}) == (TaskExecution.RETRYABLE_FAILED, "Failed: BackoffLimit: w1 failed")
    status = {"conditions": [condition("Failed", "False"), condition("Completed", message="all jobs done")]}
    assert conventional_phase({"status": status}) == (TaskExecution.SUCCEEDED, "Completed: all jobs done")


def test_ready_condition_means_running():
    status = {"conditions": [condition("Ready", message="3 pods ready")]}
    assert conventional_phase({"status": status}) == (TaskExecution.RUNNING, "Ready: 3 pods ready")


def test_malformed_status_does_not_raise():
    assert conventional_phase({"status": "weird"})[0] == TaskExecution.QUEUED
    assert conventional_phase({"status": {"conditions": "x", "phase": 3}})[0] == TaskExecution.INITIALIZING
    assert conventional_phase({"status": {"conditions": [None, {"type": None}]}})[0] == TaskExecution.INITIALIZING


def test_status_counters():
    obj = {"status": {"active": 2, "succeeded": 1, "ready": True, "observedGeneration": 4, "phase": "Running"}}
    assert status_counters(obj) == {"active": 2, "succeeded": 1}
    assert status_counters({}) == {}


@pytest.mark.parametrize(
    ("status", "phase", "message"),
    [
        ({}, TaskExecution.QUEUED, "waiting for the object operator"),  # no kind given
        ({"replicas": 1}, TaskExecution.INITIALIZING, "object created"),
        ({"replicas": 1, "reason": "Admitted"}, TaskExecution.INITIALIZING, "object created: Admitted"),
        (
            {"replicas": 1, "message": "queued", "reason": "Admitted"},
            TaskExecution.INITIALIZING,
            "object created: queued",
        ),
        ({"phase": "Pending", "reason": "Unschedulable"}, TaskExecution.INITIALIZING, "Pending: Unschedulable"),
        ({"phase": "Pending", "message": "no nodes", "reason": "X"}, TaskExecution.INITIALIZING, "Pending: no nodes"),
        ({"phase": "Resizing", "message": "2 -> 4"}, TaskExecution.RUNNING, "Resizing: 2 -> 4"),
        # The status message wins over a Running condition's; without one, the condition's is shown.
        (
            {"message": "from status", "conditions": [condition("Running", message="from condition")]},
            TaskExecution.RUNNING,
            "Running: from status",
        ),
        (
            {"conditions": [condition("Running", message="from condition")]},
            TaskExecution.RUNNING,
            "Running: from condition",
        ),
    ],
)
def test_the_message_carries_the_details_each_convention_gives(status, phase, message):
    assert conventional_phase({"status": status}) == (phase, message)
