"""When an object observed with a deadline counts as finished (for retention): at the deadline,
not a moment before, and only when what holds after it is terminal."""

from __future__ import annotations

import dataclasses

import pytest
from flyteidl.core.execution_pb2 import TaskExecution

from k8s_operator_connector.object_cache import Tracked, _terminal_since
from k8s_operator_connector.operator_plugin import Observation

RUNNING = Observation.of(TaskExecution.RUNNING, "waiting for: status.conditions")
FAILED = Observation.of(TaskExecution.FAILED, "grace period over")
NOW, WALL_NOW = 500.0, 1_800_000_000.0


def tracked(until: float, later: Observation | None = FAILED, seen_terminal: float | None = None) -> Tracked:
    return Tracked("uid", dataclasses.replace(RUNNING, until=until, later=later), seen_terminal)


@pytest.mark.parametrize(
    ("until", "since"),
    [
        (WALL_NOW, NOW),  # the deadline reached exactly: finished now
        (WALL_NOW - 20, NOW - 20),  # passed 20 s ago: finished since then, on the cache's clock
        (WALL_NOW + 0.001, None),  # not yet
        (0.0, None),  # no deadline
    ],
)
def test_a_deadline_finishes_an_object_when_it_is_reached(until: float, since: float | None) -> None:
    assert _terminal_since(tracked(until), NOW, WALL_NOW) == since


def test_a_deadline_after_which_the_task_still_runs_finishes_nothing() -> None:
    assert _terminal_since(tracked(WALL_NOW - 20, later=RUNNING), NOW, WALL_NOW) is None
    assert _terminal_since(tracked(WALL_NOW - 20, later=None), NOW, WALL_NOW) is None


def test_an_object_seen_terminal_keeps_that_moment() -> None:
    assert _terminal_since(tracked(WALL_NOW - 20, seen_terminal=123.0), NOW, WALL_NOW) == 123.0
    assert _terminal_since(tracked(0.0, later=None, seen_terminal=0.0), NOW, WALL_NOW) == 0.0
