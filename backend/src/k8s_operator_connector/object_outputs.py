"""Typed outputs of ``custom_resource`` tasks, read from the object with CEL when it succeeds.

CreateTask pairs each output the task interface declares with its expression in
``CustomResourceTask.outputs`` and stores both, with the output's Flyte type, in an annotation of
the object, so any replica can read the outputs from the object alone. GetTask then builds the
``LiteralMap`` itself, with the declared types: flytekit's connector server would otherwise guess
literal types from Python values (``TypeEngine.dict_to_literal_map_pb`` without type hints), and
propeller writes what GetTask returns as the task's outputs without checking them
(flyteorg/flyte v1.16.8, flyteplugins/go/tasks/plugins/webapi/agent/plugin.go ``writeOutput``).
"""

from __future__ import annotations

import datetime
import functools
import json
from collections.abc import Callable, Mapping
from typing import Any, Final

from flytekit.models.literals import Literal, LiteralMap, Primitive, Scalar
from flytekit.models.task import TaskTemplate
from flytekit.models.types import SimpleType

from flytekitplugins.k8s_operator.conditions import (
    Bound,
    ConditionError,
    EvaluationError,
    Expression,
    parse_expression,
)
from k8s_operator_connector.operator_plugin import InvalidTaskError

OUTPUTS_ANNOTATION: Final = "custom-resource.flyte-k8s-operator.flyte.org/outputs"


def _integer(value: Any) -> Primitive | None:
    return Primitive(integer=value) if isinstance(value, int) and not isinstance(value, bool) else None


def _float(value: Any) -> Primitive | None:
    return (
        Primitive(float_value=float(value)) if isinstance(value, int | float) and not isinstance(value, bool) else None
    )


def _string(value: Any) -> Primitive | None:
    return Primitive(string_value=value) if isinstance(value, str) else None


def _boolean(value: Any) -> Primitive | None:
    return Primitive(boolean=value) if isinstance(value, bool) else None


def _datetime(value: Any) -> Primitive | None:
    return Primitive(datetime=value) if isinstance(value, datetime.datetime) else None


def _duration(value: Any) -> Primitive | None:
    return Primitive(duration=value) if isinstance(value, datetime.timedelta) else None


#: Flyte type name -> (what a value must be, how it becomes a primitive literal).
_TYPES: Final[dict[str, tuple[str, Callable[[Any], Primitive | None]]]] = {
    "INTEGER": ("an int", _integer),
    "FLOAT": ("a number", _float),
    "STRING": ("a string", _string),
    "BOOLEAN": ("a bool", _boolean),
    "DATETIME": ("a timestamp (CEL timestamp())", _datetime),
    "DURATION": ("a duration (CEL duration())", _duration),
}
_SIMPLE_NAMES: Final = {getattr(SimpleType, name): name for name in _TYPES}


class OutputError(ValueError):
    """An output the object cannot give: missing, mistyped, or an unreadable annotation."""


@functools.lru_cache(maxsize=4096)
def _expression(text: str, field_name: str) -> Expression:
    return parse_expression(text, field_name)


def declare_outputs(template: TaskTemplate, expressions: Mapping[str, str]) -> str:
    """The outputs annotation for a task ("" when it has no outputs).

    Raises:
        InvalidTaskError: an expression for an output the interface lacks, an output without an
            expression, a type other than int, float, str, bool, datetime or timedelta, or an
            expression that does not compile.
    """
    declared = dict(template.interface.outputs) if template.interface is not None else {}
    for name in sorted(set(expressions) - set(declared)):
        raise InvalidTaskError(
            f"custom.outputs.{name}",
            f"the task's interface declares no such output (it declares: {', '.join(sorted(declared)) or 'none'})",
        )
    annotation: dict[str, dict[str, str]] = {}
    for name, variable in sorted(declared.items()):
        if name not in expressions:
            raise InvalidTaskError(f"interface.outputs.{name}", "custom.outputs has no expression that reads it")
        type_name = _SIMPLE_NAMES.get(variable.type.simple) if variable.type.simple is not None else None
        if type_name is None:
            raise InvalidTaskError(
                f"interface.outputs.{name}",
                f"type {variable.type} cannot be read from an object; allowed: int, float, str, bool, "
                "datetime, timedelta",
            )
        try:
            _expression(expressions[name], f"outputs.{name}")
        except ConditionError as error:
            raise InvalidTaskError(f"custom.outputs.{name}", str(error)) from error
        annotation[name] = {"expression": expressions[name], "type": type_name}
    return json.dumps(annotation, sort_keys=True, separators=(",", ":")) if annotation else ""


def _declarations(annotation: str) -> dict[str, tuple[Expression, str]]:
    try:
        loaded = json.loads(annotation)
        if not isinstance(loaded, dict):
            raise TypeError("not a mapping")
        declarations = {}
        for name, entry in loaded.items():
            if (
                not isinstance(entry, dict)
                or entry.get("type") not in _TYPES
                or not isinstance(entry.get("expression"), str)
            ):
                raise TypeError(f"{name}: needs a CEL expression and one of {', '.join(_TYPES)}")
            declarations[name] = (_expression(entry["expression"], f"outputs.{name}"), entry["type"])
        return declarations
    except (ValueError, TypeError) as error:  # includes JSON and CEL compile errors
        raise OutputError(f"the object's outputs annotation is invalid: {error}") from error


def read_outputs(annotation: str, bound: Bound) -> LiteralMap:
    """The task's outputs as Flyte literals of the declared types.

    Raises:
        OutputError: naming the output, its expression and the value (or why there is none).
    """
    literals: dict[str, Literal] = {}
    for name, (expression, type_name) in sorted(_declarations(annotation).items()):
        try:
            value = expression.evaluate(bound)
        except EvaluationError as error:
            raise OutputError(f"output {name}: {error}") from error
        expected, build = _TYPES[type_name]
        primitive = build(value)
        if primitive is None:
            shown = repr(value) if len(repr(value)) <= 120 else repr(value)[:117] + "..."
            raise OutputError(f"output {name}: {expression.text} gave {type(value).__name__} {shown}, not {expected}")
        literals[name] = Literal(scalar=Scalar(primitive=primitive))
    return LiteralMap(literals)
