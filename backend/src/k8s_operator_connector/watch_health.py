"""Readiness and liveness of the connector, from the state of its watches.

Ready once every watch has listed everything once (before that, a GetTask for an object
the list has not brought yet costs a GET). Alive unless a watch has been disconnected
longer than ``livenessStaleSeconds``: the kubelet then restarts the process, which relists
with a fresh client.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from k8s_operator_connector.metrics import Watched


@dataclass(frozen=True)
class Health:
    ready: bool
    live: bool
    reason: str = ""


def watch_health(watches: Iterable[Watched], liveness_stale_seconds: float) -> Health:
    ready, live, reasons = True, True, []
    for watch in watches:
        name = f"{watch.resource_label} in {watch.scope_label}"
        if not watch.synced():
            ready = False
            reasons.append(f"{name} has not synced yet")
        stale_for = watch.stale_for()
        if stale_for > liveness_stale_seconds:
            live = False
            reasons.append(f"{name} stale for {stale_for:.0f}s (livenessStaleSeconds={liveness_stale_seconds:g})")
    return Health(ready, live, "; ".join(reasons))
