"""One replica at a time does the background sweeps: leader election on a coordination.k8s.io/v1 Lease.

The semantics are client-go's (kubernetes/client-go v0.32.13, commit 4e84f24,
``tools/leaderelection/leaderelection.go`` ``tryAcquireOrRenew``, ``release`` and
``isLeaseValid``; ``resourcelock/leaselock.go``); the official Python client's
``kubernetes.leaderelection`` follows the same ones but only locks on ConfigMaps and never
releases, so this module implements them on our own :class:`KubeApi`:

- a candidate reads the Lease; none: it creates it and leads;
- a Lease held by another identity is valid while its record has not changed for
  ``leaseDurationSeconds``, measured on the candidate's own clock from when it last saw the
  record change (never by comparing ``renewTime`` with a clock of another machine);
- otherwise the candidate writes its identity (``leaseTransitions`` + 1 when the holder
  changes), and the leader renews ``renewTime``, every ``retryPeriodSeconds``; every write is
  a PUT with the read ``resourceVersion``, so of two concurrent writers one gets 409 Conflict;
- a leader that has not renewed for ``renewDeadlineSeconds`` (shorter than the lease
  duration) stops acting as leader before any other candidate may take over;
- on stop, the leader releases: an empty holder and ``leaseDurationSeconds: 1``, so the next
  candidate takes over at once instead of after the lease duration.
"""

from __future__ import annotations

import logging
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from k8s_operator_connector.kube_api import KubeApi, KubeApiError, ResourceType
from k8s_operator_connector.lease_settings import JITTER_FACTOR, LeaderElectionSettings
from k8s_operator_connector.metrics import SWEEPER_LEADER

logger = logging.getLogger(__name__)

LEASES = ResourceType("coordination.k8s.io", "v1", "leases", "Lease")
#: Where Kubernetes mounts the pod's namespace (the service account's projected volume).
SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def lease_namespace(settings: LeaderElectionSettings, fallback: str) -> str:
    """The configured namespace, else the pod's own (in a cluster), else ``fallback``."""
    if settings.lease_namespace:
        return settings.lease_namespace
    try:
        own = SERVICE_ACCOUNT_NAMESPACE.read_text().strip()
    except OSError:
        own = ""
    return own or fallback


def default_identity() -> str:
    """client-go's convention: the host (the pod's name in a cluster) plus a unique suffix."""
    return f"{socket.gethostname()}_{uuid.uuid4().hex[:12]}"


def _micro_time(moment: float) -> str:
    """A Lease's MicroTime: RFC 3339 with microseconds."""
    return datetime.fromtimestamp(moment, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaseElector:
    """Acquires, renews and releases one Lease; :meth:`is_leader` says whether to act now."""

    def __init__(
        self,
        api: Callable[[], KubeApi],
        settings: LeaderElectionSettings,
        namespace: str,
        identity: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._api = api
        self.settings = settings
        self.namespace = namespace
        self.identity = identity or default_identity()
        self._clock = clock
        self._wall_clock = wall_clock
        self._lock = threading.Lock()
        self._observed_spec: dict[str, Any] | None = None
        self._observed_at = 0.0
        self._resource_version = ""
        self._leading = False
        self._renewed_at = 0.0
        self._random = random.Random()

    @property
    def where(self) -> str:
        return f"Lease {self.namespace}/{self.settings.lease_name}"

    def is_leader(self) -> bool:
        """True while this candidate holds the Lease and renewed it within the renew deadline."""
        with self._lock:
            return self._leading and self._clock() - self._renewed_at < self.settings.renew_deadline_seconds

    def try_acquire_or_renew(self) -> bool:
        """One round of client-go's ``tryAcquireOrRenew``; True if this candidate leads now."""
        try:
            leading = self._acquire_or_renew()
        except KubeApiError as error:
            logger.warning("leader election on %s: %s", self.where, error)
            leading = False
        self._set_leading(leading)
        return leading

    def _acquire_or_renew(self) -> bool:
        api = self._api()
        now = self._wall_clock()
        record: dict[str, Any] = {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": int(self.settings.lease_duration_seconds),
            "acquireTime": _micro_time(now),
            "renewTime": _micro_time(now),
            "leaseTransitions": 0,
        }
        try:
            lease = api.get(LEASES, self.namespace, self.settings.lease_name)
        except KubeApiError as error:
            if error.status != 404:
                raise
            created = api.create(LEASES, self.namespace, self._lease(record, ""))
            self._observe(created)
            return True
        self._observe(lease)
        spec = self._observed_spec or {}
        holder = str(spec.get("holderIdentity") or "")
        if holder and holder != self.identity and self._valid():
            return False
        if holder == self.identity:
            record["acquireTime"] = spec.get("acquireTime") or record["acquireTime"]
            record["leaseTransitions"] = _int(spec.get("leaseTransitions"))
        else:
            record["leaseTransitions"] = _int(spec.get("leaseTransitions")) + 1
        try:
            updated = api.request(
                "PUT",
                LEASES.path(self.namespace, self.settings.lease_name),
                body=self._lease(record, self._resource_version),
                verb="update",
            )
        except KubeApiError as error:
            if error.status == 409:  # another candidate wrote first
                return False
            raise
        self._observe(updated)
        return True

    def _lease(self, spec: dict[str, Any], resource_version: str) -> dict[str, Any]:
        metadata: dict[str, Any] = {"name": self.settings.lease_name, "namespace": self.namespace}
        if resource_version:
            metadata["resourceVersion"] = resource_version
        return {"apiVersion": LEASES.api_version, "kind": LEASES.kind, "metadata": metadata, "spec": spec}

    def _observe(self, lease: dict[str, Any]) -> None:
        spec = dict(lease.get("spec") or {})
        self._resource_version = str((lease.get("metadata") or {}).get("resourceVersion") or "")
        if spec != self._observed_spec:
            self._observed_spec = spec
            self._observed_at = self._clock()

    def _valid(self) -> bool:
        duration = _int((self._observed_spec or {}).get("leaseDurationSeconds"))
        return self._observed_at + duration > self._clock()

    def _set_leading(self, renewed: bool) -> None:
        with self._lock:
            was = self._leading
            if renewed:
                self._leading, self._renewed_at = True, self._clock()
            elif self._clock() - self._renewed_at >= self.settings.renew_deadline_seconds:
                self._leading = False
            now = self._leading
        if now != was:
            logger.info(
                "%s %s (identity %s)", "became the sweeper leader on" if now else "lost", self.where, self.identity
            )
        SWEEPER_LEADER.set(1.0 if now else 0.0)

    def release(self) -> None:
        """Give the Lease up (client-go's ``release``): empty holder, a one-second duration."""
        with self._lock:
            leading, self._leading = self._leading, False
        SWEEPER_LEADER.set(0.0)
        if not leading:
            return
        spec = dict(self._observed_spec or {})
        now = _micro_time(self._wall_clock())
        record = {
            "leaseDurationSeconds": 1,
            "acquireTime": now,
            "renewTime": now,
            "leaseTransitions": _int(spec.get("leaseTransitions")),
        }
        try:
            self._api().request(
                "PUT",
                LEASES.path(self.namespace, self.settings.lease_name),
                body=self._lease(record, self._resource_version),
                verb="update",
            )
            logger.info("released %s (identity %s)", self.where, self.identity)
        except KubeApiError as error:
            logger.warning("could not release %s: %s", self.where, error)

    def run(self, stopped: threading.Event) -> None:
        """Acquire and renew every retry period until ``stopped``, then release."""
        logger.info("candidate for the sweeper on %s (identity %s)", self.where, self.identity)
        while True:
            self.try_acquire_or_renew()
            period = self.settings.retry_period_seconds
            if stopped.wait(self._random.uniform(period, JITTER_FACTOR * period)):
                break
        self.release()


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
