"""A watch-backed cache of the connector's objects of one resource type and scope.

One background thread (``ListWatch``) lists, then watches, and keeps a small
:class:`Observation` per object (never the object itself). Listed objects are visible as
each page of the list arrives; once the last page did, what the list did not hold is gone, so
a relist replaces the whole cache and nothing is missed or counted twice. Objects deleted
while tracked leave a tombstone with their last observation, so a late GetTask still gets
the truth.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from k8s_operator_connector import final_phase
from k8s_operator_connector.kube_api import KubeApi, ResourceType, timestamp_seconds
from k8s_operator_connector.list_watch import Clock, ListWatch
from k8s_operator_connector.operator_plugin import Observation
from k8s_operator_connector.ownership import owner_of
from k8s_operator_connector.shared_values import SharedValues

Key = tuple[str, str]  # (namespace, name)
_MAX_TOMBSTONES = 100_000


@dataclass(slots=True)
class Tracked:
    uid: str
    observation: Observation
    # When this connector first saw the object in a terminal phase (for retention).
    terminal_since: float | None = None
    # The task execution its ownership annotation names ("" when none): GetTask, DeleteTask
    # and retention cleanup act only on objects owned by the task execution in question.
    owner: str = ""
    # When a GetTask first answered its final phase (Unix seconds; 0: not yet): from the
    # object's annotation (final_phase.py), or this process's own mark until the watch has it.
    served_at: float = 0.0


@dataclass(frozen=True, slots=True)
class Tombstone:
    uid: str
    observation: Observation
    deleted_at: float
    # True when this connector deleted it (abort or retention cleanup).
    by_connector: bool
    # The task execution its ownership annotation named, as in Tracked.
    owner: str = ""


def _key(obj: Mapping[str, Any]) -> Key:
    metadata = obj.get("metadata") or {}
    # A cache holds a few namespaces, each named by every object in it: one copy of each name.
    return (sys.intern(str(metadata.get("namespace") or "")), metadata.get("name") or "")


def created_at(obj: Mapping[str, Any]) -> float:
    """metadata.creationTimestamp in Unix seconds; 0 when absent or not RFC 3339."""
    return timestamp_seconds((obj.get("metadata") or {}).get("creationTimestamp"))


class ObjectCache(ListWatch):
    """Observations of every object matching ``label_selector`` in one scope."""

    def __init__(
        self,
        api: KubeApi,
        resource: ResourceType,
        namespace: str | None,
        label_selector: str,
        observe: Callable[[Mapping[str, Any]], Observation],
        tombstone_seconds: float,
        clock: Clock = time.monotonic,
    ) -> None:
        super().__init__(api, resource, namespace, label_selector, clock=clock)
        self._observe = observe
        self._tombstone_seconds = tombstone_seconds
        self._objects: dict[Key, Tracked] = {}
        self._tombstones: OrderedDict[Key, Tombstone] = OrderedDict()
        # Objects recorded (from a create's or a GET's answer) while a list was in flight: that
        # list may predate them, so its absence of them is no deletion. Whatever happens to them
        # later arrives on the watch, which starts from the list's resourceVersion.
        self._recorded_during_list: set[Key] | None = None
        # What the pages of the list in flight have held so far (None: no list in flight).
        self._listed: set[Key] | None = None
        self._shared = SharedValues()  # used under self._lock

    # -- reads (any thread) ------------------------------------------------------------

    def lookup(self, key: Key) -> Tracked | None:
        with self._lock:
            return self._objects.get(key)

    def current(self, key: Key) -> Tracked | None:
        """The object as the cache knows it, if that is current: the watch is connected, or the
        list in flight (after a start, or after the watch was cut) has already brought it (or it
        was recorded since that list began). Otherwise None: ask the API."""
        with self._lock:
            tracked = self._objects.get(key)
            if tracked is None or self._disconnected_since is None:
                return tracked
            if (self._listed is not None and key in self._listed) or (
                self._recorded_during_list is not None and key in self._recorded_during_list
            ):
                return tracked
            return None

    def tombstone(self, key: Key) -> Tombstone | None:
        with self._lock:
            return self._tombstones.get(key)

    def __len__(self) -> int:
        return len(self._objects)

    def finished_before(self, age_seconds: float) -> list[Key]:
        """Objects that have been terminal for at least ``age_seconds``."""
        now, wall_now = self._clock(), time.time()
        with self._lock:
            return [
                key
                for key, tracked in self._objects.items()
                if (since := _terminal_since(tracked, now, wall_now)) is not None and since <= now - age_seconds
            ]

    def retention_due(self, retention_seconds: float, unserved_retention_seconds: float) -> list[Key]:
        """Finished objects retention may delete (final_phase.retention_due)."""
        now, wall_now = self._clock(), time.time()
        with self._lock:
            return [
                key
                for key, tracked in self._objects.items()
                if (since := _terminal_since(tracked, now, wall_now)) is not None
                and final_phase.retention_due(
                    tracked.served_at, now - since, wall_now, retention_seconds, unserved_retention_seconds
                )
            ]

    def running(self) -> list[tuple[Key, Tracked]]:
        """Objects not (yet) finished, by what the watch saw last."""
        now, wall_now = self._clock(), time.time()
        with self._lock:
            return [
                (key, tracked)
                for key, tracked in self._objects.items()
                if _terminal_since(tracked, now, wall_now) is None
            ]

    # -- writes ------------------------------------------------------------------------

    def record(self, obj: Mapping[str, Any]) -> Tracked:
        """Track an object seen outside the watch (a create's or a GET's answer)."""
        key = _key(obj)
        with self._lock:
            self._tombstones.pop(key, None)
            if self._recorded_during_list is not None:
                self._recorded_during_list.add(key)
            return self._store(key, obj)

    def mark_served(self, key: Key, uid: str, when: float) -> bool:
        """Note that a GetTask answered the final phase of this object (that uid) at ``when``;
        True only the first time, so the caller records it in the cluster once."""
        with self._lock:
            tracked = self._objects.get(key)
            if tracked is None or tracked.served_at or (uid and tracked.uid != uid):
                return False
            tracked.served_at = when
            return True

    def mark_deleted_by_connector(self, key: Key) -> None:
        with self._lock:
            tracked = self._objects.pop(key, None)
            if tracked is not None:
                self._bury(key, tracked, by_connector=True)

    def _store(self, key: Key, obj: Mapping[str, Any]) -> Tracked:
        uid = (obj.get("metadata") or {}).get("uid") or ""
        observation = self._observation(obj)
        previous = self._objects.get(key)
        terminal_since = None
        if observation.terminal:
            same = previous is not None and previous.uid == uid and previous.terminal_since is not None
            terminal_since = previous.terminal_since if same and previous else self._clock()
        served = final_phase.served_at(obj) or (
            previous.served_at if previous is not None and previous.uid == uid else 0.0
        )
        tracked = Tracked(uid, observation, terminal_since, owner_of(obj), served)
        self._objects[key] = tracked
        return tracked

    def _bury(self, key: Key, tracked: Tracked, by_connector: bool) -> None:
        now = self._clock()
        self._tombstones[key] = Tombstone(tracked.uid, tracked.observation, now, by_connector, tracked.owner)
        self._tombstones.move_to_end(key)
        while self._tombstones:
            oldest_key, oldest = next(iter(self._tombstones.items()))
            if len(self._tombstones) <= _MAX_TOMBSTONES and now - oldest.deleted_at < self._tombstone_seconds:
                break
            del self._tombstones[oldest_key]

    def _list_starting(self) -> None:
        with self._lock:
            self._recorded_during_list = set()
            self._listed = set()

    def _list_page(self, items: Sequence[Mapping[str, Any]]) -> None:
        with self._lock:
            listed = self._listed if self._listed is not None else set()
            self._listed = listed
            for obj in items:
                key = _key(obj)
                listed.add(key)
                self._store(key, obj)

    def _list_finished(self) -> None:
        with self._lock:
            listed, recorded = self._listed or set(), self._recorded_during_list or set()
            self._listed = self._recorded_during_list = None
            for key in [key for key in self._objects if key not in listed and key not in recorded]:
                self._bury(key, self._objects.pop(key), by_connector=False)

    def _replace_all(self, items: Iterable[Mapping[str, Any]]) -> None:
        """A whole list in one page."""
        self._list_page(list(items))
        self._list_finished()

    def _apply(self, event_type: str, obj: Mapping[str, Any]) -> None:
        key = _key(obj)
        with self._lock:
            if event_type == "DELETED":
                tracked = self._objects.pop(key, None)
                if tracked is not None:
                    self._bury(key, self._store_only(obj, tracked), by_connector=False)
            else:
                self._tombstones.pop(key, None)
                self._store(key, obj)

    def _store_only(self, obj: Mapping[str, Any], tracked: Tracked) -> Tracked:
        return Tracked(tracked.uid, self._observation(obj), tracked.terminal_since, tracked.owner, tracked.served_at)

    def _observation(self, obj: Mapping[str, Any]) -> Observation:
        observation = self._observe(obj)
        shared = self._shared
        return dataclasses.replace(
            observation,
            message=shared(observation.message),
            info=shared(observation.info),
            container=shared(observation.container),
            created_at=observation.created_at or created_at(obj),
        )


def _terminal_since(tracked: Tracked, now: float, wall_now: float) -> float | None:
    """Since when (on the cache's clock) ``tracked`` is finished: seen terminal, or observed with
    a deadline (``until``, Unix time; e.g. a condition's grace period) past which ``later`` is
    terminal. A finished object sends no further watch event, so the deadline is checked here."""
    if tracked.terminal_since is not None:
        return tracked.terminal_since
    observation = tracked.observation
    if observation.later is not None and observation.later.terminal and 0 < observation.until <= wall_now:
        return now - (wall_now - observation.until)
    return None
