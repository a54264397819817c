"""How a failed create or read maps to a Flyte phase, pinned to Flyte's own mapping.

Flyte's Go machinery for Kubernetes plugins decides the same way in flyteorg/flyte v1.16.8
(51877f899c9f95e0cb5efe90444eb0c6c6ea48a9), flytepropeller/pkg/controller/nodes/task/k8s/
plugin_manager.go ``LaunchResource``: "exceeded quota" in a 403 waits for resources
(backoff/handler.go ``IsResourceQuotaExceeded``), 400/422 fail as BadTaskFormat, 413 fails as
EntityTooLarge, and what is not recognised is a system error that propeller retries.
"""

from __future__ import annotations

import pytest
from flyteidl.core.execution_pb2 import TaskExecution

from k8s_operator_connector.api_errors import CreateOutcome, create_failure, is_quota_exceeded, observe_failure
from k8s_operator_connector.kube_api import KubeApiError, ResourceType

PARALLEL_JOBS = ResourceType("workloads.example.com", "v1alpha1", "paralleljobs", "ParallelJob")
NAMESPACE, NAME = "flytesnacks-development", "pj-a1b2c3"
# The message of a quota rejection in flytepropeller/pkg/controller/nodes/task/backoff/handler_test.go (v1.16.8).
QUOTA_MESSAGE = (
    'pods "pj-a1b2c3" is forbidden: exceeded quota: project-quota, requested: limits.memory=3Gi, '
    "used: limits.memory=7976Gi, limited: limits.memory=8000Gi"
)


def create(status: int, message: str) -> CreateOutcome | None:
    return create_failure(KubeApiError(status, "Reason", message), PARALLEL_JOBS, NAMESPACE, NAME)


def observe(status: int, message: str) -> CreateOutcome | None:
    return observe_failure(KubeApiError(status, "Reason", message), PARALLEL_JOBS, NAMESPACE, NAME)


@pytest.mark.parametrize(
    ("status", "message", "quota"),
    [
        (403, QUOTA_MESSAGE, True),
        (403, "Exceeded Quota: compute-resources", True),  # matched regardless of case
        (403, 'paralleljobs.workloads.example.com is forbidden: User "x" cannot create', False),
        (422, "exceeded quota", False),  # only a 403 is a quota rejection
        (409, "exceeded quota", False),
    ],
)
def test_quota_is_a_403_that_says_exceeded_quota(status: int, message: str, quota: bool) -> None:
    assert is_quota_exceeded(KubeApiError(status, "Forbidden", message)) is quota


def test_a_quota_rejection_waits_for_resources() -> None:
    assert create(403, QUOTA_MESSAGE) == CreateOutcome(
        TaskExecution.WAITING_FOR_RESOURCES, f"waiting for quota in {NAMESPACE}: {QUOTA_MESSAGE}"
    )


def test_a_forbidden_create_names_the_rbac_rule_to_grant() -> None:
    outcome = create(403, 'User "system:serviceaccount:flyte:connector" cannot create resource')
    assert outcome == CreateOutcome(
        TaskExecution.FAILED,
        "forbidden to create paralleljobs.workloads.example.com flytesnacks-development/pj-a1b2c3: "
        'User "system:serviceaccount:flyte:connector" cannot create resource. '
        "Grant the connector's service account verbs [create, get, list, watch, delete, patch] on apiGroups "
        "['workloads.example.com'] resources ['paralleljobs'] in namespace flytesnacks-development "
        "(see the bundle's connector RBAC).",
    )


def test_a_missing_namespace_is_told_apart_from_a_missing_crd() -> None:
    assert create(404, f'namespaces "{NAMESPACE}" not found') == CreateOutcome(
        TaskExecution.FAILED, f'namespace {NAMESPACE} does not exist: namespaces "{NAMESPACE}" not found'
    )
    # Another namespace's name in the message is not this namespace missing.
    other = create(404, 'namespaces "flytesnacks" not found')
    assert other is not None and other.message.startswith("the API server does not serve")


def test_a_missing_crd_says_what_to_install() -> None:
    assert create(404, "the server could not find the requested resource") == CreateOutcome(
        TaskExecution.FAILED,
        "the API server does not serve paralleljobs.workloads.example.com (version v1alpha1): install its "
        "CustomResourceDefinition (for ParallelJob: operator_bundle's crd/) and the operator. "
        "API said: the server could not find the requested resource",
    )


@pytest.mark.parametrize("status", [400, 422])
def test_a_rejected_object_fails_permanently(status: int) -> None:
    assert create(status, "spec.workers: Invalid value: 0: must be >= 1") == CreateOutcome(
        TaskExecution.FAILED,
        "the API server rejected paralleljobs.workloads.example.com flytesnacks-development/pj-a1b2c3: "
        "spec.workers: Invalid value: 0: must be >= 1",
    )


def test_an_object_too_large_fails_permanently() -> None:
    # plugin_manager.go: IsRequestEntityTooLargeError -> PhaseInfoFailure("EntityTooLarge"): resending cannot help.
    assert create(413, "Request entity too large: limit is 3145728") == CreateOutcome(
        TaskExecution.FAILED,
        "the API server rejected paralleljobs.workloads.example.com flytesnacks-development/pj-a1b2c3: "
        "Request entity too large: limit is 3145728",
    )


def test_an_unauthenticated_connector_fails_permanently() -> None:
    assert create(401, "Unauthorized") == CreateOutcome(
        TaskExecution.FAILED, "the connector is not authenticated to the Kubernetes API: Unauthorized"
    )


@pytest.mark.parametrize("status", [0, 409, 429, 500, 502, 503, 504, 402, 405])
def test_transient_and_unknown_create_failures_are_retried_by_propeller(status: int) -> None:
    assert create(status, "try again") is None


def test_a_forbidden_read_names_the_verbs_to_grant() -> None:
    assert observe(403, "cannot get resource") == CreateOutcome(
        TaskExecution.FAILED,
        "forbidden to read paralleljobs.workloads.example.com flytesnacks-development/pj-a1b2c3: cannot get "
        "resource. Grant the connector's service account get, list and watch on paralleljobs.workloads.example.com.",
    )


def test_an_object_deleted_outside_flyte_is_a_retryable_failure() -> None:
    message = f'paralleljobs.workloads.example.com "{NAME}" not found'
    assert observe(404, message) == CreateOutcome(
        TaskExecution.RETRYABLE_FAILED,
        f"paralleljobs.workloads.example.com {NAMESPACE}/{NAME} no longer exists: it was deleted outside Flyte",
    )


def test_a_read_404_without_the_objects_name_means_the_crd_is_gone() -> None:
    assert observe(404, "the server could not find the requested resource") == CreateOutcome(
        TaskExecution.FAILED,
        "the API server no longer serves paralleljobs.workloads.example.com: was its CustomResourceDefinition "
        "removed? API said: the server could not find the requested resource",
    )
    # Another object's name is not this object's.
    other = observe(404, 'paralleljobs.workloads.example.com "pj-a1b2c3x" not found')
    assert other is not None and other.phase == TaskExecution.FAILED


@pytest.mark.parametrize("status", [0, 401, 409, 429, 500, 503])
def test_other_read_failures_wait_for_a_later_poll(status: int) -> None:
    assert observe(status, "try again") is None
