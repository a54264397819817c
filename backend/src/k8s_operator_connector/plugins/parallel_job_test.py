from typing import Any

import pytest
from flyteidl.core.execution_pb2 import TaskExecution
from flytekit.models import task as task_models
from flytekit.models.security import Secret, SecurityContext

from k8s_operator_connector.flyte_secrets import SECRETS_LABEL
from k8s_operator_connector.operator_plugin import InvalidTaskError
from k8s_operator_connector.plugins.parallel_job import PARALLEL_JOB, ParallelJobPlugin
from k8s_operator_connector.testing.flyte_models import make_request, make_template

plugin = ParallelJobPlugin()


def build(**template_kwargs):
    return plugin.build_object(make_request(make_template(**template_kwargs)))


def test_builds_a_parallel_job_from_the_custom_and_the_container():
    resources = task_models.Resources(
        requests=[task_models.Resources.ResourceEntry(task_models.Resources.ResourceName.CPU, "500m")],
        limits=[task_models.Resources.ResourceEntry(task_models.Resources.ResourceName.MEMORY, "1Gi")],
    )
    built = build(
        custom={"workers": 3, "maxRestarts": 2, "timeoutSeconds": "3600", "restartPolicy": "RESTART_POLICY_ON_FAILURE"},
        args=["pyflyte-execute", "--inputs", "s3://b/in/inputs.pb"],
        env={"FOO": "bar"},
        resources=resources,
    )
    assert built.resource == PARALLEL_JOB
    spec = built.manifest["spec"]
    assert spec["workers"] == 3
    assert spec["maxRestarts"] == 2
    assert spec["activeDeadlineSeconds"] == 3600
    assert spec["restartPolicy"] == "OnFailure"
    assert spec["successPolicy"] == "AllWorkers"
    pod = spec["template"]
    assert pod["spec"]["restartPolicy"] == "OnFailure"
    assert pod["spec"]["serviceAccountName"] == "flyte-worker"
    worker = pod["spec"]["containers"][0]
    assert worker["image"] == "ghcr.io/example/demo:1"
    assert worker["args"] == ["pyflyte-execute", "--inputs", "s3://b/in/inputs.pb"]
    env = {item["name"]: item["value"] for item in worker["env"]}
    assert env["FOO"] == "bar"
    assert env["FLYTE_K8S_OPERATOR_EXCHANGE_PREFIX"] == "s3://bucket/out/exchange"
    assert worker["resources"] == {"requests": {"cpu": "500m"}, "limits": {"memory": "1Gi"}}
    assert pod["metadata"]["labels"]["execution-id"] == "a1b2c3"


def test_worker_resources_override_the_task_resources():
    built = build(custom={"workers": 1, "workerResources": {"requests": {"cpu": "2"}, "limits": {"cpu": "4"}}})
    worker = built.manifest["spec"]["template"]["spec"]["containers"][0]
    assert worker["resources"] == {"requests": {"cpu": "2"}, "limits": {"cpu": "4"}}


def test_placeholders_left_in_args_are_rendered_against_the_output_prefix():
    built = build(args=["pyflyte-execute", "--inputs", "{{.input}}", "--output-prefix", "{{.outputPrefix}}"])
    args = built.manifest["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args == ["pyflyte-execute", "--inputs", "s3://bucket/out/inputs.pb", "--output-prefix", "s3://bucket/out"]


def test_a_task_pod_template_is_honoured():
    pod = task_models.K8sPod(
        metadata=task_models.K8sObjectMetadata(labels={"tier": "gpu"}, annotations={"a": "b"}),
        pod_spec={
            "containers": [
                {"name": "sidecar", "image": "busybox"},
                {
                    "name": "primary",
                    "image": "ghcr.io/example/demo:1",
                    "args": ["pyflyte-execute", "--output-prefix", "{{.outputPrefix}}"],
                    "env": [{"name": "FROM_TEMPLATE", "value": "1"}],
                    "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                },
            ],
            "volumes": [{"name": "data", "emptyDir": {}}],
            "tolerations": [{"key": "gpu", "operator": "Exists"}],
        },
    )
    built = build(k8s_pod=pod, config={"primary_container_name": "primary"})
    with pytest.raises(InvalidTaskError, match="no container named 'main'"):
        build(k8s_pod=pod, config={"primary_container_name": "main"})
    spec = built.manifest["spec"]["template"]["spec"]
    # The primary becomes the container the operator runs ("worker"), first in the list.
    assert [c["name"] for c in spec["containers"]] == ["worker", "sidecar"]
    assert spec["containers"][0]["image"] == "ghcr.io/example/demo:1"
    primary = spec["containers"][0]
    assert primary["volumeMounts"] == [{"name": "data", "mountPath": "/data"}]
    assert primary["args"] == ["pyflyte-execute", "--output-prefix", "s3://bucket/out"]
    env = {item["name"]: item["value"] for item in primary["env"]}
    assert env["FROM_TEMPLATE"] == "1" and env["FLYTE_K8S_OPERATOR_EXCHANGE_PREFIX"] == "s3://bucket/out/exchange"
    assert spec["tolerations"] == [{"key": "gpu", "operator": "Exists"}]
    assert built.manifest["spec"]["template"]["metadata"]["labels"]["tier"] == "gpu"


def test_a_sidecar_named_like_the_operators_container_is_refused():
    pod = task_models.K8sPod(
        pod_spec={"containers": [{"name": "primary", "image": "app:1"}, {"name": "worker", "image": "busybox"}]}
    )
    with pytest.raises(InvalidTaskError, match="another container is named 'worker'") as raised:
        build(k8s_pod=pod, config={"primary_container_name": "primary"})
    assert raised.value.field_name == "k8s_pod.pod_spec.containers"


@pytest.mark.parametrize(("named", "runs_as"), [(None, "flyte-worker"), ("", "flyte-worker"), ("etl", "etl")])
def test_a_pod_template_without_a_service_account_runs_as_the_executions(named, runs_as):
    """flytek8s pod_helper.go UpdatePod fills serviceAccountName only when it is empty."""
    pod_spec: dict = {"containers": [{"name": "primary", "image": "app:1"}]}
    if named is not None:
        pod_spec["serviceAccountName"] = named
    built = build(k8s_pod=task_models.K8sPod(pod_spec=pod_spec), config={"primary_container_name": "primary"})
    assert built.manifest["spec"]["template"]["spec"]["serviceAccountName"] == runs_as


@pytest.mark.parametrize("pod_spec", [["not", "a", "mapping"], {"containers": "x"}, {"containers": ["x"]}])
def test_a_malformed_pod_template_names_the_field(pod_spec):
    with pytest.raises(InvalidTaskError, match="k8s_pod.pod_spec"):
        build(k8s_pod=task_models.K8sPod(pod_spec=pod_spec), config={"primary_container_name": "primary"})


def test_secret_requests_become_the_webhook_label_and_annotations():
    context = SecurityContext(secrets=[Secret(group="db", key="password")])
    built = build(security_context=context)
    metadata = built.manifest["spec"]["template"]["metadata"]
    assert metadata["labels"][SECRETS_LABEL] == "true"
    # The webhook's alphabet, no padding (flyte_secrets_test.py checks the upstream vectors).
    assert metadata["annotations"]["flyte.secrets/s0"] == "m4zg54lqhiqcezdceifgwzlzhiqce3dbonzxo22smqrau"


@pytest.mark.parametrize(
    ("custom", "field"),
    [
        ({"workers": 0}, "custom.workers"),
        ({"workers": 1001}, "custom.workers"),
        ({"workers": 1, "maxRestarts": 101}, "custom.max_restarts"),
        ({"workers": 1, "timeoutSeconds": "-5"}, "custom.timeout_seconds"),
        ({"workers": 1, "restartPolicy": "SOMETIMES"}, "custom.restart_policy"),
        ({"workers": "many"}, "custom.workers"),
        ({"replicas": 2}, "custom.replicas"),
        ({}, "custom"),
    ],
)
def test_invalid_customs_name_the_field(custom, field):
    with pytest.raises(InvalidTaskError) as raised:
        build(custom=custom)
    assert raised.value.field_name == field


def test_a_task_without_an_image_is_refused():
    with pytest.raises(InvalidTaskError, match="container.image"):
        build(image="")


def observe(status, workers=3):
    return plugin.observe({"spec": {"workers": workers}, "status": status})


def test_phase_mapping_with_progress_messages_and_pods():
    assert observe({}).phase == TaskExecution.QUEUED
    pending = observe({"phase": "Pending", "workerCounts": {"pending": 3}})
    assert (pending.phase, pending.message) == (TaskExecution.INITIALIZING, "3/3 workers pending")
    running = observe(
        {
            "phase": "Running",
            "workerCounts": {"running": 2, "succeeded": 1},
            "workers": [
                {"index": 1, "pod": "p1"},
                {"index": 0, "pod": "p0"},
                {"index": 2, "pod": "p2", "phase": "Succeeded"},
            ],
        }
    )
    assert running.phase == TaskExecution.RUNNING
    assert running.message == "2/3 workers running, 1 succeeded"
    assert running.pods == ("p0", "p1", "p2")
    assert dict(running.info)["running"] == 2
    assert observe({"phase": "Succeeded", "workerCounts": {"succeeded": 3}}).phase == TaskExecution.SUCCEEDED


def test_running_waits_for_every_workers_first_pod():
    # Propeller records RUNNING once: it should carry a log link for every worker.
    status: dict[str, Any] = {
        "phase": "Running",
        "workerCounts": {"running": 1, "pending": 1},
        "workers": [{"index": 0, "pod": "p0", "phase": "Running"}, {"index": 1, "pod": "", "phase": "Pending"}],
    }
    held = observe(status, workers=2)
    assert (held.phase, held.message) == (TaskExecution.INITIALIZING, "1/2 workers running; no pod yet for 1")
    pending = [{"index": index, "pod": "", "phase": "Pending"} for index in range(1, 7)]
    many = observe({**status, "workers": [status["workers"][0], *pending]}, workers=7)
    assert many.message == "1/7 workers running; no pod yet for 1, 2, 3, 4, 5, ..."
    # Workers the operator does not list yet are not waited for (it lists every worker it made).
    assert observe({**status, "workers": status["workers"][:1]}, workers=2).phase == TaskExecution.RUNNING
    # A worker between pods after a restart has started before: the task stays RUNNING.
    restarting = [status["workers"][0], {"index": 1, "pod": "", "phase": "Pending", "restarts": 1}]
    assert observe({**status, "workers": restarting}, workers=2).phase == TaskExecution.RUNNING


def test_the_primary_container_name_comes_from_the_spec():
    spec = {"workers": 1, "template": {"spec": {"containers": [{"name": "worker"}, {"name": "sidecar"}]}}}
    assert plugin.observe({"spec": spec, "status": {"phase": "Pending"}}).container == "worker"
    odd_specs: list[dict[str, Any]] = [
        {"template": None},
        {"template": {"spec": {"containers": "x"}}},
        {"template": {"spec": []}},
    ]
    for odd in odd_specs:
        assert plugin.observe({"spec": {"workers": 1, **odd}}).container == ""


def test_failures_are_retryable_unless_the_spec_is_invalid():
    failed = observe({"phase": "Failed", "reason": "BackoffLimitExceeded", "message": "worker 1 failed"})
    assert failed.phase == TaskExecution.RETRYABLE_FAILED
    assert failed.message == "BackoffLimitExceeded: worker 1 failed"
    assert observe({"phase": "Failed", "reason": "InvalidSpec"}).phase == TaskExecution.FAILED


def test_observe_never_raises_on_odd_objects():
    odd: list[dict[str, Any]] = [{}, {"status": None}, {"spec": {"workers": None}, "status": {"workers": [{}]}}]
    for obj in odd:
        assert plugin.observe(obj).phase == TaskExecution.QUEUED


@pytest.mark.parametrize(
    ("obj", "phase", "message"),
    [
        ({"spec": "x", "status": "x"}, TaskExecution.QUEUED, "waiting for the ParallelJob operator"),
        (
            {"spec": {"workers": "two"}, "status": {"phase": "Pending"}},
            TaskExecution.INITIALIZING,
            "0/0 workers pending",
        ),
        (
            {"spec": {"workers": 2}, "status": {"phase": "Pending", "workerCounts": "x"}},
            TaskExecution.INITIALIZING,
            "0/2 workers pending",
        ),
        (
            {
                "spec": {"workers": 2},
                "status": {"phase": "Running", "workerCounts": {"running": "many", "failed": True}},
            },
            TaskExecution.RUNNING,
            "0/2 workers running, 0 succeeded",
        ),
        (
            {"spec": {"workers": 2}, "status": {"phase": "Running", "workers": "x"}},
            TaskExecution.RUNNING,
            "0/2 workers running, 0 succeeded",
        ),
        # Entries that are not objects, or have no integer index, are skipped, not waited for.
        (
            {
                "spec": {"workers": 2},
                "status": {"phase": "Running", "workers": ["x", None, {"index": "1"}, {"index": 0}]},
            },
            TaskExecution.INITIALIZING,
            "0/2 workers running; no pod yet for 0",
        ),
    ],
)
def test_malformed_status_fields_read_as_missing(obj, phase, message):
    """observe runs on the watch thread: an exception there fails the whole list and the watch relists
    forever, so one malformed object would leave every ParallelJob task unobserved."""
    observed = plugin.observe(obj)
    assert (observed.phase, observed.message) == (phase, message)


def test_any_worker_is_refused_for_tasks_with_outputs():
    from flytekit.models import interface, types

    template = make_template(custom={"workers": 2, "successPolicy": "SUCCESS_POLICY_ANY_WORKER"})
    assert plugin.build_object(make_request(template)).manifest["spec"]["successPolicy"] == "AnyWorker"
    integer = types.LiteralType(simple=types.SimpleType.INTEGER)
    template._interface = interface.TypedInterface({}, {"o0": interface.Variable(integer, "")})
    with pytest.raises(InvalidTaskError, match="ANY_WORKER needs a task without outputs"):
        plugin.build_object(make_request(template))


def test_the_object_is_a_parallel_job_of_the_operators_api_version():
    manifest = build(custom={"workers": 1}).manifest
    assert (manifest["apiVersion"], manifest["kind"]) == ("workloads.example.com/v1alpha1", "ParallelJob")


def test_the_counts_are_shown_as_custom_info_and_workers_without_a_pod_have_an_empty_name():
    status = {
        "phase": "Running",
        "workerCounts": {"running": 1, "pending": 1, "succeeded": 1, "failed": 1},
        "workers": [{"index": 2, "pod": "p2"}, {"index": 0, "restarts": 1}, {"index": 1, "pod": "p1"}],
    }
    observed = observe(status, workers=4)
    assert dict(observed.info) == {"workers": 4, "running": 1, "pending": 1, "succeeded": 1, "failed": 1}
    assert observed.pods == ("", "p1", "p2")


def test_an_empty_worker_phase_counts_as_not_started_and_five_are_listed_without_an_ellipsis():
    workers = [{"index": index, "phase": ""} for index in range(5)]
    observed = observe({"phase": "Running", "workers": workers}, workers=5)
    assert (observed.phase, observed.message) == (
        TaskExecution.INITIALIZING,
        "0/5 workers running; no pod yet for 0, 1, 2, 3, 4",
    )


@pytest.mark.parametrize(
    "spec", [{"template": {"spec": {"containers": []}}}, {"template": {"spec": {"containers": [{}]}}}]
)
def test_no_primary_container_name_is_read_as_empty(spec):
    assert plugin.observe({"spec": {"workers": 1, **spec}}).container == ""


def test_any_worker_with_outputs_is_refused_with_the_reason():
    from flytekit.models import interface, types

    template = make_template(custom={"workers": 2, "successPolicy": "SUCCESS_POLICY_ANY_WORKER"})
    integer = types.LiteralType(simple=types.SimpleType.INTEGER)
    template._interface = interface.TypedInterface({}, {"o0": interface.Variable(integer, "")})
    with pytest.raises(InvalidTaskError) as raised:
        plugin.build_object(make_request(template))
    assert str(raised.value) == (
        "custom.success_policy: ANY_WORKER needs a task without outputs: only worker 0 writes the task's "
        "outputs, and with ANY_WORKER the job may succeed before worker 0 finishes"
    )
    template._interface = None
    assert plugin.build_object(make_request(template)).manifest["spec"]["successPolicy"] == "AnyWorker"


def test_a_worker_already_past_pending_is_not_waited_for_even_without_a_pod_name():
    workers = [{"index": 0, "pod": "p0"}, {"index": 1, "phase": "Running"}, {"index": 2, "phase": "Pending"}]
    observed = observe({"phase": "Running", "workers": workers}, workers=3)
    assert observed.message == "0/3 workers running; no pod yet for 2"


def test_the_exchange_prefix_is_the_output_prefix_with_one_slash():
    import dataclasses

    request = dataclasses.replace(make_request(make_template(custom={"workers": 1})), output_prefix="s3://b/runX/")
    container = plugin.build_object(request).manifest["spec"]["template"]["spec"]["containers"][0]
    env = {item["name"]: item["value"] for item in container["env"]}
    assert env["FLYTE_K8S_OPERATOR_EXCHANGE_PREFIX"] == "s3://b/runX/exchange"
