"""Typed outputs of a ``custom_resource`` task, read from the object with CEL.

As Argo Workflows' resource template reads ``outputs.parameters[].valueFrom.jsonPath`` from the
object it created, a :class:`~flytekitplugins.k8s_operator.task.CustomResourceTask` may declare
outputs whose values the connector reads from the object when the success condition holds::

    outputs={"pods": ObjectOutput(int, "object.status.succeeded")}
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from flytekitplugins.k8s_operator.conditions import Expression, parse_expression

#: The Python types an output may have (Flyte's simple types the connector can build literals of).
OUTPUT_TYPES: Final = (int, float, str, bool, datetime.datetime, datetime.timedelta)
_TYPE_NAMES: Final = "int, float, str, bool, datetime.datetime, datetime.timedelta"


@dataclass(frozen=True)
class ObjectOutput:
    """One output: its Python type and the CEL expression (on ``object``) that gives its value.

    A missing value (the expression is a CEL error) or a value of another type fails the task,
    naming the expression and the value. Timestamps and durations come from CEL's ``timestamp()``
    and ``duration()``: ``ObjectOutput(datetime.datetime, "timestamp(object.status.completionTime)")``.
    """

    type: type
    expression: str


def compile_outputs(task_name: str, outputs: Mapping[str, ObjectOutput] | None) -> dict[str, Expression]:
    """The compiled expression of every output.

    Raises:
        ValueError: an output that is not an :class:`ObjectOutput` or has a type outside
            :data:`OUTPUT_TYPES`.
        ConditionError: an expression that does not compile (named ``<task>.outputs.<name>``).
    """
    compiled: dict[str, Expression] = {}
    for name, output in (outputs or {}).items():
        where = f"{task_name}.outputs.{name}"
        if not isinstance(output, ObjectOutput):
            raise ValueError(f"{where}: expected ObjectOutput(type, expression), got {type(output).__name__}")
        if output.type not in OUTPUT_TYPES:
            raise ValueError(f"{where}: type {output.type!r} is not one of {_TYPE_NAMES}")
        compiled[name] = parse_expression(output.expression, where)
    return compiled
