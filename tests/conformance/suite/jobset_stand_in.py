"""A minimal stand-in for the JobSet controller (kubernetes-sigs/jobset, API jobset.x-k8s.io/v1alpha2),
for the plugin tests: enough of its behaviour for a Flyte plugin to be proven against it.

For each JobSet it creates the batch/v1 Jobs of ``spec.replicatedJobs`` (``replicas`` Jobs named
``<jobset>-<replicatedJob>-<index>``, owned by the JobSet, so deleting the JobSet deletes them and
their pods), which the embedded kubelet runs; it writes ``status.replicatedJobsStatus``
(name, active, succeeded, failed) and, once every Job completed or any failed, the condition
``Completed`` or ``Failed`` with status "True". Not modelled: success/failure policies, restarts,
startup ordering, suspension, exclusive placement.
"""

from __future__ import annotations

import copy
import threading
from typing import Any

from kube_emulator import KubeEmulator

GROUP, VERSION, PLURAL, KIND = "jobset.x-k8s.io", "v1alpha2", "jobsets", "JobSet"
JOBSETS = f"{PLURAL}.{GROUP}"
JOBSET_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": JOBSETS},
    "spec": {
        "group": GROUP,
        "names": {"kind": KIND, "plural": PLURAL, "singular": "jobset", "listKind": "JobSetList"},
        "scope": "Namespaced",
        "versions": [
            {
                "name": VERSION,
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
            }
        ],
    },
}


def _finished(job: dict[str, Any], condition: str) -> bool:
    conditions = (job.get("status") or {}).get("conditions") or []
    return any(c.get("type") == condition and c.get("status") == "True" for c in conditions)


class JobSetStandIn:
    """Reconciles every JobSet in the emulator every ``interval`` seconds, in a thread."""

    def __init__(self, api: KubeEmulator, interval: float = 0.2) -> None:
        self.api = api
        self.interval = interval
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="jobset-stand-in", daemon=True)

    def __enter__(self) -> JobSetStandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            for jobset in self.api.list(JOBSETS):
                if jobset["metadata"].get("deletionTimestamp"):
                    continue
                try:
                    self._reconcile(jobset)
                except Exception as error:  # deleted meanwhile, or a spec it cannot read: keep serving others
                    self.errors.append(f"{jobset['metadata']['name']}: {error}")

    def _reconcile(self, jobset: dict[str, Any]) -> None:
        metadata = jobset["metadata"]
        namespace, name = metadata["namespace"], metadata["name"]
        if any(_finished(jobset, condition) for condition in ("Completed", "Failed")):
            return
        owner = {"apiVersion": f"{GROUP}/{VERSION}", "kind": KIND, "name": name, "uid": metadata["uid"],
                 "controller": True, "blockOwnerDeletion": True}  # fmt: skip
        statuses, all_jobs = [], []
        for replicated in (jobset.get("spec") or {}).get("replicatedJobs") or []:
            jobs = [
                self._job(namespace, f"{name}-{replicated['name']}-{index}", replicated, owner)
                for index in range(int(replicated.get("replicas", 1)))
            ]
            all_jobs += jobs
            statuses.append({
                "name": replicated["name"],
                "active": sum(1 for job in jobs if not _finished(job, "Complete") and not _finished(job, "Failed")),
                "succeeded": sum(1 for job in jobs if _finished(job, "Complete")),
                "failed": sum(1 for job in jobs if _finished(job, "Failed")),
                "ready": 0,
                "suspended": 0,
            })  # fmt: skip
        status: dict[str, Any] = {"replicatedJobsStatus": statuses}
        if any(_finished(job, "Failed") for job in all_jobs):
            status["conditions"] = [{"type": "Failed", "status": "True", "reason": "FailedJobs",
                                     "message": "jobset failed due to one or more job failures"}]  # fmt: skip
        elif all_jobs and all(_finished(job, "Complete") for job in all_jobs):
            status["conditions"] = [{"type": "Completed", "status": "True", "reason": "AllJobsCompleted",
                                     "message": "jobset completed successfully"}]  # fmt: skip
        self.api.patch(JOBSETS, name, {"status": status}, namespace, subresource="status")

    def _job(self, namespace: str, name: str, replicated: dict[str, Any], owner: dict[str, Any]) -> dict[str, Any]:
        existing = self.api.get("jobs.batch", name, namespace)
        if existing is not None:
            return existing
        template = copy.deepcopy((replicated.get("template") or {}).get("spec") or {})
        job = {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": name, "namespace": namespace, "ownerReferences": [owner]},
            "spec": template,
        }
        return self.api.create(job, namespace)
