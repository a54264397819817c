from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flytekitplugins.k8s_operator.conditions import (
    ConditionError,
    MissingPath,
    find_missing,
    parse_condition,
    parse_path,
    parse_progress_template,
    project,
)

JOB: dict[str, Any] = {
    "apiVersion": "batch/v1",
    "kind": "Job",
    "metadata": {"name": "j", "labels": {"app.kubernetes.io/name": "web"}},
    "spec": {"completions": 3.0, "parallelism": 2},
    "status": {
        "phase": "Running",
        "succeeded": 2,
        "failed": 0,
        "ready": "5",
        "active": True,
        "startTime": "2024-05-01T10:00:00Z",
        "conditions": [
            {"type": "Ready", "status": "False"},
            {"type": "Complete", "status": "True"},
        ],
        "workers": [{"index": 0, "phase": "Succeeded"}, {"index": 1, "phase": "Running"}],
        "empty": [],
        "nothing": None,
    },
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("status.phase == Running", True),
        ("status.phase == 'Running'", True),
        ("status.phase != 'status.x'", True),
        ('status.phase == "Succeeded"', False),
        ("status.phase != Succeeded", True),
        ("status.phase in (Succeeded, Running)", True),
        ("status.phase in (Failed,Error)", False),
        ("status.conditions[type=Complete].status == True", True),
        ("status.conditions[type=Ready].status == true", False),
        ("status.conditions[type='Complete'].status", True),
        ("status.conditions[type=Ready].status", False),
        ("!status.conditions[type=Ready].status", True),
        ("status.conditions[0].type == Ready", True),
        ("status.conditions[-1].type == Complete", True),
        ("status.conditions[5].type == Complete", False),
        ("status.workers[0].phase == Succeeded && status.workers[1].phase == Running", True),
        ("status.workers[index=1].phase == Running", True),
        ("spec.completions == 3", True),
        ("spec.completions == 3.0", True),
        ("spec.completions > 2.5", True),
        ("status.succeeded >= spec", False),
        ("status.succeeded < 3", True),
        ("status.succeeded <= 2", True),
        ("status.succeeded > 2", False),
        ("status.ready > 4", True),
        ("status.ready == 5", True),
        ("status.ready == '5'", True),
        ("status.active == true", True),
        ("status.active == 'true'", True),
        ("status.active", True),
        ("status.failed", False),
        ("!status.failed", True),
        ("status.empty", False),
        ("status.startTime >= '2024-01-01'", True),
        ("status.startTime < 2025-01-01T00:00:00Z", True),
        ('metadata.labels["app.kubernetes.io/name"] == web', True),
        ("status.missing == x", False),
        ("status.missing != x", False),
        ("status.missing < 3", False),
        ("status.missing in (a, b)", False),
        ("status.missing", False),
        ("!status.missing", True),
        ("status.nothing", False),
        ("status.nothing == null", False),
        ("status.phase > 3", False),
        ("status.active > 0", False),
        ("status.conditions == x", False),
        ("status.conditions != x", False),
        ("status.phase.deeper == x", False),
        ("  status.phase==Running&&status.succeeded==2  ", True),
    ],
)
def test_evaluate(text: str, expected: bool) -> None:
    assert parse_condition(text, "success_condition").evaluate(JOB) is expected


@pytest.mark.parametrize(
    ("text", "position", "expected"),
    [
        ("", 0, "a condition"),
        ("   ", 3, "a condition"),
        ("status.phase ==", 15, "a value"),
        ("status.phase = Running", 13, "an operator"),
        ("status.phase == Running &&", 26, "a field name"),
        ("status.phase == Running & x", 24, "'&&'"),
        ("status.phase == Running x", 24, "'&&'"),
        ("1status == x", 0, "a field name"),
        ("status. phase == x", 7, "a field name after '.'"),
        ("status.conditions[type=Ready.status == x", 36, "']'"),
        ("status.conditions[] == x", 18, "a list index"),
        ("status.phase in Failed", 16, "'('"),
        ("status.phase in (a b)", 19, "',' or ')'"),
        ("status.phase == 'open", 21, "a closing ' for the string opened at position 16"),
        ("!", 1, "a field name"),
        ("status.phase == (x)", 16, "a value"),
        ("status.succeeded >= spec.completions", 20, "a literal value, not the path 'spec.completions'"),
        ("status.a in (x, status.b)", 16, "a literal value, not the path 'status.b'"),
    ],
)
def test_parse_errors_name_field_and_position(text: str, position: int, expected: str) -> None:
    with pytest.raises(ConditionError) as info:
        parse_condition(text, "failure_condition")
    assert info.value.position == position
    assert expected in info.value.expected
    message = str(info.value)
    assert message.startswith("failure_condition: expected ")
    assert f"at position {position}" in message
    assert isinstance(info.value, ValueError)


def test_condition_error_for_non_string() -> None:
    with pytest.raises(ConditionError, match="success_condition: expected a string, got int"):
        parse_condition(3, "success_condition")  # type: ignore[arg-type]


def test_paths_are_canonical() -> None:
    condition = parse_condition(
        "status.conditions[ type = 'Complete' ].status == True && status.workers[0].phase"
        " && metadata.labels['a.b/c'] && status.x[k=\"two words\"]",
        "c",
    )
    assert condition.paths == frozenset(
        {
            "status.conditions[type=Complete].status",
            "status.workers[0].phase",
            'metadata.labels["a.b/c"]',
            'status.x[k="two words"]',
        }
    )


def test_str_round_trips() -> None:
    assert str(parse_condition("a == 'spec.x' && b == 'plain'", "c")) == 'a == "spec.x" && b == plain'
    text = "a.b[0].c == 'x y' && !d && e in (1, 2.5, true) && f[k=v]['g.h'] >= -3"
    condition = parse_condition(text, "c")
    assert parse_condition(str(condition), "c") == condition
    assert str(condition) == 'a.b[0].c == "x y" && !d && e in (1, 2.5, true) && f[k=v]["g.h"] >= -3'


def test_parse_path() -> None:
    path = parse_path("status.conditions[type=Ready].status", "f")
    assert path.get(JOB) == "False"
    assert parse_path("status.missing", "f").get(JOB, "dflt") == "dflt"
    with pytest.raises(ConditionError, match="the end of the path"):
        parse_path("status.phase == x", "f")


def test_evaluate_never_raises_on_exotic_values() -> None:
    class Weird:
        def __bool__(self) -> bool:
            raise RuntimeError("no")

        def __eq__(self, other: object) -> bool:
            raise RuntimeError("no")

        __hash__ = object.__hash__

    obj = {"status": {"x": Weird(), "y": [Weird()], "z": float("nan")}}
    for text in ("status.x", "!status.x", "status.x == 1", "status.y[k=1]", "status.z < 1", "status.z == 1"):
        assert parse_condition(text, "c").evaluate(obj) in (True, False)
    assert parse_condition("status.z != 1", "c").evaluate(obj) is True


def test_progress_template() -> None:
    template = parse_progress_template("{status.succeeded}/{spec.completions} done {{ok}} {status.gone}", "p")
    assert template.render(JOB) == "2/3 done {ok} ?"
    assert template.paths == frozenset({"status.succeeded", "spec.completions", "status.gone"})
    assert parse_progress_template(str(template), "p") == template
    assert parse_progress_template("{status.workers[1]}", "p").render(JOB) == '{"index":1,"phase":"Running"}'
    assert parse_progress_template("{ status.active }", "p").render(JOB) == "true"
    assert parse_progress_template("", "p").render(JOB) == ""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{status.x", "'}' to close the reference"),
        ("{}", "a field name"),
        ("a } b", "'}}' for a literal '}'"),
        ("{status.x == 1}", "'}' to close"),
    ],
)
def test_progress_template_errors(text: str, expected: str) -> None:
    with pytest.raises(ConditionError, match="progress_template: expected") as info:
        parse_progress_template(text, "progress_template")
    assert expected in str(info.value)


def test_project_keeps_what_conditions_read() -> None:
    condition = parse_condition(
        "status.phase == Running && status.conditions[type=Complete].status && spec.completions > 1", "c"
    )
    projected = project(JOB, condition.parsed_paths)
    assert projected == {
        "status": {"phase": "Running", "conditions": JOB["status"]["conditions"]},
        "spec": {"completions": 3.0},
    }
    assert condition.evaluate(projected)
    assert project(JOB, [parse_path("status", "p"), parse_path("status.phase", "p")]) == {"status": JOB["status"]}
    assert project(JOB, [parse_path("status.phase", "p"), parse_path("status", "p")]) == {"status": JOB["status"]}
    assert project(JOB, [parse_path("nope.x", "p")]) == {}


# --- property tests -------------------------------------------------------------------------

_NAMES = st.sampled_from(["status", "spec", "phase", "conditions", "type", "x", "a-b", "_y"])
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["Running", "True", "False", "3", "0", "", "x y", "2024-01-01"]),
)
_JSON = st.recursive(
    _SCALARS,
    lambda children: st.one_of(st.lists(children, max_size=3), st.dictionaries(_NAMES, children, max_size=4)),
    max_leaves=20,
)
_VALUES = st.one_of(
    st.sampled_from(["Running", "true", "False", "3", "-2.5", "1e3", "a:b/c", "'spec.x'"]),
    st.text(max_size=5).map(lambda text: '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'),
)
_SEGMENTS = st.one_of(
    _NAMES.map(lambda name: "." + name),
    st.integers(-3, 3).map(lambda index: f"[{index}]"),
    st.tuples(_NAMES, _VALUES).map(lambda kv: f"[{kv[0]}={kv[1]}]"),
    st.text(max_size=4).map(lambda key: '["' + key.replace("\\", "\\\\").replace('"', '\\"') + '"]'),
)
_PATHS = st.tuples(_NAMES, st.lists(_SEGMENTS, max_size=3)).map(lambda p: p[0] + "".join(p[1]))
_CLAUSES = st.one_of(
    _PATHS,
    _PATHS.map(lambda path: "!" + path),
    st.tuples(_PATHS, st.sampled_from(["==", "!=", "<", "<=", ">", ">="]), _VALUES).map(" ".join),
    st.tuples(_PATHS, st.lists(_VALUES, min_size=1, max_size=3)).map(lambda c: f"{c[0]} in ({', '.join(c[1])})"),
)
_CONDITIONS = st.lists(_CLAUSES, min_size=1, max_size=4).map(" && ".join)


@given(st.text(max_size=60))
@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
def test_parse_raises_only_condition_error(text: str) -> None:
    try:
        parse_condition(text, "success_condition")
    except ConditionError as error:
        assert error.field_name == "success_condition"
        assert 0 <= error.position <= len(text)
    try:
        parse_progress_template(text, "progress_template")
    except ConditionError as error:
        assert 0 <= error.position <= len(text)


@given(_CONDITIONS, st.dictionaries(_NAMES, _JSON, max_size=4))
@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
def test_generated_conditions_parse_evaluate_and_project(text: str, obj: dict[str, Any]) -> None:
    condition = parse_condition(text, "c")
    result = condition.evaluate(obj)
    assert isinstance(result, bool)
    assert parse_condition(str(condition), "c") == condition
    assert condition.evaluate(project(obj, condition.parsed_paths)) is result
    template = parse_progress_template("".join("{" + str(path) + "}," for path in condition.parsed_paths), "p")
    assert isinstance(template.render(obj), str)


def test_find_missing_names_the_first_missing_key_and_the_nearest_existing_ones() -> None:
    job = {"status": {"conditions": [{"type": "Complete", "status": "True"}], "succeeded": 1, "startTime": "x"}}
    path = parse_condition("status.condition[type=Complete].status == True", "c").parsed_paths[0]
    missing = find_missing(job, path)
    assert missing == MissingPath("status.condition", ("status.conditions",), True)
    assert str(missing) == "status.condition does not exist on the object; nearest existing: status.conditions"


def test_find_missing_ignores_data_not_yet_written_and_tells_far_keys_apart() -> None:
    running = {"status": {"active": 1, "startTime": "x"}}
    conditions = parse_condition("status.conditions[type=Complete].status == True", "c").parsed_paths[0]
    assert find_missing(running, conditions) == MissingPath("status.conditions", (), False)
    done = {"status": {"conditions": [{"type": "Failed", "status": "True"}]}}
    assert find_missing(done, conditions) is None  # no Complete element yet: data, not a typo
    assert find_missing({"status": None}, conditions) is None
    phase = parse_condition("status.phase == Succeeded", "c").parsed_paths[0]
    assert find_missing({"status": {"phases": "x", "phase": "y"}}, phase) is None
    assert find_missing({"status": {"phase_": "x"}}, phase) == MissingPath("status.phase", ("status.phase_",), True)
