"""A workflow module whose workers lack a dependency (as if the image did not install it)."""

from __future__ import annotations

import os

from flytekit import task

from flytekitplugins.k8s_operator import ParallelJob

# Worker 1's "image" lacks gpu_workers: importing this module there fails.
if os.environ.get("WORKER_INDEX") == "1":
    import gpu_workers  # type: ignore[import-not-found]  # noqa: F401  # pants: no-infer-dep


@task(task_config=ParallelJob(workers=2), container_image="ghcr.io/example/local-runs:1.0.0")
def uses_gpu_workers(n: int) -> int:
    return n
