from datetime import datetime, timedelta, timezone

from parallel_job_operator.status import build_conditions, build_status
from parallel_job_operator.verdict import Verdict
from parallel_job_operator.workers import WorkerState

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
T1 = T0 + timedelta(minutes=1)
RUNNING = Verdict("Running", "", "1/1 workers running, 0 succeeded")
FAILED = Verdict("Failed", "BackoffLimitExceeded", "worker 0 failed")


def test_conditions_for_running():
    conditions = build_conditions(RUNNING, [], T0)
    assert [(c["type"], c["status"], c["reason"]) for c in conditions] == [
        ("Running", "True", "WorkersRunning"),
        ("Succeeded", "False", "WorkersRunning"),
        ("Failed", "False", "WorkersRunning"),
    ]
    assert {c["lastTransitionTime"] for c in conditions} == {"2024-01-01T00:00:00Z"}


def test_transition_time_moves_only_on_flip():
    before = build_conditions(RUNNING, [], T0)
    after = build_conditions(FAILED, before, T1)
    times = {c["type"]: c["lastTransitionTime"] for c in after}
    assert times == {
        "Running": "2024-01-01T00:01:00Z",
        "Succeeded": "2024-01-01T00:00:00Z",
        "Failed": "2024-01-01T00:01:00Z",
    }
    failed = next(c for c in after if c["type"] == "Failed")
    assert (failed["status"], failed["reason"], failed["message"]) == (
        "True",
        "BackoffLimitExceeded",
        "worker 0 failed",
    )


def test_status_document():
    workers = [WorkerState(0, "pj-w0", "pj-w0-x", "Running")]
    status = build_status({}, 3, workers, RUNNING, T0, T1)
    assert status["phase"] == "Running"
    assert status["startTime"] == "2024-01-01T00:00:00Z"
    assert status["completionTime"] is None
    assert status["observedGeneration"] == 3
    assert status["workerCounts"] == {"pending": 0, "running": 1, "succeeded": 0, "failed": 0}
    assert status["workers"] == [{"index": 0, "job": "pj-w0", "pod": "pj-w0-x", "phase": "Running", "restarts": 0}]


def test_completion_time_is_kept_once_set():
    first = build_status({}, 1, [], FAILED, T0, T1)
    assert first["completionTime"] == "2024-01-01T00:01:00Z"
    again = build_status(first, 1, [], FAILED, T0, T1 + timedelta(minutes=5))
    assert again["completionTime"] == "2024-01-01T00:01:00Z"
