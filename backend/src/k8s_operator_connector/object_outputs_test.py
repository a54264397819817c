import datetime
import json

import pytest
from flyteidl.core.execution_pb2 import TaskExecution
from flytekit.models import interface, types
from flytekit.models.task import TaskTemplate

from flytekitplugins.k8s_operator.conditions import bind
from k8s_operator_connector.object_outputs import (
    OUTPUTS_ANNOTATION,
    OutputError,
    declare_outputs,
    read_outputs,
)
from k8s_operator_connector.operator_plugin import InvalidTaskError
from k8s_operator_connector.plugins.custom_resource import CustomResourcePlugin
from k8s_operator_connector.settings import AllowedKind, ConnectorSettings, CustomResourceSettings
from k8s_operator_connector.testing.flyte_models import make_request, make_template

SIMPLE = types.SimpleType


def with_outputs(custom=None, **declared: types.LiteralType) -> TaskTemplate:
    """A custom_resource template whose interface declares ``declared`` as its outputs."""
    base = make_template(task_type="custom_resource", custom=custom or {}, with_container=False)
    variables = {name: interface.Variable(literal_type, name) for name, literal_type in declared.items()}
    return TaskTemplate(
        id=base.id,
        type=base.type,
        metadata=base.metadata,
        interface=interface.TypedInterface({}, variables),
        custom=base.custom,
        container=None,
        task_type_version=base.task_type_version,
    )


def simple(kind: int) -> types.LiteralType:
    return types.LiteralType(simple=kind)


ALL_TYPES = with_outputs(
    n=simple(SIMPLE.INTEGER),
    ratio=simple(SIMPLE.FLOAT),
    phase=simple(SIMPLE.STRING),
    done=simple(SIMPLE.BOOLEAN),
    at=simple(SIMPLE.DATETIME),
    took=simple(SIMPLE.DURATION),
)
EXPRESSIONS = {
    "n": "object.status.succeeded",
    "ratio": "object.status.succeeded",  # an int is a fine float
    "phase": "object.status.phase",
    "done": "object.status.phase == 'Done'",
    "at": "timestamp(object.status.completionTime)",
    "took": "timestamp(object.status.completionTime) - timestamp(object.status.startTime)",
}
OBJ = {
    "status": {
        "succeeded": 3,
        "phase": "Done",
        "startTime": "2026-11-30T10:00:00Z",
        "completionTime": "2026-11-30T10:01:30Z",
    }
}


def test_outputs_of_every_type_become_literals_of_the_declared_type():
    annotation = declare_outputs(ALL_TYPES, EXPRESSIONS)
    assert json.loads(annotation)["n"] == {"expression": "object.status.succeeded", "type": "INTEGER"}
    literals = read_outputs(annotation, bind(OBJ)).literals
    primitives = {name: literal.scalar.primitive for name, literal in literals.items()}
    assert primitives["n"].integer == 3
    assert primitives["ratio"].float_value == 3.0
    assert primitives["phase"].string_value == "Done"
    assert primitives["done"].boolean is True
    assert primitives["at"].datetime == datetime.datetime(2026, 11, 30, 10, 1, 30, tzinfo=datetime.timezone.utc)
    assert primitives["took"].duration == datetime.timedelta(seconds=90)
    # The literals survive the trip through flyteidl that GetTask's answer takes.
    assert read_outputs(annotation, bind(OBJ)).to_flyte_idl().literals["n"].scalar.primitive.integer == 3


def test_a_task_without_outputs_has_no_annotation():
    assert declare_outputs(with_outputs(), {}) == ""


@pytest.mark.parametrize(
    ("template", "expressions", "field", "problem"),
    [
        (with_outputs(), {"n": "object.x"}, "custom.outputs.n", "declares no such output (it declares: none)"),
        (with_outputs(n=simple(SIMPLE.INTEGER)), {}, "interface.outputs.n", "custom.outputs has no expression"),
        (
            with_outputs(items=types.LiteralType(collection_type=simple(SIMPLE.INTEGER))),
            {"items": "object.x"},
            "interface.outputs.items",
            "cannot be read from an object; allowed: int, float, str, bool, datetime, timedelta",
        ),
        (with_outputs(n=simple(SIMPLE.NONE)), {"n": "object.x"}, "interface.outputs.n", "cannot be read"),
        (
            with_outputs(n=simple(SIMPLE.INTEGER)),
            {"n": "status.succeeded"},
            "custom.outputs.n",
            "outputs.n: unknown name 'status'",
        ),
    ],
)
def test_declarations_that_cannot_work_are_refused_naming_the_field(template, expressions, field, problem):
    with pytest.raises(InvalidTaskError) as raised:
        declare_outputs(template, expressions)
    assert raised.value.field_name == field
    assert problem in str(raised.value)


@pytest.mark.parametrize(
    ("name", "expression", "message"),
    [
        ("n", "object.status.missing", "output n: object.status.missing: object.status.missing does not exist"),
        ("n", "object.status.phase", "output n: object.status.phase gave str 'Done', not an int"),
        (
            "n",
            "object.status.phase == 'Done'",
            "output n: object.status.phase == 'Done' gave bool True, not an int",
        ),  # a bool is not an int
        ("ratio", "object.status.phase", "output ratio: object.status.phase gave str 'Done', not a number"),
        ("phase", "object.status.succeeded", "output phase: object.status.succeeded gave int 3, not a string"),
        ("done", "object.status.phase", "output done: object.status.phase gave str 'Done', not a bool"),
        (
            "at",
            "object.status.completionTime",
            "output at: object.status.completionTime gave str '2026-11-30T10:01:30Z', "
            "not a timestamp (CEL timestamp())",
        ),
        (
            "took",
            "object.status.succeeded",
            "output took: object.status.succeeded gave int 3, not a duration (CEL duration())",
        ),
        ("n", "object.status.succeeded / 0", "output n: object.status.succeeded / 0: "),
    ],
)
def test_a_missing_or_mistyped_value_names_the_output_the_expression_and_the_value(name, expression, message):
    annotation = declare_outputs(ALL_TYPES, {**EXPRESSIONS, name: expression})
    with pytest.raises(OutputError) as raised:
        read_outputs(annotation, bind(OBJ))
    assert str(raised.value).startswith(message)


@pytest.mark.parametrize(
    "annotation",
    [
        "not json",
        "[]",
        '{"n": "object.x"}',
        '{"n": {"expression": "object.x", "type": "LIST"}}',
        '{"n": {"expression": 3, "type": "INTEGER"}}',
        '{"n": {"expression": "status.x", "type": "INTEGER"}}',
    ],
)
def test_an_annotation_edited_into_nonsense_is_an_output_error(annotation):
    with pytest.raises(OutputError, match="^the object's outputs annotation is invalid: "):
        read_outputs(annotation, bind(OBJ))


def test_the_annotation_is_compact_and_sorted_so_one_task_always_writes_the_same_bytes():
    template = with_outputs(phase=simple(SIMPLE.STRING), n=simple(SIMPLE.INTEGER))
    assert declare_outputs(template, {"phase": "object.status.phase", "n": "object.status.succeeded"}) == (
        '{"n":{"expression":"object.status.succeeded","type":"INTEGER"},'
        '"phase":{"expression":"object.status.phase","type":"STRING"}}'
    )


def test_a_template_without_an_interface_declares_no_outputs():
    template = with_outputs()
    template._interface = None
    assert declare_outputs(template, {}) == ""


def test_refusals_name_every_declared_output_and_the_missing_expression():
    template = with_outputs(phase=simple(SIMPLE.STRING), n=simple(SIMPLE.INTEGER))
    with pytest.raises(InvalidTaskError) as raised:
        declare_outputs(template, {"n": "object.x", "phase": "object.y", "count": "object.z"})
    assert str(raised.value) == (
        "custom.outputs.count: the task's interface declares no such output (it declares: n, phase)"
    )
    with pytest.raises(InvalidTaskError) as raised:
        declare_outputs(template, {"n": "object.x"})
    assert str(raised.value) == "interface.outputs.phase: custom.outputs has no expression that reads it"


@pytest.mark.parametrize(
    ("annotation", "message"),
    [
        ("[]", "the object's outputs annotation is invalid: not a mapping"),
        (
            '{"n": {"expression": "object.x", "type": "LIST"}}',
            "the object's outputs annotation is invalid: n: needs a CEL expression and one of "
            "INTEGER, FLOAT, STRING, BOOLEAN, DATETIME, DURATION",
        ),
    ],
)
def test_an_unreadable_annotation_says_what_is_wrong(annotation, message):
    with pytest.raises(OutputError) as raised:
        read_outputs(annotation, bind(OBJ))
    assert str(raised.value) == message


def test_an_expression_edited_into_nonsense_names_its_output():
    with pytest.raises(OutputError) as raised:
        read_outputs('{"n": {"expression": "object.", "type": "INTEGER"}}', bind(OBJ))
    assert str(raised.value).startswith("the object's outputs annotation is invalid: outputs.n: ")


@pytest.mark.parametrize(
    ("length", "shown"),
    [(118, "'" + "x" * 118 + "'"), (119, "'" + "x" * 116 + "..."), (200, "'" + "x" * 116 + "...")],
)
def test_a_mistyped_value_is_shown_whole_up_to_120_characters_then_cut(length, shown):
    # repr adds two quotes: a 118-character string is shown in 120 characters, whole.
    annotation = declare_outputs(with_outputs(n=simple(SIMPLE.INTEGER)), {"n": "object.status.text"})
    with pytest.raises(OutputError) as raised:
        read_outputs(annotation, bind({"status": {"text": "x" * length}}))
    assert str(raised.value) == f"output n: object.status.text gave str {shown}, not an int"
    assert len(shown) == min(length + 2, 120)


SETTINGS = ConnectorSettings(
    custom_resource=CustomResourceSettings(allowed_kinds=(AllowedKind("batch", "v1", "Job", "jobs"),))
)
plugin = CustomResourcePlugin()


def built_job(outputs):
    custom = {
        "manifest": {"apiVersion": "batch/v1", "kind": "Job", "spec": {}},
        "successCondition": "has(object.status.phase) && object.status.phase == 'Done'",
        "outputs": outputs,
    }
    template = with_outputs(custom, n=simple(SIMPLE.INTEGER)) if outputs else with_outputs(custom)
    return plugin.build_object(make_request(template, settings=SETTINGS)).manifest


def test_the_plugin_reads_outputs_when_the_success_condition_holds():
    job = built_job({"n": "object.status.succeeded"})
    assert json.loads(job["metadata"]["annotations"][OUTPUTS_ANNOTATION]) == {
        "n": {"expression": "object.status.succeeded", "type": "INTEGER"}
    }
    running = plugin.observe({**job, "status": {"succeeded": 1}})
    assert (running.phase, running.outputs) == (TaskExecution.RUNNING, None)
    done = plugin.observe({**job, "status": {"phase": "Done", "succeeded": 3}})
    assert done.phase == TaskExecution.SUCCEEDED
    assert done.outputs is not None and done.outputs.literals["n"].scalar.primitive.integer == 3


def test_an_output_the_object_lacks_fails_the_task_naming_it():
    job = built_job({"n": "object.status.succeeded"})
    failed = plugin.observe({**job, "status": {"phase": "Done"}})
    assert failed.phase == TaskExecution.FAILED
    assert failed.message == (
        "the success condition holds, but output n: object.status.succeeded: "
        "object.status.succeeded does not exist on the object"
    )
    assert failed.outputs is None


def test_a_task_without_outputs_succeeds_without_them():
    job = built_job({})
    assert OUTPUTS_ANNOTATION not in job["metadata"]["annotations"]
    done = plugin.observe({**job, "status": {"phase": "Done"}})
    assert (done.phase, done.outputs) == (TaskExecution.SUCCEEDED, None)
