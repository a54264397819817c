"""One copy of each equal value that many cached objects hold.

Thousands of tracked objects observe the same message ("2/2 workers running, 0 succeeded"),
the same custom info and the same container name, yet each arrives as a fresh copy from its
JSON. Keeping one copy of each cuts the cache's memory per object by about a third
(docs/benchmarks.md, "Memory per tracked object"). Bounded: past ``max_kept`` distinct values
it starts over, so values that are all different (e.g. per-object messages) cost nothing lasting.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import TypeVar

T = TypeVar("T", bound=Hashable)
MAX_KEPT = 4096


class SharedValues:
    """Not thread-safe: call it under the owner's lock."""

    def __init__(self, max_kept: int = MAX_KEPT) -> None:
        self._max_kept = max_kept
        self._values: dict[Hashable, Hashable] = {}

    def __call__(self, value: T) -> T:
        try:
            kept = self._values.get(value)
        except TypeError:  # unhashable inside (e.g. a list in a custom resource's info): keep it as is
            return value
        if kept is not None:
            return kept  # type: ignore[return-value]
        if len(self._values) >= self._max_kept:
            self._values.clear()
        self._values[value] = value
        return value

    def __len__(self) -> int:
        return len(self._values)
