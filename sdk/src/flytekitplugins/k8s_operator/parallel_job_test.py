import datetime
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flytekit import FlyteContextManager, Resources, map_task, task, workflow
from flytekit.configuration import FastSerializationSettings, SerializationSettings
from flytekit.core.context_manager import ExecutionState
from flytekit.exceptions.system import FlyteConnectorNotFound
from flytekit.tools.translator import get_serializable
from google.protobuf import json_format

from flyte_k8s_operator.v1 import parallel_job_pb2
from flytekitplugins.k8s_operator import (
    ParallelJob,
    ParallelJobTask,
    RestartPolicy,
    SuccessPolicy,
    current_worker,
    gather,
    share,
)
from flytekitplugins.k8s_operator.local_executor import LocalConnectorExecutor
from flytekitplugins.k8s_operator.operator_task import OperatorTask
from flytekitplugins.k8s_operator.testing.fake_connectors import SucceedingConnector, registered

IMAGE = "ghcr.io/example/app:1.0.0"


@task(
    task_config=ParallelJob(
        workers=3,
        worker_resources=Resources(cpu=("500m", "1"), mem="2Gi"),
        restart_policy="on_failure",
        max_restarts=2,
        timeout=datetime.timedelta(hours=1),
        success_policy=SuccessPolicy.ALL_WORKERS,
    ),
    container_image=IMAGE,
    requests=Resources(cpu="1", mem="1Gi"),
)
def square_sum(n: int) -> int:
    """Each worker sums its share of squares; the leader adds them up."""
    me = current_worker()
    share(sum(i * i for i in range(me.index, n, me.count)))
    return sum(gather(timeout=5)) if me.is_leader else 0


@task(task_config=ParallelJob(), container_image=IMAGE)
def plain(x: int) -> int:
    return x + 1


# --- declaration-time validation -------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"workers": 0}, r"ParallelJob.workers must be an integer in 1..1000, got 0"),
        ({"workers": -2}, r"ParallelJob.workers must be an integer in 1..1000, got -2"),
        ({"workers": 1001}, r"ParallelJob.workers must be an integer in 1..1000, got 1001"),
        ({"workers": 2.0}, r"ParallelJob.workers must be an integer in 1..1000, got 2.0"),
        ({"workers": "3"}, r"ParallelJob.workers must be an integer in 1..1000, got '3'"),
        ({"workers": True}, r"ParallelJob.workers must be an integer in 1..1000, got True"),
        ({"max_restarts": -1}, r"ParallelJob.max_restarts must be an integer in 0..100, got -1"),
        ({"max_restarts": 101}, r"ParallelJob.max_restarts must be an integer in 0..100, got 101"),
        ({"timeout": -1}, r"ParallelJob.timeout must be a whole, non-negative number of seconds"),
        ({"timeout": datetime.timedelta(seconds=-5)}, r"ParallelJob.timeout must be a whole, non-negative"),
        ({"timeout": datetime.timedelta(milliseconds=1500)}, r"ParallelJob.timeout must be a whole"),
        ({"timeout": 1.5}, r"ParallelJob.timeout must be a whole"),
        ({"timeout": float("inf")}, r"ParallelJob.timeout must be a whole"),
        ({"timeout": "1h"}, r"ParallelJob.timeout must be a datetime.timedelta, a number of seconds or None"),
        (
            {"restart_policy": "always"},
            r"ParallelJob.restart_policy: 'always' is not a RestartPolicy; allowed: "
            r"RestartPolicy.NEVER \('Never'\), RestartPolicy.ON_FAILURE \('OnFailure'\)",
        ),
        ({"restart_policy": 1}, r"ParallelJob.restart_policy: 1 is not a RestartPolicy"),
        ({"restart_policy": SuccessPolicy.ANY_WORKER}, r"ParallelJob.restart_policy: .* is not a RestartPolicy"),
        (
            {"success_policy": "most"},
            r"ParallelJob.success_policy: 'most' is not a SuccessPolicy; allowed: "
            r"SuccessPolicy.ALL_WORKERS \('AllWorkers'\), SuccessPolicy.ANY_WORKER \('AnyWorker'\)",
        ),
        ({"worker_resources": {"cpu": "1"}}, r"ParallelJob.worker_resources must be a flytekit Resources"),
        ({"worker_resources": Resources()}, r"ParallelJob.worker_resources sets no resource"),
        (
            {"worker_resources": Resources(cpu="lots")},
            r"ParallelJob.worker_resources.cpu must be a non-negative Kubernetes quantity .* got 'lots'",
        ),
        (
            {"worker_resources": Resources(mem=("1Gi", "-2Gi"))},
            r"ParallelJob.worker_resources.mem must be a non-negative Kubernetes quantity .* got '-2Gi'",
        ),
    ],
)
def test_invalid_config_names_the_field(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ParallelJob(**kwargs)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("never", RestartPolicy.NEVER),
        ("Never", RestartPolicy.NEVER),
        ("NEVER", RestartPolicy.NEVER),
        ("on_failure", RestartPolicy.ON_FAILURE),
        ("OnFailure", RestartPolicy.ON_FAILURE),
        ("on-failure", RestartPolicy.ON_FAILURE),
        (RestartPolicy.ON_FAILURE, RestartPolicy.ON_FAILURE),
    ],
)
def test_restart_policy_spellings(text: Any, expected: RestartPolicy) -> None:
    assert ParallelJob(restart_policy=text).restart_policy is expected


def test_success_policy_and_timeout_normalization() -> None:
    config = ParallelJob(success_policy="any_worker", timeout=90)
    assert config.success_policy is SuccessPolicy.ANY_WORKER
    assert config.timeout == datetime.timedelta(seconds=90)
    assert config.timeout_seconds == 90
    assert ParallelJob(timeout=0).timeout is None
    assert ParallelJob(timeout=60.0).timeout_seconds == 60
    assert ParallelJob().timeout_seconds == 0


def test_config_is_frozen() -> None:
    config = ParallelJob(workers=2)
    with pytest.raises(AttributeError):
        config.workers = 0  # type: ignore[misc]


def test_boundaries_are_accepted() -> None:
    assert ParallelJob(workers=1000, max_restarts=100).to_proto().workers == 1000
    assert ParallelJob(workers=1, max_restarts=0).to_proto().max_restarts == 0


def test_it_is_an_operator_task_run_locally_by_the_bases_executor() -> None:
    assert isinstance(plain, OperatorTask)
    assert (ParallelJobTask.config_type, ParallelJobTask.task_type_name) == (ParallelJob, "parallel_job")
    assert ParallelJobTask.connector_signal_handler is LocalConnectorExecutor.connector_signal_handler
    assert ParallelJobTask._get is LocalConnectorExecutor._get


def test_task_config_type_is_checked() -> None:
    with pytest.raises(TypeError, match="task_config must be a ParallelJob, got dict"):
        ParallelJobTask(task_config={"workers": 2}, task_function=plain.task_function)  # type: ignore[arg-type]


# --- serialization ---------------------------------------------------------------------------


def test_decorator_creates_a_parallel_job_task() -> None:
    assert isinstance(square_sum, ParallelJobTask)
    assert square_sum.task_type == "parallel_job"
    assert square_sum.task_type_version == 1


def test_golden_template(
    serialize: Callable[[Any], dict[str, Any]], golden: Callable[[str, dict[str, Any]], None]
) -> None:
    golden("parallel_job_template", serialize(square_sum))


def test_container_args_start_with_the_worker_entrypoint(serialize: Callable[[Any], dict[str, Any]]) -> None:
    args = serialize(plain)["container"]["args"]
    assert args[:5] == ["python", "-m", "flytekitplugins.k8s_operator.worker", "pyflyte-execute", "--inputs"]
    assert args[args.index("--output-prefix") + 1] == "{{.outputPrefix}}"


def test_fast_registration_keeps_the_entrypoint(settings: SerializationSettings) -> None:
    fast = (
        settings.new_builder()
        .with_fast_serialization_settings(
            FastSerializationSettings(enabled=True, destination_dir="/root", distribution_location="s3://b/code.tgz")
        )
        .build()
    )
    args = get_serializable(OrderedDict(), fast, plain).template.container.args
    assert args[:6] == [
        "pyflyte-fast-execute",
        "--additional-distribution",
        "s3://b/code.tgz",
        "--dest-dir",
        "/root",
        "--",
    ]
    assert args[6:10] == ["python", "-m", "flytekitplugins.k8s_operator.worker", "pyflyte-execute"]


def test_custom_round_trips_through_the_proto(serialize: Callable[[Any], dict[str, Any]]) -> None:
    custom = serialize(square_sum)["custom"]
    assert custom["timeoutSeconds"] == "3600"  # int64 travels as a string
    message = json_format.ParseDict(custom, parallel_job_pb2.ParallelJob())
    assert message == parallel_job_pb2.ParallelJob(
        workers=3,
        worker_resources=parallel_job_pb2.Resources(
            requests={"cpu": "500m", "memory": "2Gi"}, limits={"cpu": "1", "memory": "2Gi"}
        ),
        restart_policy=parallel_job_pb2.RESTART_POLICY_ON_FAILURE,
        max_restarts=2,
        timeout_seconds=3600,
        success_policy=parallel_job_pb2.SUCCESS_POLICY_ALL_WORKERS,
    )


def test_custom_of_defaults(serialize: Callable[[Any], dict[str, Any]]) -> None:
    custom = serialize(plain)["custom"]
    assert custom == {
        "workers": 1,
        "restartPolicy": "RESTART_POLICY_NEVER",
        "successPolicy": "SUCCESS_POLICY_ALL_WORKERS",
    }
    message = json_format.ParseDict(custom, parallel_job_pb2.ParallelJob())
    assert (message.max_restarts, message.timeout_seconds, message.HasField("worker_resources")) == (0, 0, False)


def test_gpu_stays_flytes_gpu_and_ephemeral_storage_uses_the_kubernetes_name() -> None:
    # The connector renames "gpu" to the cluster's gpu-resource-name (nvidia.com/gpu by default).
    message = ParallelJob(worker_resources=Resources(gpu=1, ephemeral_storage="10Gi", cpu=0.5)).to_proto()
    assert dict(message.worker_resources.requests) == {
        "cpu": "0.5",
        "gpu": "1",
        "ephemeral-storage": "10Gi",
    }
    assert dict(message.worker_resources.limits) == dict(message.worker_resources.requests)


# --- execution -------------------------------------------------------------------------------


def test_local_function_mode_runs_the_body_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLYTE_K8S_OPERATOR_LOCAL_MODE", "function")
    assert square_sum(n=4) == 0 + 1 + 4 + 9

    @workflow
    def wf(n: int) -> int:
        return plain(x=square_sum(n=n))  # type: ignore[no-any-return]

    assert wf(n=3) == 6


def test_unknown_local_mode_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLYTE_K8S_OPERATOR_LOCAL_MODE", "cluster")
    with pytest.raises(ValueError, match="FLYTE_K8S_OPERATOR_LOCAL_MODE='cluster' is not a local mode"):
        plain(x=1)


def test_in_a_pod_the_body_runs() -> None:
    ctx = FlyteContextManager.current_context()
    state = ctx.new_execution_state().with_params(mode=ExecutionState.Mode.TASK_EXECUTION)
    with FlyteContextManager.with_context(ctx.with_execution_state(state)):
        assert plain.execute(x=41) == 42


def test_without_a_connector_the_error_says_what_to_do() -> None:
    with pytest.raises(FlyteConnectorNotFound, match="FLYTE_K8S_OPERATOR_LOCAL_MODE=function"):
        plain(x=1)


def test_local_connector_run_needs_an_image(monkeypatch: pytest.MonkeyPatch) -> None:
    @task(task_config=ParallelJob(workers=2))
    def no_image(x: int) -> int:
        return x

    with pytest.raises(ValueError, match=r"needs @task\(container_image=...\)"):
        no_image(x=1)


@pytest.fixture
def fake_connector() -> Iterator[SucceedingConnector]:
    connector = SucceedingConnector("parallel_job", 1, outputs={"o0": 7})
    with registered(connector):
        yield connector


def test_local_run_goes_through_the_connector(fake_connector: SucceedingConnector) -> None:
    assert plain(x=1) == 7
    (template,) = fake_connector.templates
    assert template.type == "parallel_job"
    assert template.task_type_version == 1
    assert template.container.image == IMAGE
    args = template.container.args
    assert args[:4] == ["python", "-m", "flytekitplugins.k8s_operator.worker", "pyflyte-execute"]
    output_prefix = args[args.index("--output-prefix") + 1]
    assert "{{" not in output_prefix  # rendered to a local directory by the local executor
    assert args[args.index("--inputs") + 1] == f"{output_prefix}/inputs.pb"
    assert json_format.ParseDict(template.custom, parallel_job_pb2.ParallelJob()).workers == 1


def test_a_task_with_a_pod_template_runs_locally_through_the_connector(fake_connector: SucceedingConnector) -> None:
    from flytekit import PodTemplate
    from flytekit.extend.backend import base_connector
    from kubernetes.client import V1Container, V1PodSpec

    @task(
        task_config=ParallelJob(workers=1),
        container_image=IMAGE,
        pod_template=PodTemplate(
            primary_container_name="main", pod_spec=V1PodSpec(containers=[V1Container(name="main")])
        ),
    )
    def templated(x: int) -> int:
        return x

    render = base_connector.render_task_template
    # flytekit 1.16's local executor renders only tt.container.args and fails without a container.
    assert templated(x=1) == 7
    (template,) = fake_connector.templates
    assert template.container is None and template.k8s_pod is not None
    [primary] = template.k8s_pod.pod_spec["containers"]
    assert primary["name"] == "main" and "{{.input}}" in primary["args"]  # left to the connector
    assert base_connector.render_task_template is render  # flytekit's own function is back


def test_any_worker_with_outputs_is_refused_at_declaration() -> None:
    with pytest.raises(ValueError, match=r"ParallelJob.success_policy: ANY_WORKER needs a task without outputs"):

        @task(task_config=ParallelJob(workers=2, success_policy="any_worker"))
        def first_to_finish(n: int) -> int:
            return n

    @task(task_config=ParallelJob(workers=2, success_policy="any_worker"))
    def search(n: int) -> None:  # no outputs: allowed
        return None

    @task(task_config=ParallelJob(workers=2))
    def all_of_them(n: int) -> int:  # outputs with ALL_WORKERS: allowed
        return n


def test_map_task_over_a_parallel_job_is_refused_when_registered(settings: SerializationSettings) -> None:
    """Propeller's ArrayNode cannot follow a connector task (see operator_task.MAP_TASK_REFUSAL): registering,
    packaging or `pyflyte run --remote` of such a map fails, naming why; the task alone still serializes."""

    @task(task_config=ParallelJob(workers=2), container_image="ghcr.io/example/app:1.0.0")
    def square(n: int) -> int:
        return n * n

    @workflow
    def squares(ns: list[int]) -> list[int]:
        return map_task(square)(n=ns)

    with pytest.raises(
        ValueError, match=r"square: map_task over a ParallelJob task cannot run on Flyte: propeller's"
    ) as refused:
        get_serializable(OrderedDict(), settings, squares)
    assert str(refused.value).endswith(
        "could not follow the ParallelJob it created. "
        "Loop in a @dynamic workflow instead, or give the task more workers"
    )
    template = get_serializable(OrderedDict(), settings, square).template
    assert template.container.args[:3] == ["python", "-m", "flytekitplugins.k8s_operator.worker"]
