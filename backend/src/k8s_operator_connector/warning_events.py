"""Why a task is stuck: the latest Kubernetes Warning event about its object or what the object made.

One watch of ``type=Warning`` events per scope (the object caches' scopes) keeps, per task
object, only the latest warning about it or about anything named after it: the operator's
Jobs and pods carry the object's name as a prefix (``<name>-w0``, ``<name>-w0-x7k2p``), so an
event about ``a-b-c`` is kept for each tracked object named ``a-b-c``, ``a-b`` or ``a``.
Events about objects the connector does not track are dropped on arrival, so memory follows
the tasks in flight (and is capped), and GetTask reads this without any API call.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from k8s_operator_connector.kube_api import KubeApi, ResourceType, timestamp_seconds
from k8s_operator_connector.list_watch import Clock, ListWatch

EVENTS = ResourceType("", "v1", "events", "Event")
WARNINGS_ONLY = "type=Warning"
MAX_KEPT = 10_000
_MAX_PREFIXES = 16
_MAX_TEXT = 300
# Reasons and messages that mean the cluster lacks room or quota, not that the task is wrong.
_SHORTAGE_REASONS = frozenset({"FailedScheduling", "NotTriggerScaleUp", "OutOfcpu", "OutOfmemory"})
_SHORTAGE_WORDS = ("exceeded quota", "insufficient ")

Key = tuple[str, str]  # (namespace, object name)
Tracks = Callable[[str, str], bool]


@dataclass(frozen=True, slots=True)
class WarningEvent:
    kind: str
    name: str
    reason: str
    message: str
    at: float

    @property
    def resource_shortage(self) -> bool:
        lowered = self.message.lower()
        return self.reason in _SHORTAGE_REASONS or any(word in lowered for word in _SHORTAGE_WORDS)

    def describe(self) -> str:
        return f"{self.kind} {self.name}: {self.reason}: {self.message}"


def owner_names(name: str) -> list[str]:
    """The name, then each prefix before a '-', longest first (at most 16)."""
    names = [name]
    cut = name.rfind("-")
    while cut > 0 and len(names) < _MAX_PREFIXES:
        names.append(name[:cut])
        cut = name.rfind("-", 0, cut)
    return names


def _text(value: Any) -> str:
    return " ".join(str(value or "").split())[:_MAX_TEXT]


def parse_warning(event: Mapping[str, Any]) -> tuple[str, WarningEvent] | None:
    """(namespace, warning) from a core/v1 Event; None for other types or events about nothing."""
    if event.get("type") != "Warning":
        return None
    involved = event.get("involvedObject")
    if not isinstance(involved, Mapping) or not isinstance(involved.get("name"), str) or not involved["name"]:
        return None
    metadata = event.get("metadata") or {}
    namespace = involved.get("namespace") or metadata.get("namespace") or ""
    series = event.get("series")
    series = series if isinstance(series, Mapping) else {}
    at = max(
        timestamp_seconds(event.get("lastTimestamp")),
        timestamp_seconds(event.get("eventTime")),
        timestamp_seconds(series.get("lastObservedTime")),
        timestamp_seconds(metadata.get("creationTimestamp")),
    )
    warning = WarningEvent(
        kind=_text(involved.get("kind")) or "object",
        name=_text(involved["name"]),
        reason=_text(event.get("reason")) or "Warning",
        message=_text(event.get("message")),
        at=at,
    )
    return str(namespace), warning


class WarningEvents(ListWatch):
    """The latest warning per tracked object, fed by a watch of Warning events in one scope."""

    def __init__(
        self,
        api: KubeApi,
        namespace: str | None,
        tracks: Tracks,
        max_kept: int = MAX_KEPT,
        clock: Clock = time.monotonic,
    ) -> None:
        super().__init__(api, EVENTS, namespace, field_selector=WARNINGS_ONLY, clock=clock)
        self._tracks = tracks
        self._max_kept = max_kept
        self._latest: OrderedDict[Key, WarningEvent] = OrderedDict()

    def latest(self, namespace: str, name: str) -> WarningEvent | None:
        with self._lock:
            return self._latest.get((namespace, name))

    def __len__(self) -> int:
        return len(self._latest)

    def _keep(self, event: Mapping[str, Any]) -> None:
        parsed = parse_warning(event)
        if parsed is None:
            return
        namespace, warning = parsed
        for owner in owner_names(warning.name):
            key = (namespace, owner)
            if not self._tracks(namespace, owner):
                continue
            previous = self._latest.get(key)
            if previous is None or warning.at >= previous.at:
                self._latest[key] = warning
                self._latest.move_to_end(key)
            while len(self._latest) > self._max_kept:
                self._latest.popitem(last=False)

    def _replace_all(self, items: Iterable[Mapping[str, Any]]) -> None:
        with self._lock:
            self._latest.clear()
            for event in items:
                self._keep(event)

    def _apply(self, event_type: str, obj: Mapping[str, Any]) -> None:
        if event_type == "DELETED":
            return  # an expired event still explains the task; the cap bounds what is kept
        with self._lock:
            self._keep(obj)
