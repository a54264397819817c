"""Two live connector processes on one API: tasks move between them, and one of them dies.

Both run ``python -m k8s_operator_connector.serve`` (as the bundle does) with the same
configuration and signing key on one API emulator, as two replicas behind one Service
would. CreateTask goes to one, GetTask and DeleteTask to the other; a quota wait starts on
one and ends on the other once the ResourceQuota is raised; the first replica is killed
(SIGKILL) with tasks in flight, and the second finishes them. Only the replica holding the
sweeper Lease deletes finished objects. The operator's part is played by the test
(``set_status``), so every step happens when the test says, never at random.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from flyteidl.core.execution_pb2 import TaskExecution

from kube_emulator import KubeEmulator, wait_until
from reliability.harness import (
    BUNDLE_CRD,
    NAMESPACE,
    PARALLEL_JOBS,
    ConnectorProcess,
    PropellerClient,
    TaskRun,
    connector_config,
    create_request,
    parallel_jobs,
    set_status,
)

LEASE_NAMESPACE = "default"
LEASE = "flyte-k8s-operator-connector-sweeper"
QUOTA = "compute"
COUNT = f"count/{PARALLEL_JOBS}"
# Generous on a loaded machine: a leader must fail to renew for 8 s before it steps down.
ELECTION = {"leaseNamespace": LEASE_NAMESPACE, "leaseDurationSeconds": 12, "renewDeadlineSeconds": 8,
            "retryPeriodSeconds": 1}  # fmt: skip
LEADER_GAUGE = ("k8s_operator_connector_sweeper_leader", ())
DELETES = ("k8s_operator_connector_cleanup_deletes_total", (("resource", PARALLEL_JOBS),))
_LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) \w+ [\w.]+: (.*)$")
_TIMEOUT = 120.0


@pytest.fixture
def emulator() -> Iterator[KubeEmulator]:
    with KubeEmulator(crds=[BUNDLE_CRD], namespaces=("default", NAMESPACE)) as api:
        yield api


def replica(work_dir: Path, kubeconfig: Path, label: str) -> ConnectorProcess:
    config = connector_config(
        kubeconfig, finishedRetentionSeconds=2, cleanupIntervalSeconds=0.5, leaderElection=ELECTION
    )
    return ConnectorProcess(work_dir, config, label=label, serve_module=True)


def object_name(run: TaskRun) -> str:
    """The object a meta names: the payload after ``hmac-sha256:<mac>:`` is plain JSON."""
    return str(json.loads(run.resource_meta.split(b":", 2)[2])["name"])


def lease(api: KubeEmulator) -> dict[str, Any]:
    found = api.get("leases.coordination.k8s.io", LEASE, LEASE_NAMESPACE)
    return dict(found["spec"]) if found else {}


def log_events(process: ConnectorProcess) -> list[tuple[float, str]]:
    """(time, message) of every log line of the process, in order."""
    events = []
    for line in process.log_text().splitlines():
        match = _LOG_LINE.match(line)
        if match:
            moment = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
            events.append((moment, match.group(2)))
    return events


def identity(process: ConnectorProcess) -> str:
    """The replica's Lease identity, from its first log line about the Lease ("" before it)."""
    for _, message in log_events(process):
        found = re.search(r"\(identity (\S+)\)$", message)
        if found:
            return found.group(1)
    return ""


def sweeps(process: ConnectorProcess) -> list[tuple[float, str]]:
    """(time, object name) of every retention delete this replica made."""
    prefix = f"retention cleanup deleted {PARALLEL_JOBS} {NAMESPACE}/"
    return [(moment, message[len(prefix) :]) for moment, message in log_events(process) if message.startswith(prefix)]


def swept(process: ConnectorProcess) -> set[str]:
    return {name for _, name in sweeps(process)}


def leadership(process: ConnectorProcess) -> list[tuple[float, str]]:
    return [(moment, message) for moment, message in log_events(process) if "sweeper leader" in message or
            message.startswith("lost Lease")]  # fmt: skip


def assert_deletes_only_while_leading(process: ConnectorProcess) -> None:
    """In the replica's own log: every retention delete comes after it became leader and
    before it lost the Lease (order within one log; no clocks compared)."""
    leading = False
    for _, message in log_events(process):
        if message.startswith("became the sweeper leader"):
            leading = True
        elif message.startswith("lost Lease"):
            leading = False
        elif message.startswith("retention cleanup deleted"):
            assert leading, f"{process.label} deleted without holding the Lease: {message}"


def metric(process: ConnectorProcess, key: tuple[str, tuple[tuple[str, str], ...]]) -> float:
    return process.scrape().get(key, 0.0)


def running(api: KubeEmulator, name: str) -> None:
    set_status(api, name, "Running")


def finish(api: KubeEmulator, name: str, succeeded: bool) -> None:
    if succeeded:
        set_status(api, name, "Succeeded")
    else:
        set_status(api, name, "Failed", reason="BackoffLimitExceeded", message="worker 0 failed")


def poll(client: PropellerClient, run: TaskRun, phase: int) -> None:
    client.poll_until_phase(run, phase, timeout=_TIMEOUT)


@dataclass
class Fleet:
    """Two replicas on one emulator, their clients, and what each task's end must be."""

    api: KubeEmulator
    first: ConnectorProcess
    second: ConnectorProcess
    a: PropellerClient
    b: PropellerClient
    expected: dict[str, int] = field(default_factory=dict)  # object name -> true terminal phase (-1: aborted)
    runs: dict[str, TaskRun] = field(default_factory=dict)
    killed_at: float = 0.0

    def start(self, client: PropellerClient, execution: str) -> str:
        run = client.start_task(create_request(execution=execution))
        self.runs[object_name(run)] = run
        return object_name(run)

    def to_running(self, name: str) -> None:
        poll(self.b, self.runs[name], TaskExecution.QUEUED)  # b answers, whoever created it
        running(self.api, name)
        poll(self.b, self.runs[name], TaskExecution.RUNNING)

    def finish(self, name: str, succeeded: bool) -> None:
        finish(self.api, name, succeeded)
        self.expected[name] = TaskExecution.SUCCEEDED if succeeded else TaskExecution.RETRYABLE_FAILED
        poll(self.b, self.runs[name], self.expected[name])

    def abort(self, name: str) -> None:
        self.b.abort(self.runs[name])
        wait_until(lambda: self.api.get(PARALLEL_JOBS, name, NAMESPACE) is None, timeout=_TIMEOUT)
        self.expected[name] = -1  # propeller stops asking after an abort

    def share_tasks(self) -> None:
        """CreateTask on a; GetTask and DeleteTask on b; a sweeps."""
        for index, outcome in enumerate(("ok", "ok", "fail", "abort")):
            name = self.start(self.a, f"fleet{index}")
            self.to_running(name)
            if outcome == "abort":
                self.abort(name)
            else:
                self.finish(name, outcome == "ok")
        finished = {n for n, phase in self.expected.items() if phase != -1}
        wait_until(lambda: not parallel_jobs(self.api), timeout=_TIMEOUT, what="a's retention cleanup")
        # The log line follows the API's answer: wait for it rather than race it.
        wait_until(lambda: swept(self.first) >= finished, timeout=_TIMEOUT, what="a's cleanup log")
        assert swept(self.first) == finished
        assert sweeps(self.second) == [] and metric(self.second, DELETES) == 0.0
        assert metric(self.first, DELETES) == len(sweeps(self.first))

    def quota_wait(self) -> str:
        """A quota wait started on a, finished on b once the quota is raised."""
        quota = {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": QUOTA}}
        self.api.create({**quota, "spec": {"hard": {COUNT: "0"}}}, NAMESPACE)
        refused_before = self.api.requests.count(verb="create", resource="paralleljobs", status=403)
        name = self.start(self.a, "fleet-quota")
        waiting = self.runs[name]
        poll(self.b, waiting, TaskExecution.WAITING_FOR_RESOURCES)
        assert "exceeded quota: compute" in (waiting.last.message if waiting.last else "")
        assert self.api.get(PARALLEL_JOBS, name, NAMESPACE) is None
        self.api.patch("resourcequotas", QUOTA, {"spec": {"hard": {COUNT: "10"}}}, NAMESPACE)
        poll(self.b, waiting, TaskExecution.QUEUED)  # b's GetTask created it from the sealed manifest
        assert self.api.get(PARALLEL_JOBS, name, NAMESPACE) is not None
        # a's two CreateTasks and at least b's first retry met the quota.
        assert self.api.requests.count(verb="create", resource="paralleljobs", status=403) - refused_before >= 3
        running(self.api, name)
        poll(self.b, waiting, TaskExecution.RUNNING)
        return name

    def crash(self, waiting: str) -> set[str]:
        """Tasks in flight on both, the leader a killed; b finishes them. Returns what b must sweep."""
        b0, b1 = self.start(self.b, "fleet-b0"), self.start(self.b, "fleet-b1")
        late_a = self.start(self.a, "fleet-a-late")
        for name in (b0, b1, late_a):
            self.to_running(name)
        self.killed_at = time.time()
        self.first.kill()
        for name, succeeded in ((waiting, True), (b0, False), (b1, True)):
            self.finish(name, succeeded)
        self.abort(late_a)  # created by the dead replica, aborted through the living one
        wait_until(lambda: lease(self.api).get("holderIdentity") == identity(self.second), timeout=_TIMEOUT,
                   what="replica b to take the Lease over")  # fmt: skip
        wait_until(lambda: not parallel_jobs(self.api), timeout=_TIMEOUT, what="b's retention cleanup")
        wait_until(lambda: swept(self.second) >= {waiting, b0, b1}, timeout=_TIMEOUT, what="b's cleanup log")
        return {waiting, b0, b1}

    def check_one_sweeper(self, swept_by_b: set[str]) -> None:
        """Each deleted only while leading, b only after a was killed."""
        assert_deletes_only_while_leading(self.first)
        assert_deletes_only_while_leading(self.second)
        b_took_over = [moment for moment, message in leadership(self.second) if message.startswith("became")]
        assert b_took_over and min(b_took_over) >= self.killed_at - 1.0, leadership(self.second)
        assert swept(self.second) == swept_by_b
        assert metric(self.second, LEADER_GAUGE) == 1.0
        assert metric(self.second, DELETES) == len(sweeps(self.second))
        spec = lease(self.api)
        assert spec["holderIdentity"] == identity(self.second) and spec["leaseTransitions"] >= 1


def test_two_replicas_share_tasks_a_quota_wait_and_a_crash_with_one_sweeper(
    emulator: KubeEmulator, tmp_path: Path
) -> None:
    kubeconfig = emulator.write_kubeconfig(tmp_path / "kubeconfig")
    first = replica(tmp_path, kubeconfig, "replica-a").start()
    # The first replica creates the Lease and leads before the second exists: who sweeps is known.
    wait_until(lambda: metric(first, LEADER_GAUGE) == 1.0, timeout=_TIMEOUT, what="replica a to lead")
    second = replica(tmp_path, kubeconfig, "replica-b").start()
    fleet = Fleet(emulator, first, second, first.client(), second.client())
    try:
        assert lease(emulator)["holderIdentity"] == identity(first)
        wait_until(lambda: identity(second), timeout=_TIMEOUT, what="replica b to stand for the Lease")
        assert identity(second) != identity(first) and metric(second, LEADER_GAUGE) == 0.0
        fleet.share_tasks()
        waiting = fleet.quota_wait()
        swept_by_b = fleet.crash(waiting)
        # Every task's true terminal phase, asked again now that retention removed the objects.
        for name, phase in fleet.expected.items():
            if phase != -1:
                assert fleet.b.get("parallel_job", fleet.runs[name].resource_meta).phase == phase, name
        assert parallel_jobs(emulator) == []  # nothing left behind
        fleet.check_one_sweeper(swept_by_b)
    finally:
        fleet.a.close()
        fleet.b.close()
        first.kill()
        second.stop()  # SIGTERM: the leader releases the Lease
    assert "holderIdentity" not in lease(emulator), lease(emulator)
    assert lease(emulator)["leaseDurationSeconds"] == 1
