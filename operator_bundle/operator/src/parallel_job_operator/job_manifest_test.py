from parallel_job_operator.job_manifest import Owner, build_worker_job, worker_job_name
from parallel_job_operator.spec import parse_spec
from parallel_job_operator.testing_objects import UID, parallel_job

OWNER = Owner(name="pj", namespace="ns", uid=UID)


def _job(index=1, **spec_fields):
    return build_worker_job(OWNER, parse_spec(parallel_job(workers=3, **spec_fields)["spec"]), index)


def test_name_namespace_labels_and_owner():
    job = _job()
    assert job["apiVersion"] == "batch/v1" and job["kind"] == "Job"
    assert job["metadata"]["name"] == worker_job_name("pj", 1) == "pj-w1"
    assert job["metadata"]["namespace"] == "ns"
    labels = {"workloads.example.com/parallel-job": "pj", "workloads.example.com/worker-index": "1"}
    assert job["metadata"]["labels"] == labels
    assert job["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "workloads.example.com/v1alpha1",
            "kind": "ParallelJob",
            "name": "pj",
            "uid": UID,
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    template_labels = job["spec"]["template"]["metadata"]["labels"]
    assert template_labels == {"team": "ml", **labels}


def test_worker_env_comes_first_and_overrides_template():
    spec = parallel_job(workers=3)["spec"]
    spec["template"]["spec"]["containers"][0]["env"].append({"name": "WORKER_INDEX", "value": "bogus"})
    job = build_worker_job(OWNER, parse_spec(spec), 2)
    env = job["spec"]["template"]["spec"]["containers"][0]["env"]
    assert env == [
        {"name": "WORKER_INDEX", "value": "2"},
        {"name": "WORKER_COUNT", "value": "3"},
        {"name": "PARALLEL_JOB_NAME", "value": "pj"},
        {"name": "A", "value": "1"},
    ]


def test_sidecars_are_left_alone():
    spec = parallel_job()["spec"]
    spec["template"]["spec"]["containers"].append({"name": "sidecar", "image": "busybox"})
    containers = build_worker_job(OWNER, parse_spec(spec), 0)["spec"]["template"]["spec"]["containers"]
    assert containers[1] == {"name": "sidecar", "image": "busybox"}


def test_restart_policy_backoff_and_deadline():
    job = _job(restartPolicy="OnFailure", maxRestarts=7, activeDeadlineSeconds=90)
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "OnFailure"
    assert job["spec"]["backoffLimit"] == 7
    assert job["spec"]["activeDeadlineSeconds"] == 90
    assert (job["spec"]["completions"], job["spec"]["parallelism"]) == (1, 1)
    assert "activeDeadlineSeconds" not in _job()["spec"]


def test_template_is_not_modified():
    body = parallel_job()
    before = repr(body)
    build_worker_job(OWNER, parse_spec(body["spec"]), 0)
    assert repr(body) == before


def test_worker_falls_back_to_its_log_for_a_termination_message_unless_the_template_says_otherwise():
    job = build_worker_job(OWNER, parse_spec(parallel_job()["spec"]), 0)
    (worker,) = job["spec"]["template"]["spec"]["containers"]
    assert worker["terminationMessagePolicy"] == "FallbackToLogsOnError"
    body = parallel_job()
    body["spec"]["template"]["spec"]["containers"][0]["terminationMessagePolicy"] = "File"
    (worker,) = build_worker_job(OWNER, parse_spec(body["spec"]), 0)["spec"]["template"]["spec"]["containers"]
    assert worker["terminationMessagePolicy"] == "File"
