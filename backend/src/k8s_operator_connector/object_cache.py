"""A watch-backed cache of the connector's objects of one resource type and scope.

One background thread lists, then watches, and keeps a small :class:`Observation` per
object (never the object itself). A dropped stream is resumed from the last
resourceVersion; 410 Gone or any error relists, and the relist replaces the whole cache,
so nothing is missed or counted twice. Objects deleted while tracked leave a tombstone
with their last observation, so a late GetTask still gets the truth.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from k8s_operator_connector.kube_api import KubeApi, KubeApiError, ResourceType
from k8s_operator_connector.plugin import Observation

logger = logging.getLogger(__name__)

Key = tuple[str, str]  # (namespace, name)
Clock = Callable[[], float]
_WATCH_TIMEOUT_SECONDS = 240
_RECONNECT_BACKOFF_CAP_SECONDS = 10.0
_MAX_TOMBSTONES = 100_000


@dataclass(slots=True)
class Tracked:
    uid: str
    observation: Observation
    # When this connector first saw the object in a terminal phase (for retention).
    terminal_since: float | None = None


@dataclass(frozen=True, slots=True)
class Tombstone:
    uid: str
    observation: Observation
    deleted_at: float
    # True when this connector deleted it (abort or retention cleanup).
    by_connector: bool


def _key(obj: Mapping[str, Any]) -> Key:
    metadata = obj.get("metadata") or {}
    return (metadata.get("namespace") or "", metadata.get("name") or "")


def created_at(obj: Mapping[str, Any]) -> float:
    """metadata.creationTimestamp in Unix seconds; 0 when absent or not RFC 3339."""
    stamp = (obj.get("metadata") or {}).get("creationTimestamp")
    if not isinstance(stamp, str):
        return 0.0
    try:
        moment = datetime.datetime.fromisoformat(stamp)
    except ValueError:
        return 0.0
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.timestamp()


class ObjectCache:
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
        self.resource = resource
        self.namespace = namespace
        self._api = api
        self._selector = label_selector
        self._observe = observe
        self._clock = clock
        self._tombstone_seconds = tombstone_seconds
        self._objects: dict[Key, Tracked] = {}
        self._tombstones: OrderedDict[Key, Tombstone] = OrderedDict()
        self._lock = threading.Lock()
        self._synced = threading.Event()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._disconnected_since: float | None = clock()
        self.relists = 0

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is None:
            scope = self.namespace or "all namespaces"
            self._thread = threading.Thread(target=self._run, name=f"watch {self.resource} in {scope}", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stopped.set()

    def wait_synced(self, timeout: float) -> bool:
        return self._synced.wait(timeout)

    # -- reads (any thread) ------------------------------------------------------------

    def lookup(self, key: Key) -> Tracked | None:
        with self._lock:
            return self._objects.get(key)

    def tombstone(self, key: Key) -> Tombstone | None:
        with self._lock:
            return self._tombstones.get(key)

    def stale_for(self) -> float:
        """Seconds since the watch was last known to be connected (0 while connected)."""
        since = self._disconnected_since
        return 0.0 if since is None else self._clock() - since

    def __len__(self) -> int:
        return len(self._objects)

    def finished_before(self, age_seconds: float) -> list[Key]:
        """Objects that have been terminal for at least ``age_seconds``."""
        deadline = self._clock() - age_seconds
        with self._lock:
            return [
                key
                for key, tracked in self._objects.items()
                if tracked.terminal_since is not None and tracked.terminal_since <= deadline
            ]

    # -- writes ------------------------------------------------------------------------

    def record(self, obj: Mapping[str, Any]) -> Tracked:
        """Track an object seen outside the watch (a create's or a GET's answer)."""
        key = _key(obj)
        with self._lock:
            self._tombstones.pop(key, None)
            return self._store(key, obj)

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
        tracked = Tracked(uid, observation, terminal_since)
        self._objects[key] = tracked
        return tracked

    def _bury(self, key: Key, tracked: Tracked, by_connector: bool) -> None:
        now = self._clock()
        self._tombstones[key] = Tombstone(tracked.uid, tracked.observation, now, by_connector)
        self._tombstones.move_to_end(key)
        while self._tombstones:
            oldest_key, oldest = next(iter(self._tombstones.items()))
            if len(self._tombstones) <= _MAX_TOMBSTONES and now - oldest.deleted_at < self._tombstone_seconds:
                break
            del self._tombstones[oldest_key]

    def _replace_all(self, items: Iterable[Mapping[str, Any]]) -> None:
        with self._lock:
            seen: set[Key] = set()
            for obj in items:
                key = _key(obj)
                seen.add(key)
                self._store(key, obj)
            for key in [key for key in self._objects if key not in seen]:
                self._bury(key, self._objects.pop(key), by_connector=False)

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
        return Tracked(tracked.uid, self._observation(obj), tracked.terminal_since)

    def _observation(self, obj: Mapping[str, Any]) -> Observation:
        observation = self._observe(obj)
        if observation.created_at:
            return observation
        return dataclasses.replace(observation, created_at=created_at(obj))

    # -- the watch loop ----------------------------------------------------------------

    def _run(self) -> None:
        failures = 0
        while not self._stopped.is_set():
            try:
                items, resource_version = self._api.list(self.resource, self.namespace, self._selector)
                self._replace_all(items)
                self.relists += 1
                self._disconnected_since = None
                self._synced.set()
                failures = 0
                self._watch_from(resource_version)
                continue  # the watch expired (410 Gone): relist at once
            except KubeApiError as error:
                logger.warning("watch of %s interrupted (%s); relisting", self.resource, error)
            except Exception:  # the watch thread must survive anything to keep the cache alive
                logger.exception("watch of %s failed; relisting", self.resource)
            if self._disconnected_since is None:
                self._disconnected_since = self._clock()
            failures += 1
            delay = random.uniform(0, min(_RECONNECT_BACKOFF_CAP_SECONDS, 0.1 * 2**failures))
            self._stopped.wait(delay)

    def _watch_from(self, resource_version: str) -> None:
        """Follow the watch until 410 Gone (return, to relist) or an error (raise)."""
        while not self._stopped.is_set():
            for event in self._api.watch(
                self.resource, self.namespace, resource_version, self._selector, _WATCH_TIMEOUT_SECONDS
            ):
                event_type = event.get("type")
                obj = event.get("object") or {}
                if event_type == "ERROR":
                    if obj.get("code") == 410:
                        logger.info("watch of %s expired (410 Gone); relisting", self.resource)
                        return
                    raise KubeApiError(obj.get("code") or 0, obj.get("reason") or "", obj.get("message") or "")
                resource_version = (obj.get("metadata") or {}).get("resourceVersion") or resource_version
                if event_type in ("ADDED", "MODIFIED", "DELETED"):
                    self._apply(event_type, obj)
                if self._stopped.is_set():
                    return
