"""Reading one mapping of the connector's YAML configuration, with errors that name the key.

Settings sections kept in their own modules (meta signing, task policy, pod security)
parse themselves with this reader, so :mod:`settings` can import them without a cycle.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any


class SettingsError(ValueError):
    """The configuration is invalid; the message names the key and what is allowed."""


class SettingsReader:
    """Reads one mapping of the YAML document, remembering where it is for error messages."""

    def __init__(self, data: Any, where: str) -> None:
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            raise SettingsError(f"{where or 'the configuration'} must be a mapping, got {type(data).__name__}")
        self.data = data
        self.where = where
        self.used: set[str] = set()

    def path(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def get(self, key: str, kind: type | tuple[type, ...], default: Any) -> Any:
        self.used.add(key)
        if key not in self.data or self.data[key] is None:
            return default
        value = self.data[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
            names = " or ".join(k.__name__ for k in kinds)
            raise SettingsError(f"{self.path(key)} must be {names}, got {value!r}")
        return value

    def number(self, key: str, default: float, minimum: float, integer: bool = False) -> Any:
        value = self.get(key, int if integer else (int, float), default)
        # YAML's .nan passes every comparison below, and an infinite interval overflows a wait.
        if not math.isfinite(value):
            raise SettingsError(f"{self.path(key)} must be a finite number, got {value}")
        if value < minimum:
            raise SettingsError(f"{self.path(key)} must be >= {minimum}, got {value}")
        return value

    def strings(self, key: str, default: tuple[str, ...]) -> tuple[str, ...]:
        values = self.get(key, list, list(default))
        for index, value in enumerate(values):
            if not isinstance(value, str) or not value:
                raise SettingsError(f"{self.path(key)}[{index}] must be a non-empty string, got {value!r}")
        return tuple(values)

    def items(self, key: str) -> list[SettingsReader]:
        return [
            SettingsReader(item, f"{self.path(key)}[{index}]") for index, item in enumerate(self.get(key, list, []))
        ]

    def child(self, key: str) -> SettingsReader:
        return SettingsReader(self.get(key, Mapping, {}), self.path(key))

    def finish(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            raise SettingsError(
                f"unknown key {self.path(unknown[0])!r}; allowed keys here: {', '.join(sorted(self.used))}"
            )
