"""`Kubelet`: watches batch/v1 Jobs in all namespaces and runs each one with a JobWorker."""

from __future__ import annotations

import contextlib
import json
import threading
from pathlib import Path
from types import TracebackType
from typing import Any

import kubernetes.client  # type: ignore[import-untyped]
import kubernetes.config  # type: ignore[import-untyped]

from kube_emulator.kubelet.api import ClusterApi
from kube_emulator.kubelet.job_worker import JobWorker
from kube_emulator.kubelet.outcomes import ContainerRunner, OutcomePolicy, ProcessRunner, SimulatedRunner
from kube_emulator.kubelet.zygote import Zygote, ZygoteSettings

_WATCH_SECONDS = 5  # how long one watch request lasts: bounds how long stop() waits


def _is_finished(job: dict[str, Any]) -> bool:
    conditions = (job.get("status") or {}).get("conditions") or []
    return any(c.get("type") in ("Complete", "Failed") and c.get("status") == "True" for c in conditions)


class Kubelet:
    """A Job controller and kubelet in one, for a KubeEmulator (or any API server).

    Pass `policy` to simulate containers instead of running processes, or `zygote` to fork the
    `python -m`/`-c` pods it names from one pre-imported interpreter (see `kubelet/zygote.py`).
    """

    def __init__(
        self,
        api_client: kubernetes.client.ApiClient | None = None,
        *,
        kubeconfig: str | Path | None = None,
        policy: OutcomePolicy | None = None,
        zygote: ZygoteSettings | None = None,
    ) -> None:
        if api_client is None:
            api_client = kubernetes.config.new_client_from_config(config_file=str(kubeconfig) if kubeconfig else None)
        self.cluster = ClusterApi(api_client)
        self.zygote = Zygote(zygote) if zygote is not None and policy is None else None
        self.runner: ContainerRunner = (
            SimulatedRunner(policy)
            if policy is not None
            else ProcessRunner(self.cluster.read_secret_value, self.zygote)
        )
        self._workers: dict[str, JobWorker] = {}
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._open_watch: Any = None  # the streaming urllib3 response, so stop() can cut it short
        self.errors: list[BaseException] = []

    def start(self) -> Kubelet:
        self._stopping.clear()
        if self.zygote is not None:
            self.zygote.start()  # it imports the preload while the watch starts
        self._thread = threading.Thread(target=self._watch_forever, name="kube-emulator-kubelet", daemon=True)
        self._thread.start()
        if not self._ready.wait(60):
            raise TimeoutError("the kubelet could not list Jobs within 60 s")
        return self

    def stop(self) -> None:
        """Stop watching and kill every running container (the cluster state is left as it is)."""
        self._stopping.set()
        for worker in list(self._workers.values()):
            worker.cancel(deleted=False)
        for worker in list(self._workers.values()):
            worker.thread.join(30)
        watch = self._open_watch
        if watch is not None:
            with contextlib.suppress(OSError, ValueError, RuntimeError):  # it may be ending already
                watch.shutdown()
        if self._thread is not None:
            self._thread.join(_WATCH_SECONDS * 3)
            self._thread = None
        if self.zygote is not None:
            self.zygote.stop()

    def __enter__(self) -> Kubelet:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def request_stop(self) -> None:
        """Make wait() return (safe from a signal handler); call stop() afterwards."""
        self._stopping.set()

    def wait(self) -> None:
        """Block until stop() (for the command line)."""
        self._stopping.wait()

    # ------------------------------------------------------------------ the watch loop

    def _watch_forever(self) -> None:
        resource_version: str | None = None
        while not self._stopping.is_set():
            try:
                if resource_version is None:
                    resource_version = self._list_and_sync()
                    self._ready.set()
                resource_version = self._watch_once(resource_version)
            except kubernetes.client.ApiException as error:
                if error.status != 410:
                    self.errors.append(error)
                    self._stopping.wait(0.5)
                resource_version = None
            # urllib3's errors (API restarts, dropped streams) are caught broadly: urllib3 is not a
            # direct requirement of the repo, and the loop must survive anything to re-list.
            except Exception as error:
                if self._stopping.is_set():
                    return
                self.errors.append(error)
                self._stopping.wait(0.5)
                resource_version = None

    def _list_and_sync(self) -> str:
        response = self.cluster.batch.list_job_for_all_namespaces(_preload_content=False)
        listing = json.loads(response.data)
        present = set()
        for job in listing["items"]:
            present.add(job["metadata"]["uid"])
            self._on_job(job)
        for uid in set(self._workers) - present:
            self._on_job_deleted(uid)
        return str(listing["metadata"]["resourceVersion"])

    def _watch_once(self, resource_version: str) -> str:
        response = self.cluster.batch.list_job_for_all_namespaces(
            watch=True,
            resource_version=resource_version,
            timeout_seconds=_WATCH_SECONDS,
            allow_watch_bookmarks=True,
            _preload_content=False,
            _request_timeout=_WATCH_SECONDS * 4,
        )
        self._open_watch = response
        try:
            for line in _lines(response):
                if self._stopping.is_set():
                    break
                event = json.loads(line)
                obj = event["object"]
                if event["type"] == "ERROR":
                    raise kubernetes.client.ApiException(status=obj.get("code", 500), reason=obj.get("message"))
                resource_version = obj["metadata"].get("resourceVersion", resource_version)
                if event["type"] == "DELETED":
                    self._on_job_deleted(obj["metadata"]["uid"])
                elif event["type"] in ("ADDED", "MODIFIED"):
                    self._on_job(obj)
        finally:
            self._open_watch = None
            response.release_conn()
        return resource_version

    def _on_job(self, job: dict[str, Any]) -> None:
        uid = job["metadata"]["uid"]
        if job["metadata"].get("deletionTimestamp"):
            self._on_job_deleted(uid)
            return
        if uid in self._workers or _is_finished(job) or job["spec"].get("suspend"):
            return
        if (job.get("status") or {}).get("startTime"):
            return  # started by another (earlier) kubelet: not adopted
        worker = self._workers[uid] = JobWorker(self.cluster, self.runner, job)
        worker.start()

    def _on_job_deleted(self, uid: str) -> None:
        worker = self._workers.pop(uid, None)
        if worker is not None:
            worker.cancel(deleted=True)


def _lines(response: Any) -> Any:
    """Newline-delimited watch events from a streaming urllib3 response."""
    buffer = b""
    for chunk in response.stream(65536, decode_content=False):
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            if line.strip():
                yield line
