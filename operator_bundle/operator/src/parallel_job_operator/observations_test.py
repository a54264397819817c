from parallel_job_operator.observations import observe_job, observe_pod
from parallel_job_operator.testing_objects import UID, condition, job, observed_job, observed_pod, pod


def test_running_job():
    observed = observed_job(job(1, active=1, failed=2))
    assert (observed.name, observed.index, observed.owner_uid) == ("pj-w1", 1, UID)
    assert (observed.active, observed.failed, observed.outcome) == (1, 2, "")


def test_complete_and_failed_jobs():
    assert observed_job(job(0, conditions=[condition("Complete")])).outcome == "Succeeded"
    assert observed_job(job(0, conditions=[condition("SuccessCriteriaMet")])).outcome == "Succeeded"
    failed = observed_job(
        job(0, conditions=[condition("Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit")])
    )
    assert (failed.outcome, failed.reason, failed.message) == (
        "Failed",
        "BackoffLimitExceeded",
        "Job has reached the specified backoff limit",
    )
    assert (
        observed_job(job(0, conditions=[condition("FailureTarget", "DeadlineExceeded")])).reason == "DeadlineExceeded"
    )


def test_false_conditions_do_not_count():
    body = job(0, conditions=[{"type": "Complete", "status": "False"}])
    assert observed_job(body).outcome == ""


def test_objects_without_a_valid_index_are_ignored():
    body = job(0)
    body["metadata"]["labels"]["workloads.example.com/worker-index"] = "x"
    assert observe_job(body) is None
    body["metadata"]["labels"]["workloads.example.com/worker-index"] = "-1"
    assert observe_job(body) is None
    del body["metadata"]["labels"]["workloads.example.com/worker-index"]
    assert observe_pod(body) is None


def test_pod():
    observed = observed_pod(pod(2, phase="Pending", restarts=3, waiting="ImagePullBackOff"))
    assert (observed.name, observed.index, observed.job_name) == ("pj-w2-abcde", 2, "pj-w2")
    assert (observed.phase, observed.restarts, observed.waiting_reason) == ("Pending", 3, "ImagePullBackOff")


def test_pod_with_legacy_job_name_label_and_no_status():
    body = pod(0)
    labels = body["metadata"]["labels"]
    labels["job-name"] = labels.pop("batch.kubernetes.io/job-name")
    del body["status"]
    observed = observed_pod(body)
    assert (observed.job_name, observed.phase, observed.restarts) == ("pj-w0", "Pending", 0)


def test_pod_keeps_the_message_of_a_failed_termination():
    failed = pod(1, phase="Failed", terminated={"exitCode": 1, "message": "KeyError: 'shard-1'\n"})
    assert observed_pod(failed).termination_message == "KeyError: 'shard-1'"
    succeeded = pod(1, phase="Succeeded", terminated={"exitCode": 0, "message": "all done"})
    assert observed_pod(succeeded).termination_message == ""
    assert observed_pod(pod(1)).termination_message == ""


def test_pod_restarted_in_place_keeps_its_last_failed_termination():
    body = pod(0, restarts=1)
    body["status"]["containerStatuses"][0]["lastState"] = {"terminated": {"exitCode": 2, "message": "boom"}}
    assert observed_pod(body).termination_message == "boom"


def test_termination_message_is_bounded_to_the_kubelet_limit_keeping_its_end():
    # A pod body is untrusted: the kubelet keeps <= 4096 bytes, the operator does not rely on it.
    body = pod(0, phase="Failed", terminated={"exitCode": 1, "message": "x" * 10_000 + "END"})
    message = observed_pod(body).termination_message
    assert len(message) == 4096 and message.endswith("END")
