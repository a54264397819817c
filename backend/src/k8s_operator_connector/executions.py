"""The Flyte execution behind an object: its FlyteWorkflow custom resource, alive or gone.

Facts from flyteorg/flyte v1.16.8 (commit 51877f899c9f95e0cb5efe90444eb0c6c6ea48a9):

- flyteadmin creates one FlyteWorkflow per execution, named after the execution and placed in
  the execution's namespace (``flyteadmin/pkg/workflowengine/impl/k8s_executor.go`` ``Execute``;
  the name from ``flytepropeller/pkg/compiler/transformers/k8s/workflow.go`` ``generateName``),
  in group ``flyte.lyft.com`` version ``v1alpha1``, plural ``flyteworkflows``
  (``charts/flyte-core/templates/propeller/crds/flyteworkflow.yaml``). Aborting an execution
  deletes it (``K8sWorkflowExecutor.Abort``, background propagation).
- Propeller puts its finalizer on a running FlyteWorkflow and removes it once the workflow is
  terminal or aborted (``flytepropeller/pkg/controller/handler.go``), so with propeller down a
  deleted execution's FlyteWorkflow stays, with a ``deletionTimestamp``.
- ``status.phase`` is propeller's ``WorkflowPhase`` (``v1alpha1/iface.go``: Ready=0, Running,
  Succeeding, Success=3, Failing, Failed=5, Aborted=6, HandlingFailureNode); Success, Failed
  and Aborted are terminal (``workflow_status.go`` ``IsTerminated``). Propeller's garbage
  collector deletes terminated FlyteWorkflows later.
- Propeller's own k8s plugins give every object an owner reference to the FlyteWorkflow
  (``flytepropeller/pkg/controller/nodes/task/k8s/plugin_manager.go`` ``addObjectMetadata``),
  made by ``metav1.NewControllerRef`` (``v1alpha1/workflow.go`` ``GetOwnerReference``).

So an execution is gone when its FlyteWorkflow is absent, being deleted or terminal.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from k8s_operator_connector.kube_api import KubeApi, KubeApiError, ResourceType

logger = logging.getLogger(__name__)

FLYTE_WORKFLOWS = ResourceType("flyte.lyft.com", "v1alpha1", "flyteworkflows", "FlyteWorkflow")
TERMINAL_WORKFLOW_PHASES = frozenset({3, 5, 6})  # WorkflowPhaseSuccess, WorkflowPhaseFailed, WorkflowPhaseAborted
LOCAL_PREFIX = "local/"
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")


def execution_name(task_execution_id: str) -> str:
    """The execution name in an ownership annotation ``project/domain/execution/node/attempt``;
    "" for a local run (no execution) or anything that is not such an id."""
    if task_execution_id.startswith(LOCAL_PREFIX):
        return ""
    parts = task_execution_id.split("/")
    if len(parts) < 5 or not _DNS_SUBDOMAIN.fullmatch(parts[2]):
        return ""
    return parts[2]


class Execution(Enum):
    ALIVE = "alive"
    GONE = "gone"
    UNKNOWN = "unknown"  # not readable: no FlyteWorkflow CRD, forbidden, API errors


@dataclass(frozen=True)
class ExecutionState:
    state: Execution
    reason: str
    uid: str = ""


def workflow_state(workflow: dict[str, Any]) -> ExecutionState:
    """Alive or gone, from a FlyteWorkflow object as the API returned it."""
    metadata = workflow.get("metadata") or {}
    uid = str(metadata.get("uid") or "")
    if metadata.get("deletionTimestamp"):
        return ExecutionState(Execution.GONE, "its FlyteWorkflow is being deleted (the execution was aborted)", uid)
    status = workflow.get("status")
    phase = status.get("phase") if isinstance(status, dict) else None
    if isinstance(phase, int) and not isinstance(phase, bool) and phase in TERMINAL_WORKFLOW_PHASES:
        return ExecutionState(Execution.GONE, f"its FlyteWorkflow is terminal (phase {phase})", uid)
    return ExecutionState(Execution.ALIVE, "", uid)


def read_execution(api: KubeApi, namespace: str, execution: str) -> ExecutionState:
    """The state of the execution ``execution`` in ``namespace``: one GET of its FlyteWorkflow."""
    try:
        return workflow_state(api.get(FLYTE_WORKFLOWS, namespace, execution))
    except KubeApiError as error:
        if error.status == 404 and f'"{execution}" not found' in error.message:
            return ExecutionState(Execution.GONE, "its FlyteWorkflow does not exist")
        if error.status == 404:
            return ExecutionState(Execution.UNKNOWN, f"the API server does not serve {FLYTE_WORKFLOWS}: {error}")
        if error.status == 403:
            return ExecutionState(
                Execution.UNKNOWN, f"forbidden to get {FLYTE_WORKFLOWS} (grant the connector get on them): {error}"
            )
        return ExecutionState(Execution.UNKNOWN, f"could not read FlyteWorkflow {namespace}/{execution}: {error}")


def owner_reference(execution: str, uid: str) -> dict[str, Any]:
    """An owner reference to the execution's FlyteWorkflow. Unlike propeller's (a controller
    reference with ``blockOwnerDeletion``), neither flag is set: the garbage collector needs
    neither; an object may have only one controller (a user's manifest may name its own); and
    ``blockOwnerDeletion`` needs more rights on the owner (delete, per the OwnerReference API
    reference; ``update`` on ``flyteworkflows/finalizers`` where the
    OwnerReferencesPermissionEnforcement admission plugin runs), while it only matters for
    foreground deletion, which flyteadmin does not use. Only an object in the FlyteWorkflow's
    namespace may name it: a namespaced owner elsewhere counts as absent and the garbage
    collector deletes the dependent (Kubernetes documentation, "Owners and Dependents")."""
    return {"apiVersion": FLYTE_WORKFLOWS.api_version, "kind": FLYTE_WORKFLOWS.kind, "name": execution, "uid": uid}


class ExecutionOwners:
    """Owner references to executions' FlyteWorkflows for CreateTask: one GET per execution,
    not per task (a map task creates many objects at once), the uid kept for ``ttl_seconds``."""

    def __init__(
        self,
        api: Callable[[], KubeApi],
        ttl_seconds: float = 300.0,
        max_entries: int = 4096,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._api = api
        self._ttl_seconds = ttl_seconds
        self._max_entries = max_entries
        self._clock = clock
        self._lock = threading.Lock()
        self._uids: OrderedDict[tuple[str, str], tuple[str, float]] = OrderedDict()

    def reference(self, namespace: str, execution: str) -> dict[str, Any] | None:
        """The owner reference, or None (logged) when the execution is gone or unreadable: the
        object is then created without one, and the orphan sweep judges it like any other."""
        key = (namespace, execution)
        now = self._clock()
        with self._lock:
            cached = self._uids.get(key)
            if cached is not None and now - cached[1] < self._ttl_seconds:
                return owner_reference(execution, cached[0])
        state = read_execution(self._api(), namespace, execution)
        if state.state is not Execution.ALIVE or not state.uid:
            reason = state.reason or "its FlyteWorkflow has no uid"
            logger.warning("no owner reference to execution %s/%s: %s", namespace, execution, reason)
            return None
        with self._lock:
            self._uids[key] = (state.uid, now)
            self._uids.move_to_end(key)
            while len(self._uids) > self._max_entries:
                self._uids.popitem(last=False)
        return owner_reference(execution, state.uid)


def with_owner_reference(manifest: dict[str, Any], reference: dict[str, Any]) -> dict[str, Any]:
    """The manifest with ``reference`` added to its owner references (the manifest's own are kept)."""
    metadata = dict(manifest.get("metadata") or {})
    kept = [ref for ref in metadata.get("ownerReferences") or [] if ref.get("uid") != reference["uid"]]
    metadata["ownerReferences"] = [*kept, reference]
    return {**manifest, "metadata": metadata}
