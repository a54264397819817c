"""Only Flyte's own objects: what GetTask and DeleteTask may act on, given a resource meta.

A meta names a resource type, a namespace and a name; the connector reads or deletes that
object only if the task type serves the resource type (the plugin's kind, or the generic
plugin's allowlist) and the object's ownership annotation names the task execution the meta
was issued for. Deletes also carry a uid precondition, so an object replaced since (same
name, new uid) is never deleted by mistake.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from k8s_operator_connector.kube_api import ResourceType
from k8s_operator_connector.task_context import TASK_EXECUTION_ANNOTATION


class Refused(Exception):
    """GetTask or DeleteTask will not act on this meta; the message says why and what to change."""


def owner_of(obj: Mapping[str, Any]) -> str:
    """The task execution id in the object's ownership annotation ("" when it has none)."""
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    owner = annotations.get(TASK_EXECUTION_ANNOTATION) if isinstance(annotations, Mapping) else None
    return owner if isinstance(owner, str) else ""


def same_type(a: ResourceType, b: ResourceType) -> bool:
    return (a.group, a.version, a.plural, a.kind) == (b.group, b.version, b.plural, b.kind)


def check_served(resource: ResourceType, served: list[ResourceType], task_type: str, where: str) -> None:
    """Refuse resource types this task type does not create."""
    if any(same_type(resource, kind) for kind in served):
        return
    names = ", ".join(f"{kind.kind} ({kind.api_version})" for kind in served) or "none"
    hint = " (customResource.allowedKinds)" if task_type == "custom_resource" else ""
    raise Refused(
        f"refused: {task_type} tasks act only on {names}{hint}, not on {resource.kind} "
        f"({resource.api_version}) {where}"
    )


def check_owner(owner: str, task_execution_id: str, where: str) -> None:
    """Refuse objects whose ownership annotation does not name this meta's task execution."""
    if task_execution_id and owner == task_execution_id:
        return
    belongs = f"to task execution {owner}" if owner else "to nothing Flyte created (no ownership annotation)"
    raise Refused(
        f"refused: {where} belongs {belongs}, not to {task_execution_id or 'this resource meta'}; "
        f"the connector acts only on objects whose {TASK_EXECUTION_ANNOTATION} annotation names the task"
    )
