"""List, then watch, one resource in one scope on a background thread, forever.

A dropped stream is resumed from the last resourceVersion; 410 Gone or any error relists
(with jittered backoff after errors), and the subclass's ``_replace_all`` gets the whole
list each time, so what it keeps is never missing or counting anything twice. Subclasses
say what they keep: ``_replace_all`` for a list, ``_apply`` for each watch event.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from k8s_operator_connector.kube_api import KubeApi, KubeApiError, ResourceType
from k8s_operator_connector.metrics import RELISTS, WATCHES

logger = logging.getLogger(__name__)

Clock = Callable[[], float]
_WATCH_TIMEOUT_SECONDS = 240
_RECONNECT_BACKOFF_CAP_SECONDS = 10.0


class ListWatch(ABC):
    def __init__(
        self,
        api: KubeApi,
        resource: ResourceType,
        namespace: str | None,
        label_selector: str = "",
        field_selector: str = "",
        clock: Clock = time.monotonic,
    ) -> None:
        self.resource = resource
        self.namespace = namespace
        self._api = api
        self._selector = label_selector
        self._field_selector = field_selector
        self._clock = clock
        self._lock = threading.Lock()
        self._synced = threading.Event()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._disconnected_since: float | None = clock()
        self.relists = 0
        self.resource_label = str(resource)
        self.scope_label = namespace or "all namespaces"

    def start(self) -> None:
        if self._thread is None:
            WATCHES.add(self)
            scope = self.namespace or "all namespaces"
            self._thread = threading.Thread(target=self._run, name=f"watch {self.resource} in {scope}", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        WATCHES.discard(self)

    def synced(self) -> bool:
        return self._synced.is_set()

    def wait_synced(self, timeout: float) -> bool:
        return self._synced.wait(timeout)

    def stale_for(self) -> float:
        """Seconds since the watch was last known to be connected (0 while connected)."""
        since = self._disconnected_since
        return 0.0 if since is None else self._clock() - since

    @abstractmethod
    def __len__(self) -> int:
        """How many objects (or events) are kept (the cache size metric)."""

    def _list_starting(self) -> None:  # noqa: B027 (optional hook: most subclasses need none)
        """Called just before each list request (a hook for what the list cannot yet include)."""

    @abstractmethod
    def _replace_all(self, items: Iterable[Mapping[str, Any]]) -> None:
        """Replace what is kept with a fresh list of every object."""

    @abstractmethod
    def _apply(self, event_type: str, obj: Mapping[str, Any]) -> None:
        """Apply one ADDED, MODIFIED or DELETED watch event."""

    def _run(self) -> None:
        failures = 0
        while not self._stopped.is_set():
            try:
                self._list_starting()
                items, resource_version = self._api.list(
                    self.resource, self.namespace, self._selector, field_selector=self._field_selector
                )
                self._replace_all(items)
                self.relists += 1
                RELISTS.labels(self.resource_label).inc()
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
                self.resource,
                self.namespace,
                resource_version,
                self._selector,
                _WATCH_TIMEOUT_SECONDS,
                field_selector=self._field_selector,
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
