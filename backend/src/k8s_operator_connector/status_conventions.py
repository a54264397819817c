"""A Flyte phase from the status conventions most operators follow, for plugins to start from.

Two conventions are read, failure first, then success, then progress:

* ``status.phase`` (or ``status.state``), compared case-insensitively: ``Failed``/``Error`` fail,
  ``Succeeded``/``Completed``/``Complete`` succeed, ``Running`` runs, ``Pending``/``Created``/
  ``Submitted``/``Queued`` are pending.
* ``status.conditions`` of type ``Failed``, ``Complete``/``Completed``/``Succeeded`` and
  ``Running``/``Ready`` whose ``status`` is ``"True"`` (``Ready`` means up, not done).

Generated plugins (``build-support:new-plugin``) call :func:`conventional_phase` in their
``observe``; replace it there when the operator has its own status.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flyteidl.core.execution_pb2 import TaskExecution

from k8s_operator_connector.operator_plugin import Phase

FAILED_WORDS = frozenset({"failed", "failure", "error"})
SUCCEEDED_WORDS = frozenset({"succeeded", "completed", "complete", "success"})
RUNNING_WORDS = frozenset({"running", "ready"})
PENDING_WORDS = frozenset({"pending", "created", "submitted", "queued", "initializing", "starting"})
MAX_INFO_ENTRIES = 8


def _true_conditions(status: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    conditions = status.get("conditions")
    if not isinstance(conditions, list):
        return []
    return [c for c in conditions if isinstance(c, Mapping) and str(c.get("status", "")).lower() == "true"]


def _status_word(status: Mapping[str, Any]) -> str:
    for key in ("phase", "state"):
        value = status.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


def _explained(label: str, *details: object) -> str:
    """``"Failed: BackoffLimitExceeded: 2 pods failed"`` from the non-empty details."""
    parts = [str(detail) for detail in details if detail]
    return ": ".join([label, *parts]) if parts else label


def conventional_phase(obj: Mapping[str, Any], kind: str = "object") -> tuple[Phase, str]:
    """The Flyte phase and a one-line progress message from ``status.phase`` and ``status.conditions``.

    Failures are ``RETRYABLE_FAILED`` (Flyte retries them if the task has retries left). An
    object without a status is ``QUEUED`` (its operator has not seen it yet); an unknown phase
    word counts as running, with the word in the message.
    """
    status = obj.get("status")
    if not isinstance(status, Mapping) or not status:
        return TaskExecution.QUEUED, f"waiting for the {kind} operator"
    word = _status_word(status)
    lowered = word.lower()
    message = status.get("message") or ""
    reason = status.get("reason") or ""
    true_conditions = _true_conditions(status)

    def condition_of(types: frozenset[str]) -> Mapping[str, Any] | None:
        return next((c for c in true_conditions if str(c.get("type", "")).lower() in types), None)

    failed = condition_of(FAILED_WORDS)
    if lowered in FAILED_WORDS or failed is not None:
        details: tuple[Any, ...] = (failed.get("reason"), failed.get("message")) if failed else (reason, message)
        return TaskExecution.RETRYABLE_FAILED, _explained(word or "Failed", *details)
    succeeded = condition_of(SUCCEEDED_WORDS)
    if lowered in SUCCEEDED_WORDS or succeeded is not None:
        details = (succeeded.get("message"),) if succeeded is not None else (message,)
        return TaskExecution.SUCCEEDED, _explained(word or str(succeeded and succeeded.get("type")), *details)
    running = condition_of(RUNNING_WORDS)
    if lowered in PENDING_WORDS:
        return TaskExecution.INITIALIZING, _explained(word, message or reason)
    if lowered in RUNNING_WORDS or running is not None:
        details = (message,) if message or running is None else (running.get("message"),)
        return TaskExecution.RUNNING, _explained(word or str(running and running.get("type")), *details)
    if word:
        return TaskExecution.RUNNING, _explained(word, message)
    return TaskExecution.INITIALIZING, _explained(f"{kind} created", message or reason)


def status_counters(obj: Mapping[str, Any]) -> dict[str, int]:
    """The integer fields at the top of ``status`` (e.g. ``active``, ``succeeded``), for custom info.

    ``observedGeneration`` is left out; at most ``MAX_INFO_ENTRIES`` entries, by name.
    """
    status = obj.get("status")
    if not isinstance(status, Mapping):
        return {}
    counters = {
        str(key): value
        for key, value in status.items()
        if isinstance(value, int) and not isinstance(value, bool) and key != "observedGeneration"
    }
    return dict(sorted(counters.items())[:MAX_INFO_ENTRIES])
