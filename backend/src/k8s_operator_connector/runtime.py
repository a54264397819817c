"""State shared by every connector in one process: the API client, caches and cleanup.

Created lazily on the first call, not at import: flytekit imports plugins in every
``pyflyte`` command, and only a serving connector should talk to Kubernetes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from k8s_operator_connector.executions import ExecutionOwners
from k8s_operator_connector.kube_api import KubeApi, KubeApiError, ResourceType
from k8s_operator_connector.leader_election import LeaseElector, lease_namespace
from k8s_operator_connector.meta_signing import DeferredMetaSigner, Signer
from k8s_operator_connector.metrics import CLEANUP_DELETES
from k8s_operator_connector.object_cache import ObjectCache
from k8s_operator_connector.operator_plugin import Observation
from k8s_operator_connector.orphans import OrphanSweep
from k8s_operator_connector.pending_create import PendingCreates
from k8s_operator_connector.settings import ConnectorSettings
from k8s_operator_connector.task_context import MANAGED_BY, MANAGED_BY_LABEL
from k8s_operator_connector.warning_events import WarningEvent, WarningEvents

logger = logging.getLogger(__name__)

Observer = Callable[[Mapping[str, Any]], Observation]
MANAGED_SELECTOR = f"{MANAGED_BY_LABEL}={MANAGED_BY}"


class ConnectorRuntime:
    def __init__(
        self,
        settings: ConnectorSettings,
        api_factory: Callable[[], KubeApi] | None = None,
        signer: Signer | None = None,
    ) -> None:
        self.settings = settings
        # Keys load at first use (or when `serve` starts): importing the connectors must not need them.
        self.signer: Signer = signer or DeferredMetaSigner(settings.meta_signing)
        self._api_factory = api_factory or (lambda: KubeApi(settings.api))
        self._api: KubeApi | None = None
        self._caches: dict[tuple[ResourceType, str | None], ObjectCache] = {}
        self._warnings: dict[str | None, WarningEvents] = {}
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._sweeper: threading.Thread | None = None
        # Only the replica holding the Lease sweeps (leader_election); the others stand by.
        election = settings.leader_election
        self.elector = LeaseElector(lambda: self.api, election, lease_namespace(election, settings.default_namespace))
        self._elector_thread: threading.Thread | None = None
        self.orphans = OrphanSweep(lambda: self.api, settings.executions)
        self.execution_owners = ExecutionOwners(lambda: self.api)
        # Creates waiting for quota travel sealed in their resource metas, never in memory here.
        self.pending_creates = PendingCreates(self.signer.signing_keys)
        # Blocking API calls (create, delete, cache misses) run here, off the gRPC event loop.
        self.executor = ThreadPoolExecutor(max_workers=16, thread_name_prefix="k8s-api")

    @property
    def api(self) -> KubeApi:
        if self._api is None:
            with self._lock:
                if self._api is None:
                    self._api = self._api_factory()
        return self._api

    def _scope(self, namespace: str) -> str | None:
        return namespace if self.settings.namespaces else None

    def cache_for(self, resource: ResourceType, namespace: str, observe: Observer) -> ObjectCache:
        """The cache watching ``namespace`` (or all namespaces, if the settings say so)."""
        scope = self._scope(namespace)
        key = (resource, scope)
        cache = self._caches.get(key)
        if cache is None:
            api = self.api  # outside the lock: creating the client takes it too
            with self._lock:
                cache = self._caches.get(key)
                if cache is None:
                    cache = ObjectCache(
                        api,
                        resource,
                        scope,
                        MANAGED_SELECTOR,
                        observe,
                        tombstone_seconds=max(3600.0, 2 * self.settings.finished_retention_seconds),
                    )
                    cache.start()
                    self._caches[key] = cache
                    self._start_sweeper()
                    if scope not in self._warnings:
                        self._warnings[scope] = WarningEvents(api, scope, self.tracks)
                        self._warnings[scope].start()
        return cache

    def tracks(self, namespace: str, name: str) -> bool:
        """Whether any cache holds this object (the warning watch keeps events only for those)."""
        return any(cache.lookup((namespace, name)) is not None for cache in self.caches())

    def latest_warning(self, namespace: str, name: str) -> WarningEvent | None:
        """The latest Warning event about the object or what it made; from a watch, no API call."""
        warnings = self._warnings.get(self._scope(namespace))
        return warnings.latest(namespace, name) if warnings is not None else None

    def start_watching(self, resources: list[ResourceType], observe: Observer) -> None:
        """Watch these resources in every configured scope now, so that cleanup and restarts
        see objects created before this process started, not only those asked about."""
        for namespace in self.settings.namespaces or (self.settings.default_namespace,):
            for resource in resources:
                self.cache_for(resource, namespace, observe)

    def caches(self) -> list[ObjectCache]:
        with self._lock:
            return list(self._caches.values())

    def _start_sweeper(self) -> None:
        if self._sweeper is None:
            self._elector_thread = threading.Thread(
                target=self.elector.run, args=(self._stopped,), name="sweeper-election", daemon=True
            )
            self._elector_thread.start()
            self._sweeper = threading.Thread(target=self._sweep_forever, name="retention-cleanup", daemon=True)
            self._sweeper.start()

    def _sweep_forever(self) -> None:
        while not self._stopped.wait(self.settings.cleanup_interval_seconds):
            if self.elector.is_leader():
                self.sweep_once(still_leading=self.elector.is_leader)

    def sweep_once(self, still_leading: Callable[[], bool] = lambda: True) -> int:
        """Delete running objects whose execution is gone (orphans.py) and objects finished
        longer than the retention ago; returns how many. Stops as soon as ``still_leading``
        says this replica lost the sweeper Lease."""
        deleted = self.orphans.sweep(self.caches(), still_leading) if self.settings.executions.orphan_sweep else 0
        for cache in self.caches():
            due = cache.retention_due(
                self.settings.finished_retention_seconds, self.settings.unserved_retention_seconds
            )
            for key in due:
                if not still_leading():
                    return deleted
                namespace, name = key
                tracked = cache.lookup(key)
                if tracked is None or not tracked.owner:
                    continue  # only objects Flyte created (the watch's label alone can be copied)
                try:
                    self.api.delete(cache.resource, namespace, name, propagation="Background", uid=tracked.uid)
                except KubeApiError as error:
                    logger.warning("retention cleanup of %s %s/%s failed: %s", cache.resource, namespace, name, error)
                    continue
                cache.mark_deleted_by_connector(key)
                CLEANUP_DELETES.labels(str(cache.resource)).inc()
                logger.info("retention cleanup deleted %s %s/%s", cache.resource, namespace, name)
                deleted += 1
        if deleted:
            logger.info("retention cleanup deleted %d finished objects", deleted)
        return deleted

    def stop(self) -> None:
        self._stopped.set()
        if self._elector_thread is not None:
            self._elector_thread.join(timeout=self.settings.leader_election.renew_deadline_seconds)  # it releases
        for cache in self.caches():
            cache.stop()
        for warnings in list(self._warnings.values()):
            warnings.stop()
        self.executor.shutdown(wait=False, cancel_futures=True)
