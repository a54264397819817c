"""The connector's Prometheus metrics, in prometheus_client's default registry.

``pyflyte serve connector --prometheus_port`` and ``python -m k8s_operator_connector.serve
--prometheus-port`` both expose that registry over HTTP (flytekit's ``_start_http_server``
calls ``prometheus_client.start_http_server``), next to flytekit's own request metrics.
Every name starts with ``k8s_operator_connector_``; labels are bounded sets (resource
types, scopes from the configuration, API verbs and HTTP status codes, task types), never
object names. Watch state (staleness, sync, cache size) is read when scraped.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Protocol

from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

PREFIX = "k8s_operator_connector_"

RELISTS = Counter(f"{PREFIX}watch_relists", "Full lists of a watched resource (the first sync included)", ["resource"])
API_LATENCY = Histogram(
    f"{PREFIX}api_request_duration_seconds",
    "Kubernetes API calls, retries included (a watch: until its stream opened)",
    ["verb"],
)
API_ERRORS = Counter(
    f"{PREFIX}api_request_errors",
    "Kubernetes API calls that failed after retries, by HTTP status (0: no answer)",
    ["verb", "code"],
)
CLEANUP_DELETES = Counter(f"{PREFIX}cleanup_deletes", "Finished objects deleted by retention cleanup", ["resource"])
ORPHAN_DELETES = Counter(
    f"{PREFIX}orphan_deletes", "Running objects deleted because their Flyte execution was gone", ["resource"]
)
QUOTA_WAITS = Counter(f"{PREFIX}quota_waits", "Creates refused for quota, sealed into the meta for a later GetTask")
SWEEPER_LEADER = Gauge(
    f"{PREFIX}sweeper_leader", "1 while this replica holds the sweeper Lease and so runs retention cleanup"
)
META_REJECTED = Counter(
    f"{PREFIX}meta_verification_failures", "Resource metas refused (unsigned, forged or malformed)", ["task_type"]
)


class Watched(Protocol):
    """What the collector reads of a watch (``list_watch.ListWatch``)."""

    resource_label: str
    scope_label: str

    def synced(self) -> bool: ...

    def stale_for(self) -> float: ...

    def __len__(self) -> int: ...


class WatchCollector(Collector):
    """Staleness, sync state and size of every running watch, computed at scrape time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._watches: set[Watched] = set()

    def add(self, watch: Watched) -> None:
        with self._lock:
            self._watches.add(watch)

    def discard(self, watch: Watched) -> None:
        with self._lock:
            self._watches.discard(watch)

    def watches(self) -> list[Watched]:
        with self._lock:
            return list(self._watches)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        labels = ["resource", "scope"]
        stale = GaugeMetricFamily(
            f"{PREFIX}watch_stale_seconds", "Seconds since the watch was last connected (0: connected)", labels=labels
        )
        synced = GaugeMetricFamily(f"{PREFIX}watch_synced", "1 once the watch listed everything once", labels=labels)
        size = GaugeMetricFamily(f"{PREFIX}cache_objects", "Objects (or events) the watch keeps", labels=labels)
        for watch in self.watches():
            values = [watch.resource_label, watch.scope_label]
            stale.add_metric(values, watch.stale_for())
            synced.add_metric(values, 1.0 if watch.synced() else 0.0)
            size.add_metric(values, float(len(watch)))
        yield from (stale, synced, size)


WATCHES = WatchCollector()
REGISTRY.register(WATCHES)
