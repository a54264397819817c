"""Retention that waits until Flyte was told how the task ended.

Propeller never calls DeleteTask after a task finished, so the connector deletes finished
objects itself. Deleting one before any GetTask answered its final phase would lose the
truth (a tombstone in one process's memory is all that is left) and the pods' logs. So the
first GetTask that answers a terminal phase records it in the cluster, on the object, as the
annotation :data:`FINAL_PHASE_SERVED_ANNOTATION` (RFC 3339 time, one merge patch), where any
replica and any later process sees it. An object is deleted:

- ``finishedRetentionSeconds`` after its final phase was first served; or
- ``unservedRetentionSeconds`` after the sweeping process first saw it finished, when no
  GetTask ever asked (an abandoned execution): the upper bound, so nothing lives forever.

If the patch fails (no ``patch`` right, API errors), the mark is kept in this process's
memory, so retention behaves as before the annotation existed: per process.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from k8s_operator_connector.kube_api import KubeApi, KubeApiError, ResourceType, rfc3339, timestamp_seconds

logger = logging.getLogger(__name__)

FINAL_PHASE_SERVED_ANNOTATION = "flyte-k8s-operator.flyte.org/final-phase-served-at"


def served_at(obj: Mapping[str, Any]) -> float:
    """When the object's final phase was first served (Unix seconds); 0 when not, or unreadable."""
    annotations = (obj.get("metadata") or {}).get("annotations")
    value = annotations.get(FINAL_PHASE_SERVED_ANNOTATION) if isinstance(annotations, Mapping) else None
    return timestamp_seconds(value)


def retention_due(
    served: float, finished_for: float, wall_now: float, retention_seconds: float, unserved_retention_seconds: float
) -> bool:
    """Whether a finished object may be deleted: ``served`` is when its final phase was first
    served (Unix seconds, 0: never), ``finished_for`` how long the sweeper has seen it finished."""
    if served > 0:
        return wall_now - served >= retention_seconds
    return finished_for >= unserved_retention_seconds


def record_served(api: KubeApi, resource: ResourceType, namespace: str, name: str, uid: str, when: float) -> bool:
    """Annotate the object (that very one: the patch names its uid) with when its final phase was
    first served. Returns whether the cluster has it; failures are logged, never raised."""
    patch = {"metadata": {"uid": uid, "annotations": {FINAL_PHASE_SERVED_ANNOTATION: rfc3339(when)}}}
    if not uid:
        del patch["metadata"]["uid"]
    try:
        api.merge_patch(resource, namespace, name, patch)
    except KubeApiError as error:
        hint = f" (grant the connector patch on {resource})" if error.status == 403 else ""
        logger.warning(
            "could not record on %s %s/%s that its final phase was served%s; retention keeps it in memory: %s",
            resource,
            namespace,
            name,
            hint,
            error,
        )
        return False
    return True
