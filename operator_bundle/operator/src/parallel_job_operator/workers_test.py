from parallel_job_operator.testing_objects import condition, job, observed_job, observed_pod, pod
from parallel_job_operator.workers import worker_state


def _state(job_body, *pod_bodies):
    observed = observed_job(job_body) if job_body else None
    return worker_state(0, "pj-w0", observed, [observed_pod(p) for p in pod_bodies])


def test_missing_job_is_pending():
    state = _state(None)
    assert (state.phase, state.job, state.pod) == ("Pending", "pj-w0", "")


def test_job_without_pod_is_pending():
    assert _state(job(0, active=1)).phase == "Pending"


def test_running_pod_makes_running():
    state = _state(job(0, active=1), pod(0, phase="Running"))
    assert (state.phase, state.pod) == ("Running", "pj-w0-abcde")


def test_newest_pod_decides_and_restarts_add_up():
    old = pod(0, suffix="old", phase="Failed", created="2024-01-01T00:00:00Z")
    new = pod(0, suffix="new", phase="Pending", created="2024-01-01T00:01:00Z", restarts=2, waiting="ContainerCreating")
    state = _state(job(0, active=1, failed=1), old, new)
    assert (state.phase, state.pod, state.restarts, state.waiting_reason) == (
        "Pending",
        "pj-w0-new",
        3,
        "ContainerCreating",
    )


def test_pods_of_another_job_are_ignored():
    stranger = pod(0, parent="other")
    assert _state(job(0, active=1), stranger).pod == ""


def test_finished_job_decides_over_pods():
    assert _state(job(0, conditions=[condition("Complete")]), pod(0, phase="Running")).phase == "Succeeded"
    failed = _state(
        job(0, failed=1, conditions=[condition("Failed", "BackoffLimitExceeded", "limit")]), pod(0, phase="Failed")
    )
    assert (failed.phase, failed.reason, failed.message, failed.restarts) == (
        "Failed",
        "BackoffLimitExceeded",
        "limit",
        1,
    )


def test_succeeded_pod_of_unfinished_job_counts_as_running():
    assert _state(job(0), pod(0, phase="Succeeded")).phase == "Running"


def test_as_status():
    assert _state(job(0, active=1), pod(0)).as_status() == {
        "index": 0,
        "job": "pj-w0",
        "pod": "pj-w0-abcde",
        "phase": "Running",
        "restarts": 0,
    }


def test_failed_worker_carries_its_containers_termination_message():
    ended = pod(0, phase="Failed", terminated={"exitCode": 1, "message": "ModuleNotFoundError: No module named 'x'"})
    state = _state(job(0, failed=1, conditions=[condition("Failed", "BackoffLimitExceeded", "limit")]), ended)
    assert state.error == "ModuleNotFoundError: No module named 'x'"
    assert state.as_status()["message"] == "ModuleNotFoundError: No module named 'x'"
    running = _state(job(0, active=1), pod(0))
    assert running.error == "" and "message" not in running.as_status()
