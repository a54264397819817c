"""List, then watch, one resource in one scope on a background thread, forever.

A dropped stream is resumed from the last resourceVersion; 410 Gone or any error relists
(with jittered backoff after errors). A list arrives in pages (``limit``/``continue``, as
client-go's pager and reflector list): each page reaches the subclass as it arrives
(``_list_page``), and ``_list_finished`` follows once the last page did, so a subclass can
show objects early and still replace what it keeps with the whole list, never missing or
counting anything twice. By default the pages are gathered and handed to ``_replace_all``.
Subclasses say what they keep: ``_replace_all`` (or the page hooks) for a list, ``_apply``
for each watch event.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
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
        self._list_items: list[Mapping[str, Any]] = []  # the pages so far (default page hooks)
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

    def _list_starting(self) -> None:
        """Called before the first page of each list (a hook for what the list cannot yet include)."""
        self._list_items = []

    def _list_page(self, items: Sequence[Mapping[str, Any]]) -> None:
        """One page of the list in progress, as it arrives."""
        self._list_items.extend(items)

    def _list_finished(self) -> None:
        """The list in progress is complete: every page reached ``_list_page``."""
        items, self._list_items = self._list_items, []
        self._replace_all(items)

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
                resource_version = self._list()
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

    def _list(self) -> str:
        """List every object, page by page; returns the resourceVersion to watch from.

        A continue token can expire between pages (410 Expired: the API server compacted the
        snapshot the pages come from). client-go's pager then falls back to a full list
        (tools/pager/pager.go, FullListIfExpired); here the paginated list starts again, so a
        page never holds more than ``limit`` objects in memory.
        """
        while True:
            self._list_starting()
            resource_version, pages = "", 0
            try:
                for items, page_version in self._api.list_pages(
                    self.resource, self.namespace, self._selector, field_selector=self._field_selector
                ):
                    pages += 1
                    resource_version = page_version
                    self._list_page(items)
            except KubeApiError as error:
                if error.status != 410 or not pages or self._stopped.is_set():
                    raise
                logger.info("list of %s expired between pages (410 Expired); listing again", self.resource)
                continue
            self._list_finished()
            return resource_version

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
