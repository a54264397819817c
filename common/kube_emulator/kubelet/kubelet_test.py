from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Iterator

import pytest

from kube_emulator import KubeEmulator, wait_until
from kube_emulator.kubelet import Kubelet, PodOutcome, ZygoteSettings
from kube_emulator.waiting import process_gone


@pytest.fixture
def kubelet(api: KubeEmulator) -> Iterator[Kubelet]:
    with Kubelet(api.api_client()) as running:
        yield running


def _job(
    name: str,
    code: str,
    backoff_limit: int = 0,
    restart_policy: str = "Never",
    container: dict | None = None,
    **spec: object,
) -> dict:
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
                            **(container or {}),
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

    wait_until(lambda: process_gone(pid), what="the process to be killed")


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


# Termination messages as the real kubelet produces them (see kube_emulator/kubelet/termination.py
# for the upstream sources): the file's end (<= 4096 bytes) on success and failure, else with
# FallbackToLogsOnError the end of the log (<= 80 lines, <= 2048 bytes) when the container failed.
_WRITE_MESSAGE = "import os, sys; open(os.environ['TERMINATION_MESSAGE_PATH'], 'w').write({text}); sys.exit({code})"


def _terminated(api: KubeEmulator, job: str) -> dict:
    [pod] = _pods(api, job)
    return pod["status"]["containerStatuses"][0]["state"]["terminated"]


def test_the_termination_message_file_becomes_the_terminated_message(api, kubelet):
    api.create(_job("says", _WRITE_MESSAGE.format(text="'KeyError: 1'", code=1)))
    assert wait_until(lambda: _condition(api, "says"), what="the job to fail") == "Failed/BackoffLimitExceeded"
    assert _terminated(api, "says")["message"] == "KeyError: 1"
    api.create(_job("done", _WRITE_MESSAGE.format(text="'all good'", code=0)))
    assert wait_until(lambda: _condition(api, "done"), what="the job") == "Complete/CompletionsReached"
    assert _terminated(api, "done")["message"] == "all good"


def test_a_long_termination_message_keeps_its_last_4096_bytes(api, kubelet):
    api.create(_job("long-message", _WRITE_MESSAGE.format(text="'a' * 5000 + 'THE END'", code=1)))
    assert wait_until(lambda: _condition(api, "long-message"), what="the job to fail") == "Failed/BackoffLimitExceeded"
    message = _terminated(api, "long-message")["message"]
    assert len(message.encode()) == 4096 and message.endswith("THE END")


def test_without_a_message_the_file_policy_gives_none_and_fallback_gives_the_logs_end(api, kubelet):
    code = "import sys; [print('line', i) for i in range(100)]; sys.exit(1)"
    api.create(_job("silent", code))
    api.create(_job("fallback", code, container={"terminationMessagePolicy": "FallbackToLogsOnError"}))
    assert wait_until(lambda: _condition(api, "silent"), what="the job to fail") == "Failed/BackoffLimitExceeded"
    assert wait_until(lambda: _condition(api, "fallback"), what="the job to fail") == "Failed/BackoffLimitExceeded"
    assert "message" not in _terminated(api, "silent")
    fallback = _terminated(api, "fallback")["message"]
    assert fallback.splitlines() == [f"line {i}" for i in range(20, 100)]  # the last 80 lines


def test_fallback_keeps_the_last_2048_bytes_and_not_on_success(api, kubelet):
    fallback = {"terminationMessagePolicy": "FallbackToLogsOnError"}
    api.create(_job("wide", "import sys; print('x' * 3000 + 'END'); sys.exit(1)", container=fallback))
    api.create(_job("fine", "print('ok')", container=fallback))
    assert wait_until(lambda: _condition(api, "wide"), what="the job to fail") == "Failed/BackoffLimitExceeded"
    assert wait_until(lambda: _condition(api, "fine"), what="the job") == "Complete/CompletionsReached"
    wide = _terminated(api, "wide")["message"]
    assert len(wide.encode()) == 2048 and wide.endswith("END\n")
    assert "message" not in _terminated(api, "fine")


def test_an_empty_termination_message_path_gives_the_container_no_file(api, kubelet):
    code = "import os, sys; sys.exit(7 if 'TERMINATION_MESSAGE_PATH' in os.environ else 0)"
    api.create(_job("no-path", code, container={"terminationMessagePath": ""}))
    assert wait_until(lambda: _condition(api, "no-path"), what="the job") == "Complete/CompletionsReached"


def test_on_failure_restart_keeps_the_previous_message_in_last_state(api, kubelet):
    code = _WRITE_MESSAGE.format(text="'attempt failed'", code=2)
    api.create(_job("again", code, backoff_limit=1, restart_policy="OnFailure"))
    assert wait_until(lambda: _condition(api, "again"), what="the job to fail") == "Failed/BackoffLimitExceeded"
    [pod] = _pods(api, "again")
    status = pod["status"]["containerStatuses"][0]
    assert status["state"]["terminated"]["message"] == "attempt failed"
    assert status["lastState"]["terminated"]["exitCode"] == 2
    assert status["lastState"]["terminated"]["message"] == "attempt failed"


def test_process_free_mode_writes_the_policys_termination_message(api):
    def policy(pod: dict, attempt: int) -> PodOutcome:
        return PodOutcome(exit_code=1, termination_message="TypeError: nope")

    with Kubelet(api.api_client(), policy=policy):
        api.create(_job("sim-message", "unused"))
        assert wait_until(lambda: _condition(api, "sim-message"), what="the job") == "Failed/BackoffLimitExceeded"
    assert _terminated(api, "sim-message")["message"] == "TypeError: nope"


# With a zygote: `python -c` pods (the shim's name) are forked from it, everything else is a
# subprocess; what the pod's status, log and termination message say is the same either way.
@pytest.fixture
def shim(tmp_path) -> str:
    for name in ("python", "python3"):
        (tmp_path / name).write_text(f'#!/bin/bash\nexec {shlex.quote(sys.executable)} "$@"\n')
        (tmp_path / name).chmod(0o755)
    return str(tmp_path)


@pytest.fixture
def zygote_kubelet(api: KubeEmulator, shim: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Kubelet]:
    monkeypatch.setenv("PATH", f"{shim}{os.pathsep}{os.environ['PATH']}")
    settings = ZygoteSettings(sys.executable, frozenset({"python", "python3"}), shim, preload=())
    with Kubelet(api.api_client(), zygote=settings) as running:
        yield running


def _through_shim(code: str) -> dict:
    return {"command": ["python", "-c"], "args": [code]}


def test_a_python_pod_is_forked_from_the_zygote(api, zygote_kubelet):
    code = "import os; print(os.environ['GREETING'], os.environ['POD_NAME'], os.getppid())"
    api.create(_job("forked", code, container=_through_shim(code)))
    api.create(_job("spawned", "", container={"command": ["sh", "-c", 'echo "$GREETING $POD_NAME $PPID"']}))
    assert wait_until(lambda: _condition(api, "forked"), what="the job") == "Complete/CompletionsReached"
    assert wait_until(lambda: _condition(api, "spawned"), what="the job") == "Complete/CompletionsReached"
    assert zygote_kubelet.zygote is not None and zygote_kubelet.zygote.process is not None
    for name, parent in (("forked", zygote_kubelet.zygote.process.pid), ("spawned", os.getpid())):
        [pod] = _pods(api, name)
        log = api.pod_log(pod["metadata"]["name"], "default")
        assert log == f"hello {pod['metadata']['name']} {parent}\n"
    assert zygote_kubelet.zygote.forked == 1


def test_a_forked_pods_exit_code_and_termination_message(api, zygote_kubelet):
    code = _WRITE_MESSAGE.format(text="'KeyError: 1'", code=3)
    api.create(_job("says-forked", code, container=_through_shim(code)))
    assert wait_until(lambda: _condition(api, "says-forked"), what="the job") == "Failed/BackoffLimitExceeded"
    terminated = _terminated(api, "says-forked")
    assert terminated["exitCode"] == 3 and terminated["message"] == "KeyError: 1"
    code = "raise ValueError('boom')"
    fallback = {**_through_shim(code), "terminationMessagePolicy": "FallbackToLogsOnError"}
    api.create(_job("raises-forked", code, container=fallback))
    assert wait_until(lambda: _condition(api, "raises-forked"), what="the job") == "Failed/BackoffLimitExceeded"
    terminated = _terminated(api, "raises-forked")
    assert terminated["exitCode"] == 1 and terminated["message"].endswith("ValueError: boom\n")
    assert zygote_kubelet.zygote is not None and zygote_kubelet.zygote.forked == 2


def test_a_forked_pod_is_killed_at_its_deadline_and_on_deletion(api, zygote_kubelet, tmp_path):
    sleeper = "import time; time.sleep(600)"
    api.create(_job("slow-forked", sleeper, container=_through_shim(sleeper), activeDeadlineSeconds=1))
    assert wait_until(lambda: _condition(api, "slow-forked"), what="the deadline") == "Failed/DeadlineExceeded"
    marker = tmp_path / "pid"
    code = f"import os, time; open({str(marker)!r}, 'w').write(str(os.getpid())); time.sleep(600)"
    api.create(_job("long-forked", code, container=_through_shim(code)))
    wait_until(lambda: marker.exists() and marker.read_text(), what="the process to start")
    api.delete("jobs", "long-forked")
    wait_until(lambda: not _pods(api, "long-forked"), what="the pods to be deleted")
    wait_until(lambda: process_gone(int(marker.read_text())), what="the process to be killed")
    assert zygote_kubelet.zygote is not None and zygote_kubelet.zygote.forked == 2


def test_after_the_zygote_dies_pods_run_as_subprocesses(api, zygote_kubelet):
    assert zygote_kubelet.zygote is not None and zygote_kubelet.zygote.process is not None
    zygote_kubelet.zygote.process.kill()
    wait_until(lambda: zygote_kubelet.zygote.failure is not None, what="the kubelet to notice")
    code = "import os; print(os.getppid())"
    api.create(_job("after", code, container=_through_shim(code)))
    assert wait_until(lambda: _condition(api, "after"), what="the job") == "Complete/CompletionsReached"
    [pod] = _pods(api, "after")
    assert api.pod_log(pod["metadata"]["name"], "default") == f"{os.getpid()}\n"
