"""Names from docs/design.md that the operator, its bundle and its tests share."""

from __future__ import annotations

from typing import Final

GROUP: Final = "workloads.example.com"
VERSION: Final = "v1alpha1"
KIND: Final = "ParallelJob"
PLURAL: Final = "paralleljobs"
API_VERSION: Final = f"{GROUP}/{VERSION}"

# On each worker Job and its pod template.
PARALLEL_JOB_LABEL: Final = f"{GROUP}/parallel-job"
WORKER_INDEX_LABEL: Final = f"{GROUP}/worker-index"

# In the worker container.
WORKER_INDEX_ENV: Final = "WORKER_INDEX"
WORKER_COUNT_ENV: Final = "WORKER_COUNT"
PARALLEL_JOB_NAME_ENV: Final = "PARALLEL_JOB_NAME"
WORKER_CONTAINER: Final = "worker"

# Where Kopf keeps its bookkeeping: annotations under our group (the CRD's status schema
# is structural, so Kopf's default `status.kopf` would be pruned) and our own finalizer.
KOPF_ANNOTATION_PREFIX: Final = f"parallel-job-operator.{GROUP}"
FINALIZER: Final = f"{GROUP}/parallel-job-operator"

# Phases of the ParallelJob and of each worker.
PENDING: Final = "Pending"
RUNNING: Final = "Running"
SUCCEEDED: Final = "Succeeded"
FAILED: Final = "Failed"
TERMINAL_PHASES: Final = frozenset({SUCCEEDED, FAILED})

# Failure reasons the operator itself sets (a failing worker's Job reason is passed through).
REASON_INVALID_SPEC: Final = "InvalidSpec"
REASON_DEADLINE_EXCEEDED: Final = "DeadlineExceeded"
REASON_WORKER_FAILED: Final = "WorkerFailed"

ALL_WORKERS: Final = "AllWorkers"
ANY_WORKER: Final = "AnyWorker"
SUCCESS_POLICIES: Final = (ALL_WORKERS, ANY_WORKER)
RESTART_POLICIES: Final = ("Never", "OnFailure")
MAX_WORKERS: Final = 1000
MAX_RESTARTS: Final = 100
