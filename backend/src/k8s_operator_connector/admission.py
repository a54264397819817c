"""What CreateTask checks before it creates anything: the task policy and the pod privileges.

A refusal becomes a FAILED phase (permanent: a retry would be refused the same way) whose
message names the setting that would admit the task.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from k8s_operator_connector.pod_security import NestedTooDeep, check_object
from k8s_operator_connector.settings import ConnectorSettings
from k8s_operator_connector.task_context import TaskContext
from k8s_operator_connector.task_policy import TaskPolicy, connector_namespace

MAX_LISTED_VIOLATIONS = 8


class TaskAdmission:
    def __init__(self, settings: ConnectorSettings, own_namespace: str | None = None) -> None:
        own = connector_namespace() if own_namespace is None else own_namespace
        self.policy = TaskPolicy(settings.task_policy, own)
        self.level = settings.pod_security.level
        self.default_namespace = settings.default_namespace

    def context_refusal(self, context: TaskContext) -> str | None:
        """The namespace and service account from the execution metadata (before building)."""
        local_default = (
            context.local
            and context.namespace == self.default_namespace
            and context.namespace not in self.policy.protected
        )
        if not local_default:  # a local run (in-process, never over gRPC) uses defaultNamespace
            refusal = self.policy.namespace_refusal(context.namespace, context.project, context.domain, context.local)
            if refusal:
                return refusal
        return self.policy.service_account_refusal(
            context.service_account, "task_execution_metadata.k8s_service_account"
        )

    def object_refusal(self, manifest: Mapping[str, Any]) -> str | None:
        """The pod specs of the object about to be created: service accounts, then privileges."""
        try:
            refusal = self.policy.object_refusal(manifest)
            if refusal:
                return refusal
            violations = check_object(manifest, self.level)
        except NestedTooDeep as error:
            return str(error)
        if not violations:
            return None
        listed = "; ".join(str(violation) for violation in violations[:MAX_LISTED_VIOLATIONS])
        more = len(violations) - MAX_LISTED_VIOLATIONS
        if more > 0:
            listed += f"; and {more} more"
        return (
            f"the worker pod does not meet the {self.level} Pod Security Standard the connector enforces "
            f"(podSecurity.level): {listed}. Change the task's pod template, or the connector's podSecurity.level"
        )
