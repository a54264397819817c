"""Object storage, the global resourceVersion counter, bounded event history and watchers.

Stored objects are never mutated in place: every write stores a new dict. So a stored dict
can be shared by watch events and serialized without copying; only the Python-facing API
hands out deep copies. All methods run on the emulator's event loop thread.
"""

from __future__ import annotations

import asyncio
import bisect
import heapq
import json
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from kube_emulator.errors import gone
from kube_emulator.selectors import FieldSelector, LabelSelector

CollectionKey = tuple[str, str]  # (group, plural)
ObjectRef = tuple[CollectionKey, str, str]  # (collection, namespace or "", name)
Position = tuple[str, str]  # (namespace or "", name): where a paginated list continues after

ADDED, MODIFIED, DELETED, ERROR, BOOKMARK = "ADDED", "MODIFIED", "DELETED", "ERROR", "BOOKMARK"


def encode_event(event_type: str, obj: dict[str, Any]) -> bytes:
    return json.dumps({"type": event_type, "object": obj}, separators=(",", ":")).encode() + b"\n"


@dataclass
class WatchEvent:
    resource_version: int
    type: str
    obj: dict[str, Any]
    # The object before a MODIFIED (to detect selector transitions) or a DELETED (to list as of
    # an older resourceVersion); None for ADDED.
    previous: dict[str, Any] | None
    _encoded: dict[str, bytes] = field(default_factory=dict)

    def encoded(self, event_type: str | None = None) -> bytes:
        event_type = event_type or self.type
        line = self._encoded.get(event_type)
        if line is None:
            line = self._encoded[event_type] = encode_event(event_type, self.obj)
        return line


class Watcher:
    """One open watch stream: a filter plus a queue of encoded lines (None = end of stream)."""

    def __init__(self, namespace: str | None, labels: LabelSelector, fields: FieldSelector) -> None:
        self.namespace = namespace
        self.labels = labels
        self.fields = fields
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue()

    def _matches(self, obj: dict[str, Any] | None) -> bool:
        if obj is None:
            return False
        metadata = obj["metadata"]
        if self.namespace is not None and metadata.get("namespace") != self.namespace:
            return False
        return self.labels.matches(metadata.get("labels")) and self.fields.matches(obj)

    def line_for(self, event: WatchEvent) -> bytes | None:
        """The line this watcher sees for `event`, if any (selector transitions become ADDED/DELETED)."""
        matches_now = self._matches(event.obj)
        if event.type != MODIFIED:
            return event.encoded() if matches_now else None
        matched_before = self._matches(event.previous)
        if matches_now:
            return event.encoded(MODIFIED if matched_before else ADDED)
        return event.encoded(DELETED) if matched_before else None

    def offer(self, event: WatchEvent) -> None:
        line = self.line_for(event)
        if line is not None:
            self.queue.put_nowait(line)

    def close(self) -> None:
        self.queue.put_nowait(None)


class Collection:
    """All objects of one (group, plural), indexed by namespace then name."""

    def __init__(self, window: int) -> None:
        self.by_namespace: dict[str, dict[str, dict[str, Any]]] = {}
        self.events: deque[WatchEvent] = deque()
        self.window = window
        self.compacted_rv = 0  # events at or below this resourceVersion can no longer be replayed
        self.watchers: set[Watcher] = set()
        self._sorted_names: dict[str, list[str]] = {}  # per namespace; dropped when names come or go

    def names_changed(self, namespace: str) -> None:
        self._sorted_names.pop(namespace, None)

    def sorted_names(self, namespace: str) -> list[str]:
        names = self._sorted_names.get(namespace)
        if names is None:
            names = self._sorted_names[namespace] = sorted(self.by_namespace.get(namespace, {}))
        return names

    def record(self, event: WatchEvent) -> None:
        self.events.append(event)
        if len(self.events) > self.window:
            self.compacted_rv = self.events.popleft().resource_version
        for watcher in self.watchers:
            watcher.offer(event)

    def __len__(self) -> int:
        return sum(len(names) for names in self.by_namespace.values())


class Store:
    def __init__(self, watch_window: int = 100_000) -> None:
        self.watch_window = watch_window
        self.resource_version = 0
        self.collections: dict[CollectionKey, Collection] = {}
        self.by_uid: dict[str, ObjectRef] = {}
        self.dependents: dict[str, set[ObjectRef]] = {}  # owner uid -> refs of objects it owns

    def collection(self, key: CollectionKey) -> Collection:
        collection = self.collections.get(key)
        if collection is None:
            collection = self.collections[key] = Collection(self.watch_window)
        return collection

    def get(self, key: CollectionKey, namespace: str, name: str) -> dict[str, Any] | None:
        collection = self.collections.get(key)
        if collection is None:
            return None
        return collection.by_namespace.get(namespace, {}).get(name)

    def get_by_uid(self, uid: str) -> tuple[CollectionKey, dict[str, Any]] | None:
        ref = self.by_uid.get(uid)
        if ref is None:
            return None
        obj = self.get(*ref)
        return None if obj is None else (ref[0], obj)

    def iterate(self, key: CollectionKey, namespace: str | None) -> Iterator[dict[str, Any]]:
        """Objects sorted by (namespace, name), like etcd's key order."""
        for _, obj in self.iterate_after(key, namespace, None):
            yield obj

    def iterate_after(
        self, key: CollectionKey, namespace: str | None, after: Position | None
    ) -> Iterator[tuple[Position, dict[str, Any]]]:
        """``(position, object)`` sorted by position, from just after ``after`` (None: the start)."""
        collection = self.collections.get(key)
        if collection is None:
            return
        namespaces = [namespace] if namespace is not None else sorted(collection.by_namespace)
        for ns in namespaces:
            if after is not None and ns < after[0]:
                continue
            objects = collection.by_namespace.get(ns, {})
            names = collection.sorted_names(ns)
            start = bisect.bisect_right(names, after[1]) if after is not None and ns == after[0] else 0
            for name in names[start:]:
                yield (ns, name), objects[name]

    def iterate_at(
        self, key: CollectionKey, namespace: str | None, resource_version: int, after: Position | None
    ) -> Iterator[dict[str, Any]]:  # not a generator: an expired snapshot raises at the call
        """The objects as they were at ``resource_version``, sorted, from just after ``after``: the
        consistent snapshot a paginated list's later pages come from (etcd reads them at the first
        page's revision). Rebuilt from the event history; 410 Gone once that was compacted."""
        then: dict[Position, dict[str, Any] | None] = {}
        for event in reversed(self.events_after(key, resource_version)):  # newest first: the oldest wins
            metadata = event.obj["metadata"]
            position = (metadata.get("namespace", ""), metadata["name"])
            if (namespace is None or position[0] == namespace) and (after is None or position > after):
                then[position] = None if event.type == ADDED else event.previous
        now = self.iterate_after(key, namespace, after)
        removed_since = [(position, None) for position in sorted(then) if self.get(key, *position) is None]
        merged = heapq.merge(now, removed_since, key=lambda entry: entry[0])
        return (obj for position, current in merged if (obj := then.get(position, current)) is not None)

    def put(self, key: CollectionKey, obj: dict[str, Any]) -> dict[str, Any]:
        """Store `obj` (now owned by the store) with a new resourceVersion; emits ADDED or MODIFIED."""
        self.resource_version += 1
        metadata = obj["metadata"]
        metadata["resourceVersion"] = str(self.resource_version)
        namespace, name = metadata.get("namespace", ""), metadata["name"]
        collection = self.collection(key)
        names = collection.by_namespace.setdefault(namespace, {})
        previous = names.get(name)
        names[name] = obj
        if previous is None:
            collection.names_changed(namespace)
        ref = (key, namespace, name)
        self.by_uid[metadata["uid"]] = ref
        self._reindex_owners(ref, previous, obj)
        event_type = ADDED if previous is None else MODIFIED
        collection.record(WatchEvent(self.resource_version, event_type, obj, previous))
        return obj

    def remove(self, key: CollectionKey, namespace: str, name: str) -> dict[str, Any] | None:
        """Remove the object; the DELETED event carries a new resourceVersion, as in etcd."""
        collection = self.collections.get(key)
        names = collection.by_namespace.get(namespace) if collection else None
        if collection is None or names is None or name not in names:
            return None
        previous = names.pop(name)
        collection.names_changed(namespace)
        if not names:
            del collection.by_namespace[namespace]
        self.resource_version += 1
        final = {**previous, "metadata": {**previous["metadata"], "resourceVersion": str(self.resource_version)}}
        self.by_uid.pop(previous["metadata"]["uid"], None)
        self._reindex_owners((key, namespace, name), previous, None)
        collection.record(WatchEvent(self.resource_version, DELETED, final, previous))
        return final

    def _reindex_owners(self, ref: ObjectRef, previous: dict[str, Any] | None, current: dict[str, Any] | None) -> None:
        before = {o.get("uid") for o in (previous or {}).get("metadata", {}).get("ownerReferences") or []}
        after = {o.get("uid") for o in (current or {}).get("metadata", {}).get("ownerReferences") or []}
        for uid in before - after:
            owned = self.dependents.get(uid)
            if owned is not None:
                owned.discard(ref)
                if not owned:
                    del self.dependents[uid]
        for uid in after - before:
            self.dependents.setdefault(uid, set()).add(ref)

    def events_after(self, key: CollectionKey, resource_version: int) -> list[WatchEvent]:
        """Events newer than `resource_version`, or 410 Gone if some were compacted away."""
        collection = self.collection(key)
        if resource_version < collection.compacted_rv:
            raise gone(f"too old resource version: {resource_version} ({collection.compacted_rv + 1})")
        newer: list[WatchEvent] = []
        for event in reversed(collection.events):
            if event.resource_version <= resource_version:
                break
            newer.append(event)
        newer.reverse()
        return newer

    def compact(self) -> None:
        """Forget all history: any watch from a resourceVersion older than now gets 410 Gone."""
        for collection in self.collections.values():
            collection.events.clear()
            collection.compacted_rv = self.resource_version

    def drop_collection(self, key: CollectionKey) -> None:
        collection = self.collections.pop(key, None)
        if collection is None:
            return
        for names in collection.by_namespace.values():
            for obj in names.values():
                self.by_uid.pop(obj["metadata"]["uid"], None)
        for watcher in collection.watchers:
            watcher.close()

    def close_watchers(self) -> int:
        count = 0
        for collection in self.collections.values():
            for watcher in collection.watchers:
                watcher.close()
                count += 1
        return count
