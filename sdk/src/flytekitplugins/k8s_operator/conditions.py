"""The condition language of ``custom_resource`` tasks, shared by the SDK and the connector.

The SDK parses conditions when a task is declared, so mistakes surface at import time; the
connector evaluates the same parsed conditions on live Kubernetes objects. This module is pure
Python with no dependencies beyond the standard library, so both sides can import it.

Grammar (whitespace between tokens is free)::

    condition := clause ( "&&" clause )*
    clause    := path OP value | path "in" "(" value ( "," value )* ")" | path | "!" path
    OP        := "==" | "!=" | "<" | "<=" | ">" | ">="
    path      := NAME ( "." NAME | "[" INTEGER "]" | "[" key "=" value "]" | "[" QUOTED "]" )*
    value     := QUOTED | NUMBER | "true" | "false" | WORD

Examples::

    status.phase == Succeeded
    status.conditions[type=Complete].status == True && status.succeeded >= 3
    status.phase in (Failed, Error) && !status.retrying
    metadata.labels["app.kubernetes.io/name"] == web

Semantics:

* ``[3]`` indexes a list (negative indices count from the end); ``[type=Complete]`` selects the
  first list element that is a mapping whose ``type`` equals ``Complete``; ``["a.b"]`` is a
  mapping key that is not a plain name.
* An unquoted number compares numerically with numbers and numeric strings (``3 == 3.0``,
  ``"5" > 4``). ``true``/``false`` (any case) compare with booleans and with the strings
  ``"True"``/``"False"``. Anything else, and every quoted value, compares as text; ``<``,
  ``<=``, ``>``, ``>=`` on text are lexicographic (handy for RFC 3339 timestamps).
* A clause whose path is missing (or JSON ``null``) is false, whatever the operator. A bare
  ``path`` is true when the value is present and truthy (not ``false``, ``0``, ``""``,
  ``"False"``, ``"false"``, ``"0"``, an empty list or mapping); ``!path`` is its negation, so
  it is *true* when the path is missing.
* Values are literals. A bare value that reads like a path (``spec.x``, ``status.x``,
  ``metadata.x``) is rejected, since comparing two fields is not supported; quote it to mean
  the text.
* Evaluation never raises: values of unexpected types make a clause false.

Progress templates (:func:`parse_progress_template`) are text with ``{path}`` references, e.g.
``"{status.succeeded}/{spec.completions} done"``; ``{{`` and ``}}`` stand for literal braces,
and a missing value renders as ``?``.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, TypeAlias

__all__ = [
    "Clause",
    "Condition",
    "ConditionError",
    "Index",
    "Key",
    "MissingPath",
    "Path",
    "ProgressTemplate",
    "Select",
    "Value",
    "find_missing",
    "parse_condition",
    "parse_path",
    "parse_progress_template",
    "project",
]

Operator: TypeAlias = Literal["==", "!=", "<", "<=", ">", ">=", "in", "truthy", "falsy"]

_NAME_RE: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_INDEX_RE: Final = re.compile(r"-?[0-9]+")
_WORD_RE: Final = re.compile(r"[A-Za-z0-9_.:/@%+-]+")
_NUMBER_RE: Final = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_WHITESPACE: Final = " \t\r\n"
# A bare word that reads like a path into the object: almost surely a mistake on the right side.
_PATH_LIKE_RE: Final = re.compile(r"(?:spec|status|metadata)[.\[]")
_FALSY_TEXT: Final = frozenset({"", "false", "0"})


class ConditionError(ValueError):
    """A condition or progress template that does not parse.

    The message names the task field, the position (0-based) and what was expected there.
    """

    def __init__(self, field_name: str, text: str, position: int, expected: str) -> None:
        found = repr(text[position : position + 12]) if position < len(text) else "end of text"
        caret = " " * position + "^"
        super().__init__(
            f"{field_name}: expected {expected} at position {position} (found {found})\n  {text}\n  {caret}"
        )
        self.field_name = field_name
        self.text = text
        self.position = position
        self.expected = expected


class _Missing:
    """Marks a path that does not resolve on an object."""

    def __repr__(self) -> str:
        return "<missing>"


_MISSING: Final = _Missing()


def _number(text: str) -> int | float | None:
    """Parses ``text`` as an int or a finite float, or returns None."""
    if not _NUMBER_RE.fullmatch(text):
        return None
    if re.fullmatch(r"[+-]?[0-9]+", text):
        return int(text)
    value = float(text)
    return value if math.isfinite(value) else None


def _as_number(value: object) -> int | float | None:
    """A number or numeric string as a number; anything else (booleans too) as None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        return _number(value.strip())
    return None


def _as_text(value: object) -> str | None:
    """The text form a scalar compares as, or None for lists, mappings and other types."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return None


def _quote(text: str) -> str:
    """``text`` as a double-quoted string of this language (only ``\\`` and ``"`` are escaped)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _truthy(value: object) -> bool:
    if value is _MISSING or value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str):
        return value.strip().lower() not in _FALSY_TEXT
    if isinstance(value, Mapping | list | tuple):
        return len(value) > 0
    return True


@dataclass(frozen=True)
class Value:
    """A literal on the right of an operator or in a ``[key=value]`` selector."""

    text: str
    kind: Literal["number", "bool", "word", "quoted"]

    @property
    def number(self) -> int | float | None:
        """The numeric value of an unquoted number, else None."""
        return _number(self.text) if self.kind == "number" else None

    def equals(self, actual: object) -> bool:
        """Whether ``actual`` (a value read from an object) equals this literal."""
        number = self.number
        if number is not None:
            actual_number = _as_number(actual)
            return actual_number is not None and actual_number == number
        if self.kind == "bool":
            if isinstance(actual, bool):
                return actual == (self.text.lower() == "true")
            return isinstance(actual, str) and actual.strip().lower() == self.text.lower()
        if isinstance(actual, bool):
            return self.text.lower() == _as_text(actual)
        return _as_text(actual) == self.text

    def compare(self, actual: object) -> int | None:
        """-1, 0 or 1 as ``actual`` is below, equal to or above this literal; None if unordered."""
        number = self.number
        left: Any
        right: Any
        if number is not None:
            left, right = _as_number(actual), number
        elif self.kind != "bool" and isinstance(actual, str):
            left, right = actual, self.text
        else:
            return None
        if left is None or (isinstance(left, float) and math.isnan(left)):
            return None
        return int(left > right) - int(left < right)

    def __str__(self) -> str:
        return _quote(self.text) if self.kind == "quoted" else self.text


@dataclass(frozen=True)
class Key:
    """A mapping key: ``.name`` or ``["name with.dots"]``."""

    name: str

    def __str__(self) -> str:
        return f".{self.name}" if _NAME_RE.fullmatch(self.name) else f"[{_quote(self.name)}]"


@dataclass(frozen=True)
class Index:
    """A list index: ``[0]``; negative indices count from the end."""

    index: int

    def __str__(self) -> str:
        return f"[{self.index}]"


@dataclass(frozen=True)
class Select:
    """The first list element that is a mapping whose ``key`` equals ``value``: ``[type=Ready]``."""

    key: str
    value: Value

    def __str__(self) -> str:
        key = self.key if _NAME_RE.fullmatch(self.key) else _quote(self.key)
        return f"[{key}={self.value}]"


Segment: TypeAlias = Key | Index | Select


def _step(current: object, segment: Segment) -> object:
    if isinstance(segment, Key):
        if isinstance(current, Mapping):
            return current.get(segment.name, _MISSING)
        return _MISSING
    if not isinstance(current, list | tuple):
        return _MISSING
    if isinstance(segment, Index):
        if -len(current) <= segment.index < len(current):
            return current[segment.index]
        return _MISSING
    for element in current:
        matches = isinstance(element, Mapping) and segment.key in element
        if matches and segment.value.equals(element[segment.key]):
            return element
    return _MISSING


@dataclass(frozen=True)
class Path:
    """A path into an object, e.g. ``status.conditions[type=Complete].status``."""

    segments: tuple[Segment, ...]

    def resolve(self, obj: object) -> object:
        """The value at this path, or a private "missing" marker (JSON null counts as missing)."""
        current = obj
        for segment in self.segments:
            current = _step(current, segment)
            if current is _MISSING or current is None:
                return _MISSING
        return current

    def get(self, obj: object, default: Any = None) -> Any:
        """The value at this path, or ``default`` when it is missing."""
        value = self.resolve(obj)
        return default if value is _MISSING else value

    def __str__(self) -> str:
        text = "".join(str(segment) for segment in self.segments)
        return text[1:] if text.startswith(".") else text


#: A missing key this similar to an existing one (difflib ratio) is taken for a typo of it.
TYPO_SIMILARITY: Final = 0.8
_SUGGESTION_SIMILARITY: Final = 0.6


@dataclass(frozen=True)
class MissingPath:
    """Where a path leaves the object: the first mapping key that is not there.

    Attributes:
        path: The path up to and including the missing key, e.g. ``status.condition``.
        suggestions: The nearest existing keys of that mapping, as paths (``status.conditions``).
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

    Only mapping keys count: a list element that does not match yet (``[type=Complete]``) or a JSON
    null is data the object may still write, not a misspelled structure. None when every key exists.
    """
    current = obj
    walked: list[Segment] = []
    for segment in path.segments:
        if isinstance(segment, Key) and isinstance(current, Mapping) and segment.name not in current:
            keys = [key for key in current if isinstance(key, str)]
            nearest = difflib.get_close_matches(segment.name, keys, n=3, cutoff=_SUGGESTION_SIMILARITY)
            typo = bool(difflib.get_close_matches(segment.name, keys, n=1, cutoff=TYPO_SIMILARITY))
            return MissingPath(
                str(Path((*walked, segment))),
                tuple(str(Path((*walked, Key(key)))) for key in nearest),
                typo,
            )
        current = _step(current, segment)
        if current is _MISSING or current is None:
            return None
        walked.append(segment)
    return None


@dataclass(frozen=True)
class Clause:
    """One ``path OP value`` comparison, ``path`` (truthy) or ``!path`` (falsy)."""

    path: Path
    operator: Operator
    values: tuple[Value, ...] = ()

    def evaluate(self, obj: Mapping[str, Any]) -> bool:
        """Whether the clause holds on ``obj``; never raises."""
        try:
            return self._evaluate(obj)
        except Exception:  # evaluation is total by contract: exotic values make a clause false
            return False

    def _evaluate(self, obj: Mapping[str, Any]) -> bool:
        actual = self.path.resolve(obj)
        if self.operator == "truthy":
            return _truthy(actual)
        if self.operator == "falsy":
            return not _truthy(actual)
        if actual is _MISSING:
            return False
        if self.operator == "in":
            return any(value.equals(actual) for value in self.values)
        value = self.values[0]
        if self.operator == "==":
            return value.equals(actual)
        if self.operator == "!=":
            return _as_text(actual) is not None and not value.equals(actual)
        order = value.compare(actual)
        if order is None:
            return False
        return {"<": order < 0, "<=": order <= 0, ">": order > 0, ">=": order >= 0}[self.operator]

    def __str__(self) -> str:
        if self.operator == "truthy":
            return str(self.path)
        if self.operator == "falsy":
            return f"!{self.path}"
        if self.operator == "in":
            return f"{self.path} in ({', '.join(str(value) for value in self.values)})"
        return f"{self.path} {self.operator} {self.values[0]}"


@dataclass(frozen=True)
class Condition:
    """Clauses joined by ``&&``; holds when every clause holds."""

    clauses: tuple[Clause, ...]

    def evaluate(self, obj: Mapping[str, Any]) -> bool:
        """Whether every clause holds on ``obj``; never raises."""
        return all(clause.evaluate(obj) for clause in self.clauses)

    @property
    def paths(self) -> frozenset[str]:
        """The paths the condition reads, in canonical form (see :func:`project`)."""
        return frozenset(str(clause.path) for clause in self.clauses)

    @property
    def parsed_paths(self) -> tuple[Path, ...]:
        """The parsed paths the condition reads, in clause order."""
        return tuple(clause.path for clause in self.clauses)

    def __str__(self) -> str:
        return " && ".join(str(clause) for clause in self.clauses)


class _Parser:
    """A recursive-descent parser over characters, tracking the position for errors."""

    def __init__(self, text: str, field_name: str) -> None:
        self.text = text
        self.field_name = field_name
        self.pos = 0

    def error(self, expected: str, position: int | None = None) -> ConditionError:
        where = self.pos if position is None else position
        return ConditionError(self.field_name, self.text, where, expected)

    def skip_whitespace(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in _WHITESPACE:
            self.pos += 1

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def peek(self, token: str) -> bool:
        return self.text.startswith(token, self.pos)

    def expect(self, token: str) -> None:
        self.skip_whitespace()
        if not self.peek(token):
            raise self.error(repr(token))
        self.pos += len(token)

    def match(self, pattern: re.Pattern[str]) -> str | None:
        found = pattern.match(self.text, self.pos)
        if not found:
            return None
        self.pos = found.end()
        return found.group()

    def condition(self) -> Condition:
        clauses = [self.clause()]
        while True:
            self.skip_whitespace()
            if self.at_end():
                return Condition(tuple(clauses))
            if not self.peek("&&"):
                raise self.error("'&&' or the end of the condition")
            self.pos += 2
            clauses.append(self.clause())

    def clause(self) -> Clause:
        self.skip_whitespace()
        if self.peek("!"):
            self.pos += 1
            self.skip_whitespace()
            return Clause(self.path(), "falsy")
        path = self.path()
        self.skip_whitespace()
        for operator in ("==", "!=", "<=", ">=", "<", ">"):
            if self.peek(operator):
                self.pos += len(operator)
                return Clause(path, operator, (self.value(),))
        if self.peek("in") and (self.text[self.pos + 2 : self.pos + 3] in ("(", *_WHITESPACE)):
            self.pos += 2
            self.expect("(")
            values = [self.value()]
            while True:
                self.skip_whitespace()
                if self.peek(","):
                    self.pos += 1
                    values.append(self.value())
                    continue
                if self.peek(")"):
                    self.pos += 1
                    return Clause(path, "in", tuple(values))
                raise self.error("',' or ')'")
        if self.at_end() or self.peek("&&"):
            return Clause(path, "truthy")
        raise self.error("an operator (==, !=, <, <=, >, >=, in), '&&' or the end of the condition")

    def path(self) -> Path:
        name = self.match(_NAME_RE)
        if name is None:
            raise self.error("a field name (a letter or '_' first)")
        segments: list[Segment] = [Key(name)]
        while not self.at_end():
            if self.peek("."):
                self.pos += 1
                name = self.match(_NAME_RE)
                if name is None:
                    raise self.error("a field name after '.'")
                segments.append(Key(name))
            elif self.peek("["):
                self.pos += 1
                segments.append(self.bracket())
            else:
                break
        return Path(tuple(segments))

    def bracket(self) -> Segment:
        self.skip_whitespace()
        segment: Segment
        index = self.match(_INDEX_RE)
        if index is not None:
            segment = Index(int(index))
        else:
            if self.peek('"') or self.peek("'"):
                key = self.quoted()
            else:
                matched = self.match(_NAME_RE)
                if matched is None:
                    raise self.error("a list index, a quoted key or 'key=value' inside '['")
                key = matched
            self.skip_whitespace()
            if self.peek("="):
                self.pos += 1
                segment = Select(key, self.value())
            else:
                segment = Key(key)
        self.expect("]")
        return segment

    def quoted(self) -> str:
        start = self.pos
        quote = self.text[self.pos]
        self.pos += 1
        chars: list[str] = []
        while not self.at_end():
            char = self.text[self.pos]
            self.pos += 1
            if char == quote:
                return "".join(chars)
            if char == "\\":
                if self.at_end():
                    break
                char = self.text[self.pos]
                self.pos += 1
            chars.append(char)
        raise self.error(f"a closing {quote} for the string opened at position {start}")

    def value(self) -> Value:
        self.skip_whitespace()
        if self.peek('"') or self.peek("'"):
            text = self.quoted()
            plain = (
                _WORD_RE.fullmatch(text)
                and _number(text) is None
                and text.lower() not in ("true", "false")
                and not _PATH_LIKE_RE.match(text)
            )
            # A quoted plain word behaves like the bare word; keep one canonical form.
            return Value(text, "word" if plain else "quoted")
        start = self.pos
        word = self.match(_WORD_RE)
        if word is None:
            raise self.error("a value (a word, a number, true, false or a quoted string)")
        if _PATH_LIKE_RE.match(word):
            raise self.error(
                f"a literal value, not the path {word!r}: paths go on the left only "
                "(quote the value to compare with that text)",
                start,
            )
        if _number(word) is not None:
            return Value(word, "number")
        if word.lower() in ("true", "false"):
            return Value(word, "bool")
        return Value(word, "word")


def parse_condition(text: str, field_name: str) -> Condition:
    """Parses a condition; ``field_name`` (e.g. ``"success_condition"``) is named in errors.

    Raises:
        ConditionError: the text is empty or not in the grammar of this module.
    """
    if not isinstance(text, str):
        raise ConditionError(field_name, repr(text), 0, f"a string, got {type(text).__name__}")
    parser = _Parser(text, field_name)
    parser.skip_whitespace()
    if parser.at_end():
        raise parser.error("a condition such as 'status.phase == Succeeded'")
    return parser.condition()


def parse_path(text: str, field_name: str) -> Path:
    """Parses a single path such as ``status.conditions[type=Ready].status``.

    Raises:
        ConditionError: the text is not exactly one path.
    """
    parser = _Parser(text, field_name)
    parser.skip_whitespace()
    path = parser.path()
    parser.skip_whitespace()
    if not parser.at_end():
        raise parser.error("the end of the path")
    return path


def _render(value: object) -> str:
    if value is _MISSING:
        return "?"
    text = _as_text(value)
    if text is not None:
        return text
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    except (TypeError, ValueError):
        return str(value)


@dataclass(frozen=True)
class ProgressTemplate:
    """Text with ``{path}`` references, rendered against a live object."""

    parts: tuple[str | Path, ...]

    def render(self, obj: Mapping[str, Any]) -> str:
        """The text with every reference replaced by its value (``?`` when missing); never raises."""
        rendered: list[str] = []
        for part in self.parts:
            if isinstance(part, str):
                rendered.append(part)
                continue
            try:
                rendered.append(_render(part.resolve(obj)))
            except Exception:  # rendering is total by contract
                rendered.append("?")
        return "".join(rendered)

    @property
    def paths(self) -> frozenset[str]:
        """The paths the template reads, in canonical form."""
        return frozenset(str(part) for part in self.parts if isinstance(part, Path))

    @property
    def parsed_paths(self) -> tuple[Path, ...]:
        """The parsed paths the template reads, in order."""
        return tuple(part for part in self.parts if isinstance(part, Path))

    def __str__(self) -> str:
        return "".join(
            part.replace("{", "{{").replace("}", "}}") if isinstance(part, str) else f"{{{part}}}"
            for part in self.parts
        )


def parse_progress_template(text: str, field_name: str) -> ProgressTemplate:
    """Parses a progress template such as ``"{status.succeeded}/{spec.completions} done"``.

    Raises:
        ConditionError: a ``{`` without its ``}``, an empty or malformed reference, or a lone ``}``.
    """
    if not isinstance(text, str):
        raise ConditionError(field_name, repr(text), 0, f"a string, got {type(text).__name__}")
    parser = _Parser(text, field_name)
    parts: list[str | Path] = []
    literal: list[str] = []
    while not parser.at_end():
        if parser.peek("{{") or parser.peek("}}"):
            literal.append(text[parser.pos])
            parser.pos += 2
        elif parser.peek("}"):
            raise parser.error("'}}' for a literal '}'")
        elif parser.peek("{"):
            if literal:
                parts.append("".join(literal))
                literal = []
            parser.pos += 1
            parser.skip_whitespace()
            parts.append(parser.path())
            parser.skip_whitespace()
            if not parser.peek("}"):
                raise parser.error("'}' to close the reference")
            parser.pos += 1
        else:
            literal.append(text[parser.pos])
            parser.pos += 1
    if literal:
        parts.append("".join(literal))
    return ProgressTemplate(tuple(parts))


_Tree: TypeAlias = dict[str, "_Tree | None"]  # key -> what to keep below it; None keeps all of it


def project(obj: Mapping[str, Any], paths: Sequence[Path]) -> dict[str, Any]:
    """A copy of ``obj`` with only what ``paths`` read, so conditions evaluate the same on it.

    Mappings on the way are narrowed to the keys a path names; from the first list on a path
    (an index or a selector) on, the whole value is kept, since indices and selectors depend on
    all of it. The connector can keep such projections per object instead of whole objects.
    The input is not modified; the result shares the kept leaf values with it.
    """
    tree: _Tree = {}
    for path in paths:
        names: list[str] = []
        for segment in path.segments:
            if not isinstance(segment, Key):
                break
            names.append(segment.name)
        node: _Tree | None = tree
        for position, name in enumerate(names):
            if node is None:
                break  # a shorter path already keeps the whole value
            if position == len(names) - 1:
                node[name] = None
            else:
                node = node.setdefault(name, {})
    return _copy_tree(obj, tree)


def _copy_tree(source: Mapping[str, Any], tree: _Tree) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, subtree in tree.items():
        if name not in source:
            continue
        value = source[name]
        if subtree is not None and isinstance(value, Mapping):
            result[name] = _copy_tree(value, subtree)
        else:
            result[name] = value
    return result
