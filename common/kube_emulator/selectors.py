"""Label and field selectors, parsed once per request."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from kube_emulator.errors import bad_request

Requirement = Callable[[Mapping[str, str]], bool]

_SET_RE = re.compile(r"^\s*(!?)\s*([^\s!=()]+)\s*(?:(in|notin)\s*\(([^)]*)\))?\s*$")
_EQ_RE = re.compile(r"^\s*([^\s!=]+)\s*(==|!=|=)\s*([^\s]*)\s*$")


def _split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside `in (...)` parentheses."""
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [p for p in parts if p.strip()]


def _requirement(text: str) -> Requirement:
    equality = _EQ_RE.match(text)
    if equality:
        key, op, value = equality.groups()
        if op == "!=":
            return lambda labels: labels.get(key) != value
        return lambda labels: labels.get(key) == value
    set_based = _SET_RE.match(text)
    if set_based:
        negated, key, op, values_text = set_based.groups()
        if op is None:
            if negated:
                return lambda labels: key not in labels
            return lambda labels: key in labels
        if negated:
            raise bad_request(f"unable to parse requirement: {text!r}")
        values = {v.strip() for v in values_text.split(",") if v.strip()}
        if op == "in":
            return lambda labels: labels.get(key) in values
        return lambda labels: labels.get(key) not in values
    raise bad_request(f"unable to parse requirement: found {text!r}, expected a label selector")


@dataclass(frozen=True)
class LabelSelector:
    requirements: tuple[Requirement, ...] = ()

    @classmethod
    def parse(cls, text: str | None) -> LabelSelector:
        if not text:
            return cls()
        return cls(tuple(_requirement(part) for part in _split_top_level(text)))

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        labels = labels or {}
        return all(requirement(labels) for requirement in self.requirements)

    def __bool__(self) -> bool:
        return bool(self.requirements)


_FIELD_PATHS: dict[str, tuple[str, ...]] = {
    "metadata.name": ("metadata", "name"),
    "metadata.namespace": ("metadata", "namespace"),
}
# Field labels core/v1 events add (kubernetes pkg/apis/core/v1/conversion.go, Event): the ones
# `kubectl describe` and controllers select on.
_EVENT_FIELD_PATHS: dict[str, tuple[str, ...]] = {
    "type": ("type",),
    "reason": ("reason",),
    "involvedObject.kind": ("involvedObject", "kind"),
    "involvedObject.name": ("involvedObject", "name"),
    "involvedObject.namespace": ("involvedObject", "namespace"),
    "involvedObject.uid": ("involvedObject", "uid"),
}


def _field(obj: Mapping[str, Any], path: tuple[str, ...]) -> str:
    value: Any = obj
    for key in path:
        value = value.get(key) if isinstance(value, Mapping) else None
    return str(value or "")


@dataclass(frozen=True)
class FieldSelector:
    """metadata.name and metadata.namespace (plus core events' own labels), with =, == and !=."""

    terms: tuple[tuple[tuple[str, ...], bool, str], ...] = ()

    @classmethod
    def parse(cls, text: str | None, core_events: bool = False) -> FieldSelector:
        if not text:
            return cls()
        paths = {**_FIELD_PATHS, **_EVENT_FIELD_PATHS} if core_events else _FIELD_PATHS
        terms = []
        for part in _split_top_level(text):
            match = _EQ_RE.match(part)
            if not match:
                raise bad_request(f"invalid field selector: {part!r}")
            path, op, value = match.groups()
            if path not in paths:
                raise bad_request(f"field label not supported: {path}")
            terms.append((paths[path], op != "!=", value))
        return cls(tuple(terms))

    def matches(self, obj: Mapping[str, Any]) -> bool:
        return all((_field(obj, path) == value) == equal for path, equal, value in self.terms)

    def __bool__(self) -> bool:
        return bool(self.terms)
