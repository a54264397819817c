import datetime
import os
import subprocess
import sys
from typing import Any

import pytest

from flytekitplugins.k8s_operator.conditions import (
    MAX_EXPRESSION_LENGTH,
    MAX_NESTING,
    ConditionError,
    EvaluationError,
    MissingPath,
    bind,
    find_missing,
    parse_condition,
    parse_expression,
    parse_progress_template,
)

JOB: dict[str, Any] = {
    "apiVersion": "batch/v1",
    "kind": "Job",
    "metadata": {"name": "j", "labels": {"app.kubernetes.io/name": "web"}},
    "spec": {"completions": 3, "parallelism": 2, "ratio": 0.5},
    "status": {
        "phase": "Running",
        "succeeded": 2,
        "failed": 0,
        "active": True,
        "startTime": "2024-05-01T10:00:00Z",
        "conditions": [{"type": "Ready", "status": "False"}, {"type": "Complete", "status": "True"}],
        "nothing": None,
    },
}


def holds(text: str, obj: dict[str, Any] = JOB) -> tuple[bool, str]:
    return parse_condition(text, "t.success_condition").holds(bind(obj))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("object.status.phase == 'Running'", True),
        ('object.status.phase == "Succeeded"', False),
        ("object.status.phase in ['Succeeded', 'Running']", True),
        ("object.status.conditions.exists(c, c.type == 'Complete' && c.status == 'True')", True),
        ("object.status.conditions.exists(c, c.type == 'Ready' && c.status == 'True')", False),
        ("object.status.conditions[0].type == 'Ready'", True),
        ("object.status.conditions.all(c, has(c.status))", True),
        # Two fields compared: what the old language could not do.
        ("object.status.succeeded < object.spec.completions", True),
        ("object.status.succeeded + 1 >= object.spec.completions", True),
        ("object.metadata.labels['app.kubernetes.io/name'] == 'web'", True),
        ("object.status.active", True),
        ("!object.status.active", False),
        ("size(object.status.conditions) == 2", True),
        ("object.status.phase.startsWith('Run')", True),
        ("timestamp(object.status.startTime) < timestamp('2024-06-01T00:00:00Z')", True),
        ("double(object.spec.ratio) > 0.25", True),
        ("has(object.status.nothing) && object.status.nothing == null", True),
    ],
)
def test_conditions_on_a_job(text: str, expected: bool) -> None:
    assert holds(text) == (expected, "")


@pytest.mark.parametrize(
    ("text", "error"),
    [
        # A missing field is false, whatever the operator, and the error names the path.
        ("object.status.reason == 'x'", "object.status.reason does not exist on the object"),
        ("object.status.reason != 'x'", "object.status.reason does not exist on the object"),
        ("!object.status.retrying", "object.status.retrying does not exist on the object"),
        ("object.spec.template.spec.x > 1", "object.spec.template does not exist on the object"),
        ("object.status.conditions[5].type == 'Ready'", "invalid_argument"),
        # Numbers keep their JSON type; CEL has no int-double comparison overload in celpy.
        ("object.status.succeeded >= 2.0", "no matching overload"),
        ("object.status.phase > 3", "no matching overload"),
        ("object.status.phase", "the condition gave str Running, not a bool"),
        ("object.status.conditions", "not a bool"),
    ],
)
def test_what_does_not_hold_says_why(text: str, error: str) -> None:
    result, why = holds(text)
    assert result is False
    assert error in why


# CEL's logical operators absorb an error when the other side decides the result, whichever side
# it is on: google/cel-spec@508bd98 doc/langdef.md "Logical Operators" and the vectors
# short_circuit_error_{left,right} of tests/simple/testdata/logic.textproto, with a missing field
# as the error.
@pytest.mark.parametrize(
    ("text", "expected", "error"),
    [
        ("false && object.status.missing > 3", False, ""),
        ("object.status.missing > 3 && false", False, ""),
        ("true || object.status.missing > 3", True, ""),
        ("object.status.missing > 3 || true", True, ""),
        ("object.status.missing > 3 && true", False, "object.status.missing does not exist"),
        ("has(object.status.missing) && object.status.missing > 3", False, ""),
        ("!has(object.status.missing) || object.status.missing", True, ""),
        ("object.status.missing > 3 ? true : false", False, "object.status.missing does not exist"),
    ],
)
def test_errors_are_absorbed_only_where_cel_says(text: str, expected: bool, error: str) -> None:
    result, why = holds(text)
    assert result is expected
    assert error in why
    assert bool(error) == bool(why)


def test_an_object_cel_cannot_read_makes_every_expression_an_error() -> None:
    bound = bind({"status": {"when": object()}})
    assert parse_condition("true", "t").holds(bound) == (False, bound.error)
    assert bound.error is not None and bound.error.startswith("the object cannot be read as JSON")


@pytest.mark.parametrize(
    ("text", "problem", "position"),
    [
        ("", "expected a CEL expression such as object.status.phase == 'Succeeded'", 0),
        ("   ", "expected a CEL expression", 0),
        ("object.status.phase = 'x'", "CEL syntax error", 20),
        ("object.status.phase == 'x' &&", "CEL syntax error", 27),
        ("object.status.phase == 'x", "CEL syntax error", 23),
        # The old language: the error says how CEL reads the object.
        ("status.phase == Succeeded", "unknown name 'status' (expressions read the object as `object`", 0),
        ("object.status.phase == Succeeded", "unknown name 'Succeeded'; the object is `object`; quote text", 23),
        ("self.status.x", "unknown name 'self'", 0),
        ("sise(object.status) > 1", "unknown function 'sise'", 0),
        ("object.status.x.sise() > 1", "unknown function 'sise'", 16),
        ("object.status.conditions.exists(c, c.type == 'A'", "CEL syntax error", 45),
    ],
)
def test_compile_errors_name_the_field_and_the_position(text: str, problem: str, position: int) -> None:
    with pytest.raises(ConditionError) as raised:
        parse_condition(text, "count_to.success_condition")
    error = raised.value
    assert (error.field_name, error.position) == ("count_to.success_condition", position)
    assert problem in error.problem
    assert str(error).startswith(f"count_to.success_condition: {error.problem} at position {position}\n")
    assert str(error).endswith("\n  " + " " * position + "^")


def test_a_condition_that_is_not_text_is_refused() -> None:
    with pytest.raises(ConditionError, match="f: expected a string, got int"):
        parse_condition(3, "f")  # type: ignore[arg-type]


def test_length_limit_at_and_beyond_the_boundary() -> None:
    at_limit = "true" + " " * (MAX_EXPRESSION_LENGTH - 4)
    assert parse_condition(at_limit, "f").holds(bind(JOB)) == (True, "")
    with pytest.raises(
        ConditionError, match=f"f: {MAX_EXPRESSION_LENGTH + 1} characters; at most {MAX_EXPRESSION_LENGTH}"
    ):
        parse_condition(at_limit + " ", "f")
    with pytest.raises(ConditionError, match=f"p: {MAX_EXPRESSION_LENGTH + 1} characters"):
        parse_progress_template("x" * (MAX_EXPRESSION_LENGTH + 1), "p")
    assert parse_progress_template("x" * MAX_EXPRESSION_LENGTH, "p").render(bind(JOB)) == "x" * MAX_EXPRESSION_LENGTH


def test_nesting_limit_at_and_beyond_the_boundary() -> None:
    nested = "(" * MAX_NESTING + "object.status.succeeded == 2" + ")" * MAX_NESTING
    assert parse_condition(nested, "f").holds(bind(JOB)) == (True, "")
    assert parse_condition("'((((' + " * 1 + "'" + "[" * 40 + "' != ''", "f").holds(bind(JOB)) == (True, "")
    with pytest.raises(ConditionError, match=f"f: brackets nested deeper than {MAX_NESTING} at position {MAX_NESTING}"):
        parse_condition("[" + nested + "]", "f")


def test_macro_variables_are_names_only_inside_the_expression() -> None:
    assert holds(
        "object.status.conditions.exists(x, x.type == 'Ready') && object.status.conditions.map(y, y.type)[0] == 'Ready'"
    ) == (True, "")
    with pytest.raises(ConditionError, match="unknown name 'q'"):
        parse_condition("object.status.conditions.exists(c, q.type == 'Ready')", "f")


def test_the_paths_a_condition_reads() -> None:
    condition = parse_condition(
        "has(object.status.x) && object.metadata.labels['a.b/c'] == 'v' "
        "&& object.status.conditions.exists(c, c.type == 'T') && object.status.conditions[0].type == 'T'",
        "f",
    )
    assert [str(path) for path in condition.paths] == [
        "object.status.x",
        'object.metadata.labels["a.b/c"]',
        "object.status.conditions",
    ]


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("object.status.condition", MissingPath("object.status.condition", ("object.status.conditions",), True)),
        ("object.status.phase", None),
        ("object.status.nothing.deeper", None),  # null: the object may still write it
        ("object.status.conditions.x", None),  # a list: not a mapping key
        ("object.spec.tmplate", MissingPath("object.spec.tmplate", (), False)),
        (
            "object.metadata.labels['app.kubernetes.io/nme']",
            MissingPath(
                'object.metadata.labels["app.kubernetes.io/nme"]',
                ('object.metadata.labels["app.kubernetes.io/name"]',),
                True,
            ),
        ),
    ],
)
def test_find_missing_names_the_first_missing_key_and_the_nearest(path: str, expected: MissingPath | None) -> None:
    (parsed,) = parse_condition(f"{path} == 1", "f").paths
    assert find_missing(JOB, parsed) == expected


def test_progress_templates_render_values_and_question_marks() -> None:
    template = parse_progress_template(
        "{object.status.succeeded}/{object.spec.completions} done {{literal}} {object.status.missing} "
        "{object.status.active} {'}' + object.status.phase} {object.status.conditions[0]}",
        "t.progress_template",
    )
    assert template.render(bind(JOB)) == '2/3 done {literal} ? true }Running {"status":"False","type":"Ready"}'
    assert str(template).startswith("{object.status.succeeded}")
    assert [str(path) for path in template.paths] == [
        "object.status.succeeded", "object.spec.completions", "object.status.missing", "object.status.active",
        "object.status.phase", "object.status.conditions",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "problem", "position"),
    [
        ("{object.status.x", "expected '}' to close the reference", 16),
        ("a } b", "expected '}}' for a literal '}'", 2),
        ("done: {status.x}", "unknown name 'status'", 7),
        ("{object.x ==}", "CEL syntax error", 10),
        ("{}", "expected a CEL expression", 1),
    ],
)
def test_progress_template_errors_name_the_position_in_the_template(text: str, problem: str, position: int) -> None:
    with pytest.raises(ConditionError) as raised:
        parse_progress_template(text, "t.progress_template")
    assert problem in raised.value.problem
    assert raised.value.position == position


def test_expressions_give_plain_python_values() -> None:
    bound = bind(JOB)

    def value(text: str) -> Any:
        return parse_expression(text, "outputs.x").evaluate(bound)

    succeeded = value("object.status.succeeded")
    assert succeeded == 2 and type(succeeded) is int  # noqa: E721 (not a celpy IntType)
    assert value("object.status.active") is True
    assert value("object.spec.ratio") == 0.5
    assert value("object.status.conditions.map(c, c.type)") == ["Ready", "Complete"]
    assert value("object.metadata.labels") == {"app.kubernetes.io/name": "web"}
    assert value("timestamp(object.status.startTime)") == datetime.datetime(
        2024, 5, 1, 10, tzinfo=datetime.timezone.utc
    )
    assert value("duration('90s')") == datetime.timedelta(seconds=90)
    assert value("object.status.nothing") is None


def test_an_expression_without_a_value_raises_naming_the_expression() -> None:
    expression = parse_expression("object.status.reason", "outputs.reason")
    with pytest.raises(EvaluationError, match=r"^object.status.reason: object.status.reason does not exist") as raised:
        expression.evaluate(bind(JOB))
    assert raised.value.expression is expression


def test_importing_the_sdk_does_not_import_the_cel_library() -> None:
    """cel-python takes about 0.4 s to import (docs/build.md): only declaring a CustomResourceTask pays it."""
    probe = "import sys, flytekitplugins.k8s_operator; print('celpy' in sys.modules)"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(map(os.path.abspath, sys.path))}
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True)
    assert result.stdout.strip() == "False", result.stderr
