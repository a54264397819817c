import pytest

from parallel_job_operator.verdict import decide, worker_counts
from parallel_job_operator.workers import WorkerState


def _workers(*phases, reason="", message=""):
    return [
        WorkerState(
            i,
            f"pj-w{i}",
            "",
            phase,
            reason=reason if phase == "Failed" else "",
            message=message if phase == "Failed" else "",
        )
        for i, phase in enumerate(phases)
    ]


def test_counts():
    assert worker_counts(_workers("Pending", "Running", "Running", "Failed")) == {
        "pending": 1,
        "running": 2,
        "succeeded": 0,
        "failed": 1,
    }


def test_all_pending():
    verdict = decide("AllWorkers", _workers("Pending", "Pending"), None, False)
    assert (verdict.phase, verdict.message) == ("Pending", "2/2 workers pending")


def test_pending_message_names_a_waiting_reason():
    workers = [WorkerState(0, "pj-w0", "p", "Pending", waiting_reason="ImagePullBackOff")]
    assert decide("AllWorkers", workers, None, False).message == "1/1 workers pending (worker 0: ImagePullBackOff)"


def test_running_when_any_worker_started():
    verdict = decide("AllWorkers", _workers("Succeeded", "Running", "Pending"), None, False)
    assert (verdict.phase, verdict.message) == ("Running", "1/3 workers running, 1 succeeded")


def test_all_workers_succeed_together():
    verdict = decide("AllWorkers", _workers("Succeeded", "Succeeded"), None, False)
    assert (verdict.phase, verdict.reason, verdict.message, verdict.terminal) == (
        "Succeeded",
        "",
        "2/2 workers succeeded",
        True,
    )


def test_all_workers_fails_on_first_failure_with_the_job_reason():
    verdict = decide(
        "AllWorkers", _workers("Running", "Failed", reason="BackoffLimitExceeded", message="limit hit"), None, False
    )
    assert (verdict.phase, verdict.reason) == ("Failed", "BackoffLimitExceeded")
    assert verdict.message == "worker 1 (Job pj-w1) failed (BackoffLimitExceeded): limit hit"


def test_failure_without_reason():
    verdict = decide("AllWorkers", _workers("Failed"), None, False)
    assert (verdict.reason, verdict.message) == ("WorkerFailed", "worker 0 (Job pj-w0) failed (WorkerFailed)")


def test_any_worker_succeeds_on_first_success():
    verdict = decide("AnyWorker", _workers("Failed", "Succeeded", "Running"), None, False)
    assert (verdict.phase, verdict.message) == ("Succeeded", "worker 1 succeeded (AnyWorker)")


def test_any_worker_keeps_running_after_a_failure_and_fails_when_all_failed():
    assert decide("AnyWorker", _workers("Failed", "Running"), None, False).phase == "Running"
    verdict = decide("AnyWorker", _workers("Failed", "Failed", reason="BackoffLimitExceeded"), None, False)
    assert (verdict.phase, verdict.reason) == ("Failed", "BackoffLimitExceeded")


def test_deadline_fails_unfinished_work():
    verdict = decide("AllWorkers", _workers("Running", "Succeeded"), 60, True)
    assert (verdict.phase, verdict.reason, verdict.message) == (
        "Failed",
        "DeadlineExceeded",
        "ran longer than activeDeadlineSeconds=60",
    )


@pytest.mark.parametrize(
    ("policy", "phases"), [("AllWorkers", ("Succeeded", "Succeeded")), ("AnyWorker", ("Succeeded", "Running"))]
)
def test_success_wins_over_a_deadline_seen_at_the_same_time(policy, phases):
    assert decide(policy, _workers(*phases), 60, True).phase == "Succeeded"


def test_failure_message_leads_with_the_workers_own_error_and_names_the_pod():
    workers = [
        WorkerState(0, "pj-w0", "pj-w0-abcde", "Running"),
        WorkerState(
            1,
            "pj-w1",
            "pj-w1-fghij",
            "Failed",
            reason="BackoffLimitExceeded",
            message="Job has reached the specified backoff limit",
            error="KeyError: 'shard-1'",
        ),
    ]
    verdict = decide("AllWorkers", workers, None, False)
    assert (verdict.phase, verdict.reason) == ("Failed", "BackoffLimitExceeded")
    assert verdict.message == "worker 1 (pod pj-w1-fghij, Job pj-w1) failed (BackoffLimitExceeded): KeyError: 'shard-1'"
