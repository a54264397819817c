"""CEL expressions of ``custom_resource`` tasks, shared by the SDK and the connector.

Conditions, progress references and outputs are `CEL <https://cel.dev>`_ expressions, the
language Kubernetes itself uses in CRD validation rules and ValidatingAdmissionPolicy. The live
object is the variable ``object`` (as in a ValidatingAdmissionPolicy)::

    object.status.phase == 'Succeeded'
    object.status.conditions.exists(c, c.type == 'Complete' && c.status == 'True')
    has(object.status.succeeded) && object.status.succeeded >= object.spec.completions
    object.status.phase in ['Failed', 'Error']

The SDK compiles every expression when the task is declared (syntax, the variables it reads, the
functions it calls), so mistakes surface at import time with the task field and the position; the
connector evaluates the same compiled expressions on live objects. Evaluation is with cel-python
(``celpy``), imported on first use so that importing the SDK stays fast.

Semantics on a live object (CEL's own, made explicit here):

* Reading a field the object does not have (``object.status.phase`` before the operator wrote a
  status) is a CEL *error value*, not an exception. ``&&`` and ``||`` absorb errors when the
  other side decides (``false && error`` is false, ``true || error`` is true), ``has(x.f)`` tests
  presence, and anything else that meets an error is an error.
* A condition holds only when it evaluates to ``true``. ``false``, an error (a missing field, a
  comparison of a string with a number, an index out of range) and a value that is not a boolean
  are all "does not hold", and evaluation never raises; the error is kept for the connector's
  waiting message. So a missing field is false, and ``!object.status.retrying`` is *not* true
  when the field is missing (write ``!has(object.status.retrying) || !object.status.retrying``).
* JSON ``null`` is a value (``has()`` is true for it; ``== null`` matches it).
* Numbers keep their JSON type: ``object.status.succeeded >= 2`` compares ints; comparing an int
  with a double (``>= 2.0``) is an error, so convert (``double(object.status.ratio) > 0.5``).

Progress templates (:func:`parse_progress_template`) are text with ``{expression}`` references,
e.g. ``"{object.status.succeeded}/{object.spec.completions} done"``; ``{{`` and ``}}`` stand for
literal braces, and a reference whose value is an error renders as ``?``.
"""

from __future__ import annotations

import datetime
import difflib
import functools
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    import celpy

# celpy's syntax trees are lark trees: nodes with `.data` and `.children`, whose leaf tokens are
# `str` subclasses with `.line` and `.column`. Duck-typed here, as lark is celpy's business.
Tree = Any

__all__ = [
    "OBJECT_VARIABLE",
    "Bound",
    "Condition",
    "ConditionError",
    "EvaluationError",
    "Expression",
    "MissingPath",
    "ProgressTemplate",
    "bind",
    "find_missing",
    "parse_condition",
    "parse_expression",
    "parse_progress_template",
]

#: The name under which expressions read the live object.
OBJECT_VARIABLE: Final = "object"
#: Macros take a variable name as their first argument (``exists(c, ...)`` binds ``c``).
_MACROS: Final = frozenset({"all", "exists", "exists_one", "map", "filter"})
_NAME_RE: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SIMPLE_STRING_RE: Final = re.compile(r"""'([^'\\]*)'|"([^"\\]*)\"""")
_MAX_ERROR_TEXT: Final = 200
#: The longest expression or progress template accepted: the connector compiles what arrives in a
#: task template or an object's annotations, and celpy's pure-Python parser is not fast.
MAX_EXPRESSION_LENGTH: Final = 4096
#: The deepest nesting of brackets accepted (celpy parses and evaluates recursively).
MAX_NESTING: Final = 32


class ConditionError(ValueError):
    """An expression that does not compile.

    The message names the task field, the position (0-based) and what is wrong there.
    """

    def __init__(self, field_name: str, text: str, position: int, problem: str) -> None:
        line_start = text.rfind("\n", 0, position) + 1
        line_end = text.find("\n", position)
        line = text[line_start : len(text) if line_end < 0 else line_end]
        caret = " " * (position - line_start) + "^"
        super().__init__(f"{field_name}: {problem} at position {position}\n  {line}\n  {caret}")
        self.field_name = field_name
        self.text = text
        self.position = position
        self.problem = problem


class EvaluationError(ValueError):
    """An expression whose value on an object is a CEL error (e.g. a field the object lacks)."""

    def __init__(self, expression: Expression, detail: str) -> None:
        super().__init__(f"{expression.text}: {detail}")
        self.expression = expression
        self.detail = detail


def _celpy() -> Any:
    import celpy  # imported on first use: about 0.4 s, see docs/build.md

    return celpy


@functools.cache
def _environment() -> celpy.Environment:
    return _celpy().Environment()


def _known_functions() -> frozenset[str]:
    from celpy import evaluation

    names = (name for name in evaluation.base_functions if _NAME_RE.fullmatch(name) and not name.startswith("_"))
    return frozenset(names) | {"has"}


def _offset(text: str, line: int, column: int) -> int:
    """The 0-based offset of a 1-based line and column."""
    lines = text.split("\n")
    return sum(len(previous) + 1 for previous in lines[: line - 1]) + max(column - 1, 0)


def _short(error: BaseException) -> str:
    detail = str(error.args[0]) if error.args else str(error)
    detail = detail.split(" (in activation", 1)[0]
    return detail if len(detail) <= _MAX_ERROR_TEXT else detail[: _MAX_ERROR_TEXT - 3] + "..."


@dataclass(frozen=True)
class Path:
    """A chain of field names read from ``object``, e.g. ``("status", "conditions")``."""

    keys: tuple[str, ...]

    def __str__(self) -> str:
        parts = [OBJECT_VARIABLE]
        for key in self.keys:
            parts.append(f".{key}" if _NAME_RE.fullmatch(key) else f"[{json.dumps(key)}]")
        return "".join(parts)


def _tokens(tree: Tree) -> Iterator[Any]:
    for child in tree.children:
        if isinstance(child, str):
            yield child


def _subtrees(tree: Tree) -> Iterator[Tree]:
    for child in tree.children:
        if not isinstance(child, str):
            yield child


def _string_literal(tree: Tree) -> str | None:
    """The value of an expression that is just a simple quoted string, else None."""
    node = tree
    while True:
        children = list(_subtrees(node))
        if node.data == "literal" or len(children) != 1:
            break
        node = children[0]
    if node.data != "literal":
        return None
    (token,) = list(_tokens(node)) or [None]
    found = _SIMPLE_STRING_RE.fullmatch(str(token)) if token is not None else None
    if not found:
        return None
    return found.group(1) if found.group(1) is not None else found.group(2)


def _object_path(member: Tree) -> Path | None:
    """The field chain a ``member`` node reads from ``object``, or None if it reads something else."""
    if member.data == "primary":
        (inner,) = list(_subtrees(member)) or [None]
        if inner is not None and inner.data == "ident" and [str(t) for t in _tokens(inner)] == [OBJECT_VARIABLE]:
            return Path(())
        return None
    if member.data == "member":
        children = list(_subtrees(member))
        return _object_path(children[0]) if len(children) == 1 else None
    if member.data in ("member_dot", "member_index"):
        target, *rest = list(_subtrees(member))
        base = _object_path(target)
        if base is None:
            return None
        if member.data == "member_dot":
            return Path((*base.keys, str(next(_tokens(member)))))
        key = _string_literal(rest[0]) if rest else None
        return None if key is None else Path((*base.keys, key))
    return None


def _check(tree: Tree, text: str, field_name: str) -> tuple[Path, ...]:
    """Refuses undeclared variables and unknown functions; returns the paths read from ``object``."""
    bound = {OBJECT_VARIABLE}
    for node in tree.iter_subtrees():
        if node.data == "member_dot_arg" and str(next(_tokens(node))) in _MACROS:
            arguments = [child for child in _subtrees(node) if child.data == "exprlist"]
            first = next(iter(_subtrees(arguments[0])), None) if arguments else None
            variable = _string_free_ident(first) if first is not None else None
            if variable:
                bound.add(variable)
    known = _known_functions() | _MACROS
    paths: dict[Path, None] = {}
    for node in tree.iter_subtrees_topdown():
        if node.data == "ident":
            token = next(_tokens(node))
            if str(token) not in bound:
                hint = (
                    f" (expressions read the object as `{OBJECT_VARIABLE}`, e.g. {OBJECT_VARIABLE}.{token}...)"
                    if str(token) in ("status", "spec", "metadata")
                    else f"; the object is `{OBJECT_VARIABLE}`; quote text: '{token}'"
                )
                raise ConditionError(
                    field_name, text, _offset(text, token.line, token.column), f"unknown name {str(token)!r}{hint}"
                )
        elif node.data in ("ident_arg", "member_dot_arg"):
            token = next(_tokens(node))
            if str(token) not in known:
                raise ConditionError(
                    field_name,
                    text,
                    _offset(text, token.line, token.column),
                    f"unknown function {str(token)!r} (CEL's standard functions: {', '.join(sorted(known))})",
                )
        elif node.data in ("member_dot", "member_index"):
            path = _object_path(node)
            if path is not None:
                paths[path] = None
    # Keep the longest chains: `object.status.phase` already walks `object.status`.
    return tuple(path for path in paths if not any(_extends(other, path) for other in paths))


def _extends(longer: Path, shorter: Path) -> bool:
    return len(longer.keys) > len(shorter.keys) and longer.keys[: len(shorter.keys)] == shorter.keys


def _string_free_ident(expr: Tree) -> str | None:
    """The name if ``expr`` is just an identifier (a macro's variable), else None."""
    node = expr
    while node.data != "ident":
        children = list(_subtrees(node))
        if len(children) != 1:
            return None
        node = children[0]
    return str(next(_tokens(node)))


@dataclass(frozen=True, eq=False)
class Expression:
    """A compiled CEL expression; ``text`` is what the user wrote."""

    text: str
    field_name: str
    program: Any
    #: Field chains the expression reads from ``object`` (for "does not exist" diagnostics).
    paths: tuple[Path, ...]

    def evaluate(self, bound: Bound) -> Any:
        """The value on the object, as plain Python (dict, list, str, int, float, bool, None,
        datetime, timedelta).

        Raises:
            EvaluationError: the value is a CEL error, e.g. a field the object does not have.
        """
        if bound.error is not None:
            raise EvaluationError(self, bound.error)
        try:
            value = self.program.evaluate(bound.activation)
        except Exception as error:  # CELEvalError and any failure inside the evaluator
            # A missing field is the usual cause, and celpy names it only where it is read directly.
            missing = next((m for m in (find_missing(bound.obj, path) for path in self.paths) if m), None)
            raise EvaluationError(self, str(missing) if missing else _short(error)) from error
        return _plain(value)

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True, eq=False)
class Condition(Expression):
    """An expression that must be a boolean; see the module's semantics."""

    def holds(self, bound: Bound) -> tuple[bool, str]:
        """Whether the condition is true on the object, and if not because of an error, the error."""
        try:
            value = self.evaluate(bound)
        except EvaluationError as error:
            return False, error.detail
        if not isinstance(value, bool):
            return False, f"the condition gave {type(value).__name__} {_render(value)}, not a bool"
        return value, ""


@dataclass(frozen=True)
class Bound:
    """An object converted once for CEL, shared by every expression evaluated on it."""

    obj: Mapping[str, Any]
    activation: Mapping[str, Any]
    error: str | None = None


def bind(obj: Mapping[str, Any]) -> Bound:
    """``obj`` as CEL's ``object``; an object CEL cannot read makes every expression an error."""
    try:
        return Bound(obj, {OBJECT_VARIABLE: _celpy().json_to_cel(obj)})
    except Exception as error:  # exotic values in a hostile object
        return Bound(obj, {}, f"the object cannot be read as JSON: {_short(error)}")


def _plain(value: Any) -> Any:
    """A celpy value as plain Python (celpy's types subclass Python's own)."""
    celtypes = _celpy().celtypes
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, celtypes.BoolType):
        return bool(value)
    if isinstance(value, celtypes.TimestampType):
        return datetime.datetime.fromtimestamp(value.timestamp(), tz=datetime.timezone.utc)
    if isinstance(value, celtypes.DurationType):
        return datetime.timedelta(seconds=value.total_seconds())
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bytes):
        return bytes(value)
    if isinstance(value, Mapping):
        return {_plain(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return str(value)


def _too_deep(text: str) -> int:
    """The position of the first bracket nested deeper than :data:`MAX_NESTING` (outside strings), or -1."""
    depth = 0
    quote = ""
    escaped = False
    for position, char in enumerate(text):
        if quote:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char in "([{":
            depth += 1
            if depth > MAX_NESTING:
                return position
        elif char in ")]}":
            depth -= 1
    return -1


def _compile(text: object, field_name: str, offset: int = 0, whole: str | None = None) -> tuple[Any, Any, str]:
    if not isinstance(text, str):
        raise ConditionError(field_name, repr(text), 0, f"expected a string, got {type(text).__name__}")
    source = text if whole is None else whole
    if len(source) > MAX_EXPRESSION_LENGTH:
        raise ConditionError(
            field_name, source[:80], 0, f"{len(source)} characters; at most {MAX_EXPRESSION_LENGTH} are allowed"
        )
    if not text.strip():
        raise ConditionError(
            field_name, source, offset, "expected a CEL expression such as object.status.phase == 'Succeeded'"
        )
    too_deep = _too_deep(text)
    if too_deep >= 0:
        raise ConditionError(field_name, source, offset + too_deep, f"brackets nested deeper than {MAX_NESTING}")
    celpy = _celpy()
    environment = _environment()
    try:
        tree = environment.compile(text)
    except celpy.CELParseError as error:
        line, column = getattr(error, "line", None) or 1, getattr(error, "column", None) or 1
        position = min(offset + _offset(text, line, column), len(source))
        raise ConditionError(field_name, source, position, "CEL syntax error") from error
    except Exception as error:  # e.g. RecursionError on absurd nesting: still the user's text
        raise ConditionError(field_name, source, offset, f"not a CEL expression: {_short(error)}") from error
    try:
        program = environment.program(tree)
    except Exception as error:  # celpy reports macro misuse when it builds the program
        raise ConditionError(field_name, source, offset, f"invalid CEL: {_short(error)}") from error
    return tree, program, text


def parse_expression(text: str, field_name: str) -> Expression:
    """Compiles one CEL expression; ``field_name`` (e.g. ``"outputs.count"``) is named in errors.

    Raises:
        ConditionError: the text is empty, not CEL, reads a variable other than ``object`` or
            calls a function CEL does not have.
    """
    tree, program, source = _compile(text, field_name)
    return Expression(source, field_name, program, _check(tree, source, field_name))


def parse_condition(text: str, field_name: str) -> Condition:
    """Compiles a condition; ``field_name`` (e.g. ``"success_condition"``) is named in errors.

    Raises:
        ConditionError: as :func:`parse_expression`.
    """
    tree, program, source = _compile(text, field_name)
    return Condition(source, field_name, program, _check(tree, source, field_name))


def _render(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, datetime.datetime):
        return value.isoformat().replace("+00:00", "Z")
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    except (TypeError, ValueError):
        return str(value)


@dataclass(frozen=True)
class ProgressTemplate:
    """Text with ``{expression}`` references, rendered against a live object."""

    text: str
    parts: tuple[str | Expression, ...]

    def render(self, bound: Bound) -> str:
        """The text with every reference replaced by its value (``?`` for an error); never raises."""
        rendered: list[str] = []
        for part in self.parts:
            if isinstance(part, str):
                rendered.append(part)
                continue
            try:
                rendered.append(_render(part.evaluate(bound)))
            except EvaluationError:
                rendered.append("?")
        return "".join(rendered)

    @property
    def paths(self) -> tuple[Path, ...]:
        return tuple(path for part in self.parts if isinstance(part, Expression) for path in part.paths)

    def __str__(self) -> str:
        return self.text


def _closing_brace(text: str, start: int) -> int:
    """The index of the ``}`` that closes the reference opened just before ``start``, or -1.

    Braces inside CEL string literals and nested map literals (``{'a': 1}``) do not close it.
    """
    depth = 0
    position = start
    while position < len(text):
        char = text[position]
        if char in "'\"":
            end = position + 1
            while end < len(text) and text[end] != char:
                end += 2 if text[end] == "\\" else 1
            position = end + 1
            continue
        if char == "{":
            depth += 1
        elif char == "}":
            if depth == 0:
                return position
            depth -= 1
        position += 1
    return -1


def parse_progress_template(text: str, field_name: str) -> ProgressTemplate:
    """Parses a progress template such as ``"{object.status.succeeded}/{object.spec.completions} done"``.

    Raises:
        ConditionError: a ``{`` without its ``}``, a reference that is not a CEL expression, or a
            lone ``}``.
    """
    if not isinstance(text, str):
        raise ConditionError(field_name, repr(text), 0, f"expected a string, got {type(text).__name__}")
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise ConditionError(
            field_name, text[:80], 0, f"{len(text)} characters; at most {MAX_EXPRESSION_LENGTH} are allowed"
        )
    parts: list[str | Expression] = []
    literal: list[str] = []
    position = 0
    while position < len(text):
        if text.startswith("{{", position) or text.startswith("}}", position):
            literal.append(text[position])
            position += 2
        elif text[position] == "}":
            raise ConditionError(field_name, text, position, "expected '}}' for a literal '}'")
        elif text[position] == "{":
            end = _closing_brace(text, position + 1)
            if end < 0:
                raise ConditionError(field_name, text, len(text), "expected '}' to close the reference")
            if literal:
                parts.append("".join(literal))
                literal = []
            tree, program, source = _compile(text[position + 1 : end], field_name, position + 1, text)
            parts.append(Expression(source, field_name, program, _check_inside(tree, text, position + 1, field_name)))
            position = end + 1
        else:
            literal.append(text[position])
            position += 1
    if literal:
        parts.append("".join(literal))
    return ProgressTemplate(text, tuple(parts))


def _check_inside(tree: Tree, text: str, offset: int, field_name: str) -> tuple[Path, ...]:
    """:func:`_check` for a reference inside a template, with positions in the whole template."""
    try:
        return _check(tree, text[offset:], field_name)
    except ConditionError as error:
        raise ConditionError(field_name, text, offset + error.position, error.problem) from error


#: A missing key this similar to an existing one (difflib ratio) is taken for a typo of it.
TYPO_SIMILARITY: Final = 0.8
_SUGGESTION_SIMILARITY: Final = 0.6


@dataclass(frozen=True)
class MissingPath:
    """Where a path leaves the object: the first mapping key that is not there.

    Attributes:
        path: The path up to and including the missing key, e.g. ``object.status.condition``.
        suggestions: The nearest existing keys of that mapping, as paths (``object.status.conditions``).
        likely_typo: Whether the nearest one is so close (difflib ratio >= 0.8) that the path is
            almost certainly a misspelling rather than a field the object has not written yet.
    """

    path: str
    suggestions: tuple[str, ...]
    likely_typo: bool

    def __str__(self) -> str:
        nearest = f"; nearest existing: {', '.join(self.suggestions)}" if self.suggestions else ""
        return f"{self.path} does not exist on the object{nearest}"


def find_missing(obj: object, path: Path) -> MissingPath | None:
    """The first key of ``path`` missing from a mapping of ``obj``, with the nearest existing keys.

    A JSON null or a value that is not a mapping ends the walk (data the object may still write,
    not a misspelled structure). None when every key exists.
    """
    current = obj
    for depth, key in enumerate(path.keys):
        if not isinstance(current, Mapping):
            return None
        if key not in current:
            keys = [existing for existing in current if isinstance(existing, str)]
            nearest = difflib.get_close_matches(key, keys, n=3, cutoff=_SUGGESTION_SIMILARITY)
            typo = bool(difflib.get_close_matches(key, keys, n=1, cutoff=TYPO_SIMILARITY))
            walked = path.keys[:depth]
            return MissingPath(str(Path((*walked, key))), tuple(str(Path((*walked, name))) for name in nearest), typo)
        current = current[key]
    return None
