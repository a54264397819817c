from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from flytekit import FlyteContextManager, map_task, task, workflow
from flytekit.configuration import SerializationSettings
from flytekit.core.context_manager import ExecutionState
from flytekit.exceptions.system import FlyteConnectorNotFound
from flytekit.extend import TaskPlugins
from flytekit.tools.translator import get_serializable
from google.protobuf import descriptor_pb2

from flytekitplugins.k8s_operator.constants import LOCAL_MODE_ENV, LOCAL_MODE_FUNCTION
from flytekitplugins.k8s_operator.local_executor import LocalConnectorExecutor
from flytekitplugins.k8s_operator.operator_task import OperatorTask
from flytekitplugins.k8s_operator.testing.fake_connectors import SucceedingConnector, registered

IMAGE = "ghcr.io/example/app:1.0.0"


@dataclass(frozen=True)
class Nap:
    seconds: int = 1

    def to_proto(self) -> descriptor_pb2.FieldDescriptorProto:  # any message will do
        return descriptor_pb2.FieldDescriptorProto(name="nap", number=self.seconds)


class NapTask(OperatorTask[Nap]):
    config_type = Nap
    task_type_name = "nap_probe"
    task_type_version_number = 3


TaskPlugins.register_pythontask_plugin(Nap, NapTask)


@task(task_config=Nap(seconds=5), container_image=IMAGE)
def nap(x: int) -> int:
    return x + 1


def test_the_template_carries_the_task_type_its_version_and_the_config_proto(settings):
    template = get_serializable(OrderedDict(), settings, nap).template
    assert (template.type, template.task_type_version) == ("nap_probe", 3)
    assert template.custom == {"name": "nap", "number": 5}  # json_format.MessageToDict of the config's proto
    assert template.container.image == IMAGE


def test_a_config_of_another_class_is_refused_naming_both():
    with pytest.raises(TypeError, match="task_config must be a Nap, got dict"):
        NapTask(task_config={"seconds": 1}, task_function=nap.task_function)  # type: ignore[arg-type]


def test_it_runs_locally_with_this_packages_executor_whose_ctrl_c_deletes_the_object():
    assert isinstance(nap, LocalConnectorExecutor)
    assert NapTask.connector_signal_handler is LocalConnectorExecutor.connector_signal_handler
    assert NapTask._get is LocalConnectorExecutor._get
    with pytest.raises(FlyteConnectorNotFound, match=f"{LOCAL_MODE_ENV}={LOCAL_MODE_FUNCTION}"):
        nap(x=1)


def test_function_mode_and_a_pod_run_the_body(monkeypatch):
    ctx = FlyteContextManager.current_context()
    state = ctx.new_execution_state().with_params(mode=ExecutionState.Mode.TASK_EXECUTION)
    with FlyteContextManager.with_context(ctx.with_execution_state(state)):
        assert nap.execute(x=41) == 42
    monkeypatch.setenv(LOCAL_MODE_ENV, LOCAL_MODE_FUNCTION)
    assert nap(x=1) == 2


def test_a_local_connector_run_needs_an_image():
    @task(task_config=Nap())
    def imageless(x: int) -> int:
        return x

    with pytest.raises(
        ValueError, match=r"running a Nap locally through the connector needs @task\(container_image=...\)"
    ):
        imageless(x=1)


@pytest.fixture
def nap_connector() -> Iterator[None]:
    with registered(SucceedingConnector("nap_probe", 3, outputs={"o0": 7})):
        yield


@pytest.mark.usefixtures("nap_connector")
def test_a_local_run_through_the_connector_gives_the_outputs_as_values_also_in_a_local_map_task():
    @workflow
    def naps(xs: list[int]) -> list[int]:
        return map_task(nap)(x=xs)  # flytekit's local map collects what execute() returns

    assert nap(x=1) == 7
    assert naps(xs=[1, 2]) == [7, 7]


def test_a_map_task_over_it_is_refused_when_serialized_naming_its_kind(settings: SerializationSettings):
    @task(task_config=Nap(), container_image=IMAGE)
    def short_nap(x: int) -> int:
        return x

    @workflow
    def short_naps(xs: list[int]) -> list[int]:
        return map_task(short_nap)(x=xs)

    with pytest.raises(
        ValueError, match=r"short_nap: map_task over a Nap task cannot run on Flyte: propeller's"
    ) as refused:
        get_serializable(OrderedDict(), settings, short_naps)
    assert str(refused.value).endswith("could not follow the Nap it created. Loop in a @dynamic workflow instead")
    assert get_serializable(OrderedDict(), settings, short_nap).template.type == "nap_probe"  # alone, it serializes
