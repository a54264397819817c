"""The phase a pending task answers with, chosen for what the Flyte console will show.

Propeller turns GetTask answers into events only when the phase changes (its connector
plugin reports every phase with version 0), and flyteadmin ignores a connector's QUEUED
answer because propeller already recorded QUEUED "launched" with a higher version (see
docs/connector.md, "What the Flyte console shows when"). So each pending phase can carry
one message, once. Spend them on the reason a task waits:

* nothing wrong seen: QUEUED (the console keeps "launched"; INITIALIZING and
  WAITING_FOR_RESOURCES stay unused, so a later problem still gets an event);
* a Warning event says the cluster lacks room or quota: WAITING_FOR_RESOURCES with it;
* any other Warning (image pull, webhook rejection, volume, ...): INITIALIZING with it.
"""

from __future__ import annotations

import dataclasses

from flyteidl.core.execution_pb2 import TaskExecution

from k8s_operator_connector.operator_plugin import MAX_MESSAGE_LENGTH, Observation
from k8s_operator_connector.warning_events import WarningEvent

SHAPED_PHASES = frozenset({TaskExecution.QUEUED, TaskExecution.INITIALIZING})


def for_console(observation: Observation, warning: WarningEvent | None) -> Observation:
    """The observation to answer with; phases other than QUEUED and INITIALIZING pass through."""
    if observation.phase not in SHAPED_PHASES:
        return observation
    if warning is None:
        return dataclasses.replace(observation, phase=TaskExecution.QUEUED)
    phase = TaskExecution.WAITING_FOR_RESOURCES if warning.resource_shortage else TaskExecution.INITIALIZING
    message = "; ".join(part for part in (observation.message, warning.describe()) if part)
    return dataclasses.replace(observation, phase=phase, message=message[:MAX_MESSAGE_LENGTH])
