"""The operator against the Kubernetes API emulator (common/kube_emulator).

Kopf runs in a thread with the real handlers. There is no Job controller here: the tests
play it, writing Job status and creating pods the way Kubernetes would, and wait (with
generous timeouts) for the operator's reaction. Nothing asserts on timing.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kopf
import pytest
import yaml

from kube_emulator import KubeEmulator, wait_until

os.environ.setdefault("PARALLEL_JOB_OPERATOR_RESYNC_SECONDS", "0.5")
from parallel_job_operator.handlers import REGISTRY  # noqa: E402  (reads the resync interval at import)

CRD = Path(__file__).resolve().parents[3] / "config" / "crd" / "bases" / "workloads.example.com_paralleljobs.yaml"
PJ = "paralleljobs"
NS = "default"


class RunningOperator:
    """The operator in a background thread; stop() and start() again to simulate a restart."""

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def start(self) -> None:
        self._stop, ready = threading.Event(), threading.Event()

        def run() -> None:
            asyncio.run(
                kopf.operator(
                    registry=REGISTRY,
                    clusterwide=True,
                    standalone=True,
                    stop_flag=self._stop,
                    ready_flag=ready,
                    memo=kopf.Memo(),
                )
            )

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        assert ready.wait(60), "the operator did not start"

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(60)
            assert not self._thread.is_alive(), "the operator did not stop"


@pytest.fixture
def api(tmp_path, monkeypatch) -> Iterator[KubeEmulator]:
    with KubeEmulator(crds=[CRD]) as emulator:
        monkeypatch.setenv("KUBECONFIG", str(emulator.write_kubeconfig(tmp_path / "kubeconfig")))
        yield emulator


@pytest.fixture
def operator(api) -> Iterator[RunningOperator]:
    running = RunningOperator()
    running.start()
    try:
        yield running
    finally:
        running.stop()


def parallel_job(name: str = "pj", workers: int = 3, **spec: Any) -> dict[str, Any]:
    sample = yaml.safe_load((CRD.parents[2] / "samples" / "parallel_job.yaml").read_text())
    sample["metadata"] = {"name": name, "namespace": NS}
    sample["spec"].update(workers=workers, **spec)
    return sample


def status(api: KubeEmulator, name: str = "pj") -> dict[str, Any]:
    return (api.get(PJ, name, NS) or {}).get("status") or {}


def jobs(api: KubeEmulator, name: str = "pj") -> dict[str, dict[str, Any]]:
    listed = api.list("jobs", NS, label_selector=f"workloads.example.com/parallel-job={name}")
    return {job["metadata"]["name"]: job for job in listed}


def wait_phase(api: KubeEmulator, phase: str, name: str = "pj") -> dict[str, Any]:
    return wait_until(
        lambda: status(api, name) if status(api, name).get("phase") == phase else None,
        what=f"ParallelJob {name} to be {phase}",
    )


def wait_jobs(api: KubeEmulator, count: int, name: str = "pj") -> dict[str, dict[str, Any]]:
    return wait_until(
        lambda: jobs(api, name) if len(jobs(api, name)) == count else None, what=f"{count} Jobs of {name}"
    )


def finish_job(api: KubeEmulator, job: str, condition: str, reason: str = "", message: str = "") -> None:
    """What the Job controller writes when a Job completes or fails."""
    counts = {"succeeded": 1} if condition == "Complete" else {"failed": 1}
    body = {
        "status": {
            **counts,
            "active": 0,
            "conditions": [{"type": condition, "status": "True", "reason": reason, "message": message}],
        }
    }
    api.patch("jobs", job, body, NS, subresource="status")


def run_pod(api: KubeEmulator, job: dict[str, Any], phase: str = "Running") -> str:
    """A pod of the Job, as the Job controller and kubelet would create and run it."""
    name = f"{job['metadata']['name']}-abcde"
    labels = {**job["spec"]["template"]["metadata"]["labels"], "batch.kubernetes.io/job-name": job["metadata"]["name"]}
    api.create(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": name,
                "namespace": NS,
                "labels": labels,
                "ownerReferences": [
                    {
                        "apiVersion": "batch/v1",
                        "kind": "Job",
                        "name": job["metadata"]["name"],
                        "uid": job["metadata"]["uid"],
                        "controller": True,
                    }
                ],
            },
            "spec": job["spec"]["template"]["spec"],
        }
    )
    api.patch("pods", name, {"status": {"phase": phase}}, NS, subresource="status")
    api.patch("jobs", job["metadata"]["name"], {"status": {"active": 1}}, NS, subresource="status")
    return name


def test_creates_one_owned_job_per_worker(api, operator):
    created = api.create(parallel_job(workers=3, restartPolicy="OnFailure", maxRestarts=2, activeDeadlineSeconds=600))
    found = wait_jobs(api, 3)
    assert sorted(found) == ["pj-w0", "pj-w1", "pj-w2"]
    for index in range(3):
        job = found[f"pj-w{index}"]
        labels = {"workloads.example.com/parallel-job": "pj", "workloads.example.com/worker-index": str(index)}
        assert labels.items() <= job["metadata"]["labels"].items()
        assert labels.items() <= job["spec"]["template"]["metadata"]["labels"].items()
        (owner,) = job["metadata"]["ownerReferences"]
        assert (owner["kind"], owner["name"], owner["uid"]) == ("ParallelJob", "pj", created["metadata"]["uid"])
        assert owner["controller"] is True and owner["blockOwnerDeletion"] is True
        assert (job["spec"]["backoffLimit"], job["spec"]["activeDeadlineSeconds"]) == (2, 600)
        pod_spec = job["spec"]["template"]["spec"]
        assert pod_spec["restartPolicy"] == "OnFailure"
        env = {e["name"]: e["value"] for e in pod_spec["containers"][0]["env"]}
        assert env == {"WORKER_INDEX": str(index), "WORKER_COUNT": "3", "PARALLEL_JOB_NAME": "pj"}
    pending = wait_until(lambda: status(api) if status(api).get("observedGeneration") else None, what="a status")
    assert pending["phase"] == "Pending" and pending["startTime"]
    assert pending["workerCounts"] == {"pending": 3, "running": 0, "succeeded": 0, "failed": 0}


def test_status_follows_the_jobs_and_pods(api, operator):
    api.create(parallel_job(workers=2))
    found = wait_jobs(api, 2)
    pods = [run_pod(api, found[name]) for name in ("pj-w0", "pj-w1")]
    running = wait_until(
        lambda: status(api) if status(api).get("workerCounts", {}).get("running") == 2 else None,
        what="both workers running",
    )
    assert running["phase"] == "Running"
    assert [(w["index"], w["job"], w["pod"], w["phase"]) for w in running["workers"]] == [
        (0, "pj-w0", pods[0], "Running"),
        (1, "pj-w1", pods[1], "Running"),
    ]
    assert {c["type"]: c["status"] for c in running["conditions"]}["Running"] == "True"

    finish_job(api, "pj-w0", "Complete")
    wait_until(lambda: status(api).get("workerCounts", {}).get("succeeded") == 1, what="one worker succeeded")
    assert status(api)["phase"] == "Running"
    finish_job(api, "pj-w1", "Complete")
    done = wait_phase(api, "Succeeded")
    assert done["completionTime"] and done["message"] == "2/2 workers succeeded"
    assert {c["type"]: c["status"] for c in done["conditions"]} == {
        "Running": "False",
        "Succeeded": "True",
        "Failed": "False",
    }


def test_a_failed_worker_fails_the_job_and_stops_the_others(api, operator):
    api.create(parallel_job(workers=3))
    wait_jobs(api, 3)
    finish_job(api, "pj-w1", "Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit")
    failed = wait_phase(api, "Failed")
    assert failed["reason"] == "BackoffLimitExceeded"
    assert "worker 1 (Job pj-w1)" in failed["message"] and "backoff limit" in failed["message"]
    # The failed Job stays (its pods hold the logs); the unfinished ones are deleted.
    wait_until(lambda: sorted(jobs(api)) == ["pj-w1"], what="the other workers' Jobs to be deleted")


def test_any_worker_succeeds_on_the_first_success_and_deletes_the_rest(api, operator):
    api.create(parallel_job(workers=3, successPolicy="AnyWorker"))
    wait_jobs(api, 3)
    finish_job(api, "pj-w2", "Complete")
    done = wait_phase(api, "Succeeded")
    assert done["message"] == "worker 2 succeeded (AnyWorker)"
    wait_until(lambda: sorted(jobs(api)) == ["pj-w2"], what="the remaining Jobs to be deleted")
    # Deleted workers are not recreated afterwards.
    api.patch(PJ, "pj", {"metadata": {"labels": {"poke": "1"}}}, NS)
    assert wait_until(lambda: status(api).get("phase") == "Succeeded") and sorted(jobs(api)) == ["pj-w2"]


def test_deadline_fails_the_job_and_deletes_its_jobs(api, operator):
    api.create(parallel_job(workers=2, activeDeadlineSeconds=2))
    wait_jobs(api, 2)
    failed = wait_phase(api, "Failed")
    assert failed["reason"] == "DeadlineExceeded"
    assert failed["message"] == "ran longer than activeDeadlineSeconds=2"
    wait_until(lambda: jobs(api) == {}, what="the Jobs to be deleted")


def test_invalid_spec_fails_permanently_without_jobs(api, operator):
    # The emulator does not apply the CRD schema; a real API server would reject this at admission.
    api.create(parallel_job(workers=2, successPolicy="Majority"))
    failed = wait_phase(api, "Failed")
    assert failed["reason"] == "InvalidSpec" and "spec.successPolicy" in failed["message"]
    assert jobs(api) == {}


def test_deleting_the_parallel_job_removes_its_jobs(api, operator):
    api.create(parallel_job(workers=2))
    wait_jobs(api, 2)
    wait_until(lambda: api.get(PJ, "pj", NS)["metadata"].get("finalizers"), what="the operator's finalizer")
    api.delete(PJ, "pj", NS)
    wait_until(lambda: api.get(PJ, "pj", NS) is None, what="the ParallelJob to go (finalizer released)")
    wait_until(lambda: jobs(api) == {}, what="garbage collection of the Jobs")


def test_restart_neither_duplicates_nor_forgets_jobs(api, operator):
    api.create(parallel_job(workers=3))
    before = {name: job["metadata"]["uid"] for name, job in wait_jobs(api, 3).items()}
    wait_phase(api, "Pending")
    operator.stop()
    # While the operator is down: one Job disappears, another one finishes.
    api.delete("jobs", "pj-w0", NS)
    finish_job(api, "pj-w1", "Complete")
    operator.start()
    after = wait_until(lambda: jobs(api) if "pj-w0" in jobs(api) else None, what="pj-w0 to be recreated")
    assert sorted(after) == ["pj-w0", "pj-w1", "pj-w2"]
    assert after["pj-w1"]["metadata"]["uid"] == before["pj-w1"]
    assert after["pj-w2"]["metadata"]["uid"] == before["pj-w2"]
    assert after["pj-w0"]["metadata"]["uid"] != before["pj-w0"]
    wait_until(lambda: status(api).get("workerCounts", {}).get("succeeded") == 1, what="the finished worker counted")
    # Three Jobs at first and one for the Job deleted while the operator was down; a create
    # that raced the watch would have been answered 409 and adopted, never duplicated.
    assert api.requests.count(verb="create", resource="jobs", status=201) == 4


def test_unowned_job_with_a_worker_name_is_adopted(api, operator):
    operator.stop()
    created = api.create(parallel_job(workers=1))
    api.create(
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": "pj-w0", "namespace": NS},
            "spec": {
                "template": {"spec": {"containers": [{"name": "worker", "image": "x"}], "restartPolicy": "Never"}}
            },
        }
    )
    operator.start()
    adopted = wait_until(
        lambda: (api.get("jobs", "pj-w0", NS)["metadata"].get("ownerReferences") or [None])[0],
        what="the Job to be adopted",
    )
    assert adopted["uid"] == created["metadata"]["uid"] and adopted["controller"] is True
    assert api.get("jobs", "pj-w0", NS)["metadata"]["labels"]["workloads.example.com/worker-index"] == "0"


def test_api_errors_are_retried(api, operator):
    api.faults.add(verb="create", resource="jobs", status=500, times=3)
    api.faults.add(verb="patch", resource="paralleljobs/status", status=429, times=2, retry_after=0)
    api.create(parallel_job(workers=2))
    wait_jobs(api, 2)
    wait_phase(api, "Pending")
    assert api.requests.count(verb="create", resource="jobs", status=500) == 3
    assert api.requests.count(verb="patch", resource="paralleljobs/status", status=429) == 2
