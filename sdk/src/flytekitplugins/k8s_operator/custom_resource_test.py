from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flytekit import kwtypes, task, workflow
from flytekit.extend.backend.base_connector import (
    AsyncConnectorBase,
    Resource,
    ResourceMeta,
)
from flytekit.models.core.execution import TaskExecutionPhase
from flytekit.models.literals import Literal, LiteralMap, Primitive, Scalar
from flytekit.models.task import TaskTemplate
from google.protobuf import json_format

from flyte_k8s_operator.v1 import custom_resource_pb2
from flytekitplugins.k8s_operator import ConditionError, CustomResourceTask, ManifestError, ObjectOutput
from flytekitplugins.k8s_operator.constants import LOCAL_MODE_ENV
from flytekitplugins.k8s_operator.manifest import render_manifest
from flytekitplugins.k8s_operator.testing.fake_connectors import registered

JOB_YAML = """
apiVersion: batch/v1
kind: Job
metadata:
  labels:
    team: "{{ inputs.team }}"
spec:
  completions: "{{ inputs.n }}"
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: main
          image: busybox:1.36
          args: ["sh", "-c", "echo counting to {{ inputs.n }} for {{inputs.team}}"]
"""

SUCCESS = (
    "object.status.succeeded >= 1 && object.status.conditions.exists(c, c.type == 'Complete' && c.status == 'True')"
)

count_to = CustomResourceTask(
    name="count_to",
    manifest=JOB_YAML,
    success_condition=SUCCESS,
    failure_condition="object.status.conditions.exists(c, c.type == 'Failed' && c.status == 'True')",
    progress_template="{object.status.succeeded}/{object.spec.completions} done",
    inputs=kwtypes(n=int, team=str),
)


def _manifest(**overrides: Any) -> dict[str, Any]:
    manifest: dict[str, Any] = {"apiVersion": "example.com/v1", "kind": "Widget", "spec": {"size": 1}}
    manifest.update(overrides)
    return {key: value for key, value in manifest.items() if value is not None}


def test_task_type_and_interface() -> None:
    assert count_to.task_type == "custom_resource"
    assert count_to.task_type_version == 1
    assert set(count_to.python_interface.inputs) == {"n", "team"}
    assert count_to.python_interface.outputs == {}


def test_golden_template(
    serialize: Callable[[Any], dict[str, Any]], golden: Callable[[str, dict[str, Any]], None]
) -> None:
    template = serialize(count_to)
    assert "container" not in template  # runs entirely in the connector
    golden("custom_resource_template", template)


def test_custom_round_trips_and_renders(serialize: Callable[[Any], dict[str, Any]]) -> None:
    custom = serialize(count_to)["custom"]
    message = json_format.ParseDict(custom, custom_resource_pb2.CustomResourceTask())
    assert message.success_condition == SUCCESS
    assert message.failure_condition == "object.status.conditions.exists(c, c.type == 'Failed' && c.status == 'True')"
    assert message.progress_template == "{object.status.succeeded}/{object.spec.completions} done"
    manifest = json_format.MessageToDict(message.manifest)
    assert manifest["spec"]["backoffLimit"] == 0.0  # a Struct keeps every number as a double
    rendered = render_manifest(manifest, {"n": 3, "team": "ml"})
    assert rendered["spec"]["completions"] == 3
    assert rendered["spec"]["backoffLimit"] == 0
    assert isinstance(rendered["spec"]["backoffLimit"], int)
    assert rendered["metadata"]["labels"]["team"] == "ml"
    container = rendered["spec"]["template"]["spec"]["containers"][0]
    assert container["args"][2] == "echo counting to 3 for ml"


def test_manifest_as_mapping_and_optional_fields(serialize: Callable[[Any], dict[str, Any]]) -> None:
    task = CustomResourceTask(name="widget", manifest=_manifest(), success_condition="object.status.ready")
    custom = serialize(task)["custom"]
    assert custom == {
        "manifest": {"apiVersion": "example.com/v1", "kind": "Widget", "spec": {"size": 1.0}},
        "successCondition": "object.status.ready",
    }


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        (_manifest(apiVersion=None), r"manifest.apiVersion is required and must be a non-empty string, got None"),
        (_manifest(kind=None), r"manifest.kind is required and must be a non-empty string, got None"),
        (_manifest(kind=""), r"manifest.kind is required"),
        (_manifest(kind="{{ inputs.kind }}"), r"manifest.kind must be fixed"),
        (_manifest(metadata={"name": "x"}), r"manifest.metadata.name must not be set: the connector names"),
        (_manifest(metadata={"namespace": "x"}), r"manifest.metadata.namespace must not be set"),
        (_manifest(metadata={"generateName": "x-"}), r"manifest.metadata.generateName must not be set"),
        (_manifest(metadata="x"), r"manifest.metadata must be a mapping, got str"),
        (
            _manifest(spec={"size": "{{ inputs.size }}"}),
            r"manifest.spec.size: placeholder \{\{ inputs.size \}\} names no declared input \(declared: n\)",
        ),
        (
            _manifest(spec={"args": ["{{ input.n }}"]}),
            r"manifest.spec.args\[0\]: '\{\{ input.n \}\}' is not a placeholder",
        ),
        (
            _manifest(spec={"{{ inputs.n }}": 1}),
            r"manifest.spec\['\{\{ inputs.n \}\}'\]: placeholders are allowed in values only",
        ),
        (_manifest(spec={1: "x"}), r"manifest.spec: keys must be strings, got 1"),
        (_manifest(spec={"x": float("nan")}), r"manifest.spec.x: nan is not a JSON number"),
        (_manifest(spec={"x": object()}), r"manifest.spec.x: object values are not allowed"),
        ("apiVersion: v1\nkind: [unclosed", r"manifest is not valid YAML"),
        ("- a\n- b\n", r"manifest must be a mapping \(or a YAML mapping\), got list"),
        ("apiVersion: v1\nkind: ConfigMap\ndata:\n  day: 2024-01-01\n", r"manifest.data.day: date values"),
    ],
)
def test_invalid_manifests_are_rejected_at_declaration(manifest: Any, message: str) -> None:
    with pytest.raises(ManifestError, match=r"CustomResourceTask 'bad': " + message):
        CustomResourceTask(name="bad", manifest=manifest, success_condition="object.status.ok", inputs=kwtypes(n=int))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"success_condition": ""}, r"bad.success_condition: expected a CEL expression"),
        (
            {"success_condition": "object.status.phase = 'Done'"},
            r"bad.success_condition: CEL syntax error at position 20",
        ),
        ({"failure_condition": "object.status.phase == "}, r"bad.failure_condition: CEL syntax error at position 20"),
        (
            {"failure_condition": "status.phase == 'Failed'"},
            r"bad.failure_condition: unknown name 'status' .* at position 0",
        ),
        ({"progress_template": "{object.status.x"}, r"bad.progress_template: expected '}' to close the reference"),
    ],
)
def test_invalid_conditions_are_rejected_at_declaration(kwargs: dict[str, str], message: str) -> None:
    arguments: dict[str, Any] = {"success_condition": "object.status.ok", **kwargs}
    with pytest.raises(ConditionError, match=message):
        CustomResourceTask(name="bad", manifest=_manifest(), **arguments)


def test_inputs_must_be_primitive() -> None:
    with pytest.raises(
        ValueError,
        match=r"input 'items' has type list\[int\]; manifest placeholders render str, int, float, bool and datetime",
    ):
        CustomResourceTask(
            name="bad", manifest=_manifest(), success_condition="object.status.ok", inputs={"items": list[int]}
        )


class _FakeConnector(AsyncConnectorBase):
    name = "fake custom resource connector"

    def __init__(self) -> None:
        super().__init__(task_type_name="custom_resource", task_type_version=1, metadata_type=ResourceMeta)
        self.created: list[tuple[TaskTemplate, LiteralMap | None]] = []

    def create(self, task_template: TaskTemplate, inputs: LiteralMap | None = None, **kwargs: Any) -> ResourceMeta:
        self.created.append((task_template, inputs))
        return ResourceMeta()

    def get(self, resource_meta: ResourceMeta, **kwargs: Any) -> Resource:
        # As the connector answers: literals of the declared types, for a task that declares outputs.
        template, _ = self.created[-1]
        if not template.interface.outputs:
            return Resource(phase=TaskExecutionPhase.SUCCEEDED, message="1/3 done")
        pods = Literal(scalar=Scalar(primitive=Primitive(integer=3)))
        return Resource(phase=TaskExecutionPhase.SUCCEEDED, message="1/3 done", outputs=LiteralMap({"pods": pods}))

    def delete(self, resource_meta: ResourceMeta, **kwargs: Any) -> None:
        pass


@pytest.fixture
def fake_connector() -> Iterator[_FakeConnector]:
    connector = _FakeConnector()
    with registered(connector):
        yield connector


def test_local_run_goes_through_the_connector(fake_connector: _FakeConnector) -> None:
    @workflow
    def wf(n: int) -> None:
        count_to(n=n, team="ml")

    wf(n=3)
    ((template, inputs),) = fake_connector.created
    assert template.type == "custom_resource"
    assert inputs is not None
    assert inputs.literals["n"].scalar.primitive.integer == 3
    assert inputs.literals["team"].scalar.primitive.string_value == "ml"


def test_without_a_connector_the_error_names_the_package() -> None:
    with pytest.raises(AssertionError, match="needs the flyte-k8s-operator-connector package") as raised:
        count_to(n=1, team="x")
    assert LOCAL_MODE_ENV not in str(raised.value)  # no function to run in-process instead


count_pods = CustomResourceTask(
    name="count_pods",
    manifest=_manifest(),
    success_condition="object.status.ready",
    outputs={"pods": ObjectOutput(int, "object.status.succeeded")},
)


def test_outputs_are_typed_in_the_interface_and_travel_in_custom(serialize: Callable[[Any], dict[str, Any]]) -> None:
    assert count_pods.python_interface.outputs == {"pods": int}
    template = serialize(count_pods)
    assert template["custom"]["outputs"] == {"pods": "object.status.succeeded"}
    assert template["interface"]["outputs"]["variables"]["pods"]["type"] == {"simple": "INTEGER"}


@pytest.mark.parametrize(
    ("outputs", "error", "message"),
    [
        (
            {"pods": ObjectOutput(list, "object.status.x")},
            ValueError,
            r"bad.outputs.pods: type <class 'list'> is not one of int, float",
        ),
        (
            {"pods": (int, "object.status.x")},
            ValueError,
            r"bad.outputs.pods: expected ObjectOutput\(type, expression\), got tuple",
        ),
        (
            {"pods": ObjectOutput(int, "status.succeeded")},
            ConditionError,
            r"bad.outputs.pods: unknown name 'status' .* at position 0",
        ),
        (
            {"pods": ObjectOutput(int, "object.status.succeeded +")},
            ConditionError,
            r"bad.outputs.pods: CEL syntax error at position",
        ),
    ],
)
def test_invalid_outputs_are_rejected_at_declaration(
    outputs: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        CustomResourceTask(name="bad", manifest=_manifest(), success_condition="true", outputs=outputs)


def test_a_downstream_task_consumes_an_output_in_a_local_run(fake_connector: _FakeConnector) -> None:
    @task
    def double(pods: int) -> int:
        return 2 * pods

    @workflow
    def wf() -> int:
        return double(pods=count_pods())

    assert wf() == 6
