"""Kubernetes API errors as Flyte sees them, mapped as Flyte's Go machinery maps them.

Quota exhaustion waits for resources; a missing object is a retryable failure; missing
permissions, a missing CRD or namespace, and objects the API rejects (invalid or too large) are permanent
failures whose message says what to install, grant or fix.
"""

from __future__ import annotations

from dataclasses import dataclass

from flyteidl.core.execution_pb2 import TaskExecution

from k8s_operator_connector.kube_api import KubeApiError, ResourceType
from k8s_operator_connector.operator_plugin import Phase


@dataclass(frozen=True)
class CreateOutcome:
    phase: Phase
    message: str


def is_quota_exceeded(error: KubeApiError) -> bool:
    return error.status == 403 and "exceeded quota" in error.message.lower()


def create_failure(error: KubeApiError, resource: ResourceType, namespace: str, name: str) -> CreateOutcome | None:
    """The phase a failed create leaves the task in, or None to retry the call later.

    Retryable API failures (5xx, 429, no answer) return None: CreateTask then fails as a
    system error and propeller retries it; creates are idempotent, so that is safe.
    """
    where = f"{resource} {namespace}/{name}"
    if is_quota_exceeded(error):
        return CreateOutcome(TaskExecution.WAITING_FOR_RESOURCES, f"waiting for quota in {namespace}: {error.message}")
    if error.status == 403:
        return CreateOutcome(
            TaskExecution.FAILED,
            f"forbidden to create {where}: {error.message}. Grant the connector's service account "
            f"verbs [create, get, list, watch, delete, patch] on apiGroups [{resource.group!r}] resources "
            f"[{resource.plural!r}] in namespace {namespace} (see the bundle's connector RBAC).",
        )
    if error.status == 404:
        if f'namespaces "{namespace}" not found' in error.message:
            return CreateOutcome(TaskExecution.FAILED, f"namespace {namespace} does not exist: {error.message}")
        return CreateOutcome(
            TaskExecution.FAILED,
            f"the API server does not serve {resource} (version {resource.version}): install its "
            f"CustomResourceDefinition (for ParallelJob: operator_bundle's crd/) and the operator. "
            f"API said: {error.message}",
        )
    # 413: the object is larger than the API server accepts (Flyte: EntityTooLarge); resending cannot help.
    if error.status in (400, 413, 422):
        return CreateOutcome(TaskExecution.FAILED, f"the API server rejected {where}: {error.message}")
    if error.status == 401:
        return CreateOutcome(
            TaskExecution.FAILED, f"the connector is not authenticated to the Kubernetes API: {error.message}"
        )
    return None


def observe_failure(error: KubeApiError, resource: ResourceType, namespace: str, name: str) -> CreateOutcome | None:
    """The phase when reading the object failed, or None if a later poll may succeed."""
    if error.status == 403:
        return CreateOutcome(
            TaskExecution.FAILED,
            f"forbidden to read {resource} {namespace}/{name}: {error.message}. Grant the connector's "
            f"service account get, list and watch on {resource}.",
        )
    if error.status == 404 and f'"{name}" not found' not in error.message:
        return CreateOutcome(
            TaskExecution.FAILED,
            f"the API server no longer serves {resource}: was its CustomResourceDefinition removed? "
            f"API said: {error.message}",
        )
    if error.status == 404:
        return CreateOutcome(
            TaskExecution.RETRYABLE_FAILED,
            f"{resource} {namespace}/{name} no longer exists: it was deleted outside Flyte",
        )
    return None
