"""Watches the connector's objects in the cluster and keeps a timeline of each one.

It polls (twice a second) the ParallelJobs and batch/v1 Jobs the connector created (label
``app.kubernetes.io/managed-by=flyte-k8s-operator-connector``) through the official client, so
the same code observes the API emulator and a real cluster.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import kubernetes.client  # type: ignore[import-untyped]

MANAGED_BY_SELECTOR = "app.kubernetes.io/managed-by=flyte-k8s-operator-connector"
PARALLEL_JOB = ("workloads.example.com", "v1alpha1", "paralleljobs")
POLL_SECONDS = 0.5
WORKER_JOB_LABEL = "workloads.example.com/parallel-job"


def _labels(obj: dict[str, Any]) -> dict[str, str]:
    return dict((obj.get("metadata") or {}).get("labels") or {})


@dataclass
class ObservedObject:
    """One object the connector created, and how its state changed over time."""

    kind: str
    name: str
    namespace: str
    timeline: list[tuple[float, str]] = field(default_factory=list)
    last: dict[str, Any] = field(default_factory=dict)
    gone_at: float | None = None

    @property
    def task_name(self) -> str:
        """The task's name, from the worker command of a ParallelJob (empty for other objects)."""
        containers = (((self.last.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or []
        args = list(containers[0].get("args") or []) if containers else []
        if "task-name" in args and args.index("task-name") + 1 < len(args):
            return str(args[args.index("task-name") + 1])
        return ""


def _worker_restarts(status: dict[str, Any]) -> str:
    restarted = [
        f"worker {w.get('index')}: {w.get('restarts')}" for w in status.get("workers") or [] if w.get("restarts")
    ]
    return f"; restarts {', '.join(restarted)}" if restarted else ""


def describe_parallel_job(obj: dict[str, Any]) -> str:
    """``Running (3 workers: 1 pending, 2 running, 0 succeeded, 0 failed)`` and the like."""
    status = obj.get("status") or {}
    phase = status.get("phase") or "created, not yet seen by the operator"
    counts = status.get("workerCounts") or {}
    workers = (obj.get("spec") or {}).get("workers")
    text = phase
    if counts:
        parts = ", ".join(f"{counts.get(key, 0)} {key}" for key in ("pending", "running", "succeeded", "failed"))
        text += f" ({workers} workers: {parts}{_worker_restarts(status)})"
    detail = [str(status[key]) for key in ("reason", "message") if status.get(key)]
    if detail and phase in ("Succeeded", "Failed"):
        text += " " + ": ".join(detail)
    return text


def describe_job(obj: dict[str, Any]) -> str:
    """``Complete (1 succeeded)``, ``Running (1 active)`` and the like."""
    status = obj.get("status") or {}
    for condition in status.get("conditions") or []:
        if condition.get("type") in ("Complete", "Failed") and condition.get("status") == "True":
            reason = f" {condition.get('reason')}" if condition.get("reason") else ""
            counts = f"{status.get('succeeded') or 0} succeeded, {status.get('failed') or 0} failed"
            return f"{condition['type']}{reason} ({counts})"
    if status.get("active"):
        return f"Running ({status['active']} active, {status.get('failed') or 0} failed)"
    return "created, no pod yet"


class ClusterObserver:
    """Polls the namespace in a thread; :meth:`stop` ends it. Thread-safe reads via :meth:`objects`."""

    def __init__(self, api_client: kubernetes.client.ApiClient, namespace: str) -> None:
        self.api_client = api_client
        self.namespace = namespace
        self.custom = kubernetes.client.CustomObjectsApi(api_client)
        self.batch = kubernetes.client.BatchV1Api(api_client)
        self.core = kubernetes.client.CoreV1Api(api_client)
        self.started = time.monotonic()
        self._objects: dict[tuple[str, str], ObservedObject] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._poll_forever, name="cluster-observer", daemon=True)
        self.errors: list[str] = []

    def start(self) -> ClusterObserver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(30)
        self.poll_once()  # the final state

    def objects(self) -> list[ObservedObject]:
        with self._lock:
            return sorted(self._objects.values(), key=lambda o: o.timeline[0][0] if o.timeline else 0.0)

    def delete(self, observed: ObservedObject) -> None:
        """Deletes an object the connector created, with its Jobs and pods (foreground); gone is fine."""
        body = kubernetes.client.V1DeleteOptions(propagation_policy="Foreground")
        try:
            if observed.kind == "ParallelJob":
                group, version, plural = PARALLEL_JOB[:3]
                self.custom.delete_namespaced_custom_object(
                    group, version, self.namespace, plural, observed.name, body=body
                )
            else:
                self.batch.delete_namespaced_job(observed.name, self.namespace, body=body)
        except kubernetes.client.ApiException as error:
            if error.status != 404:
                raise

    def _poll_forever(self) -> None:
        while not self._stopping.wait(POLL_SECONDS):
            self.poll_once()

    def _list(self, kind: str) -> list[dict[str, Any]]:
        if kind == "ParallelJob":
            response = self.custom.list_namespaced_custom_object(
                *PARALLEL_JOB[:2],
                self.namespace,
                PARALLEL_JOB[2],
                label_selector=MANAGED_BY_SELECTOR,
                _preload_content=False,
            )
        else:
            response = self.batch.list_namespaced_job(
                self.namespace, label_selector=MANAGED_BY_SELECTOR, _preload_content=False
            )
        items = list(json.loads(response.data).get("items") or [])
        # The operator's worker Jobs show up in their ParallelJob's timeline, not as objects of their own.
        return [item for item in items if kind == "ParallelJob" or WORKER_JOB_LABEL not in _labels(item)]

    def poll_once(self) -> None:
        now = time.monotonic() - self.started
        for kind, describe in (("ParallelJob", describe_parallel_job), ("Job", describe_job)):
            try:
                listed = self._list(kind)
            except Exception as error:  # the API may be restarting; keep observing
                self.errors.append(f"listing {kind}s: {error}")
                continue
            self._record(kind, listed, describe, now)

    def _record(self, kind: str, listed: list[dict[str, Any]], describe: Any, now: float) -> None:
        present = set()
        with self._lock:
            for obj in listed:
                name = obj["metadata"]["name"]
                present.add(name)
                observed = self._objects.setdefault((kind, name), ObservedObject(kind, name, self.namespace))
                observed.last, observed.gone_at = obj, None
                text = describe(obj)
                if not observed.timeline or observed.timeline[-1][1] != text:
                    observed.timeline.append((now, text))
            for (seen_kind, name), observed in self._objects.items():
                if seen_kind == kind and name not in present and observed.gone_at is None:
                    observed.gone_at = now
                    observed.timeline.append((now, "deleted"))

    def remaining(self) -> list[str]:
        """``kind/name`` of the connector's objects and their pods that still exist (after an abort)."""
        left = [f"ParallelJob/{o['metadata']['name']}" for o in self._list("ParallelJob")]
        left += [f"Job/{o['metadata']['name']}" for o in self._list("Job")]
        for observed in self.objects():
            for pod in self.pods_of(observed):
                left.append(f"Pod/{pod}")
        return left

    def pods_of(self, observed: ObservedObject) -> list[str]:
        """Names of the pods that ran for an object, oldest first."""
        return [pod["metadata"]["name"] for pod in self.pod_objects(observed)]

    def pod_objects(self, observed: ObservedObject) -> list[dict[str, Any]]:
        """The pods that ran for an object (worker pods of a ParallelJob, or the Job's), oldest first."""
        if observed.kind == "ParallelJob":
            selector = f"{WORKER_JOB_LABEL}={observed.name}"
        else:
            selector = f"job-name={observed.name}"
        response = self.core.list_namespaced_pod(self.namespace, label_selector=selector, _preload_content=False)
        pods = list(json.loads(response.data).get("items") or [])
        return sorted(pods, key=lambda pod: (pod["metadata"].get("creationTimestamp") or "", pod["metadata"]["name"]))

    def pod_log(self, pod: str) -> str:
        """The pod's log, or an empty text when it is gone."""
        try:
            response = self.core.read_namespaced_pod_log(pod, self.namespace, _preload_content=False)
        except kubernetes.client.ApiException:
            return ""
        return bytes(response.data).decode("utf-8", errors="replace")
