"""What the Flyte console shows for a real run: the served connector (gRPC, its own process) over
the API emulator, every GetTask answer fed to the propeller/flyteadmin model.

The operator's part is played by status patches, and the scheduler's and kubelet's by the
Warning events they would post about the worker pods.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flyteidl.core.execution_pb2 import TaskExecution
from google.protobuf import json_format

from connector_integration.conftest import BUNDLE_CRD, NAMESPACE, PARALLEL_JOBS, Harness
from connector_integration.propeller_model import Answer, PropellerModel
from kube_emulator import KubeEmulator
from reliability.harness import ConnectorProcess, PropellerClient, TaskRun, connector_config, create_request

LOG_LINKS = [
    {"name": "kubectl", "template": "kubectl logs -n {{ .namespace }} {{ .podName }} -c {{ .containerName }}"},
    {
        "name": "console",
        "template": "https://flyte.example.com/{{ .executionProject }}/{{ .executionName }}/{{ .nodeID }}"
        "/{{ .taskRetryAttempt }}/{{ .taskID }}/{{ .taskVersion }}",
        "phases": ["running", "succeeded", "failed"],
    },
]


def warning(name: str, reason: str, message: str, at: str, kind: str = "Pod") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{name}.{reason.lower()}", "namespace": NAMESPACE},
        "involvedObject": {"kind": kind, "name": name, "namespace": NAMESPACE},
        "type": "Warning",
        "reason": reason,
        "message": message,
        "lastTimestamp": at,
    }


class Run:
    """One task: GetTask answers over gRPC, each one fed to the model as propeller would."""

    def __init__(self, api: KubeEmulator, client: PropellerClient) -> None:
        self.api = api
        self.client = client
        self.model = PropellerModel()
        self.task: TaskRun = client.start_task(create_request(execution="console1"))
        (created,) = api.list(PARALLEL_JOBS, NAMESPACE)  # this test's emulator holds one task
        self.name: str = created["metadata"]["name"]

    def poll_until(self, phase: int, message: str = "") -> Answer:
        """Poll until the phase (and a message starting with ``message``) is answered."""

        def fed(resource: Any) -> bool:
            custom = json_format.MessageToDict(resource.custom_info)
            self.model.answer(Answer(resource.phase, resource.message, tuple(resource.log_links), custom))
            return bool(resource.phase == phase and resource.message.startswith(message))

        resource = self.client.poll(self.task, fed, timeout=60)
        return Answer(resource.phase, resource.message, tuple(resource.log_links))

    def status(self, phase: str, workers: list[dict[str, Any]]) -> None:
        counts = {"running": sum(1 for w in workers if w["phase"] == "Running")}
        status = {"phase": phase, "workerCounts": counts, "workers": workers}
        self.api.patch(PARALLEL_JOBS, self.name, {"status": status}, NAMESPACE, subresource="status")

    def worker(self, index: int, pod: str, phase: str) -> dict[str, Any]:
        return {"index": index, "job": f"{self.name}-w{index}", "pod": pod, "phase": phase, "restarts": 0}


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[KubeEmulator, PropellerClient]]:
    with KubeEmulator(crds=[BUNDLE_CRD]) as api:
        config = connector_config(api.write_kubeconfig(tmp_path / "kubeconfig"), logLinks=LOG_LINKS)
        connector = ConnectorProcess(tmp_path, config).start()
        client = connector.client()
        try:
            yield api, client
        finally:
            client.close()
            connector.stop()


def test_the_console_gets_the_pending_reason_and_per_pod_links_on_running(served):
    api, client = served
    run = Run(api, client)
    pods = [f"{run.name}-w0-abcde", f"{run.name}-w1-fghij"]
    run.status("Pending", [run.worker(0, pods[0], "Pending"), run.worker(1, pods[1], "Pending")])
    run.poll_until(TaskExecution.QUEUED, "0/2 workers pending")

    api.create(
        warning(pods[1], "FailedScheduling", "0/3 nodes are available: 3 Insufficient cpu.", "2026-11-30T08:00:00Z")
    )
    run.poll_until(TaskExecution.WAITING_FOR_RESOURCES)
    api.create(
        warning(pods[0], "Failed", 'Failed to pull image "ghcr.io/example/demo:1": not found', "2026-11-30T08:00:05Z")
    )
    run.poll_until(TaskExecution.INITIALIZING)

    # Worker 0 runs, worker 1 has no pod yet: still not RUNNING.
    run.status("Running", [run.worker(0, pods[0], "Running"), run.worker(1, "", "Pending")])
    run.poll_until(TaskExecution.INITIALIZING, "1/2 workers running; no pod yet for 1")
    run.status("Running", [run.worker(0, pods[0], "Running"), run.worker(1, pods[1], "Running")])
    run.poll_until(TaskExecution.RUNNING)
    run.status("Succeeded", [run.worker(0, pods[0], "Succeeded"), run.worker(1, pods[1], "Succeeded")])
    run.poll_until(TaskExecution.SUCCEEDED)

    events = run.model.recorded
    assert [(event.phase_name, event.version) for event in events] == [
        ("QUEUED", 2),
        ("WAITING_FOR_RESOURCES", 0),
        ("INITIALIZING", 0),
        ("RUNNING", 0),
        ("SUCCEEDED", 0),
    ]
    assert events[1].reason == (
        f"0/2 workers pending; Pod {pods[1]}: FailedScheduling: 0/3 nodes are available: 3 Insufficient cpu."
    )
    assert events[2].reason == (
        f'0/2 workers pending; Pod {pods[0]}: Failed: Failed to pull image "ghcr.io/example/demo:1": not found'
    )
    running = {log.name: log.uri for log in events[3].logs}
    assert running == {
        "kubectl (worker 0)": f"kubectl logs -n {NAMESPACE} {pods[0]} -c worker",
        "kubectl (worker 1)": f"kubectl logs -n {NAMESPACE} {pods[1]} -c worker",
        "console": "https://flyte.example.com/flytesnacks/console1/n0/0/demo.train/v1",
    }
    assert events[3].custom_info["running"] == 2
    # What the console lists at the end: the per-pod links (kept from RUNNING) and the console link.
    assert sorted(log.name for log in run.model.console.logs) == ["console", "kubectl (worker 0)", "kubectl (worker 1)"]


def test_warnings_cost_no_api_read_per_get_task(harness: Harness):
    meta = harness.create()
    harness.set_status(meta, {"phase": "Pending", "workerCounts": {"pending": 2}})
    harness.api.create(
        warning(
            f"{meta.name}-w0",
            "FailedCreate",
            "exceeded quota: team, requested: cpu=2",
            "2026-11-30T08:00:00Z",
            kind="Job",
        )
    )
    harness.wait_for_phase(meta, TaskExecution.WAITING_FOR_RESOURCES)
    harness.api.requests.reset()
    for _ in range(50):
        assert harness.get(meta).phase == TaskExecution.WAITING_FOR_RESOURCES
    assert harness.api.requests.count(resource="events") == 0
    # The orphan sweep's background reads of FlyteWorkflows are no part of GetTask.
    assert harness.api.requests.count(verb="get") == harness.api.requests.count(verb="get", resource="flyteworkflows")


def test_warnings_about_other_objects_are_not_kept(harness_factory: Callable[..., Harness]):
    harness = harness_factory()
    meta = harness.create()
    harness.set_status(meta, {"phase": "Pending", "workerCounts": {"pending": 2}})
    harness.api.create(warning("someone-else-w0-x", "Failed", "not ours", "2026-11-30T08:00:00Z"))
    harness.api.create(warning(f"{meta.name}-w1-y", "Failed", "ours", "2026-11-30T08:00:01Z"))
    answer = harness.wait_for_phase(meta, TaskExecution.INITIALIZING)
    assert answer.message.endswith(f"Pod {meta.name}-w1-y: Failed: ours")
    (warnings,) = harness.runtime._warnings.values()
    assert len(warnings) == 1
