"""Waiting on conditions instead of sleeping fixed amounts (tests run on loaded 2-core machines)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(condition: Callable[[], T | None], timeout: float = 60.0, interval: float = 0.02, what: str = "") -> T:
    """Poll `condition` until it returns something truthy; return that, or raise TimeoutError."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what or condition!r}")
        time.sleep(interval)
