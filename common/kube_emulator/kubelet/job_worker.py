"""Runs one batch/v1 Job to completion: pods, retries (backoffLimit), deadline, statuses."""

from __future__ import annotations

import copy
import functools
import random
import string
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from kube_emulator.kubelet import secret_webhook
from kube_emulator.kubelet.api import ClusterApi
from kube_emulator.kubelet.outcomes import ContainerRunner

_SUFFIX_ALPHABET = string.ascii_lowercase + string.digits


_LOG_UPLOAD_INTERVAL = 0.25  # seconds between uploads of a running container's log


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class PodRun:
    """One pod this worker created, and what the kubelet knows about its container."""

    pod: dict[str, Any]
    started_at: str = ""
    log: list[str] = field(default_factory=list)
    uploaded_at: float = 0.0
    uploaded_chunks: int = 0
    # The container's previous termination, after an in-place restart (status lastState.terminated).
    last_terminated: dict[str, Any] | None = None

    @property
    def name(self) -> str:
        return str(self.pod["metadata"]["name"])


class JobWorker:
    def __init__(self, cluster: ClusterApi, runner: ContainerRunner, job: dict[str, Any]) -> None:
        self.cluster = cluster
        self.runner = runner
        self.job = job
        self.stop = threading.Event()  # set when the Job is deleted or the kubelet stops
        self.deleted = False
        self.thread = threading.Thread(target=self._run_safely, name=f"job-{job['metadata']['name']}", daemon=True)

    @property
    def namespace(self) -> str:
        return str(self.job["metadata"]["namespace"])

    @property
    def name(self) -> str:
        return str(self.job["metadata"]["name"])

    def start(self) -> None:
        self.thread.start()

    def cancel(self, deleted: bool) -> None:
        self.deleted = self.deleted or deleted
        self.stop.set()

    def _run_safely(self) -> None:
        try:
            self._run()
        except Exception as error:  # the Job may vanish under us; never kill the kubelet
            if not self.stop.is_set():
                print(f"kube-emulator kubelet: job {self.namespace}/{self.name}: {error!r}", flush=True)
        finally:
            if self.deleted:
                self._delete_pods()

    def _run(self) -> None:
        spec = self.job["spec"]
        backoff_limit = int(spec.get("backoffLimit", 6))
        deadline_seconds = spec.get("activeDeadlineSeconds")
        started = time.monotonic()
        start_time = _now()
        self.cluster.patch_job_status(self.namespace, self.name, {"startTime": start_time, "active": 0})
        restart_in_place = spec["template"]["spec"].get("restartPolicy") == "OnFailure"
        failures = 0
        run: PodRun | None = None
        restarts = 0
        while not self.stop.is_set():
            if run is None or not restart_in_place:
                try:
                    run = PodRun(self._create_pod())
                except secret_webhook.WebhookDenied as error:
                    # The real Job controller keeps retrying (events FailedCreate); ending the Job
                    # at once keeps a broken request from hanging tests and demos.
                    message = f'admission webhook "flyte-pod-webhook.flyte.org" denied the request: {error}'
                    self._job_finished("Failed", "FailedCreate", message, failures=failures)
                    return
                restarts = 0
                self.cluster.patch_job_status(self.namespace, self.name, {"active": 1, "failed": failures or None})
            remaining = None if deadline_seconds is None else deadline_seconds - (time.monotonic() - started)
            self._pod_running(run, restarts)
            finished = self.runner.run(
                run.pod, failures, self.stop, remaining, functools.partial(self._append_log, run)
            )
            self._upload_log(run)
            if self.stop.is_set():
                return
            if finished.exit_code is None:  # killed at the deadline
                self._pod_finished(run, "Failed", 137, restarts, "DeadlineExceeded", finished.termination_message)
                self._job_finished(
                    "Failed", "DeadlineExceeded", "Job was active longer than specified deadline", failures=failures + 1
                )
                return
            if finished.exit_code == 0:
                self._pod_finished(run, "Succeeded", 0, restarts, message=finished.termination_message)
                self._job_finished(
                    "Complete",
                    "CompletionsReached",
                    "Reached expected number of succeeded pods",
                    failures=failures,
                    succeeded=1,
                )
                return
            failures += 1
            if failures > backoff_limit:
                self._pod_finished(run, "Failed", finished.exit_code, restarts, message=finished.termination_message)
                self._job_finished(
                    "Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit", failures=failures
                )
                return
            if restart_in_place:
                restarts += 1
                run.last_terminated = self._terminated(run, finished.exit_code, "", finished.termination_message)
            else:
                self._pod_finished(run, "Failed", finished.exit_code, restarts, message=finished.termination_message)

    # ---------------------------------------------------------------- pods

    def _create_pod(self) -> dict[str, Any]:
        template = copy.deepcopy(self.job["spec"]["template"])
        metadata = template.get("metadata") or {}
        metadata.pop("name", None)
        metadata["name"] = f"{self.name}-{''.join(random.choices(_SUFFIX_ALPHABET, k=5))}"
        metadata["namespace"] = self.namespace
        metadata["ownerReferences"] = [
            {
                "apiVersion": "batch/v1",
                "kind": "Job",
                "name": self.name,
                "uid": self.job["metadata"]["uid"],
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": template["spec"]}
        pod["spec"].setdefault("nodeName", "kube-emulator-node")
        # Admission: Flyte's secret webhook mutates pods labelled inject-flyte-secrets (or rejects them).
        return self.cluster.create_pod(self.namespace, secret_webhook.mutate(pod))

    @staticmethod
    def _container_status(run: PodRun, restarts: int, state: dict[str, Any]) -> dict[str, Any]:
        container = run.pod["spec"]["containers"][0]
        status = {
            "name": container["name"],
            "image": container.get("image", ""),
            "imageID": "",
            "ready": "running" in state,
            "started": "running" in state,
            "restartCount": restarts,
            "state": state,
        }
        if run.last_terminated is not None:
            status["lastState"] = {"terminated": run.last_terminated}
        return status

    @staticmethod
    def _terminated(run: PodRun, exit_code: int, reason: str, message: str) -> dict[str, Any]:
        terminated: dict[str, Any] = {
            "exitCode": exit_code,
            "reason": reason or ("Completed" if exit_code == 0 else "Error"),
            "startedAt": run.started_at,
            "finishedAt": _now(),
        }
        if message:
            terminated["message"] = message
        return terminated

    def _pod_running(self, run: PodRun, restarts: int) -> None:
        now = _now()
        first_start = run.started_at or now
        run.started_at = now
        self.cluster.patch_pod_status(
            self.namespace,
            run.name,
            {
                "phase": "Running",
                "startTime": first_start,
                "hostIP": "127.0.0.1",
                "podIP": "127.0.0.1",
                "containerStatuses": [self._container_status(run, restarts, {"running": {"startedAt": now}})],
            },
        )

    def _pod_finished(
        self, run: PodRun, phase: str, exit_code: int, restarts: int, reason: str = "", message: str = ""
    ) -> None:
        terminated = self._terminated(run, exit_code, reason, message)
        status: dict[str, Any] = {
            "phase": phase,
            "containerStatuses": [self._container_status(run, restarts, {"terminated": terminated})],
        }
        if reason:
            status["reason"] = reason
        self.cluster.patch_pod_status(self.namespace, run.name, status)

    def _append_log(self, run: PodRun, text: str) -> None:
        run.log.append(text)
        if time.monotonic() - run.uploaded_at >= _LOG_UPLOAD_INTERVAL:
            self._upload_log(run)

    def _upload_log(self, run: PodRun) -> None:
        if len(run.log) == run.uploaded_chunks:
            return
        run.uploaded_chunks = len(run.log)
        run.uploaded_at = time.monotonic()
        self.cluster.set_pod_log(self.namespace, run.name, "".join(run.log))

    def _delete_pods(self) -> None:
        for pod_name in self.cluster.pod_names(self.namespace, self.job["metadata"]["uid"]):
            self.cluster.delete_pod(self.namespace, pod_name)

    # ---------------------------------------------------------------- job

    def _job_finished(self, condition: str, reason: str, message: str, failures: int, succeeded: int = 0) -> None:
        now = _now()
        status: dict[str, Any] = {
            "active": None,
            "failed": failures or None,
            "succeeded": succeeded or None,
            "conditions": [
                {
                    "type": condition,
                    "status": "True",
                    "reason": reason,
                    "message": message,
                    "lastProbeTime": now,
                    "lastTransitionTime": now,
                }
            ],
        }
        if condition == "Complete":
            status["completionTime"] = now
        self.cluster.patch_job_status(self.namespace, self.name, status)
