from datetime import datetime, timedelta, timezone

from parallel_job_operator.plan import fail_plan, plan_reconciliation, status_differs
from parallel_job_operator.testing_objects import condition, job, observed_job, observed_pod, parallel_job, pod

NOW = datetime(2024, 1, 1, 0, 10, tzinfo=timezone.utc)


def _plan(body, jobs=(), pods=(), now=NOW):
    return plan_reconciliation(body, [observed_job(j) for j in jobs], [observed_pod(p) for p in pods], now)


def test_new_parallel_job_creates_every_worker():
    plan = _plan(parallel_job(workers=3))
    assert plan.create == (0, 1, 2)
    assert plan.delete == ()
    assert plan.phase == "Pending"
    assert plan.status["startTime"] == "2024-01-01T00:10:00Z"
    assert plan.status["workers"][2] == {"index": 2, "job": "pj-w2", "pod": "", "phase": "Pending", "restarts": 0}
    assert plan.events == (("Normal", "Pending", "3/3 workers pending"),)


def test_only_missing_workers_are_created():
    plan = _plan(parallel_job(workers=3), jobs=[job(0, active=1), job(2, active=1)])
    assert plan.create == (1,)


def test_jobs_of_an_older_object_with_the_same_name_are_not_ours():
    plan = _plan(parallel_job(workers=1), jobs=[job(0, owner_uid="someone-else", conditions=[condition("Complete")])])
    assert plan.create == (0,)
    assert plan.phase == "Pending"


def test_unowned_labelled_jobs_count_as_ours():
    plan = _plan(parallel_job(workers=1), jobs=[job(0, owner_uid="", active=1)], pods=[pod(0)])
    assert (plan.create, plan.phase) == ((), "Running")


def test_workers_beyond_spec_are_ignored():
    plan = _plan(
        parallel_job(workers=1), jobs=[job(0, active=1), job(5, conditions=[condition("Failed")])], pods=[pod(0)]
    )
    assert plan.phase == "Running"
    assert len(plan.status["workers"]) == 1


def test_running_status_and_no_event_without_transition():
    body = parallel_job(workers=2, status={"phase": "Running", "startTime": "2024-01-01T00:00:00Z"})
    plan = _plan(body, jobs=[job(0, active=1), job(1, active=1)], pods=[pod(0), pod(1, phase="Pending")])
    assert plan.phase == "Running"
    assert plan.status["startTime"] == "2024-01-01T00:00:00Z"
    assert plan.status["workerCounts"] == {"pending": 1, "running": 1, "succeeded": 0, "failed": 0}
    assert plan.events == ()


def test_failure_stops_the_other_workers():
    plan = _plan(
        parallel_job(workers=3, status={"phase": "Running"}),
        jobs=[
            job(0, active=1),
            job(1, conditions=[condition("Failed", "BackoffLimitExceeded", "limit")]),
            job(2, conditions=[condition("Complete")]),
        ],
        pods=[pod(0)],
    )
    assert (plan.phase, plan.status["reason"]) == ("Failed", "BackoffLimitExceeded")
    assert plan.status["completionTime"] == "2024-01-01T00:10:00Z"
    assert plan.create == ()
    assert plan.delete == ("pj-w0",)
    assert plan.events == (("Warning", "BackoffLimitExceeded", plan.status["message"]),)


def test_any_worker_success_deletes_the_rest():
    plan = _plan(
        parallel_job(workers=3, successPolicy="AnyWorker"),
        jobs=[job(0, active=1), job(1, conditions=[condition("Complete")])],
    )
    assert plan.phase == "Succeeded"
    assert plan.create == ()  # worker 2 is never started
    assert plan.delete == ("pj-w0",)


def test_deadline_passed_fails_and_deletes():
    body = parallel_job(
        workers=2, activeDeadlineSeconds=60, status={"phase": "Running", "startTime": "2024-01-01T00:00:00Z"}
    )
    plan = _plan(body, jobs=[job(0, active=1), job(1, active=1)], pods=[pod(0), pod(1)])
    assert (plan.phase, plan.status["reason"]) == ("Failed", "DeadlineExceeded")
    assert plan.delete == ("pj-w0", "pj-w1")


def test_deadline_not_yet_passed_requeues():
    body = parallel_job(
        workers=1, activeDeadlineSeconds=900, status={"phase": "Running", "startTime": "2024-01-01T00:00:00Z"}
    )
    plan = _plan(body, jobs=[job(0, active=1)], pods=[pod(0)])
    assert plan.phase == "Running"
    assert plan.requeue_after == 300.0
    assert _plan(parallel_job()).requeue_after is None


def test_deadline_counts_from_first_reconcile():
    plan = _plan(parallel_job(workers=1, activeDeadlineSeconds=30))
    assert plan.requeue_after == 30.0


def test_finished_parallel_job_is_frozen():
    status = {"phase": "Succeeded", "message": "done", "completionTime": "2024-01-01T00:05:00Z", "workers": []}
    body = parallel_job(workers=2, successPolicy="AnyWorker", status=status, generation=2)
    plan = _plan(
        body, jobs=[job(0, conditions=[condition("Complete")]), job(1, active=1)], now=NOW + timedelta(hours=1)
    )
    assert plan.create == ()
    assert plan.delete == ("pj-w1",)
    assert plan.status == {**status, "observedGeneration": 2}
    assert plan.events == ()


def test_finished_parallel_job_does_not_recreate_deleted_jobs():
    body = parallel_job(workers=3, status={"phase": "Failed", "reason": "DeadlineExceeded"})
    assert _plan(body).create == ()


def test_jobs_being_deleted_are_not_deleted_again():
    body = parallel_job(workers=1, status={"phase": "Failed"})
    deleting = job(0, active=1)
    deleting["metadata"]["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    assert _plan(body, jobs=[deleting]).delete == ()


def test_invalid_spec_fails_permanently():
    body = parallel_job(workers=0)
    plan = _plan(body, jobs=[job(0, active=1)])
    assert (plan.phase, plan.status["reason"]) == ("Failed", "InvalidSpec")
    assert "spec.workers" in plan.status["message"]
    assert plan.create == ()
    assert plan.delete == ("pj-w0",)


def test_fail_plan_deletes_every_worker_and_keeps_the_rest():
    plan = fail_plan(_plan(parallel_job(workers=2)), "InvalidSpec", "rejected", NOW)
    assert (plan.phase, plan.status["reason"], plan.status["message"]) == ("Failed", "InvalidSpec", "rejected")
    assert plan.create == ()
    assert plan.delete == ("pj-w0", "pj-w1")
    assert plan.status["workers"][0]["job"] == "pj-w0"
    assert plan.events == (("Warning", "InvalidSpec", "rejected"),)


def test_reconciling_twice_changes_nothing():
    first = _plan(parallel_job(workers=2), jobs=[job(0, active=1), job(1, active=1)], pods=[pod(0), pod(1)])
    body = parallel_job(workers=2, status=first.status)
    again = _plan(
        body, jobs=[job(0, active=1), job(1, active=1)], pods=[pod(0), pod(1)], now=NOW + timedelta(minutes=3)
    )
    assert not status_differs(first.status, again.status)


def test_status_differs_treats_absent_none_and_empty_alike():
    assert not status_differs({"phase": "Running"}, {"phase": "Running", "reason": "", "completionTime": None})
    assert status_differs({"phase": "Running"}, {"phase": "Failed"})
