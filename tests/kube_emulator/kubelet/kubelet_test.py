from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

from kube_emulator import KubeEmulator, wait_until
from kube_emulator.kubelet import Kubelet, PodOutcome


@pytest.fixture
def kubelet(api: KubeEmulator) -> Iterator[Kubelet]:
    with Kubelet(api.api_client()) as running:
        yield running


def _job(name: str, code: str, backoff_limit: int = 0, restart_policy: str = "Never", **spec: object) -> dict:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "backoffLimit": backoff_limit,
            **spec,
            "template": {
                "metadata": {"labels": {"app": "test"}},
                "spec": {
                    "restartPolicy": restart_policy,
                    "containers": [
                        {
                            "name": "main",
                            "image": "ignored",
                            "command": [sys.executable, "-c"],
                            "args": [code],
                            "env": [
                                {"name": "GREETING", "value": "hello"},
                                {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                            ],
                        }
                    ],
                },
            },
        },
    }


def _condition(api: KubeEmulator, name: str) -> str | None:
    job = api.get("jobs", name) or {}
    for condition in (job.get("status") or {}).get("conditions") or []:
        if condition["status"] == "True":
            return f'{condition["type"]}/{condition.get("reason", "")}'
    return None


def _pods(api: KubeEmulator, job: str) -> list[dict]:
    return api.list("pods", "default", label_selector=f"job-name={job}")


def test_a_successful_job(api, kubelet):
    api.create(_job("ok", "import os; print(os.environ['GREETING'], os.environ['POD_NAME'])"))
    assert wait_until(lambda: _condition(api, "ok"), what="the job to finish") == "Complete/CompletionsReached"
    job = api.get("jobs", "ok")
    assert job["status"]["succeeded"] == 1 and job["status"]["completionTime"] and job["status"]["startTime"]
    [pod] = _pods(api, "ok")
    assert pod["metadata"]["name"].startswith("ok-") and len(pod["metadata"]["name"]) == 8
    assert pod["metadata"]["labels"]["app"] == "test"
    assert pod["metadata"]["ownerReferences"][0]["uid"] == job["metadata"]["uid"]
    assert pod["status"]["phase"] == "Succeeded"
    assert pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 0
    log = (
        api.api_client()
        .call_api(f"/api/v1/namespaces/default/pods/{pod['metadata']['name']}/log", "GET", _preload_content=False)
        .data
    )
    assert log.decode() == f"hello {pod['metadata']['name']}\n"


def test_a_failing_job_retries_up_to_its_backoff_limit(api, kubelet):
    api.create(_job("bad", "import sys; print('oops'); sys.exit(1)", backoff_limit=1))
    assert wait_until(lambda: _condition(api, "bad"), what="the job to fail") == "Failed/BackoffLimitExceeded"
    pods = _pods(api, "bad")
    assert len(pods) == 2
    assert {p["status"]["phase"] for p in pods} == {"Failed"}
    assert api.get("jobs", "bad")["status"]["failed"] == 2


def test_on_failure_restarts_in_the_same_pod(api, kubelet):
    api.create(_job("flaky", "import sys; sys.exit(3)", backoff_limit=1, restart_policy="OnFailure"))
    assert wait_until(lambda: _condition(api, "flaky"), what="the job to fail") == "Failed/BackoffLimitExceeded"
    [pod] = _pods(api, "flaky")
    status = pod["status"]["containerStatuses"][0]
    assert status["restartCount"] == 1 and status["state"]["terminated"]["exitCode"] == 3


def test_active_deadline(api, kubelet):
    api.create(_job("slow", "import time; time.sleep(600)", activeDeadlineSeconds=1))
    assert wait_until(lambda: _condition(api, "slow"), what="the deadline") == "Failed/DeadlineExceeded"


def test_deleting_the_job_kills_the_process_and_deletes_pods(api, kubelet, tmp_path):
    marker = tmp_path / "pid"
    api.create(_job("long", f"import os, time; open({str(marker)!r}, 'w').write(str(os.getpid())); time.sleep(600)"))
    wait_until(lambda: marker.exists() and marker.read_text(), what="the process to start")
    pid = int(marker.read_text())
    api.delete("jobs", "long")
    wait_until(lambda: not _pods(api, "long"), what="the pods to be deleted")

    def process_gone() -> bool:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                return stat.read().split()[2] == "Z"
        except FileNotFoundError:
            return True

    wait_until(process_gone, what="the process to be killed")


def test_process_free_mode_uses_the_policy(api):
    attempts: list[int] = []

    def policy(pod: dict, attempt: int) -> PodOutcome:
        attempts.append(attempt)
        return PodOutcome(exit_code=0 if attempt == 2 else 1, log=f"attempt {attempt}\n")

    with Kubelet(api.api_client(), policy=policy):
        api.create(_job("sim", "unused", backoff_limit=5))
        assert wait_until(lambda: _condition(api, "sim"), what="the job") == "Complete/CompletionsReached"
    assert attempts == [0, 1, 2]
    assert len(_pods(api, "sim")) == 3
