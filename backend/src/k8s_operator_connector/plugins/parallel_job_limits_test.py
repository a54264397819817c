"""A ParallelJob task's limits, each at and just past its boundary, with the message matched."""

from __future__ import annotations

from typing import Any

import pytest
from flyteidl.core.execution_pb2 import TaskExecution

from k8s_operator_connector.operator_plugin import InvalidTaskError
from k8s_operator_connector.plugins.parallel_job import MAX_RESTARTS, MAX_WORKERS, ParallelJobPlugin
from k8s_operator_connector.testing.flyte_models import make_request, make_template


def spec_of(custom: dict[str, Any]) -> dict[str, Any]:
    built = ParallelJobPlugin().build_object(make_request(make_template(custom=custom)))
    spec: dict[str, Any] = built.manifest["spec"]
    return spec


def refusal(custom: dict[str, Any]) -> InvalidTaskError:
    with pytest.raises(InvalidTaskError) as raised:
        spec_of(custom)
    return raised.value


def test_the_limits() -> None:
    assert (MAX_WORKERS, MAX_RESTARTS) == (1000, 100)


@pytest.mark.parametrize("workers", [1, 2, 1000])
def test_workers_from_1_to_1000_are_accepted(workers: int) -> None:
    assert spec_of({"workers": workers})["workers"] == workers


@pytest.mark.parametrize("workers", [0, -1, 1001])
def test_workers_outside_1_to_1000_are_refused(workers: int) -> None:
    error = refusal({"workers": workers})
    assert (error.field_name, str(error)) == (
        "custom.workers",
        f"custom.workers: must be between 1 and 1000, got {workers}",
    )


@pytest.mark.parametrize("restarts", [0, 1, 100])
def test_max_restarts_from_0_to_100_are_accepted(restarts: int) -> None:
    assert spec_of({"workers": 1, "maxRestarts": restarts})["maxRestarts"] == restarts


@pytest.mark.parametrize("restarts", [-1, 101])
def test_max_restarts_outside_0_to_100_are_refused(restarts: int) -> None:
    assert str(refusal({"workers": 1, "maxRestarts": restarts})) == (
        f"custom.max_restarts: must be between 0 and 100, got {restarts}"
    )


def test_a_timeout_of_zero_means_no_deadline_and_one_second_is_one() -> None:
    assert "activeDeadlineSeconds" not in spec_of({"workers": 1, "timeoutSeconds": "0"})
    assert spec_of({"workers": 1, "timeoutSeconds": "1"})["activeDeadlineSeconds"] == 1
    assert str(refusal({"workers": 1, "timeoutSeconds": "-1"})) == (
        "custom.timeout_seconds: must be >= 0 (0: no limit), got -1"
    )


@pytest.mark.parametrize(
    ("custom", "restart", "success"),
    [
        ({}, "Never", "AllWorkers"),
        (
            {"restartPolicy": "RESTART_POLICY_UNSPECIFIED", "successPolicy": "SUCCESS_POLICY_UNSPECIFIED"},
            "Never",
            "AllWorkers",
        ),
        (
            {"restartPolicy": "RESTART_POLICY_NEVER", "successPolicy": "SUCCESS_POLICY_ALL_WORKERS"},
            "Never",
            "AllWorkers",
        ),
        (
            {"restartPolicy": "RESTART_POLICY_ON_FAILURE", "successPolicy": "SUCCESS_POLICY_ANY_WORKER"},
            "OnFailure",
            "AnyWorker",
        ),
    ],
)
def test_policies_map_to_the_operators_names(custom: dict[str, Any], restart: str, success: str) -> None:
    spec = spec_of({"workers": 1, **custom})
    assert (spec["restartPolicy"], spec["successPolicy"], spec["template"]["spec"]["restartPolicy"]) == (
        restart,
        success,
        restart,
    )


@pytest.mark.parametrize(("field", "value"), [("restartPolicy", 7), ("successPolicy", 9)])
def test_unknown_enum_numbers_are_refused_naming_the_field(field: str, value: int) -> None:
    error = refusal({"workers": 1, field: value})
    snake = {"restartPolicy": "restart_policy", "successPolicy": "success_policy"}[field]
    assert str(error) == f"custom.{snake}: unknown value {value}"


def test_a_missing_config_is_refused() -> None:
    request = make_request(make_template(custom={}))
    with pytest.raises(
        InvalidTaskError, match="^custom: missing; the task carries no flyte_k8s_operator.v1.ParallelJob config$"
    ):
        ParallelJobPlugin().build_object(request)


@pytest.mark.parametrize(
    ("status", "phase", "message"),
    [
        ({}, TaskExecution.QUEUED, "waiting for the ParallelJob operator"),
        ({"phase": "Pending", "workerCounts": {"pending": 3}}, TaskExecution.INITIALIZING, "3/3 workers pending"),
        (
            {
                "phase": "Running",
                "workers": [{"index": 0, "pod": "p0"}, {"index": 1}, {"index": 2, "phase": "Pending"}],
            },
            TaskExecution.INITIALIZING,
            "0/3 workers running; no pod yet for 1, 2",
        ),
        (
            {"phase": "Running", "workerCounts": {"running": 2, "succeeded": 1, "failed": 1}},
            TaskExecution.RUNNING,
            "2/3 workers running, 1 succeeded, 1 failed",
        ),
        (
            {"phase": "Running", "workerCounts": {"running": 3}},
            TaskExecution.RUNNING,
            "3/3 workers running, 0 succeeded",
        ),
        ({"phase": "Succeeded", "workerCounts": {"succeeded": 3}}, TaskExecution.SUCCEEDED, "3/3 workers succeeded"),
        ({"phase": "Succeeded", "message": "done"}, TaskExecution.SUCCEEDED, "done"),
        ({"phase": "Failed", "reason": "InvalidSpec", "message": "bad"}, TaskExecution.FAILED, "InvalidSpec: bad"),
        ({"phase": "Failed", "reason": "BackoffLimitExceeded"}, TaskExecution.RETRYABLE_FAILED, "BackoffLimitExceeded"),
        ({"phase": "Failed"}, TaskExecution.RETRYABLE_FAILED, "Failed"),
    ],
)
def test_each_status_phase_maps_to_a_flyte_phase_and_message(status: dict[str, Any], phase: int, message: str) -> None:
    observation = ParallelJobPlugin().observe({"spec": {"workers": 3}, "status": status})
    assert (observation.phase, observation.message) == (phase, message)


def test_more_than_five_unstarted_workers_are_summarised() -> None:
    workers = [{"index": index} for index in range(7)]
    observation = ParallelJobPlugin().observe(
        {"spec": {"workers": 7}, "status": {"phase": "Running", "workers": workers}}
    )
    assert observation.message == "0/7 workers running; no pod yet for 0, 1, 2, 3, 4, ..."
